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
	"github.com/wagateway/gateway/internal/service"
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

// @Summary Create a session
// @Description Creates a DISCONNECTED session and its API key, shown in full in this answer (and later only to the owner by GET /sessions/{id}). sessionId is optional: it is normalised like worker IDs, and derived from the name with a short random suffix when omitted. Every session counts toward the tier's session limit.
// @Description Then POST /sessions/{id}/connect to place it on a worker and get a QR code.
// @Tags Sessions
// @ID createSession
// @Accept json
// @Produce json
// @Security BearerJWT
// @Param body body createSessionRequest true "The new session"
// @Success 201 {object} envelope{data=createdSessionView}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 409 {object} errorEnvelope "conflict: the session ID is taken, or the tier's session limit is reached"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 503 {object} errorEnvelope "maintenance: maintenance mode is on (administrators are not affected)"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/sessions [post]
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
//
// @Summary Show a session
// @Description The stored status is authoritative; the worker's live status is added as liveStatus when it answers within 2 s. apiKey.key (the full key) is shown to the session's owner only, never to an administrator, and only when API_KEY_REVEAL is on.
// @Tags Sessions
// @ID getSession
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID (3–100 characters: letters, digits, - and _; case-insensitive)"
// @Success 200 {object} envelope{data=sessionData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session, or it belongs to another user"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/sessions/{id} [get]
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

// @Summary Connect a session
// @Description Places the session on the best worker with free capacity and asks it to start; the session then goes to QR_REQUIRED (scan GET /sessions/{id}/qr, or use POST /sessions/{id}/pair) and to CONNECTED. When no worker can take it, or the worker fails, the session is rolled back to DISCONNECTED.
// @Tags Sessions
// @ID connectSession
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID (3–100 characters: letters, digits, - and _; case-insensitive)"
// @Success 200 {object} envelope{data=service.ConnectResult}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session, or it belongs to another user"
// @Failure 409 {object} errorEnvelope "conflict: the session is already CONNECTED or connecting (INIT)"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Router /api/v1/sessions/{id}/connect [post]
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

// @Summary Restart a session
// @Description Restarts the session on its worker, or connects it when no worker holds it.
// @Tags Sessions
// @ID restartSession
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID (3–100 characters: letters, digits, - and _; case-insensitive)"
// @Success 200 {object} envelope{data=service.ConnectResult}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session, or it belongs to another user"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Router /api/v1/sessions/{id}/restart [post]
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

// @Summary Disconnect a session
// @Description Stops the connection but keeps the WhatsApp credentials, so a later connect needs no new QR code. The session becomes DISCONNECTED and its worker is released.
// @Tags Sessions
// @ID disconnectSession
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID (3–100 characters: letters, digits, - and _; case-insensitive)"
// @Success 200 {object} envelope{data=stoppedSessionData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session, or it belongs to another user"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Router /api/v1/sessions/{id}/disconnect [post]
func (s *Server) disconnectSession(w http.ResponseWriter, r *http.Request) {
	s.stopSession(w, r, false)
}

// @Summary Log a session out of WhatsApp
// @Description Logs out of WhatsApp: the credentials are dropped, phoneNumber and lastSeenAt are cleared, and the next connect needs a new QR code.
// @Tags Sessions
// @ID logoutSession
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID (3–100 characters: letters, digits, - and _; case-insensitive)"
// @Success 200 {object} envelope{data=stoppedSessionData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session, or it belongs to another user"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Router /api/v1/sessions/{id}/logout [post]
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

// @Summary Delete a session
// @Description Deletes the session on its worker (best effort), releases the worker, and deletes the session with its API key, webhook and routing.
// @Tags Sessions
// @ID deleteSession
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID (3–100 characters: letters, digits, - and _; case-insensitive)"
// @Success 200 {object} envelope{data=deletedSessionData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session, or it belongs to another user"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 503 {object} errorEnvelope "maintenance: maintenance mode is on (administrators are not affected)"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/sessions/{id} [delete]
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

// @Summary Status of a session
// @Description The stored status with the phone number, last activity (lastSeen) and worker.
// @Tags Sessions
// @ID sessionStatus
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID (3–100 characters: letters, digits, - and _; case-insensitive)"
// @Success 200 {object} envelope{data=sessionStatusData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session, or it belongs to another user"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/sessions/{id}/status [get]
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
//
// @Summary The pending QR code
// @Description The QR code to scan with WhatsApp (Linked devices) while the session is QR_REQUIRED. JSON by default: the raw code and a PNG data URL. With ?format=png, or Accept: image/png without application/json, the answer is the PNG image itself (320×320).
// @Description Not cached (Cache-Control: no-store): the worker replaces the code until it is scanned.
// @Tags Sessions
// @ID sessionQR
// @Produce json,png
// @Security BearerJWT
// @Param id path string true "Session ID (3–100 characters: letters, digits, - and _; case-insensitive)"
// @Param format query string false "Answer format" Enums(json, png)
// @Success 200 {object} envelope{data=qrData} "The QR code (JSON), or the PNG image with format=png"
// @Failure 400 {object} errorEnvelope "validation_error: a query parameter is malformed or out of range (details lists each)"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session of this user, or no QR code is pending"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker's QR code cannot be encoded"
// @Router /api/v1/sessions/{id}/qr [get]
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

// @Summary Get a phone pairing code
// @Description Asks the worker for a pairing code to enter on the phone (WhatsApp > Linked devices > Link with phone number) instead of scanning a QR code. phoneNumber is the session's own number in international format.
// @Tags Sessions
// @ID pairSession
// @Accept json
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID (3–100 characters: letters, digits, - and _; case-insensitive)"
// @Param body body pairRequest true "The phone number to link"
// @Success 200 {object} envelope{data=pairingData}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session, or it belongs to another user"
// @Failure 409 {object} errorEnvelope "conflict: the session is not waiting to be linked"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Router /api/v1/sessions/{id}/pair [post]
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
	phone, ok := service.NormalizePhone(req.PhoneNumber)
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

// @Summary Regenerate the session's API key
// @Description Revokes the old key (on every replica within a second) and answers the new one in full.
// @Tags Sessions
// @ID regenerateApiKey
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID (3–100 characters: letters, digits, - and _; case-insensitive)"
// @Success 200 {object} envelope{data=service.RegeneratedKey}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session, or it belongs to another user"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 503 {object} errorEnvelope "maintenance: maintenance mode is on (administrators are not affected)"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/sessions/{id}/api-key/regenerate [post]
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
