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

// @Summary Register a worker
// @Description Called by a worker at start. The backend first checks that the worker answers GET {endpoint}/health (5 s); workerId is normalised ("Worker_01" → "worker-01"). Idempotent: registering the same ID again updates it and sets it ONLINE. recoveryRequired is true when sessions are still placed on the worker, which should then restore them (GET /workers/{workerId}/sessions/assigned). workerToken is the worker's own credential, rotated on each registration.
// @Description See the worker protocol document (worker-protocol.yaml) for the whole exchange.
// @Tags Workers
// @ID registerWorker
// @Accept json
// @Produce json
// @Security WorkerToken
// @Param body body protocol.RegisterRequest true "The worker: ID (3–50), endpoint, maxSessions (1–1000, default 50), version (x.y.z), environment"
// @Success 201 {object} envelope{data=protocol.RegisterResult}
// @Failure 400 {object} errorEnvelope "validation_error: a bad field, or an ID that collides with a fixed route; bad_request: malformed JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no or wrong worker token"
// @Failure 403 {object} errorEnvelope "forbidden: a worker's own token used for another worker (or the shared token when WORKER_REQUIRE_OWN_TOKEN is on)"
// @Failure 409 {object} errorEnvelope "conflict: the endpoint is registered under another ID, or the ID at another endpoint that is still healthy"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 503 {object} errorEnvelope "connectivity_error: the worker's GET /health did not answer 2xx (the message names the cause)"
// @Router /api/v1/workers/register [post]
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

// @Summary Worker heartbeat
// @Description Sent every HEARTBEAT_INTERVAL (30 s by default) with the worker's sessions and resource figures. Marks the worker ONLINE (unless MAINTENANCE), reconciles the listed sessions like session-status events, and answers in sessionsToStop the sessions the worker should drop (placed elsewhere or unknown). A session placed on the worker but missing from two heartbeats in a row becomes DISCONNECTED.
// @Description See the worker protocol document (worker-protocol.yaml) for the whole exchange.
// @Tags Workers
// @ID workerHeartbeat
// @Accept json
// @Produce json
// @Security WorkerToken
// @Param workerId path string true "Worker ID (normalised: lower-case, - for spaces and _)"
// @Param body body protocol.HeartbeatRequest true "Sessions and metrics"
// @Success 200 {object} envelope{data=protocol.HeartbeatResult}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no or wrong worker token"
// @Failure 403 {object} errorEnvelope "forbidden: a worker's own token used for another worker (or the shared token when WORKER_REQUIRE_OWN_TOKEN is on)"
// @Failure 404 {object} errorEnvelope "not_found: unknown worker: register again"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/workers/{workerId}/heartbeat [put]
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

// @Summary Sessions placed on a worker
// @Description For recovery after a restart: the sessions placed on the worker in CONNECTED, QR_REQUIRED, RECONNECTING or INIT.
// @Description See the worker protocol document (worker-protocol.yaml) for the whole exchange.
// @Tags Workers
// @ID assignedSessions
// @Produce json
// @Security WorkerToken
// @Param workerId path string true "Worker ID (normalised: lower-case, - for spaces and _)"
// @Success 200 {object} envelope{data=protocol.AssignedSessions}
// @Failure 401 {object} errorEnvelope "unauthorized: no or wrong worker token"
// @Failure 403 {object} errorEnvelope "forbidden: a worker's own token used for another worker (or the shared token when WORKER_REQUIRE_OWN_TOKEN is on)"
// @Failure 404 {object} errorEnvelope "not_found: unknown worker: register again"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/workers/{workerId}/sessions/assigned [get]
func (s *Server) assignedSessions(w http.ResponseWriter, r *http.Request) {
	res, err := s.workers.AssignedSessions(r.Context(), workerCaller(r), chi.URLParam(r, "workerId"))
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Assigned sessions retrieved successfully", res)
}

