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
