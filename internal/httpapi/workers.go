package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
)

// --- Called by workers (worker token) ---

func (s *Server) registerWorker(w http.ResponseWriter, r *http.Request) {
	var req protocol.RegisterRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	caller := workerCaller(r)
	if caller.ID != "" && service.NormalizeID(req.WorkerID) != caller.ID {
		respondError(w, r, model.Errorf(model.KindForbidden, "This worker token belongs to another worker"))
		return
	}
	res, err := s.workers.Register(r.Context(), service.WorkerInput{WorkerID: req.WorkerID, Endpoint: req.Endpoint,
		MaxSessions: req.MaxSessions, Description: req.Description, Version: req.Version, Environment: req.Environment})
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusCreated, "Worker registered successfully", res)
}

func (s *Server) workerHeartbeat(w http.ResponseWriter, r *http.Request) {
	var req protocol.HeartbeatRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	res, err := s.workers.Heartbeat(r.Context(), workerCaller(r), chi.URLParam(r, "workerId"), req)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Heartbeat processed successfully", res)
}

func (s *Server) assignedSessions(w http.ResponseWriter, r *http.Request) {
	res, err := s.workers.AssignedSessions(r.Context(), workerCaller(r), chi.URLParam(r, "workerId"))
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Assigned sessions retrieved successfully", res)
}

func (s *Server) recoveryStatus(w http.ResponseWriter, r *http.Request) {
	var req protocol.RecoveryStatusRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	res, err := s.workers.RecoveryStatus(r.Context(), workerCaller(r), chi.URLParam(r, "workerId"), req)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Recovery status recorded", res)
}

func (s *Server) sessionsPreserved(w http.ResponseWriter, r *http.Request) {
	var req protocol.SessionsPreservedRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	n, until, err := s.workers.SessionsPreserved(r.Context(), workerCaller(r), chi.URLParam(r, "workerId"), req)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Preserved sessions recorded", map[string]any{
		"workerId": service.NormalizeID(chi.URLParam(r, "workerId")), "preservedSessions": n, "preservedUntil": until,
	})
}

func (s *Server) unregisterWorker(w http.ResponseWriter, r *http.Request) {
	var req protocol.UnregisterRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	res, err := s.workers.Unregister(r.Context(), workerCaller(r), req)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Worker "+res.WorkerID+" removed successfully", res)
}

// --- Worker administration (ADMINISTRATOR) ---

type workerView struct {
	model.Worker
	UtilizationRate float64 `json:"utilizationRate"`
}

func viewWorker(wk model.Worker) workerView {
	v := workerView{Worker: wk}
	if wk.MaxSessions > 0 {
		v.UtilizationRate = float64(wk.SessionCount) / float64(wk.MaxSessions) * 100
	}
	return v
}

func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	var bad []model.FieldError
	status := queryEnum(r, "status", model.WorkerStatuses, &bad)
	if err != nil || len(bad) > 0 {
		respondError(w, r, mergeValidation(err, bad))
		return
	}
	list, total, err := store.ListWorkers(r.Context(), s.db, store.WorkerFilter{Status: status, Limit: p.Limit, Offset: p.Offset})
	if err != nil {
		respondError(w, r, err)
		return
	}
	views := make([]workerView, 0, len(list))
	for _, wk := range list {
		views = append(views, viewWorker(wk))
	}
	respond(w, http.StatusOK, "", map[string]any{"workers": views, "pagination": p.describe(total)})
}

type addWorkerRequest struct {
	WorkerID    string  `json:"workerId" validate:"max=100"`
	Endpoint    string  `json:"endpoint" validate:"required,max=500"`
	MaxSessions *int    `json:"maxSessions"`
	Description *string `json:"description"`
	Version     *string `json:"version"`
	Environment *string `json:"environment"`
}

