package httpapi

import (
	"net/http"
	"time"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
)

type sessionWorkerView struct {
	ID       string             `json:"id"`
	Endpoint string             `json:"endpoint"`
	Status   model.WorkerStatus `json:"status"`
}

type sessionKeyView struct {
	Masked   string     `json:"masked"`
	IsActive bool       `json:"isActive"`
	LastUsed *time.Time `json:"lastUsed"`
}

type sessionListView struct {
	ID          string              `json:"id"`
	UserID      string              `json:"userId"`
	Name        string              `json:"name"`
	DisplayName *string             `json:"displayName"`
	PhoneNumber *string             `json:"phoneNumber"`
	Status      model.SessionStatus `json:"status"`
	WorkerID    *string             `json:"workerId"`
	QRCode      *string             `json:"qrCode"` // "available" while a QR is pending
	LastSeenAt  *time.Time          `json:"lastSeenAt"`
	CreatedAt   time.Time           `json:"createdAt"`
	Worker      *sessionWorkerView  `json:"worker"`
	APIKey      *sessionKeyView     `json:"apiKey"`
}

func viewSessionListItem(it store.SessionListItem) sessionListView {
	v := sessionListView{
		ID: it.ID, UserID: it.UserID, Name: it.Name, DisplayName: it.DisplayName, PhoneNumber: it.PhoneNumber,
		Status: it.Status, WorkerID: it.WorkerID, LastSeenAt: it.LastSeenAt, CreatedAt: it.CreatedAt,
	}
	if it.QRCode != nil && it.Status == model.SessionQRRequired {
		available := "available"
		v.QRCode = &available
	}
	if it.WorkerID != nil && it.WorkerEndpoint != nil && it.WorkerStatus != nil {
		v.Worker = &sessionWorkerView{ID: *it.WorkerID, Endpoint: *it.WorkerEndpoint, Status: *it.WorkerStatus}
	}
	if it.KeyMasked != nil {
		v.APIKey = &sessionKeyView{Masked: *it.KeyMasked, IsActive: it.KeyActive != nil && *it.KeyActive, LastUsed: it.KeyLastUsed}
	}
	return v
}

// listSessions lists the caller's sessions (an administrator's list holds every user's).
//
// @Summary List sessions
// @Description The caller's sessions, newest first (an administrator's list holds every user's). qrCode is "available" while a QR code waits to be scanned; apiKey is masked.
// @Description Served at /sessions and /users/sessions.
// @Tags Sessions
// @Produce json
// @Security BearerJWT
// @Param status query string false "Only sessions in this status" Enums(INIT, QR_REQUIRED, CONNECTED, DISCONNECTED, RECONNECTING, ERROR)
// @Param limit query int false "Items per page" minimum(1) maximum(100) default(20)
// @Param page query int false "Page number, from 1 (or use offset)" minimum(1)
// @Param offset query int false "Items to skip, from 0 (instead of page)" minimum(0)
// @Success 200 {object} envelope{data=sessionListData}
// @Failure 400 {object} errorEnvelope "validation_error: a query parameter is malformed or out of range (details lists each)"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/sessions [get]
// @Router /api/v1/users/sessions [get]
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	var bad []model.FieldError
	status := queryEnum(r, "status", model.SessionStatuses, &bad)
	if err != nil || len(bad) > 0 {
		respondError(w, r, mergeValidation(err, bad))
		return
	}
	filter := store.SessionFilter{Status: status, Limit: p.Limit, Offset: p.Offset}
	if caller := principal(r); !caller.IsAdmin() {
		filter.UserID = &caller.UserID
	}
	items, total, err := store.ListSessions(r.Context(), s.db, filter)
	if err != nil {
		respondError(w, r, err)
		return
	}
	views := make([]sessionListView, 0, len(items))
	for _, it := range items {
		views = append(views, viewSessionListItem(it))
	}
	respond(w, http.StatusOK, "", map[string]any{"sessions": views, "pagination": p.describe(total)})
}

// sessionStatusByKey is the Messaging API's GET /session/status: the session of the caller's
// API key.
//
// @Summary Status of the API key's session
// @Description The session of the API key, with its worker's status.
// @Tags Messaging
// @ID sessionStatusByKey
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Success 200 {object} envelope{data=keySessionStatusData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 404 {object} errorEnvelope "not_found: the key's session no longer exists"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call quota; see Retry-After and X-RateLimit-*"
// @Failure 503 {object} errorEnvelope "maintenance: maintenance mode is on (administrators are not affected)"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/session/status [get]
func (s *Server) sessionStatusByKey(w http.ResponseWriter, r *http.Request) {
	caller := principal(r)
	item, err := store.GetSessionListItem(r.Context(), s.db, caller.SessionID)
	if err != nil {
		respondError(w, r, notFoundAs(err, "Session not found"))
		return
	}
	var workerStatus *model.WorkerStatus
	if item.WorkerID != nil {
		workerStatus = item.WorkerStatus
	}
	respond(w, http.StatusOK, "Session status retrieved successfully", map[string]any{
		"sessionId": item.ID, "status": item.Status, "phoneNumber": item.PhoneNumber, "lastSeenAt": item.LastSeenAt,
		"workerId": item.WorkerID, "workerStatus": workerStatus,
	})
}