// @Summary Report session recovery
// @Description The outcome of restoring the assigned sessions. Totals may be at the top level or inside summary. SUCCESS → CONNECTED and routed; FAILED → ERROR and unrouted; sessions not placed on the worker are skipped.
// @Description See the worker protocol document (worker-protocol.yaml) for the whole exchange.
// @Tags Workers
// @ID recoveryStatus
// @Accept json
// @Produce json
// @Security WorkerToken
// @Param workerId path string true "Worker ID (normalised: lower-case, - for spaces and _)"
// @Param body body protocol.RecoveryStatusRequest true "Recovery results"
// @Success 200 {object} envelope{data=service.RecoveryOutcome}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no or wrong worker token"
// @Failure 403 {object} errorEnvelope "forbidden: a worker's own token used for another worker (or the shared token when WORKER_REQUIRE_OWN_TOKEN is on)"
// @Failure 404 {object} errorEnvelope "not_found: unknown worker: register again"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/workers/{workerId}/sessions/recovery-status [post]
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

// @Summary Report sessions preserved at shutdown
// @Description The worker is shutting down and kept these sessions' credentials: they stay placed on it for a grace period (2 minutes by default) before failover moves them.
// @Description See the worker protocol document (worker-protocol.yaml) for the whole exchange.
// @Tags Workers
// @ID sessionsPreserved
// @Accept json
// @Produce json
// @Security WorkerToken
// @Param workerId path string true "Worker ID (normalised: lower-case, - for spaces and _)"
// @Param body body protocol.SessionsPreservedRequest true "Preserved sessions, as IDs or {sessionId} objects"
// @Success 200 {object} envelope{data=preservedSessionsData}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no or wrong worker token"
// @Failure 403 {object} errorEnvelope "forbidden: a worker's own token used for another worker (or the shared token when WORKER_REQUIRE_OWN_TOKEN is on)"
// @Failure 404 {object} errorEnvelope "not_found: unknown worker: register again"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/workers/{workerId}/sessions-preserved [post]
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

// @Summary Unregister a worker
// @Description Removes the worker from the database and Redis. Its sessions are moved to other workers when failover is on (else left DISCONNECTED), except preserved sessions within their grace period.
// @Description See the worker protocol document (worker-protocol.yaml) for the whole exchange.
// @Tags Workers
// @ID unregisterWorker
// @Accept json
// @Produce json
// @Security WorkerToken
// @Param body body protocol.UnregisterRequest true "The worker"
// @Success 200 {object} envelope{data=service.UnregisterResult}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no or wrong worker token"
// @Failure 403 {object} errorEnvelope "forbidden: a worker's own token used for another worker (or the shared token when WORKER_REQUIRE_OWN_TOKEN is on)"
// @Failure 404 {object} errorEnvelope "not_found: unknown worker"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/workers/unregister [delete]
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

// @Summary List workers
// @Description Every worker with its load (utilizationRate in percent of maxSessions).
// @Tags Worker administration
// @ID listWorkers
// @Produce json
// @Security BearerJWT
// @Param status query string false "Only workers in this status" Enums(ONLINE, OFFLINE, MAINTENANCE)
// @Param limit query int false "Items per page" minimum(1) maximum(100) default(20)
// @Param page query int false "Page number, from 1 (or use offset)" minimum(1)
// @Param offset query int false "Items to skip, from 0 (instead of page)" minimum(0)
// @Success 200 {object} envelope{data=workerListData}
// @Failure 400 {object} errorEnvelope "validation_error: a query parameter is malformed or out of range (details lists each)"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/workers [get]
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

// @Summary Add a worker by hand
// @Description Registers a worker an administrator names; the ID defaults to worker-<host>-<port>. Its reachability is tested first. No worker token is returned: the worker gets its own when it registers itself.
// @Tags Worker administration
// @ID addWorker
// @Accept json
// @Produce json
// @Security BearerJWT
// @Param body body addWorkerRequest true "The worker"
// @Success 201 {object} envelope{data=workerData}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 409 {object} errorEnvelope "conflict: the worker ID or endpoint is already registered"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 503 {object} errorEnvelope "connectivity_error: the worker's GET /health did not answer 2xx"
// @Router /api/v1/workers [post]
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