func (s *Server) addWorker(w http.ResponseWriter, r *http.Request) {
	var req addWorkerRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	wk, err := s.workers.AddByHand(r.Context(), service.WorkerInput{WorkerID: req.WorkerID, Endpoint: req.Endpoint,
		MaxSessions: req.MaxSessions, Description: req.Description, Version: req.Version, Environment: req.Environment})
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusCreated, "Worker added successfully", map[string]any{"worker": viewWorker(wk)})
}

func (s *Server) getWorker(w http.ResponseWriter, r *http.Request) {
	wk, err := store.GetWorker(r.Context(), s.db, service.NormalizeID(chi.URLParam(r, "workerId")))
	if err != nil {
		respondError(w, r, notFoundAs(err, "Worker not found"))
		return
	}
	respond(w, http.StatusOK, "", map[string]any{"worker": viewWorker(wk)})
}

type updateWorkerRequest struct {
	MaxSessions *int                     `json:"maxSessions"`
	Description *string                  `json:"description" validate:"omitempty,max=500"`
	Version     *string                  `json:"version"`
	Environment *model.WorkerEnvironment `json:"environment"`
	Status      *model.WorkerStatus      `json:"status"`
}

func (s *Server) updateWorker(w http.ResponseWriter, r *http.Request) {
	var req updateWorkerRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	wk, err := s.workers.Update(r.Context(), chi.URLParam(r, "workerId"), store.WorkerChanges{
		MaxSessions: req.MaxSessions, Description: req.Description, Version: req.Version,
		Environment: req.Environment, Status: req.Status,
	})
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Worker updated successfully", map[string]any{"worker": viewWorker(wk)})
}

func (s *Server) deleteWorker(w http.ResponseWriter, r *http.Request) {
	res, err := s.workers.Delete(r.Context(), chi.URLParam(r, "workerId"))
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Worker deleted successfully", res)
}

func (s *Server) workerStatistics(w http.ResponseWriter, r *http.Request) {
	stats, err := store.GetWorkerStatistics(r.Context(), s.db)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "", stats)
}

func (s *Server) availableWorkers(w http.ResponseWriter, r *http.Request) {
	list, err := s.workers.Available(r.Context())
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "", map[string]any{"workers": list, "total": len(list)})
}

type testEndpointRequest struct {
	Endpoint string `json:"endpoint" validate:"required,max=500"`
}

func (s *Server) testEndpoint(w http.ResponseWriter, r *http.Request) {
	var req testEndpointRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	res, err := s.workers.TestEndpoint(r.Context(), "", req.Endpoint)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "", res)
}

func (s *Server) testWorker(w http.ResponseWriter, r *http.Request) {
	wk, err := store.GetWorker(r.Context(), s.db, service.NormalizeID(chi.URLParam(r, "workerId")))
	if err != nil {
		respondError(w, r, notFoundAs(err, "Worker not found"))
		return
	}
	res, err := s.workers.TestEndpoint(r.Context(), wk.ID, wk.Endpoint)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "", map[string]any{"workerId": wk.ID, "test": res})
}

var metricsPeriods = map[string]time.Duration{"1h": time.Hour, "6h": 6 * time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

func (s *Server) workerMetrics(w http.ResponseWriter, r *http.Request) {
	period := r.URL.Query().Get("period")
	if period == "" {
		period = "24h"
	}
	span, ok := metricsPeriods[period]
	if !ok {
		respondError(w, r, model.ValidationError(model.FieldError{Field: "period", Message: "must be one of 1h, 6h, 24h, 7d"}))
		return
	}
	limit := 1000
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			respondError(w, r, model.ValidationError(model.FieldError{Field: "limit", Message: "must be from 1 to 10000"}))
			return
		}
		limit = n
	}
	wk, err := store.GetWorker(r.Context(), s.db, service.NormalizeID(chi.URLParam(r, "workerId")))
	if err != nil {
		respondError(w, r, notFoundAs(err, "Worker not found"))
		return
	}
	samples, err := store.ListWorkerMetrics(r.Context(), s.db, wk.ID, time.Now().Add(-span), limit)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "", map[string]any{"workerId": wk.ID, "period": period, "metrics": samples, "total": len(samples)})
}
