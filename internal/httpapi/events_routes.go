package httpapi

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/realtime"
)

// Real-time routes (api.md, "Real-time events"). They stream, so they are mounted outside
// the /api middleware: no request timeout, no compression (it would buffer), no body limit
// or content-type check; they clear the server's write deadline themselves.

// mountRealtime adds the Socket.IO endpoint and the SSE stream of each session, under every
// API prefix, to the root router.
func (s *Server) mountRealtime(r chi.Router) {
	if s.realtime == nil {
		return
	}
	socketIO := s.realtime.SocketIOHandler()
	r.Handle("/socket.io", socketIO)
	r.Handle("/socket.io/*", socketIO)
	for _, prefix := range []string{"/api/v1", "/api"} {
		r.With(s.globalRateLimit, s.requireUser).Get(prefix+"/sessions/{id}/events", s.sessionEventStream)
	}
}

// @Summary Stream a session's events (SSE)
// @Description Server-Sent Events of the session: session_status_changed, qr_code_updated, message_status_updated and message_received, each with an `id:`, the event type as `event:` and its JSON payload as `data:` (the same payloads as Socket.IO). A comment line every 15 s keeps idle connections open. A client that reconnects with `Last-Event-ID` (or `?lastEventId=`) first gets the events it missed that are still buffered (the last 100 per session, for a few minutes). When the JWT expires, or is found revoked or its account inactive (checked every REALTIME_AUTH_RECHECK_MS), the stream gets an `error` event {type: unauthorized, message} and ends.
// @Tags Sessions
// @ID streamSessionEvents
// @Produce text/event-stream
// @Security BearerJWT
// @Param id path string true "Session ID"
// @Param Last-Event-ID header string false "ID of the last event received, to resume"
// @Success 200 {string} string "text/event-stream"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session (or someone else's)"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 503 {object} errorEnvelope "connectivity_error: the server is shutting down"
// @Router /api/v1/sessions/{id}/events [get]
func (s *Server) sessionEventStream(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	if _, err := s.sessions.Visible(r.Context(), principal(r), id); err != nil {
		respondError(w, r, err)
		return
	}
	if err := s.realtime.ServeSessionEvents(w, r, id); err != nil {
		if errors.Is(err, realtime.ErrClosed) {
			err = model.Errorf(model.KindConnectivity, "The server is shutting down; reconnect")
		}
		respondError(w, r, err)
	}
}
