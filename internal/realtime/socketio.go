package realtime

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/events"
)

// Socket.IO rooms and the events the server emits besides the bus's.
const (
	adminRoom        = socket.Room("admins")
	eventConnected   = "connected"
	eventJoined      = "session_joined"
	eventLeft        = "session_left"
	eventError       = "error"
	callTimeout      = 5 * time.Second
	maxHTTPBufferLen = 1 << 20
)

// sessionIDShape is what a session ID can look like (as in the HTTP API).
var sessionIDShape = regexp.MustCompile(`^[A-Za-z0-9_-]{3,100}$`)

func sessionRoom(sessionID string) socket.Room { return socket.Room("session_" + sessionID) }

// newSocketServer builds the Socket.IO server: a handshake middleware that requires a valid
// JWT in auth.token, and the join_session / leave_session handlers.
func (h *Hub) newSocketServer() *socket.Server {
	opts := socket.DefaultServerOptions()
	opts.SetServeClient(false)
	opts.SetMaxHttpBufferSize(maxHTTPBufferLen)
	io := socket.NewServer(nil, opts)
	io.Use(h.authenticateSocket)
	_ = io.On("connection", func(args ...any) {
		client, ok := args[0].(*socket.Socket)
		if ok {
			h.onConnect(client)
		}
	})
	return io
}

// SocketIOHandler serves the Socket.IO endpoint (mount it at /socket.io and /socket.io/*).
// Long-polling requests are held open up to the ping interval and WebSocket connections live
// for hours, so the server's deadlines are lifted for them.
func (h *Hub) SocketIOHandler() http.Handler {
	engine := h.io.ServeHandler(nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Time{})
		_ = rc.SetReadDeadline(time.Time{})
		engine.ServeHTTP(w, r)
	})
}

// authenticateSocket admits a Socket.IO connection whose handshake carries the JWT of an
// active user in auth.token; the client gets a connect_error otherwise.
func (h *Hub) authenticateSocket(client *socket.Socket, next func(*socket.ExtendedError)) {
	token, _ := client.Handshake().Auth["token"].(string)
	token = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(token), "Bearer "))
	if token == "" {
		next(socket.NewExtendedError("Authentication required", map[string]any{"type": "unauthorized"}))
		return
	}
	ctx, cancel := context.WithTimeout(h.ctx, callTimeout)
	defer cancel()
	p, err := h.cfg.Authenticate(ctx, token)
	if err != nil || p == nil {
		next(socket.NewExtendedError("Invalid or expired token", map[string]any{"type": "unauthorized"}))
		return
	}
	client.SetData(&socketAuth{principal: p, token: token})
	next(nil)
}

// socketAuth is what a Socket.IO connection authenticated with.
type socketAuth struct {
	principal *auth.Principal
	token     string
}

func (h *Hub) onConnect(client *socket.Socket) {
	a, ok := client.Data().(*socketAuth)
	if !ok {
		client.Disconnect(true)
		return
	}
	p := a.principal
	h.cfg.Metrics.SocketIOClients.Inc()
	gone := make(chan struct{})
	var goneOnce sync.Once
	_ = client.On("disconnect", func(...any) {
		h.cfg.Metrics.SocketIOClients.Dec()
		goneOnce.Do(func() { close(gone) })
	})
	go h.watchAuth(client, a, gone)
	if p.IsAdmin() {
		client.Join(adminRoom)
	}
	_ = client.On("join_session", func(args ...any) { h.onJoin(client, p, args, true) })
	_ = client.On("leave_session", func(args ...any) { h.onJoin(client, p, args, false) })
	_ = client.Emit(eventConnected, map[string]any{
		"socketId": string(client.Id()), "userId": p.UserID, "role": p.Role, "timestamp": time.Now().UTC(),
	})
}

// onJoin joins (or leaves) a session's room, for a session the user may see; else the
// client gets an error event, the same whether the session is someone else's or does not
// exist. The answer also goes to the acknowledgement callback when the client sent one.
func (h *Hub) onJoin(client *socket.Socket, p *auth.Principal, args []any, join bool) {
	var ack socket.Ack
	if n := len(args); n > 0 {
		if fn, ok := args[n-1].(socket.Ack); ok {
			ack, args = fn, args[:n-1]
		}
	}
	reply := func(event string, body map[string]any) {
		_ = client.Emit(event, body)
		if ack != nil {
			ack([]any{body}, nil)
		}
	}
	action := "join_session"
	if !join {
		action = "leave_session"
	}
	sessionID := sessionIDArg(args)
	if !sessionIDShape.MatchString(sessionID) {
		reply(eventError, map[string]any{"event": action, "sessionId": sessionID, "message": "Session not found"})
		return
	}
	sessionID = strings.ToLower(sessionID)
	if join {
		ctx, cancel := context.WithTimeout(h.ctx, callTimeout)
		err := h.cfg.CanSee(ctx, p, sessionID)
		cancel()
		if err != nil {
			reply(eventError, map[string]any{"event": action, "sessionId": sessionID, "message": "Session not found"})
			return
		}
		client.Join(sessionRoom(sessionID))
		reply(eventJoined, map[string]any{"sessionId": sessionID, "timestamp": time.Now().UTC()})
		return
	}
	client.Leave(sessionRoom(sessionID))
	reply(eventLeft, map[string]any{"sessionId": sessionID, "timestamp": time.Now().UTC()})
}

// sessionIDArg reads the session ID of join_session / leave_session: a string, or an object
// with sessionId.
func sessionIDArg(args []any) string {
	if len(args) == 0 {
		return ""
	}
	switch v := args[0].(type) {
	case string:
		return strings.TrimSpace(v)
	case map[string]any:
		s, _ := v["sessionId"].(string)
		return strings.TrimSpace(s)
	}
	return ""
}

// emitSocketIO sends an event to the Socket.IO clients of this replica: the session's room,
// and administrators for worker events. Rooms without sockets cost nothing, not even decoding.
func (h *Hub) emitSocketIO(ev *Event) {
	var rooms []socket.Room
	if ev.SessionID != "" && h.occupied(sessionRoom(ev.SessionID)) {
		rooms = append(rooms, sessionRoom(ev.SessionID))
	}
	if ev.Type == events.WorkerStatusUpdated && h.occupied(adminRoom) {
		rooms = append(rooms, adminRoom)
	}
	if len(rooms) == 0 {
		return
	}
	var payload any
	if err := json.Unmarshal(ev.Data, &payload); err != nil {
		h.cfg.Logger.Warn("realtime: undecodable event payload", slog.String("type", ev.Type), slog.Any("err", err))
		return
	}
	for _, room := range rooms {
		_ = h.io.To(room).Emit(ev.Type, payload)
	}
}

// occupied reports whether a Socket.IO room of this replica has sockets.
func (h *Hub) occupied(room socket.Room) bool {
	ids, ok := h.io.Sockets().Adapter().Rooms().Load(room)
	return ok && ids.Len() > 0
}

// watchAuth ends a Socket.IO connection whose JWT stops being valid (see authWatch).
func (h *Hub) watchAuth(client *socket.Socket, a *socketAuth, gone <-chan struct{}) {
	w := h.newAuthWatch(a.principal, a.token)
	defer w.stop()
	select {
	case <-gone:
	case <-h.ctx.Done():
	case why := <-w.ended:
		h.dropSocket(client, why)
	}
}

// dropSocket tells the client why, then disconnects it.
func (h *Hub) dropSocket(client *socket.Socket, why string) {
	_ = client.Emit(eventError, map[string]any{"type": "unauthorized", "message": why})
	client.Disconnect(true)
}
