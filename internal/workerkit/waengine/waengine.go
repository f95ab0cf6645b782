// Package waengine is the real WhatsApp engine of workerkit, built on go.mau.fi/whatsmeow:
// many WhatsApp sessions in one Go process, each a linked device of a customer's phone.
//
// All sessions share one whatsmeow sqlstore.Container on PostgreSQL (pgx's database/sql
// driver, no cgo) and a table mapping the gateway's session IDs to device JIDs, so a session
// resumes on any worker sharing the database (failover) without a new QR. On top of
// whatsmeow the engine adds what a gateway needs and whatsmeow leaves to its user: each QR
// code reported as a QR_REQUIRED event, connection events mapped to the protocol's statuses
// with reasons, a capped and jittered reconnect policy, per-number pacing and a cap on
// identical messages (anti-ban), and history sync off by default.
//
// whatsmeow because it is the maintained Go implementation of the multi-device protocol
// (the Node workers use Baileys, its JavaScript counterpart): a session costs a goroutine
// set and a few hundred kilobytes instead of a share of a Node process.
package waengine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	waLog "go.mau.fi/whatsmeow/util/log"
	"google.golang.org/protobuf/proto"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/netguard"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workerkit"
)

// Defaults of Config.
const (
	// DefaultDeviceName is what the phone lists under "Linked devices".
	DefaultDeviceName   = "WA Gateway"
	DefaultMaxMediaSize = 64 << 20
	DefaultDedupSize    = 10000
	mediaFetchTimeout   = 60 * time.Second
)

// Config shapes the engine.
type Config struct {
	// DatabaseURL is the PostgreSQL database holding the WhatsApp credentials
	// (postgres://...). Every worker that should be able to take over a session must use the
	// same one. Ignored when DB is set.
	DatabaseURL string
	// DB is an already open database (driver "pgx"); the caller closes it.
	DB *sql.DB
	// DeviceName is shown on the phone under "Linked devices"; default "WA Gateway".
	DeviceName string
	// HistorySync lets whatsmeow download the chat history the phone offers after pairing.
	// Off by default: the engine does nothing with it, and large histories have exhausted
	// the memory of gateways that kept it on.
	HistorySync bool
	Reconnect   ReconnectPolicy
	Pacing      Pacing
	// MediaClient fetches the mediaUrl of sends; default: a client that refuses private
	// addresses (netguard) unless AllowPrivateMedia.
	MediaClient       *http.Client
	AllowPrivateMedia bool
	MaxMediaSize      int64 // default 64 MiB
	// PrepareClient, when set, is called on every whatsmeow client before it connects; tests
	// use it to point the clients at a fake server (SetWebsocketHTTPClient...).
	PrepareClient func(*whatsmeow.Client)
	Logger        *slog.Logger
}

// Engine holds WhatsApp sessions. It implements workerkit.Engine.
type Engine struct {
	cfg       Config
	log       *slog.Logger
	waLog     waLog.Logger
	db        *sql.DB
	ownsDB    bool
	container *sqlstore.Container
	devices   deviceTable

	// ctx lives as long as the engine; every connection's context derives from it.
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	events   workerkit.Events
	sessions map[string]*session
	sent     *recent[protocol.SendResult]
}

var _ workerkit.Engine = (*Engine)(nil)

// session is one WhatsApp session. Its fields are guarded by Engine.mu.
type session struct {
	id, userID, name string
	status           model.SessionStatus
	reason           string
	qr               string
	phone            string // +6281234567890 once paired
	displayName      string
	lastActivity     time.Time

	device *store.Device
	// jid is the device's JID once linked: the engine's own copy, as whatsmeow changes
	// device.ID from its goroutines.
	jid    types.JID
	client *whatsmeow.Client
	// api is what sends and actions use: the client, or a test double.
	api messenger
	// run counts the clients the session had; events of an older run's client are ignored.
	// currentRun mirrors it for reading without the lock.
	run        uint64
	currentRun atomic.Uint64
	linking    bool // the client shows QR codes
	runCtx     context.Context
	stopRun    context.CancelFunc
	// attempts counts failed reconnects since the last successful connection.
	attempts int
	retry    *time.Timer
	// reloginAsked: WhatsApp asked the just-linked client to log in again.
	reloginAsked bool
	firstQR      chan struct{} // closed at the run's first QR code
	settled      chan struct{} // closed when the run connected or failed for good
	settledOK    bool
	pacer        *pacer
	ownIDs       *recent[struct{}] // IDs of messages this session sent, for reactions and edits
}

