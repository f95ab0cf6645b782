// Package simengine is a simulated WhatsApp engine for workerkit: sessions show a QR, then
// connect after a delay; sends answer WhatsApp-like IDs and are followed by SENT, DELIVERED
// and READ receipts; contacts write in now and then. No WhatsApp is involved. Faults can be
// switched on at any time (latency, failing sends, hanging calls) so that tests, the
// benchmark and the demo can see how the backend copes.
//
// Every delay is configuration, so tests run the whole life of a session in milliseconds.
package simengine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workerkit"
)

// Defaults of Config.
const (
	DefaultConnectDelay = 3 * time.Second
	DefaultQRInterval   = 20 * time.Second
	DefaultReceiptDelay = time.Second
	DefaultDedupSize    = 10000
)

// FakeContact is the JID incoming messages come from.
const FakeContact = "6281100000001@s.whatsapp.net"

// Config shapes the simulation. Zero durations take the defaults.
type Config struct {
	// ConnectDelay is how long after the QR is shown the session connects (the "scan").
	// Negative: never by itself, only when Connect is called.
	ConnectDelay time.Duration
	// QRInterval is how often the QR is renewed while the session is not connected.
	QRInterval time.Duration
	// ReceiptDelay separates the send from its SENT receipt, SENT from DELIVERED and
	// DELIVERED from READ. Negative: no receipts.
	ReceiptDelay time.Duration
	// IncomingEvery is how often each connected session receives a message from
	// FakeContact; zero means never.
	IncomingEvery time.Duration
	// DedupSize bounds how many clientMessageIds are remembered (the oldest are forgotten).
	DedupSize int
	// Faults are the faults at start; SetFaults changes them at runtime.
	Faults Faults
	Logger *slog.Logger
}

// Faults make the engine misbehave on purpose.
type Faults struct {
	// Latency is added to every call.
	Latency time.Duration
	// FailSends makes sends fail (the worker answers 500).
	FailSends bool
	// Hang makes every call block until its context is done.
	Hang bool
}

// errSimulatedSendFailure is what sends answer while FailSends is on.
var errSimulatedSendFailure = errors.New("simulated send failure")

// Engine is the simulated engine. It implements workerkit.Engine.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	sched *scheduler

	closed    chan struct{}
	closeOnce sync.Once
	loop      sync.WaitGroup

	mu       sync.Mutex
	events   workerkit.Events
	faults   Faults
	sessions map[string]*session
	// dedup remembers the answer of each (session, clientMessageId); dedupOrder is the
	// order they came in, to forget the oldest.
	dedup      map[string]protocol.SendResult
	dedupOrder []string
	stats      counters
}

var _ workerkit.Engine = (*Engine)(nil)

type session struct {
	id, userID, name string
	status           model.SessionStatus
	qr               string
	phone            string
	displayName      string
	pairedPhone      string
	hasCredentials   bool
	// gen changes whenever the session's course changes (restart, disconnect, logout,
	// delete), which cancels the timed actions scheduled before.
	gen          uint64
	lastActivity time.Time
	incoming     int
}

type counters struct {
	starts       int
	sent         map[string]map[string]int
	deduplicated int
	failedSends  int
	managed      map[string]int
	checks       int
	receipts     int
	incoming     int
}

// New returns a running engine; Close stops its timers.
func New(cfg Config) *Engine {
	if cfg.ConnectDelay == 0 {
		cfg.ConnectDelay = DefaultConnectDelay
	}
	if cfg.QRInterval <= 0 {
		cfg.QRInterval = DefaultQRInterval
	}
	if cfg.ReceiptDelay == 0 {
		cfg.ReceiptDelay = DefaultReceiptDelay
	}
	if cfg.DedupSize <= 0 {
		cfg.DedupSize = DefaultDedupSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Logger,
		sched:    newScheduler(),
		closed:   make(chan struct{}),
		faults:   cfg.Faults,
		sessions: map[string]*session{},
		dedup:    map[string]protocol.SendResult{},
		stats:    counters{sent: map[string]map[string]int{}, managed: map[string]int{}},
	}
	e.loop.Go(func() { e.sched.run(e.closed) })
	return e
}

