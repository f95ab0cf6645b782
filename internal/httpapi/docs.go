package httpapi

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/wagateway/gateway/api"
)

// This file is also swag's main API file (`make docs`): the block below is the general
// information of the OpenAPI document in api/, and every handler's comment block describes its
// route. Paths are written in full (/api/v1/...) because the probes live outside /api/v1 and
// Swagger 2.0 has a single base path.

// @title          WhatsApp Gateway API
// @version        1.0
// @description    Multi-tenant WhatsApp gateway: users sign up, create WhatsApp sessions, connect them by QR code or pairing code, and send and receive messages through the Messaging API. The backend places sessions on workers (separate processes that hold the WhatsApp connections) and takes in their events; see the worker protocol document (worker-protocol.yaml, next to this one) for the calls between the backend and its workers.
// @description
// @description    **Mounts.** Every route is documented under `/api/v1`; `/api` serves exactly the same routes (the dashboard and newer workers use it). The probes `/health`, `/health/detailed` and `/metrics` sit at the root.
// @description
// @description    **Envelope.** Successful answers are `{success: true, timestamp, message?, data}`; errors are `{success: false, timestamp, error, message, type, details?, requestId?}` where `type` is the stable machine-readable word (`validation_error`, `bad_request`, `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`, `conflict`, `payload_too_large`, `unsupported_media_type`, `rate_limited`, `worker_error`, `connectivity_error`, `maintenance`, `internal_error`) and `details` lists every failing field of a validation error. Every answer carries `X-Request-ID`.
// @description
// @description    **Authentication.** The dashboard uses a JWT (`Authorization: Bearer <jwt>` from `/auth/login` or `/auth/register`). The Messaging API uses a session's API key (`X-API-Key: wg_...` or `Authorization: Bearer wg_...`); the key implies the session. Workers use `Authorization: Bearer <WORKER_AUTH_TOKEN>` or their own token from registration. Administrator routes need a JWT of a user with role ADMINISTRATOR.
// @description
// @description    **Limits.** A per-IP rate limit applies to every `/api` route (429 with `Retry-After`); Messaging API calls and messages count against the user's hourly tier quota (`X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`). Bodies must be `application/json` and at most 1 MiB (configurable).
// @description
// @description    **Events.** A session's events stream as Server-Sent Events from `GET /sessions/{id}/events` and over Socket.IO (v4 protocol, at `/socket.io/`, not described here). Customers receive them as webhooks, configured with `PUT /sessions/{id}/webhook` and signed per the Standard Webhooks specification.
// @BasePath       /
// @accept         json
// @produce        json

// @securityDefinitions.apikey BearerJWT
// @in                         header
// @name                       Authorization
// @description                Dashboard JWT from /auth/login or /auth/register, sent as `Bearer <jwt>`.

// @securityDefinitions.apikey APIKey
// @in                         header
// @name                       X-API-Key
// @description                A session's API key (`wg_` and 32 letters and digits); the session is implied by the key.

// @securityDefinitions.apikey APIKeyBearer
// @in                         header
// @name                       Authorization
// @description                A session's API key sent as `Bearer wg_...` (the same key as X-API-Key).

// @securityDefinitions.apikey WorkerToken
// @in                         header
// @name                       Authorization
// @description                `Bearer <WORKER_AUTH_TOKEN>` (shared by every worker) or `Bearer <workerToken>` (a worker's own token, returned at registration; it identifies the worker).

// @securityDefinitions.apikey MetricsToken
// @in                         header
// @name                       Authorization
// @description                `Bearer <METRICS_TOKEN>`, needed only when METRICS_TOKEN is set.

// @tag.name        Health
// @tag.description Probes and metrics; no authentication.
// @tag.name        Auth
// @tag.description Accounts and dashboard sign-in (JWT).
// @tag.name        Users
// @tag.description The signed-in user's profile, API keys, usage and tier (JWT).
// @tag.name        Sessions
// @tag.description WhatsApp sessions of the signed-in user (JWT; administrators see every user's).
// @tag.name        Messaging
// @tag.description The Messaging API: sends and message actions for the session of the API key.
// @tag.name        Webhooks
// @tag.description A session's customer webhook and its delivery log (JWT).
// @tag.name        Workers
// @tag.description Called by workers (worker token): registration, heartbeat, recovery.
// @tag.name        Worker events
// @tag.description Called by workers (worker token): session, message and heartbeat events.
// @tag.name        Worker administration
// @tag.description Worker fleet management and the health monitor (JWT, ADMINISTRATOR).
// @tag.name        Admin
// @tag.description Users, sessions, analytics and system operations (JWT, ADMINISTRATOR).

// swaggerUI holds swagger-ui-dist (Apache-2.0, see swaggerui/LICENSE) and the page that starts
// it. The page loads only files of this directory, so the docs work offline and under the
// Content-Security-Policy of securityHeaders (script-src 'self': no inline script).
//
//go:embed swaggerui
var swaggerUI embed.FS

// swaggerAssets is the swaggerui directory itself; fs.Sub cannot fail on an embedded
// directory that exists.
var swaggerAssets, _ = fs.Sub(swaggerUI, "swaggerui")

// docsHandler serves the Swagger UI at <mount>/ and the documents beside it; it is mounted
// under /api/v1/docs and /api/docs and uses relative URLs only, so it works under both.
func docsHandler() http.Handler {
	r := chi.NewRouter()
	r.Get("/", docsIndex)
	r.Get("/doc.json", serveDocument("application/json; charset=utf-8", api.SwaggerJSON))
	r.Get("/worker-protocol.yaml", serveDocument("application/yaml; charset=utf-8", api.WorkerProtocolYAML))
	r.Get("/{file}", docsAsset)
	return r
}

// docsIndex serves the UI's page. Without a trailing slash (/api/v1/docs) the page's relative
// URLs would resolve one level too high, so that is redirected first; "docs/" is relative to
// the request's directory, so it works under both mounts.
func docsIndex(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/") {
		http.Redirect(w, r, "docs/", http.StatusMovedPermanently)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, swaggerAssets, "index.html")
}

func docsAsset(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "file")
	if !fs.ValidPath(name) || name == "index.html" {
		notFound(w, r)
		return
	}
	if _, err := fs.Stat(swaggerAssets, name); err != nil {
		notFound(w, r)
		return
	}
	// The assets change only with a new build; a day of caching spares the 2 MB on reloads.
	w.Header().Set("Cache-Control", "public, max-age=86400")
	http.ServeFileFS(w, r, swaggerAssets, name) //nolint:gosec // a valid path (fs.ValidPath) of a file that exists in the embedded assets, which hold nothing else
}

func serveDocument(contentType string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(body) // the client may be gone; nothing to do about it
	}
}
