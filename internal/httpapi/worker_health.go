package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/wagateway/gateway/internal/model"
)

// --- Worker health monitor and drains (ADMINISTRATOR) ---

var errNoMonitor = model.Errorf(model.KindConnectivity, "The health monitor is not available on this server")

// runHealthCheck runs one health round now, on this replica, whichever replica leads.
//
// @Summary Run a health round now
// @Description Checks every worker's GET /health (5 s timeout; a worker whose last heartbeat is older than WORKER_HEARTBEAT_TIMEOUT_MS fails without a call) on this replica, whichever replica leads, and applies the outcome (3 consecutive failures → OFFLINE, a success brings back a worker failed checks took OFFLINE), then fails over the sessions stranded on OFFLINE workers.
// @Tags Worker administration
// @ID runHealthCheck
// @Produce json
// @Security BearerJWT
// @Success 200 {object} envelope{data=workers.RoundReport}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 503 {object} errorEnvelope "connectivity_error: the health monitor is not available on this server, or Redis is down"
// @Router /api/v1/workers/health-check [post]
func (s *Server) runHealthCheck(w http.ResponseWriter, r *http.Request) {
	if s.monitor == nil {
		respondError(w, r, errNoMonitor)
		return
	}
	report, err := s.monitor.Round(r.Context())
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Health check completed", report)
}

// @Summary Resume the health monitor
// @Description Resumes the background rounds stopped by /workers/health/stop, on every replica. The monitor starts at boot.
// @Tags Worker administration
// @ID startHealthMonitor
// @Produce json
// @Security BearerJWT
// @Success 200 {object} envelope{data=workers.MonitorStatus}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 503 {object} errorEnvelope "connectivity_error: the health monitor is not available on this server, or Redis is down"
// @Router /api/v1/workers/health/start [post]
func (s *Server) startHealthMonitor(w http.ResponseWriter, r *http.Request) {
	if s.monitor == nil {
		respondError(w, r, errNoMonitor)
		return
	}
	status, err := s.monitor.Start(r.Context())
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Health monitor started", status)
}

// @Summary Stop the health monitor
// @Description Stops the background rounds on every replica until /workers/health/start.
// @Tags Worker administration
// @ID stopHealthMonitor
// @Produce json
// @Security BearerJWT
// @Success 200 {object} envelope{data=workers.MonitorStatus}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 503 {object} errorEnvelope "connectivity_error: the health monitor is not available on this server, or Redis is down"
// @Router /api/v1/workers/health/stop [post]
func (s *Server) stopHealthMonitor(w http.ResponseWriter, r *http.Request) {
	if s.monitor == nil {
		respondError(w, r, errNoMonitor)
		return
	}
	status, err := s.monitor.Stop(r.Context())
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Health monitor stopped", status)
}

// @Summary Health monitor status
// @Description The monitor on this replica: running, leader (holds the lease and runs the rounds), stopped (by an administrator, fleet-wide), the last round's summary.
// @Tags Worker administration
// @ID healthMonitorStatus
// @Produce json
// @Security BearerJWT
// @Success 200 {object} envelope{data=workers.MonitorStatus}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 503 {object} errorEnvelope "connectivity_error: the health monitor is not available on this server, or Redis is down"
// @Router /api/v1/workers/health/status [get]
func (s *Server) healthMonitorStatus(w http.ResponseWriter, r *http.Request) {
	if s.monitor == nil {
		respondError(w, r, errNoMonitor)
		return
	}
	respond(w, http.StatusOK, "", s.monitor.Status())
}

// @Summary Drain a worker
// @Description Sets the worker to MAINTENANCE (nothing new is placed on it) and moves its sessions to other workers one by one in the background.
// @Tags Worker administration
// @ID drainWorker
// @Produce json
// @Security BearerJWT
// @Param workerId path string true "Worker ID (normalised: lower-case, - for spaces and _)"
// @Success 202 {object} envelope{data=service.DrainResult}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 404 {object} errorEnvelope "not_found: no such worker"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/workers/{workerId}/drain [post]
func (s *Server) drainWorker(w http.ResponseWriter, r *http.Request) {
	res, err := s.workers.Drain(r.Context(), chi.URLParam(r, "workerId"))
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusAccepted, "Worker is being drained", res)
}
