package httpapi

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/skip2/go-qrcode"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
)

// sessionIDShape is what a session ID can look like; anything else cannot exist (404).
var sessionIDShape = regexp.MustCompile(`^[A-Za-z0-9_-]{3,100}$`)

func pathSessionID(r *http.Request) (string, error) {
	id := chi.URLParam(r, "id")
	if !sessionIDShape.MatchString(id) {
		return "", errSessionNotFoundHTTP
	}
	return strings.ToLower(id), nil
}

var errSessionNotFoundHTTP = model.Errorf(model.KindNotFound, "Session not found")

type createSessionRequest struct {
	Name        string  `json:"name" validate:"required,min=1,max=100"`
	SessionID   string  `json:"sessionId" validate:"omitempty,min=3,max=100,sessionid"`
	DisplayName *string `json:"displayName" validate:"omitempty,max=100"`
}

type createdSessionView struct {
	SessionID   string              `json:"sessionId"`
	Name        string              `json:"name"`
	DisplayName *string             `json:"displayName"`
	Status      model.SessionStatus `json:"status"`
	WorkerID    *string             `json:"workerId"`
	APIKey      string              `json:"apiKey"`
	QRCode      *string             `json:"qrCode"`
	CreatedAt   time.Time           `json:"createdAt"`
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	var req createSessionRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	created, err := s.sessions.Create(r.Context(), principal(r), req.Name, req.SessionID, req.DisplayName)
	if err != nil {
		respondError(w, r, err)
		return
	}
	sess := created.Session
	respond(w, http.StatusCreated, "Session created successfully", createdSessionView{
		SessionID: sess.ID, Name: sess.Name, DisplayName: sess.DisplayName, Status: sess.Status,
		WorkerID: sess.WorkerID, APIKey: created.APIKey, CreatedAt: sess.CreatedAt,
	})
}

type sessionKeyDetailView struct {
	Key      *string    `json:"key"`
	Masked   string     `json:"masked"`
	IsActive bool       `json:"isActive"`
	LastUsed *time.Time `json:"lastUsed"`
}

type sessionDetailView struct {
	ID           string                  `json:"id"`
	UserID       string                  `json:"userId"`
	Name         string                  `json:"name"`
	DisplayName  *string                 `json:"displayName"`
	PhoneNumber  *string                 `json:"phoneNumber"`
	Status       model.SessionStatus     `json:"status"`
	LiveStatus   *model.SessionStatus    `json:"liveStatus,omitempty"`
	StatusReason *string                 `json:"statusReason"`
	WorkerID     *string                 `json:"workerId"`
	QRCode       *string                 `json:"qrCode"`
	LastSeenAt   *time.Time              `json:"lastSeenAt"`
	CreatedAt    time.Time               `json:"createdAt"`
	UpdatedAt    time.Time               `json:"updatedAt"`
	Worker       *sessionWorkerView      `json:"worker"`
	Statistics   store.SessionStatistics `json:"statistics"`
	APIKey       *sessionKeyDetailView   `json:"apiKey"`
}

// getSession answers with the stored status (authoritative), the worker's live status when it
// answers within 2 s, and the full API key for the session's owner.
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	caller := principal(r)
	sess, err := s.sessions.Visible(r.Context(), caller, id)
	if err != nil {
		respondError(w, r, err)
		return
	}
	item, err := store.GetSessionListItem(r.Context(), s.db, id)
	if err != nil {
		respondError(w, r, notFoundAs(err, "Session not found"))
		return
	}
	stats, err := store.GetSessionStatistics(r.Context(), s.db, id)
	if err != nil {
		respondError(w, r, err)
		return
	}
	list := viewSessionListItem(item)
	view := sessionDetailView{
		ID: sess.ID, UserID: sess.UserID, Name: sess.Name, DisplayName: sess.DisplayName, PhoneNumber: sess.PhoneNumber,
		Status: sess.Status, StatusReason: sess.StatusReason, WorkerID: sess.WorkerID, QRCode: list.QRCode,
		LastSeenAt: sess.LastSeenAt, CreatedAt: sess.CreatedAt, UpdatedAt: sess.UpdatedAt, Worker: list.Worker, Statistics: stats,
	}
	if live := s.sessions.LiveStatus(r.Context(), sess); live != "" {
		view.LiveStatus = &live
	}
	if key, err := store.GetSessionAPIKey(r.Context(), s.db, id); err == nil {
		kv := &sessionKeyDetailView{Masked: key.Masked, IsActive: key.IsActive && key.RevokedAt == nil, LastUsed: key.LastUsed}
		if caller.UserID == sess.UserID { // revealed to its owner only, never to an administrator
			if full := s.apiKeys.Reveal(r.Context(), key); full != "" {
				kv.Key = &full
			}
		}
		view.APIKey = kv
	}
	respond(w, http.StatusOK, "", map[string]any{"session": view})
}