// @Summary Show a worker
// @Description One worker with its load.
// @Tags Worker administration
// @ID getWorker
// @Produce json
// @Security BearerJWT
// @Param workerId path string true "Worker ID (normalised: lower-case, - for spaces and _)"
// @Success 200 {object} envelope{data=workerData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 404 {object} errorEnvelope "not_found: no such worker"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/workers/{workerId} [get]
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

// @Summary Change a worker
// @Description Changes maxSessions, description, version, environment, or status (ONLINE or MAINTENANCE: no new sessions are placed on a worker in MAINTENANCE).
// @Tags Worker administration
// @ID updateWorker
// @Accept json
// @Produce json
// @Security BearerJWT
// @Param workerId path string true "Worker ID (normalised: lower-case, - for spaces and _)"
// @Param body body updateWorkerRequest true "The fields to change"
// @Success 200 {object} envelope{data=workerData}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 404 {object} errorEnvelope "not_found: no such worker"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/workers/{workerId} [put]
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

// @Summary Delete a worker
// @Description Releases the worker's sessions first (moved to other workers when failover is on), then deletes it.
// @Tags Worker administration
// @ID deleteWorker
// @Produce json
// @Security BearerJWT
// @Param workerId path string true "Worker ID (normalised: lower-case, - for spaces and _)"
// @Success 200 {object} envelope{data=service.UnregisterResult}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 404 {object} errorEnvelope "not_found: no such worker"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/workers/{workerId} [delete]
func (s *Server) deleteWorker(w http.ResponseWriter, r *http.Request) {
	res, err := s.workers.Delete(r.Context(), chi.URLParam(r, "workerId"))
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Worker deleted successfully", res)
}

// @Summary Fleet statistics
// @Description Worker counts by status, capacity and use, sessions by status, average CPU and memory.
// @Tags Worker administration
// @ID workerStatistics
// @Produce json
// @Security BearerJWT
// @Success 200 {object} envelope{data=store.WorkerStatistics}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/workers/statistics [get]
func (s *Server) workerStatistics(w http.ResponseWriter, r *http.Request) {
	stats, err := store.GetWorkerStatistics(r.Context(), s.db)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "", stats)
}

// @Summary Workers with free capacity
// @Description ONLINE workers with free slots, best placement first (lowest score).
// @Tags Worker administration
// @ID availableWorkers
// @Produce json
// @Security BearerJWT
// @Success 200 {object} envelope{data=availableWorkersData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/workers/available [get]
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

// @Summary Test a worker endpoint
// @Description Calls GET {endpoint}/health and reports reachability, latency and the worker's answer. An unreachable endpoint is a 200 with reachable false.
// @Tags Worker administration
// @ID testWorkerEndpoint
// @Accept json
// @Produce json
// @Security BearerJWT
// @Param body body testEndpointRequest true "The endpoint (http or https URL)"
// @Success 200 {object} envelope{data=service.EndpointTest}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/workers/test [post]
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

// @Summary Test a worker
// @Description Calls the worker's GET /health now and reports reachability, latency and its answer.
// @Tags Worker administration
// @ID testWorker
// @Produce json
// @Security BearerJWT
// @Param workerId path string true "Worker ID (normalised: lower-case, - for spaces and _)"
// @Success 200 {object} envelope{data=workerTestData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 404 {object} errorEnvelope "not_found: no such worker"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/workers/{workerId}/test [post]
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

// @Summary A worker's metrics history
// @Description The heartbeat samples of the period, oldest first.
// @Tags Worker administration
// @ID workerMetrics
// @Produce json
// @Security BearerJWT
// @Param workerId path string true "Worker ID (normalised: lower-case, - for spaces and _)"
// @Param period query string false "Period" Enums(1h, 6h, 24h, 7d) default(24h)
// @Param limit query int false "At most this many samples (the most recent)" minimum(1) maximum(10000) default(1000)
// @Success 200 {object} envelope{data=workerMetricsData}
// @Failure 400 {object} errorEnvelope "validation_error: a query parameter is malformed or out of range (details lists each)"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 404 {object} errorEnvelope "not_found: no such worker"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/workers/{workerId}/metrics [get]
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