// Close stops every timer of the engine and waits for its goroutine. Calls still answer
// afterwards, but nothing happens by itself any more.
func (e *Engine) Close() {
	e.closeOnce.Do(func() { close(e.closed) })
	e.loop.Wait()
}

// SetEvents implements workerkit.Engine.
func (e *Engine) SetEvents(events workerkit.Events) {
	e.mu.Lock()
	e.events = events
	e.mu.Unlock()
}

// SetFaults replaces the faults.
func (e *Engine) SetFaults(f Faults) {
	e.mu.Lock()
	e.faults = f
	e.mu.Unlock()
	e.log.Info("faults changed", slog.Duration("latency", f.Latency), slog.Bool("fail_sends", f.FailSends), slog.Bool("hang", f.Hang))
}

// Faults returns the faults in force.
func (e *Engine) Faults() Faults {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.faults
}

// misbehave applies the latency and hang faults to a call.
func (e *Engine) misbehave(ctx context.Context) error {
	f := e.Faults()
	if f.Hang {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.closed:
			return errors.New("engine closed")
		}
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Start implements workerkit.Engine.
func (e *Engine) Start(ctx context.Context, sessionID, userID, name string) (protocol.SessionState, bool, error) {
	if err := e.misbehave(ctx); err != nil {
		return protocol.SessionState{}, false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats.starts++
	if s, ok := e.sessions[sessionID]; ok {
		if userID != "" {
			s.userID = userID
		}
		if name != "" {
			s.name = name
		}
		switch s.status {
		case model.SessionDisconnected, model.SessionError:
			e.restartLocked(s)
			st := s.state()
			st.Message = "Existing session restarted successfully."
			return st, false, nil
		default:
			st := s.state()
			st.Message = "Session is already running."
			return st, false, nil
		}
	}
	s := &session{id: sessionID, userID: userID, name: name, status: model.SessionInit, lastActivity: time.Now()}
	e.sessions[sessionID] = s
	e.emitStatusLocked(s, protocol.SessionEvent{})
	e.linkLocked(s)
	st := s.state()
	st.Message = "Session started successfully. Scan the QR code."
	return st, true, nil
}

// linkLocked shows a QR (renewed every QRInterval) and schedules the scan.
func (e *Engine) linkLocked(s *session) {
	s.gen++
	gen := s.gen
	s.status = model.SessionQRRequired
	e.renewQRLocked(s)
	if e.cfg.ConnectDelay >= 0 {
		e.sched.after(e.cfg.ConnectDelay, func() { e.connectIf(s.id, gen) })
	}
}

func (e *Engine) renewQRLocked(s *session) {
	s.qr = newQR()
	s.lastActivity = time.Now()
	qr := s.qr
	e.emitStatusLocked(s, protocol.SessionEvent{QRCode: &qr})
	gen := s.gen
	e.sched.after(e.cfg.QRInterval, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if cur := e.sessions[s.id]; cur == s && s.gen == gen && s.status == model.SessionQRRequired {
			e.renewQRLocked(s)
		}
	})
}

// restartLocked reconnects with the kept credentials, or shows a new QR without them.
func (e *Engine) restartLocked(s *session) {
	if !s.hasCredentials {
		e.linkLocked(s)
		return
	}
	s.gen++
	gen := s.gen
	s.status = model.SessionInit
	s.qr = ""
	e.emitStatusLocked(s, protocol.SessionEvent{})
	e.sched.after(max(e.cfg.ConnectDelay, 0), func() { e.connectIf(s.id, gen) })
}

// connectIf connects the session if it is still on the course gen started.
func (e *Engine) connectIf(sessionID string, gen uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.sessions[sessionID]; s != nil && s.gen == gen && s.status != model.SessionConnected {
		e.connectLocked(s)
	}
}

func (e *Engine) connectLocked(s *session) {
	s.status = model.SessionConnected
	s.qr = ""
	s.hasCredentials = true
	s.lastActivity = time.Now()
	s.phone = phoneFor(s.id)
	if s.pairedPhone != "" {
		s.phone = "+" + s.pairedPhone
	}
	s.displayName = s.name
	if s.displayName == "" {
		s.displayName = "Sim " + s.id[:min(8, len(s.id))]
	}
	phone, name := s.phone, s.displayName
	e.emitStatusLocked(s, protocol.SessionEvent{PhoneNumber: &phone, DisplayName: &name})
	if e.cfg.IncomingEvery > 0 {
		e.scheduleIncomingLocked(s)
	}
}

func (e *Engine) scheduleIncomingLocked(s *session) {
	gen := s.gen
	e.sched.after(e.cfg.IncomingEvery, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if cur := e.sessions[s.id]; cur == s && s.gen == gen && s.status == model.SessionConnected {
			s.incoming++
			e.receiveLocked(s, FakeContact, fmt.Sprintf("Hello from the simulator (%d)", s.incoming))
			e.scheduleIncomingLocked(s)
		}
	})
}