func (s *Server) connectSession(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	res, err := s.sessions.Connect(r.Context(), principal(r), id)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Session connection initiated successfully", res)
}

func (s *Server) restartSession(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	res, err := s.sessions.Restart(r.Context(), principal(r), id)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Session restart initiated", res)
}

func (s *Server) disconnectSession(w http.ResponseWriter, r *http.Request) {
	s.stopSession(w, r, false)
}

func (s *Server) logoutSession(w http.ResponseWriter, r *http.Request) {
	s.stopSession(w, r, true)
}

func (s *Server) stopSession(w http.ResponseWriter, r *http.Request, logout bool) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	stop, message, detail := s.sessions.Disconnect, "Session disconnected successfully",
		"Session disconnected successfully. You can reconnect anytime."
	if logout {
		stop, message, detail = s.sessions.Logout, "Session logged out successfully",
			"Session logged out successfully. You will need to scan QR code again to reconnect."
	}
	sess, err := stop(r.Context(), principal(r), id)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, message, map[string]any{
		"sessionId": sess.ID, "name": sess.Name, "status": sess.Status, "message": detail,
	})
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	if err := s.sessions.Delete(r.Context(), principal(r), id); err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Session deleted successfully", map[string]any{"sessionId": id, "deletedAt": time.Now().UTC()})
}

func (s *Server) sessionStatus(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	if _, err := s.sessions.Visible(r.Context(), principal(r), id); err != nil {
		respondError(w, r, err)
		return
	}
	item, err := store.GetSessionListItem(r.Context(), s.db, id)
	if err != nil {
		respondError(w, r, notFoundAs(err, "Session not found"))
		return
	}
	respond(w, http.StatusOK, "", map[string]any{
		"sessionId": item.ID, "status": item.Status, "phoneNumber": item.PhoneNumber, "lastSeen": item.LastSeenAt,
		"worker": viewSessionListItem(item).Worker,
	})
}

// sessionQR serves the pending QR as JSON with a PNG data URL, or as the PNG itself with
// ?format=png or Accept: image/png.
func (s *Server) sessionQR(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "png" && format != "json" {
		respondError(w, r, model.ValidationError(model.FieldError{Field: "format", Message: "must be png or json"}))
		return
	}
	qr, err := s.sessions.CurrentQR(r.Context(), principal(r), id)
	if err != nil {
		respondError(w, r, err)
		return
	}
	png, err := qrcode.Encode(qr.Code, qrcode.Medium, 320)
	if err != nil {
		respondError(w, r, model.Errorf(model.KindWorker, "The worker's QR code cannot be encoded"))
		return
	}
	wantsPNG := format == "png" || (format == "" && strings.Contains(r.Header.Get("Accept"), "image/png") &&
		!strings.Contains(r.Header.Get("Accept"), "application/json"))
	w.Header().Set("Cache-Control", "no-store")
	if wantsPNG {
		w.Header().Set("Content-Type", "image/png")
		w.WriteHeader(http.StatusOK)
		_, _ = bytes.NewReader(png).WriteTo(w)
		return
	}
	respond(w, http.StatusOK, "", map[string]any{
		"qrCode": qr.Code, "qrImage": "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), "expiresAt": qr.ExpiresAt,
	})
}

type pairRequest struct {
	PhoneNumber string `json:"phoneNumber" validate:"required,max=32"`
}

func (s *Server) pairSession(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	var req pairRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	phone, ok := normalizePhone(req.PhoneNumber)
	if !ok {
		respondError(w, r, model.ValidationError(model.FieldError{Field: "phoneNumber",
			Message: "must be a phone number of 8 to 15 digits in international format"}))
		return
	}
	code, err := s.sessions.Pair(r.Context(), principal(r), id, phone)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Pairing code generated", map[string]any{"sessionId": id, "pairingCode": code})
}

// normalizePhone strips a leading +, spaces and dashes and requires 8 to 15 digits.
func normalizePhone(raw string) (string, bool) {
	digits := strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(strings.TrimPrefix(strings.TrimSpace(raw), "+"))
	if len(digits) < 8 || len(digits) > 15 {
		return "", false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return digits, true
}

func (s *Server) regenerateAPIKey(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	key, err := s.sessions.RegenerateKey(r.Context(), principal(r), id)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "API key regenerated; the previous key no longer works", key)
}
