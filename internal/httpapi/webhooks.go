package httpapi

import (
	"net/http"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/service"
)

// Worker event intake — /webhooks/* (worker token).

func (s *Server) sessionStatusEvent(w http.ResponseWriter, r *http.Request) {
	var ev protocol.SessionEvent
	if err := decode(r, &ev); err != nil {
		respondError(w, r, err)
		return
	}
	if ev.SessionID == "" {
		respondError(w, r, model.ValidationError(model.FieldError{Field: "sessionId", Message: "is required"}))
		return
	}
	src := service.EventSource{WorkerID: workerCaller(r).ID}
	if src.WorkerID == "" && ev.WorkerID != nil {
		src.WorkerID = service.NormalizeID(*ev.WorkerID)
	}
	res, err := s.sessionEvents.Apply(r.Context(), src, ev)
	if err != nil {
		respondError(w, r, err)
		return
	}
	message := "Session status updated"
	if !res.Applied {
		message = "Stale event ignored: a newer event was already applied"
	}
	respond(w, http.StatusOK, message, res)
}

func (s *Server) legacyWorkerHeartbeat(w http.ResponseWriter, r *http.Request) {
	var hb protocol.LegacyHeartbeat
	if err := decode(r, &hb); err != nil {
		respondError(w, r, err)
		return
	}
	wk, err := s.workers.LegacyHeartbeat(r.Context(), workerCaller(r), hb)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Heartbeat recorded", map[string]any{
		"workerId": wk.ID, "status": wk.Status, "lastHeartbeat": wk.LastHeartbeat, "sessionCount": wk.SessionCount,
	})
}