func (e *Engine) receiveLocked(s *session, from, text string) {
	e.stats.incoming++
	s.lastActivity = time.Now()
	name := "Sim Contact"
	if e.events != nil {
		e.events.IncomingMessage(protocol.IncomingMessage{
			SessionID: s.id, MessageID: newMessageID(), From: jidFor(from), FromName: &name,
			Type: "TEXT", Content: &text, Timestamp: protocol.At(time.Now()),
		})
	}
}

// emitStatusLocked reports the session's status; ev carries the extra fields. Events are
// emitted under the engine's lock so that a session's events are queued in order.
func (e *Engine) emitStatusLocked(s *session, ev protocol.SessionEvent) {
	if e.events == nil {
		return
	}
	ev.SessionID = s.id
	ev.Status = string(s.status)
	ev.Timestamp = protocol.At(time.Now())
	e.events.SessionStatus(ev)
}

// Connect connects a session now, as if its QR had just been scanned.
func (e *Engine) Connect(sessionID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.sessionLocked(sessionID)
	if err != nil {
		return err
	}
	if s.status != model.SessionConnected {
		s.gen++
		e.connectLocked(s)
	}
	return nil
}

// Receive delivers a message from a contact to a connected session now.
func (e *Engine) Receive(sessionID, from, text string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.connectedLocked(sessionID)
	if err != nil {
		return err
	}
	e.receiveLocked(s, from, text)
	return nil
}

func (e *Engine) sessionLocked(sessionID string) (*session, error) {
	s, ok := e.sessions[sessionID]
	if !ok {
		return nil, fmt.Errorf("%w: %s", workerkit.ErrSessionNotFound, sessionID)
	}
	return s, nil
}

func (e *Engine) connectedLocked(sessionID string) (*session, error) {
	s, err := e.sessionLocked(sessionID)
	if err != nil {
		return nil, err
	}
	if s.status != model.SessionConnected {
		return nil, fmt.Errorf("%w: status %s", workerkit.ErrNotConnected, protocol.WorkerStatusString(s.status))
	}
	return s, nil
}

func (s *session) state() protocol.SessionState {
	st := protocol.SessionState{SessionID: s.id, Status: protocol.WorkerStatusString(s.status)}
	if s.status == model.SessionQRRequired && s.qr != "" {
		qr := s.qr
		st.QRCode = &qr
	}
	if s.phone != "" {
		phone := s.phone
		st.PhoneNumber = &phone
	}
	if s.displayName != "" {
		name := s.displayName
		st.DisplayName = &name
	}
	return st
}

