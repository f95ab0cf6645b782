package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/service"
)

var (
	errNoCredentials = model.Errorf(model.KindUnauthorized, "Authentication required")
	errNotAdmin      = model.Errorf(model.KindForbidden, "Administrator role required")
)

func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// requireUser admits requests with a valid dashboard JWT of an active user.
func (s *Server) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := bearerToken(r)
		if token == "" {
			respondError(w, r, errNoCredentials)
			return
		}
		p, err := s.accounts.Authenticate(r.Context(), token)
		if err != nil {
			respondError(w, r, err)
			return
		}
		setPrincipal(r.Context(), "user:"+p.UserID)
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// requireAdmin admits ADMINISTRATORs only; it runs after requireUser.
func requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := auth.PrincipalFrom(r.Context()); p == nil || !p.IsAdmin() {
			respondError(w, r, errNotAdmin)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireAPIKey admits requests with a session's API key, as `Authorization: Bearer wg_...`
// or `X-API-Key: wg_...`.
func (s *Server) requireAPIKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-API-Key")
		if key == "" {
			key = bearerToken(r)
		}
		if key == "" {
			respondError(w, r, model.Errorf(model.KindUnauthorized, "API key required"))
			return
		}
		p, err := s.apiKeys.Authenticate(r.Context(), strings.TrimSpace(key))
		if err != nil {
			respondError(w, r, err)
			return
		}
		setPrincipal(r.Context(), "apikey:"+p.APIKeyID)
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// principal returns the authenticated principal; routes behind requireUser or requireAPIKey
// always have one.
func principal(r *http.Request) *auth.Principal {
	return auth.PrincipalFrom(r.Context())
}

type workerCallerKey struct{}

// requireWorker admits workers: the shared WORKER_AUTH_TOKEN (unless WORKER_REQUIRE_OWN_TOKEN,
// outside registration) or a worker's own token, which identifies it.
func (s *Server) requireWorker(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := bearerToken(r)
		if token == "" {
			respondError(w, r, model.Errorf(model.KindUnauthorized, "Invalid worker authentication token"))
			return
		}
		caller, err := s.workerAuth.Authenticate(r.Context(), token, isRegistration(r))
		if err != nil {
			respondError(w, r, err)
			return
		}
		who := "worker:shared"
		if caller.ID != "" {
			who = "worker:" + caller.ID
		}
		setPrincipal(r.Context(), who)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), workerCallerKey{}, caller)))
	})
}

func isRegistration(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/workers/register")
}

func workerCaller(r *http.Request) service.WorkerCaller {
	c, _ := r.Context().Value(workerCallerKey{}).(service.WorkerCaller)
	return c
}

// chargeAPICall counts every Messaging API request against the user's hourly API-call quota
// and reports the window in X-RateLimit-* headers.
func (s *Server) chargeAPICall(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller := principal(r)
		res, err := s.quotas.Charge(r.Context(), caller, service.QuotaAPICalls)
		if res.Limit > 0 {
			setRateLimitHeaders(w, res.Limit, res.Remaining, res.ResetIn, time.Hour)
		}
		if err != nil {
			respondError(w, r, err)
			return
		}
		s.usage.Count(caller.UserID, caller.SessionID, caller.APIKeyID, "api_call")
		next.ServeHTTP(w, r)
	})
}
