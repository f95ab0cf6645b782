package workerkit

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
)

// routes is the worker API the backend calls (worker-protocol.md, "Backend → worker").
func (wk *worker) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(wk.logRequests, wk.recoverPanics)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		wk.fail(w, r, &apiError{status: http.StatusNotFound, code: "NOT_FOUND", message: "route not found"})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		wk.fail(w, r, &apiError{status: http.StatusMethodNotAllowed, code: "METHOD_NOT_ALLOWED", message: "method not allowed"})
	})

	r.Get("/health", wk.health)
	r.Group(func(r chi.Router) {
		r.Use(wk.authenticate, requireJSON)
		r.Post("/api/sessions/start", wk.startSession)
		r.Route("/api/sessions/{id}", func(r chi.Router) {
			r.Get("/status", wk.sessionStatus)
			r.Get("/qr", wk.sessionQR)
			r.Post("/pair", wk.pairSession)
			r.Post("/restart", wk.restartSession)
			r.Post("/disconnect", wk.disconnectSession)
			r.Post("/logout", wk.logoutSession)
			r.Delete("/", wk.deleteSession)
			r.Post("/send", wk.send)
			r.Post("/check-number", wk.checkNumber)
		})
		r.Post("/api/message/{id}/manage", wk.manageMessage)
		if wk.cfg.Admin != nil {
			r.Mount("/admin", http.StripPrefix("/admin", wk.cfg.Admin))
		}
	})
	return r
}

// authenticate accepts the shared WORKER_AUTH_TOKEN the backend calls workers with.
func (wk *worker) authenticate(next http.Handler) http.Handler {
	want := []byte("Bearer " + wk.cfg.SharedToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			wk.fail(w, r, &apiError{status: http.StatusUnauthorized, code: "UNAUTHORIZED", message: "missing or invalid bearer token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// logRequests logs each request; never a header, so never a token.
func (wk *worker) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		level := slog.LevelDebug
		if ww.Status() >= http.StatusBadRequest {
			level = slog.LevelInfo
		}
		wk.logger.LogAttrs(r.Context(), level, "worker request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", ww.Status()),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000), slog.Int("bytes", ww.BytesWritten()))
	})
}