// New opens the credential store (creating or upgrading its tables) and returns an engine
// without sessions; workerkit's recovery resumes the ones the backend still places here.
// Close releases it.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.DeviceName == "" {
		cfg.DeviceName = DefaultDeviceName
	}
	if cfg.MaxMediaSize <= 0 {
		cfg.MaxMediaSize = DefaultMaxMediaSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.MediaClient == nil {
		guard := netguard.Guard{AllowPrivate: cfg.AllowPrivateMedia}
		dialer := &net.Dialer{Timeout: 10 * time.Second, Control: guard.DialControl}
		cfg.MediaClient = &http.Client{Timeout: mediaFetchTimeout, Transport: &http.Transport{
			DialContext: dialer.DialContext, TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 30 * time.Second,
		}}
	}
	cfg.Reconnect = cfg.Reconnect.withDefaults()
	cfg.Pacing = cfg.Pacing.withDefaults()

	e := &Engine{cfg: cfg, log: cfg.Logger, waLog: newWALogger(cfg.Logger.With(slog.String("component", "whatsmeow"))),
		sessions: map[string]*session{}, sent: newRecent[protocol.SendResult](DefaultDedupSize)}
	e.db, e.ownsDB = cfg.DB, cfg.DB == nil
	if e.ownsDB {
		if cfg.DatabaseURL == "" {
			return nil, errors.New("waengine: a database URL is required (the WhatsApp credentials live in PostgreSQL)")
		}
		db, err := sql.Open("pgx", cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("open the credential database: %w", err)
		}
		db.SetMaxOpenConns(20)
		db.SetConnMaxIdleTime(5 * time.Minute)
		e.db = db
	}
	fail := func(err error) (*Engine, error) {
		if e.ownsDB {
			_ = e.db.Close()
		}
		return nil, err
	}
	if err := e.db.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("reach the credential database: %w", err))
	}
	e.container = sqlstore.NewWithDB(e.db, "postgres", e.waLog.Sub("Database"))
	if err := e.container.Upgrade(ctx); err != nil {
		return fail(fmt.Errorf("upgrade the whatsmeow tables: %w", err))
	}
	e.devices = deviceTable{db: e.db}
	if err := e.devices.ensure(ctx); err != nil {
		return fail(err)
	}
	setDeviceProps(cfg.DeviceName, cfg.HistorySync)
	e.ctx, e.stop = context.WithCancel(context.WithoutCancel(ctx))
	return e, nil
}

// deviceMu guards whatsmeow's package-level device properties, which its clients read
// without a lock: they are process-wide, so they are written only when they change (once, in
// a worker).
var deviceMu sync.Mutex

// setDeviceProps names the linked device on the phone and, with history sync off, asks the
// phone for as little history as it accepts.
func setDeviceProps(name string, historySync bool) {
	deviceMu.Lock()
	defer deviceMu.Unlock()
	props := store.DeviceProps
	if props.GetOs() != name {
		store.SetOSInfo(name, [3]uint32{1, 0, 0})
	}
	days, quota := uint32(0), uint32(1)
	if historySync {
		days, quota = 0, 10240
	}
	cfg := props.HistorySyncConfig
	if props.RequireFullSync == nil || *props.RequireFullSync {
		props.RequireFullSync = proto.Bool(false)
	}
	if !historySync && cfg.GetRecentSyncDaysLimit() != 1 {
		cfg.RecentSyncDaysLimit = proto.Uint32(1)
		cfg.FullSyncDaysLimit = proto.Uint32(days)
	}
	if cfg.GetStorageQuotaMb() != quota {
		cfg.StorageQuotaMb = proto.Uint32(quota)
	}
}