// Status implements workerkit.Engine.
func (e *Engine) Status(ctx context.Context, sessionID string) (protocol.SessionState, error) {
	if err := e.misbehave(ctx); err != nil {
		return protocol.SessionState{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.sessionLocked(sessionID)
	if err != nil {
		return protocol.SessionState{}, err
	}
	return s.state(), nil
}

// QR implements workerkit.Engine.
func (e *Engine) QR(ctx context.Context, sessionID string) (string, error) {
	if err := e.misbehave(ctx); err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.sessionLocked(sessionID)
	if err != nil {
		return "", err
	}
	if s.status != model.SessionQRRequired {
		return "", fmt.Errorf("%w: session is %s", workerkit.ErrQRNotAvailable, protocol.WorkerStatusString(s.status))
	}
	return s.qr, nil
}

// Pair implements workerkit.Engine: the code links the given phone, which the session
// takes as its number when it connects.
func (e *Engine) Pair(ctx context.Context, sessionID, phone string) (string, error) {
	if err := e.misbehave(ctx); err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.sessionLocked(sessionID)
	if err != nil {
		return "", err
	}
	if s.status != model.SessionQRRequired {
		return "", fmt.Errorf("%w: pairing needs a session waiting to be linked, this one is %s",
			workerkit.ErrInvalid, protocol.WorkerStatusString(s.status))
	}
	s.pairedPhone = strings.TrimPrefix(phone, "+")
	return newPairingCode(), nil
}

// Restart implements workerkit.Engine.
func (e *Engine) Restart(ctx context.Context, sessionID string) (protocol.SessionState, error) {
	if err := e.misbehave(ctx); err != nil {
		return protocol.SessionState{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.sessionLocked(sessionID)
	if err != nil {
		return protocol.SessionState{}, err
	}
	e.restartLocked(s)
	return s.state(), nil
}

// Disconnect implements workerkit.Engine.
func (e *Engine) Disconnect(ctx context.Context, sessionID string) (protocol.SessionState, error) {
	if err := e.misbehave(ctx); err != nil {
		return protocol.SessionState{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.sessionLocked(sessionID)
	if err != nil {
		return protocol.SessionState{}, err
	}
	s.gen++
	s.status = model.SessionDisconnected
	s.qr = ""
	reason := "disconnected on request, credentials kept"
	e.emitStatusLocked(s, protocol.SessionEvent{Reason: &reason})
	return s.state(), nil
}

// Logout implements workerkit.Engine.
func (e *Engine) Logout(ctx context.Context, sessionID string) (protocol.SessionState, error) {
	if err := e.misbehave(ctx); err != nil {
		return protocol.SessionState{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.sessionLocked(sessionID)
	if err != nil {
		return protocol.SessionState{}, err
	}
	s.gen++
	s.status = model.SessionDisconnected
	s.qr, s.phone, s.displayName, s.pairedPhone = "", "", "", ""
	s.hasCredentials = false
	reason, fromPhone := "logged out", false
	e.emitStatusLocked(s, protocol.SessionEvent{Reason: &reason, LoggedOutAt: protocol.At(time.Now()), LoggedOutFromPhone: &fromPhone})
	return s.state(), nil
}

// Delete implements workerkit.Engine.
func (e *Engine) Delete(ctx context.Context, sessionID string) error {
	if err := e.misbehave(ctx); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.sessionLocked(sessionID)
	if err != nil {
		return err
	}
	s.gen++
	delete(e.sessions, sessionID)
	return nil
}

// Resume implements workerkit.Engine: the credentials are "kept", so the session connects
// at once.
func (e *Engine) Resume(ctx context.Context, sessionID, userID, name string) error {
	if err := e.misbehave(ctx); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.sessions[sessionID]
	if !ok {
		s = &session{id: sessionID, userID: userID, name: name}
		e.sessions[sessionID] = s
	}
	if s.status == model.SessionConnected {
		return nil
	}
	s.gen++
	e.connectLocked(s)
	return nil
}

// Send implements workerkit.Engine.
func (e *Engine) Send(ctx context.Context, sessionID string, req protocol.SendRequest) (protocol.SendResult, error) {
	if err := e.misbehave(ctx); err != nil {
		return protocol.SendResult{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	key := sessionID + "\x00" + req.ClientMessageID
	if req.ClientMessageID != "" {
		if res, ok := e.dedup[key]; ok {
			e.stats.deduplicated++
			return res, nil
		}
	}
	if e.faults.FailSends {
		e.stats.failedSends++
		return protocol.SendResult{}, errSimulatedSendFailure
	}
	s, err := e.connectedLocked(sessionID)
	if err != nil {
		return protocol.SendResult{}, err
	}
	res := protocol.SendResult{MessageID: newMessageID(), Status: "sent", Type: req.Type, To: jidFor(req.To),
		Timestamp: protocol.At(time.Now())}
	if e.stats.sent[sessionID] == nil {
		e.stats.sent[sessionID] = map[string]int{}
	}
	e.stats.sent[sessionID][req.Type]++
	s.lastActivity = time.Now()
	if req.ClientMessageID != "" {
		e.rememberLocked(key, res)
	}
	switch req.Type {
	case protocol.SendSeen, protocol.SendTypingStart, protocol.SendTypingStop:
		// Nothing to receipt.
	default:
		if e.cfg.ReceiptDelay > 0 {
			gen := s.gen
			for i, status := range []string{"SENT", "DELIVERED", "READ"} {
				e.sched.after(time.Duration(i+1)*e.cfg.ReceiptDelay, func() { e.receipt(s, gen, res.MessageID, status) })
			}
		}
	}
	return res, nil
}

func (e *Engine) rememberLocked(key string, res protocol.SendResult) {
	if len(e.dedupOrder) >= e.cfg.DedupSize {
		delete(e.dedup, e.dedupOrder[0])
		e.dedupOrder[0] = ""
		e.dedupOrder = e.dedupOrder[1:]
	}
	e.dedup[key] = res
	e.dedupOrder = append(e.dedupOrder, key)
}

// receipt reports a receipt if the session is still connected as it was at the send.
func (e *Engine) receipt(s *session, gen uint64, messageID, status string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur := e.sessions[s.id]; cur != s || s.gen != gen || s.status != model.SessionConnected || e.events == nil {
		return
	}
	e.stats.receipts++
	now := protocol.At(time.Now())
	ev := protocol.MessageStatusEvent{SessionID: s.id, MessageID: messageID, Status: status, Timestamp: now}
	switch status {
	case "DELIVERED":
		ev.DeliveredAt = now
	case "READ":
		ev.ReadAt = now
	}
	e.events.MessageStatus(ev)
}

// Manage implements workerkit.Engine.
func (e *Engine) Manage(ctx context.Context, sessionID string, req protocol.ManageRequest) (protocol.ManageResult, error) {
	if err := e.misbehave(ctx); err != nil {
		return protocol.ManageResult{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.connectedLocked(sessionID); err != nil {
		return protocol.ManageResult{}, err
	}
	e.stats.managed[req.Action]++
	return protocol.ManageResult{MessageID: req.MessageID, Action: req.Action, Success: true}, nil
}

// CheckNumber implements workerkit.Engine: every number is on WhatsApp except those ending
// in 0000, so tests can see both answers.
func (e *Engine) CheckNumber(ctx context.Context, sessionID, phone string) (protocol.CheckNumberResult, error) {
	if err := e.misbehave(ctx); err != nil {
		return protocol.CheckNumberResult{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.connectedLocked(sessionID); err != nil {
		return protocol.CheckNumberResult{}, err
	}
	e.stats.checks++
	exists := !strings.HasSuffix(phone, "0000")
	res := protocol.CheckNumberResult{Phone: phone, Exists: exists}
	if exists {
		res.JID = jidFor(phone)
	}
	return res, nil
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
	sort.Slice(out, func(i, j int) bool { return out[i].SessionID < out[j].SessionID })
	return out
}
