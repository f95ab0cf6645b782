package httpapi

import (
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wagateway/gateway/internal/buildinfo"
	"github.com/wagateway/gateway/internal/model"
)

// liveness answers without touching any dependency, as the original's /health did.
//
// @Summary Liveness probe
// @Description Answers 200 while the process runs; never touches Postgres or Redis. Not wrapped in data.
// @Tags Health
// @ID liveness
// @Produce json
// @Success 200 {object} healthAnswer
// @Router /health [get]
func (s *Server) liveness(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"success":     true,
		"message":     "WhatsApp Gateway Backend is running",
		"timestamp":   now(),
		"version":     buildinfo.Version,
		"environment": s.cfg.Env,
	})
}

// readiness is 200 when Postgres and Redis answer, else 503.
//
// @Summary Readiness probe
// @Description 200 when Postgres and Redis answer, else 503 with the same report and success false.
// @Description The report also shows the worker fleet's capacity and the health monitor on this replica (leader: whether this replica holds the monitor's lease).
// @Tags Health
// @ID readiness
// @Produce json
// @Success 200 {object} envelope{data=service.HealthReport}
// @Failure 503 {object} envelope{data=service.HealthReport} "Postgres or Redis does not answer; success is false"
// @Router /health/detailed [get]
func (s *Server) readiness(w http.ResponseWriter, r *http.Request) {
	report := s.health.Check(r.Context())
	if !report.Healthy() {
		writeJSON(w, http.StatusServiceUnavailable, envelope{
			Success: false, Timestamp: now(), Message: "A dependency is unavailable", Data: report,
		})
		return
	}
	respond(w, http.StatusOK, "", report)
}

// apiHealth is the original's /api/v1/health.
//
// @Summary API health
// @Description The original backend's API health answer; checks no dependency.
// @Tags Health
// @ID apiHealth
// @Produce json
// @Success 200 {object} envelope{data=apiHealthData}
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Router /api/v1/health [get]
func (s *Server) apiHealth(w http.ResponseWriter, _ *http.Request) {
	respond(w, http.StatusOK, "", map[string]any{
		"message":     "WhatsApp Gateway API is healthy",
		"version":     s.cfg.APIVersion,
		"status":      "operational",
		"uptime":      time.Since(s.health.Started).Seconds(),
		"environment": s.cfg.Env,
	})
}

// metricsHandler serves Prometheus metrics, behind METRICS_TOKEN when it is set.
//
// @Summary Prometheus metrics
// @Description Prometheus text exposition format (see operations.md for the metric names). When METRICS_TOKEN is set, `Authorization: Bearer <METRICS_TOKEN>` is required.
// @Tags Health
// @ID metrics
// @Produce plain,json
// @Security MetricsToken
// @Success 200 {string} string "Metrics in the Prometheus text format"
// @Failure 401 {object} errorEnvelope "unauthorized: METRICS_TOKEN is set and the token is missing or wrong"
// @Router /metrics [get]
func (s *Server) metricsHandler() http.HandlerFunc {
	h := promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{})
	want := []byte("Bearer " + s.cfg.MetricsToken)
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.MetricsToken != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			respondError(w, r, model.Errorf(model.KindUnauthorized, "A valid metrics token is required"))
			return
		}
		h.ServeHTTP(w, r)
	}
}
