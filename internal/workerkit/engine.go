// Package workerkit is the worker side of the worker protocol (worker-protocol.md), written
// once for every worker: the worker's HTTP API the backend calls, registration, heartbeats,
// event reporting with retries, session recovery and the goodbye at shutdown. What differs
// between workers — how a WhatsApp connection is actually held — sits behind Engine: the
// simulated engine (workerkit/simengine) today, a whatsmeow engine later.
//
// A worker is one call:
//
//	err := workerkit.Run(ctx, workerkit.Config{WorkerID: "w1", Endpoint: "http://10.0.0.5:8001",
//		Listen: ":8001", BackendURL: "http://backend:8000", SharedToken: token, Engine: engine})
package workerkit

import (
	"context"
	"time"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
)

// Engine holds the WhatsApp connections of a worker. The kit validates requests before it
// calls an engine, so an engine sees well-formed input only. Errors an engine returns should
// wrap the sentinels of this package (ErrSessionNotFound, ErrNotConnected, ErrInvalid, ...):
// they decide the HTTP answer; any other error is a 500.
//
// Methods that take a context must return when it is done: it is the backend's request (or
// the worker's shutdown). Engines are used concurrently.
type Engine interface {
	// SetEvents gives the engine the sink of its events. The kit calls it once, before it
	// serves anything.
	SetEvents(events Events)

	// Start starts a session: a new one shows a QR; an existing one that is not running is
	// restarted; a running one is left alone. created is true when the session was new.
	Start(ctx context.Context, sessionID, userID, name string) (state protocol.SessionState, created bool, err error)
	// Status returns the live state of a session.
	Status(ctx context.Context, sessionID string) (protocol.SessionState, error)
	// QR returns the QR code currently shown, or an error wrapping ErrQRNotAvailable.
	QR(ctx context.Context, sessionID string) (string, error)
	// Pair links the session by phone number instead of a QR and returns the pairing code.
	Pair(ctx context.Context, sessionID, phone string) (code string, err error)
	// Restart reconnects a session.
	Restart(ctx context.Context, sessionID string) (protocol.SessionState, error)
	// Disconnect closes the connection and keeps the credentials.
	Disconnect(ctx context.Context, sessionID string) (protocol.SessionState, error)
	// Logout logs the session out of WhatsApp: the credentials are gone.
	Logout(ctx context.Context, sessionID string) (protocol.SessionState, error)
	// Delete stops the session and forgets it and its credentials.
	Delete(ctx context.Context, sessionID string) error
	// Send sends a message. The same ClientMessageID must answer the same result and send
	// nothing the second time.
	Send(ctx context.Context, sessionID string, req protocol.SendRequest) (protocol.SendResult, error)
	// Manage performs an action on a sent or received message.
	Manage(ctx context.Context, sessionID string, req protocol.ManageRequest) (protocol.ManageResult, error)
	// CheckNumber tells whether a phone number is on WhatsApp.
	CheckNumber(ctx context.Context, sessionID, phone string) (protocol.CheckNumberResult, error)
	// Resume restores a session the backend still places on this worker after a restart,
	// from its kept credentials, without a QR.
	Resume(ctx context.Context, sessionID, userID, name string) error
	// Sessions lists every session the engine holds, for heartbeats and /health.
	Sessions() []SessionSnapshot
}

// Events is where an engine reports what happens on its connections. The kit queues the
// events and delivers them to the backend in order, per session, retrying through outages.
// The methods never block and never call back into the engine, so an engine may call them
// while holding its own locks (which is how it keeps a session's events in order).
type Events interface {
	// SessionStatus reports a session's new status (QR_REQUIRED with qrCode, CONNECTED with
	// phoneNumber and displayName, DISCONNECTED with loggedOutAt after a logout, ...). The
	// kit fills in workerId, and timestamp when the engine left it nil.
	SessionStatus(ev protocol.SessionEvent)
	// MessageStatus reports a receipt (SENT, DELIVERED, READ) or a failure of a sent message.
	MessageStatus(ev protocol.MessageStatusEvent)
	// IncomingMessage reports a message received by a session.
	IncomingMessage(msg protocol.IncomingMessage)
}

// SessionSnapshot is one session as an engine holds it.
type SessionSnapshot struct {
	SessionID    string
	Status       model.SessionStatus
	PhoneNumber  string // empty when unknown
	DisplayName  string // empty when unknown
	LastActivity time.Time
}
