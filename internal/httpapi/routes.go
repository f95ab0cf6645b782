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
func (s *Server) Handler() http.Handler { return s.Routes() }

// Routes builds the router behind Handler; tests walk it to compare it with the OpenAPI
// document in api/.
func (s *Server) Routes() chi.Router {
	r := chi.NewRouter()
	r.NotFound(notFound)
	r.MethodNotAllowed(methodNotAllowed(r))

	r.Use(s.requestContext, s.observe, s.recoverPanics, securityHeaders, s.corsHandler(), middleware.GetHead)

	// Probes and metrics: no rate limit, no dependencies for /health.
	r.Get("/health", s.liveness)
	r.Get("/health/detailed", s.readiness)
	r.Get("/metrics", s.metricsHandler())

	// apiMiddleware wraps every /api route; all but the report export also get the request timeout.
	apiMiddleware := chi.Middlewares{s.globalRateLimit, s.limitBody, requireJSON, requireTextQuery, compress}
	api := func(r chi.Router) {
		r.Use(apiMiddleware...)
		r.Use(middleware.Timeout(requestTimeout))
		r.Get("/health", s.apiHealth)
		r.Mount("/docs", docsHandler()) // Swagger UI and the OpenAPI documents (docs.go)

		r.Route("/auth", func(r chi.Router) {
			r.Post("/register", s.register)
			r.Post("/login", s.login)
			r.Post("/refresh", s.refresh)
			r.Post("/forgot-password", s.forgotPassword)
			r.Post("/reset-password", s.resetPassword)
			r.Group(func(r chi.Router) {
				r.Use(s.requireUser)
				r.Post("/logout", s.logout)
				r.Get("/me", s.me)
				r.Post("/change-password", s.changePassword)
				r.Post("/deactivate", s.deactivate)
			})
		})

		r.Route("/users", func(r chi.Router) {
			r.Use(s.requireUser)
			r.Get("/profile", s.getProfile)
			r.Put("/profile", s.updateProfile)
			r.Get("/api-keys", s.listAPIKeys)
			r.Delete("/api-keys/{id}", s.revokeAPIKey)
			r.Get("/usage", s.getUsage)
			r.Get("/tier", s.getTier)
			r.Get("/sessions", s.listSessions)
			r.Post("/deactivate", s.deactivate)
		})

		r.Route("/workers", func(r chi.Router) {
			// Called by workers.
			r.Group(func(r chi.Router) {
				r.Use(s.requireWorker)
				r.Post("/register", s.registerWorker)
				r.Delete("/unregister", s.unregisterWorker)
				r.Put("/{workerId}/heartbeat", s.workerHeartbeat)
				r.Get("/{workerId}/sessions/assigned", s.assignedSessions)
				r.Post("/{workerId}/sessions/recovery-status", s.recoveryStatus)
				r.Post("/{workerId}/sessions-preserved", s.sessionsPreserved)
			})
			// Worker administration.
			r.Group(func(r chi.Router) {
				r.Use(s.requireUser, requireAdmin)
				r.Get("/", s.listWorkers)
				r.Post("/", s.addWorker)
				r.Get("/statistics", s.workerStatistics)
				r.Get("/available", s.availableWorkers)
				r.Post("/test", s.testEndpoint)
				r.Post("/health-check", s.runHealthCheck)
				r.Post("/health/start", s.startHealthMonitor)
				r.Post("/health/stop", s.stopHealthMonitor)
				r.Get("/health/status", s.healthMonitorStatus)
				r.Get("/{workerId}", s.getWorker)
				r.Put("/{workerId}", s.updateWorker)
				r.Delete("/{workerId}", s.deleteWorker)
				r.Post("/{workerId}/test", s.testWorker)
				r.Get("/{workerId}/metrics", s.workerMetrics)
				r.Post("/{workerId}/drain", s.drainWorker)
			})
		})

		r.Route("/webhooks", func(r chi.Router) {
			r.Use(s.requireWorker)
			r.Post("/session-status", s.sessionStatusEvent)
			r.Post("/worker-heartbeat", s.legacyWorkerHeartbeat)
			r.Post("/message-status", s.messageStatusEvent)
			r.Post("/message", s.incomingMessage)
		})

		r.Route("/sessions", func(r chi.Router) {
			r.Use(s.requireUser, s.requireOpenForChanges)
			r.Get("/", s.listSessions)
			r.Post("/", s.createSession)
			r.Get("/{id}", s.getSession)
			r.Delete("/{id}", s.deleteSession)
			r.Post("/{id}/connect", s.connectSession)
			r.Get("/{id}/status", s.sessionStatus)
			r.Get("/{id}/qr", s.sessionQR)
			r.Post("/{id}/pair", s.pairSession)
			r.Post("/{id}/restart", s.restartSession)
			r.Post("/{id}/disconnect", s.disconnectSession)
			r.Post("/{id}/logout", s.logoutSession)
			r.Post("/{id}/api-key/regenerate", s.regenerateAPIKey)
			r.Post("/{id}/send", s.dashboardSend)
			r.Get("/{id}/messages", s.listSessionMessages)
			r.Get("/{id}/webhook", s.getWebhook)
			r.Put("/{id}/webhook", s.putWebhook)
			r.Delete("/{id}/webhook", s.deleteWebhook)
			r.Get("/{id}/webhook/deliveries", s.listWebhookDeliveries)
			r.Post("/{id}/webhook/deliveries/{deliveryId}/redeliver", s.redeliverWebhook)
		})

		// The Messaging API: the session comes from the API key.
		r.Group(func(r chi.Router) {
			r.Use(s.requireAPIKey, s.requireOpen, s.chargeAPICall)
			r.Get("/session/status", s.sessionStatusByKey)
			// Sends: safe to retry with an Idempotency-Key; async with ?async=true.
			r.Group(func(r chi.Router) {
				r.Use(s.idempotent)
				r.Post("/sendText", s.sendText)
				r.Post("/sendImage", s.sendImage)
				r.Post("/sendFile", s.sendFile)
				r.Post("/sendVoice", s.sendVoice)
				r.Post("/sendVideo", s.sendVideo)
				r.Post("/sendLocation", s.sendLocation)
				r.Post("/sendContactVcard", s.sendContact)
				r.Post("/sendLink", s.sendLink)
				r.Post("/sendPoll", s.sendPoll)
			})
			r.Post("/sendSeen", s.sendSeen)
			r.Post("/startTyping", s.startTyping)
			r.Post("/stopTyping", s.stopTyping)
			r.Post("/checkNumber", s.checkNumber)
			for _, action := range []string{"delete", "unsend", "reaction", "edit", "read", "star", "unstar"} {
				r.Post("/message/{messageId}/"+action, s.manageMessage(action))
			}
			r.Get("/messages/{id}", s.getMessage)
			r.Delete("/messages/{id}", s.cancelMessage)
		})

		r.Route("/admin", func(r chi.Router) {
			r.Use(s.requireUser, requireAdmin)
			r.Get("/users", s.adminListUsers)
			r.Get("/users/{id}", s.adminGetUser)
			r.Put("/users/{id}", s.adminUpdateUser)
			r.Delete("/users/{id}", s.adminDeleteUser)
			r.Get("/dashboard", s.adminDashboard)
			r.Get("/analytics", s.adminAnalytics)
			r.Get("/sessions", s.adminListSessions)
			r.Delete("/sessions/{id}", s.adminDeleteSession)
			r.Post("/sessions/{id}/migrate", s.adminMigrateSession)
			r.Get("/system/health", s.adminSystemHealth)
			r.Get("/system/logs", s.adminSystemLogs)
			r.Post("/system/maintenance", s.setMaintenance)
		})
	}
	// Socket.IO and the SSE streams, outside the /api middleware (events_routes.go).
	s.mountRealtime(r)
	// The report export streams for as long as the report takes (a million rows, a slow
	// client): the /api middleware without the request timeout, which would cut it short.
	for _, prefix := range []string{"/api/v1", "/api"} {
		r.With(apiMiddleware...).With(s.requireUser, requireAdmin).Get(prefix+"/admin/reports/export", s.exportReport)
	}
	// Every route exists under /api/v1 (canonical) and /api (the dashboard and newer workers).
	r.Route("/api/v1", api)
	r.Route("/api", api)
	return r
}
