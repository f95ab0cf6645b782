package httpapi

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// requestTimeout bounds ordinary requests; streaming routes are mounted outside it.
const requestTimeout = 30 * time.Second

// Handler is the whole API surface of the gateway.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.NotFound(notFound)
	r.MethodNotAllowed(methodNotAllowed)

	r.Use(s.requestContext, s.observe, s.recoverPanics, securityHeaders, s.corsHandler())

	// Probes and metrics: no rate limit, no dependencies for /health.
	r.Get("/health", s.liveness)
	r.Get("/health/detailed", s.readiness)
	r.Get("/metrics", s.metricsHandler())

	api := func(r chi.Router) {
		r.Use(s.globalRateLimit, s.limitBody, requireJSON,
			middleware.Compress(5, "application/json", "text/csv", "text/plain"),
			middleware.Timeout(requestTimeout))
		r.Get("/health", s.apiHealth)
	}
	// Every route exists under /api/v1 (canonical) and /api (the dashboard and newer workers).
	r.Route("/api/v1", api)
	r.Route("/api", api)
	return r
}