// Close disconnects every session, keeping their credentials (a restarted worker or
// another one resumes them), and waits for the engine's goroutines.
func (e *Engine) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	for _, s := range e.sessions {
		e.stopRunLocked(s)
	}
	e.mu.Unlock()
	e.stop()
	e.wg.Wait()
	if e.ownsDB {
		_ = e.db.Close()
	}
}

// SetEvents implements workerkit.Engine.
func (e *Engine) SetEvents(events workerkit.Events) {
	e.mu.Lock()
	e.events = events
	e.mu.Unlock()
}

// Sessions implements workerkit.Engine.
func (e *Engine) Sessions() []workerkit.SessionSnapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]workerkit.SessionSnapshot, 0, len(e.sessions))
	for _, s := range e.sessions {
		out = append(out, workerkit.SessionSnapshot{SessionID: s.id, Status: s.status, PhoneNumber: s.phone,
			DisplayName: s.displayName, LastActivity: s.lastActivity})
	}
	return out // workerkit sorts
}

// Status implements workerkit.Engine.
func (e *Engine) Status(_ context.Context, sessionID string) (protocol.SessionState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.sessionLocked(sessionID, false)
	if err != nil {
		return protocol.SessionState{}, err
	}
	return s.state(), nil
}

// QR implements workerkit.Engine.
func (e *Engine) QR(_ context.Context, sessionID string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.sessionLocked(sessionID, false)
	if err != nil {
		return "", err
	}
	if s.status != model.SessionQRRequired || s.qr == "" {
		return "", fmt.Errorf("%w: session is %s", workerkit.ErrQRNotAvailable, protocol.WorkerStatusString(s.status))
	}
	return s.qr, nil
}

// sessionLocked finds a session; with connected, only one that can send.
func (e *Engine) sessionLocked(sessionID string, connected bool) (*session, error) {
	switch s, ok := e.sessions[sessionID]; {
	case !ok:
		return nil, fmt.Errorf("%w: %s", workerkit.ErrSessionNotFound, sessionID)
	case connected && (s.status != model.SessionConnected || s.api == nil):
		return nil, fmt.Errorf("%w: status %s", workerkit.ErrNotConnected, protocol.WorkerStatusString(s.status))
	default:
		return s, nil
	}
}

// emitLocked reports the session's status with the extra fields of ev. Events are emitted
// under the engine's lock so that a session's events are queued in order.
func (e *Engine) emitLocked(s *session, ev protocol.SessionEvent) {
	s.lastActivity = time.Now()
	if e.events == nil {
		return
	}
	ev.SessionID = s.id
	ev.Status = string(s.status)
	if s.reason != "" && ev.Reason == nil {
		reason := s.reason
		ev.Reason = &reason
	}
	e.events.SessionStatus(ev)
}

func (s *session) state() protocol.SessionState {
	st := protocol.SessionState{SessionID: s.id, Status: protocol.WorkerStatusString(s.status), Message: s.reason}
	if s.status == model.SessionQRRequired && s.qr != "" {
		st.QRCode = optional(s.qr)
	}
	st.PhoneNumber = optional(s.phone)
	st.DisplayName = optional(s.displayName)
	return st
}

// running reports whether the session has a live client (connected or on its way).
func (s *session) running() bool {
	switch s.status {
	case model.SessionInit, model.SessionQRRequired, model.SessionConnected, model.SessionReconnecting:
		return s.client != nil
	}
	return false
}

// newRun makes what the current client still reports stale, and returns the next run.
func (s *session) newRun() uint64 {
	s.run++
	s.currentRun.Store(s.run)
	return s.run
}

func jidPhone(jid *types.JID) string {
	if jid == nil || jid.User == "" {
		return ""
	}
	return "+" + jid.User
}
