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