func (wk *worker) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler { //nolint:errorlint // the sentinel is re-panicked as is
					panic(v)
				}
				wk.logger.Error("panic in worker request", slog.String("path", r.URL.Path), slog.Any("panic", v))
				wk.fail(w, r, fmt.Errorf("internal error: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// health answers GET /health: no envelope, unauthenticated.
func (wk *worker) health(w http.ResponseWriter, _ *http.Request) {
	counts := map[string]float64{
		"total": 0, "connected": 0, "disconnected": 0, "initializing": 0, "qr_required": 0,
		"reconnecting": 0, "error": 0, "maxSessions": float64(wk.cfg.MaxSessions),
	}
	for _, s := range wk.sessions() {
		counts["total"]++
		switch s.Status {
		case model.SessionConnected:
			counts["connected"]++
		case model.SessionInit:
			counts["initializing"]++
		case model.SessionQRRequired:
			counts["qr_required"]++
		case model.SessionReconnecting:
			counts["reconnecting"]++
		case model.SessionError:
			counts["error"]++
		default:
			counts["disconnected"]++
		}
	}
	writeJSON(w, http.StatusOK, protocol.WorkerHealth{
		Status:    "healthy",
		WorkerID:  wk.client.currentWorkerID(),
		Endpoint:  wk.cfg.Endpoint,
		Uptime:    math.Floor(time.Since(wk.started).Seconds()),
		Timestamp: protocol.At(time.Now()),
		Sessions:  counts,
		Version:   wk.cfg.Version,
	})
}

func (wk *worker) startSession(w http.ResponseWriter, r *http.Request) {
	var req protocol.StartSessionRequest
	if err := decode(w, r, &req); err != nil {
		wk.fail(w, r, err)
		return
	}
	req.SessionID = strings.TrimSpace(req.SessionID)
	if err := checkSessionID(req.SessionID); err != nil {
		wk.fail(w, r, err)
		return
	}
	release, err := wk.reserveStart(req.SessionID)
	if err != nil {
		wk.fail(w, r, err)
		return
	}
	state, created, err := wk.engine.Start(r.Context(), req.SessionID, req.UserID, req.SessionName)
	release()
	if err != nil {
		wk.fail(w, r, err)
		return
	}
	wk.placed(req.SessionID)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	if state.Message == "" {
		state.Message = "Session started successfully. QR code will be available shortly."
		if !created {
			state.Message = "Existing session restarted successfully."
		}
	}
	respond(w, status, "", state)
}

// reserveStart refuses a new session past maxSessions. Starts of new sessions in flight
// count, so concurrent starts cannot overshoot; release must be called when Start returns.
func (wk *worker) reserveStart(sessionID string) (release func(), err error) {
	sessions := wk.sessions()
	for _, s := range sessions {
		if s.SessionID == sessionID {
			return func() {}, nil
		}
	}
	wk.mu.Lock()
	defer wk.mu.Unlock()
	if len(sessions)+wk.startsInFlight >= wk.cfg.MaxSessions {
		return nil, fmt.Errorf("%w (%d)", ErrAtCapacity, wk.cfg.MaxSessions)
	}
	wk.startsInFlight++
	return func() {
		wk.mu.Lock()
		wk.startsInFlight--
		wk.mu.Unlock()
	}, nil
}

func (wk *worker) sessionStatus(w http.ResponseWriter, r *http.Request) {
	state, err := wk.engine.Status(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		wk.fail(w, r, err)
		return
	}
	respond(w, http.StatusOK, "", state)
}

func (wk *worker) sessionQR(w http.ResponseWriter, r *http.Request) {
	qr, err := wk.engine.QR(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		wk.fail(w, r, err)
		return
	}
	respond(w, http.StatusOK, "", protocol.QRResult{QRCode: qr})
}

func (wk *worker) pairSession(w http.ResponseWriter, r *http.Request) {
	var req protocol.PairRequest
	if err := decode(w, r, &req); err != nil {
		wk.fail(w, r, err)
		return
	}
	phone, err := phoneDigits(req.PhoneNumber)
	if err != nil {
		wk.fail(w, r, err)
		return
	}
	code, err := wk.engine.Pair(r.Context(), chi.URLParam(r, "id"), phone)
	if err != nil {
		wk.fail(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Pairing code generated", protocol.PairResult{PairingCode: code})
}

func (wk *worker) restartSession(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	state, err := wk.engine.Restart(r.Context(), id)
	if err != nil {
		wk.fail(w, r, err)
		return
	}
	wk.placed(id)
	respond(w, http.StatusOK, "Session restarted", state)
}

func (wk *worker) disconnectSession(w http.ResponseWriter, r *http.Request) {
	state, err := wk.engine.Disconnect(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		wk.fail(w, r, err)
		return
	}
	if state.Message == "" {
		state.Message = "Session disconnected successfully. Session data preserved."
	}
	respond(w, http.StatusOK, "", state)
}

func (wk *worker) logoutSession(w http.ResponseWriter, r *http.Request) {
	state, err := wk.engine.Logout(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		wk.fail(w, r, err)
		return
	}
	if state.Message == "" {
		state.Message = "Session logged out successfully. Auth data deleted, QR scan required for reconnection."
	}
	respond(w, http.StatusOK, "", state)
}

func (wk *worker) deleteSession(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := wk.engine.Delete(r.Context(), id); err != nil {
		wk.fail(w, r, err)
		return
	}
	wk.forget(id)
	respond(w, http.StatusOK, "Session deleted", protocol.SessionState{SessionID: id, Status: "destroyed"})
}

func (wk *worker) send(w http.ResponseWriter, r *http.Request) {
	var req protocol.SendRequest
	if err := decode(w, r, &req); err != nil {
		wk.fail(w, r, err)
		return
	}
	if err := normalizeSend(&req); err != nil {
		wk.fail(w, r, err)
		return
	}
	res, err := wk.engine.Send(r.Context(), chi.URLParam(r, "id"), req)
	if err != nil {
		wk.fail(w, r, err)
		return
	}
	wk.messagesSent.Add(1)
	respond(w, http.StatusOK, "Message sent successfully", res)
}

func (wk *worker) checkNumber(w http.ResponseWriter, r *http.Request) {
	var req protocol.CheckNumberRequest
	if err := decode(w, r, &req); err != nil {
		wk.fail(w, r, err)
		return
	}
	phone, err := phoneDigits(req.Phone)
	if err != nil {
		wk.fail(w, r, err)
		return
	}
	res, err := wk.engine.CheckNumber(r.Context(), chi.URLParam(r, "id"), phone)
	if err != nil {
		wk.fail(w, r, err)
		return
	}
	respond(w, http.StatusOK, "", res)
}

func (wk *worker) manageMessage(w http.ResponseWriter, r *http.Request) {
	var req protocol.ManageRequest
	if err := decode(w, r, &req); err != nil {
		wk.fail(w, r, err)
		return
	}
	req.Action = strings.ToLower(strings.TrimSpace(req.Action))
	switch req.Action {
	case protocol.ActionDelete, protocol.ActionUnsend, protocol.ActionRead, protocol.ActionStar, protocol.ActionUnstar:
	case protocol.ActionReaction:
		if req.Emoji == nil {
			wk.fail(w, r, invalid("reaction needs an emoji (an empty one removes the reaction)"))
			return
		}
	case protocol.ActionEdit:
		if req.NewText == nil || strings.TrimSpace(*req.NewText) == "" {
			wk.fail(w, r, invalid("edit needs newText"))
			return
		}
	default:
		wk.fail(w, r, invalid("unknown action %q", req.Action))
		return
	}
	if strings.TrimSpace(req.MessageID) == "" {
		wk.fail(w, r, invalid("messageId is required"))
		return
	}
	res, err := wk.engine.Manage(r.Context(), chi.URLParam(r, "id"), req)
	if err != nil {
		wk.fail(w, r, err)
		return
	}
	respond(w, http.StatusOK, "", res)
}

func checkSessionID(id string) error {
	switch {
	case id == "":
		return invalid("sessionId is required")
	case len(id) > 255:
		return invalid("sessionId is longer than 255 characters")
	case strings.ContainsAny(id, "/?#"):
		return invalid("sessionId must not contain '/', '?' or '#'")
	}
	return nil
}

// phoneDigits reduces "+62 812-3456-7890" to "6281234567890"; WhatsApp numbers have 7 to 15
// digits.
func phoneDigits(raw string) (string, error) {
	var b strings.Builder
	for _, c := range strings.TrimSuffix(strings.TrimSpace(raw), "@s.whatsapp.net") {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == '+' || c == ' ' || c == '-' || c == '(' || c == ')' || c == '.':
		default:
			return "", invalid("phone number %q has an invalid character %q", raw, c)
		}
	}
	if n := b.Len(); n < 7 || n > 15 {
		return "", invalid("phone number %q must have 7 to 15 digits", raw)
	}
	return b.String(), nil
}

// normalizeSend checks that a send carries what its type needs. Types are lower-case on the
// wire; an empty type with a message is text.
func normalizeSend(req *protocol.SendRequest) error {
	req.Type = strings.ToLower(strings.TrimSpace(req.Type))
	req.To = strings.TrimSpace(req.To)
	if req.Type == "" && req.Message != nil {
		req.Type = protocol.SendText
	}
	if req.To == "" {
		return invalid("to is required")
	}
	filled := func(s *string) bool { return s != nil && strings.TrimSpace(*s) != "" }
	switch req.Type {
	case protocol.SendText:
		if !filled(req.Message) {
			return invalid("a text message needs message")
		}
	case protocol.SendImage, protocol.SendDocument, protocol.SendAudio, protocol.SendVideo:
		if !filled(req.MediaURL) {
			return invalid("a %s message needs mediaUrl", req.Type)
		}
	case protocol.SendLocation:
		loc := req.Location
		if loc == nil || math.Abs(loc.Latitude) > 90 || math.Abs(loc.Longitude) > 180 {
			return invalid("a location message needs a location with valid latitude and longitude")
		}
	case protocol.SendContact:
		if req.Contact == nil || strings.TrimSpace(req.Contact.Name) == "" || strings.TrimSpace(req.Contact.Phone) == "" {
			return invalid("a contact message needs contact.name and contact.phone")
		}
	case protocol.SendLink:
		if (req.Link == nil || strings.TrimSpace(req.Link.URL) == "") && !filled(req.Message) {
			return invalid("a link message needs link.url or message")
		}
	case protocol.SendPoll:
		if req.Poll == nil || strings.TrimSpace(req.Poll.Name) == "" || len(req.Poll.Options) < 2 {
			return invalid("a poll needs a name and at least two options")
		}
	case protocol.SendSeen, protocol.SendTypingStart, protocol.SendTypingStop:
	case "":
		return invalid("type is required")
	default:
		return invalid("unknown message type %q", req.Type)
	}
	return nil
}
