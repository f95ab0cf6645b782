package simengine_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workerkit"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
	"github.com/wagateway/gateway/internal/workerkit/workerkittest"
)

const waitLong = 5 * time.Second

// sink records what the engine reports.
type sink struct {
	mu       sync.Mutex
	statuses []protocol.SessionEvent
	receipts []protocol.MessageStatusEvent
	incoming []protocol.IncomingMessage
}

func (s *sink) SessionStatus(ev protocol.SessionEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses = append(s.statuses, ev)
}

func (s *sink) MessageStatus(ev protocol.MessageStatusEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.receipts = append(s.receipts, ev)
}

func (s *sink) IncomingMessage(msg protocol.IncomingMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.incoming = append(s.incoming, msg)
}

func (s *sink) sessionEvents(sessionID string) []protocol.SessionEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []protocol.SessionEvent
	for _, ev := range s.statuses {
		if ev.SessionID == sessionID {
			out = append(out, ev)
		}
	}
	return out
}

func (s *sink) statusesOf(sessionID string) []string {
	var out []string
	for _, ev := range s.sessionEvents(sessionID) {
		out = append(out, ev.Status)
	}
	return out
}

func (s *sink) receiptsOf(messageID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ev := range s.receipts {
		if ev.MessageID == messageID {
			out = append(out, ev.Status)
		}
	}
	return out
}

func (s *sink) incomingCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.incoming)
}

func newEngine(t *testing.T, cfg simengine.Config) (*simengine.Engine, *sink) {
	t.Helper()
	e := simengine.New(cfg)
	t.Cleanup(e.Close)
	events := &sink{}
	e.SetEvents(events)
	return e, events
}

func waitStatus(t *testing.T, e *simengine.Engine, id, want string) {
	t.Helper()
	workerkittest.Eventually(t, waitLong, func() bool {
		st, err := e.Status(t.Context(), id)
		return err == nil && st.Status == want
	}, "%s %s", id, want)
}

var (
	qrPattern        = regexp.MustCompile(`^2@[A-Za-z0-9+/=]+,[A-Za-z0-9+/=]+,[A-Za-z0-9+/=]+,[A-Za-z0-9+/=]+$`)
	messageIDPattern = regexp.MustCompile(`^3EB0[0-9A-F]{16}$`)
	pairingPattern   = regexp.MustCompile(`^[1-9A-HJ-NP-TV-Z]{4}-[1-9A-HJ-NP-TV-Z]{4}$`)
	phonePattern     = regexp.MustCompile(`^\+62812\d{8}$`)
)

func text(body, clientID string) protocol.SendRequest {
	return protocol.SendRequest{To: "6281234567890", Type: protocol.SendText, Message: &body, ClientMessageID: clientID}
}

func TestStart_ShowsQRThenConnects(t *testing.T) {
	t.Parallel()
	e, events := newEngine(t, simengine.Config{ConnectDelay: 40 * time.Millisecond, QRInterval: time.Hour})
	st, created, err := e.Start(t.Context(), "s1", "u1", "Shop")
	if err != nil || !created {
		t.Fatalf("Start = %v, created %v", err, created)
	}
	if st.Status != "qr_ready" || st.QRCode == nil || !qrPattern.MatchString(*st.QRCode) {
		t.Fatalf("state = %+v", st)
	}
	waitStatus(t, e, "s1", "connected")
	if got := events.statusesOf("s1"); !slices.Equal(got, []string{"INIT", "QR_REQUIRED", "CONNECTED"}) {
		t.Fatalf("events = %v", got)
	}
	evs := events.sessionEvents("s1")
	if evs[1].QRCode == nil || *evs[1].QRCode != *st.QRCode {
		t.Error("the QR event does not carry the QR of the start answer")
	}
	c := evs[2]
	if c.PhoneNumber == nil || !phonePattern.MatchString(*c.PhoneNumber) || *c.DisplayName != "Shop" || c.Timestamp == nil {
		t.Errorf("CONNECTED = %+v", c)
	}
	// The number is derived from the session ID: stable.
	e2, _ := newEngine(t, simengine.Config{ConnectDelay: -1})
	if err := e2.Resume(t.Context(), "s1", "u", ""); err != nil {
		t.Fatal(err)
	}
	st2, _ := e2.Status(t.Context(), "s1")
	if *st2.PhoneNumber != *c.PhoneNumber || !strings.HasPrefix(*st2.DisplayName, "Sim s1") {
		t.Errorf("phone %s then %s; display name %s", *c.PhoneNumber, *st2.PhoneNumber, *st2.DisplayName)
	}

	// Starting a running session changes nothing.
	st, created, err = e.Start(t.Context(), "s1", "", "")
	if err != nil || created || st.Status != "connected" {
		t.Errorf("second Start = %+v, %v, %v", st, created, err)
	}
	if n := len(events.statusesOf("s1")); n != 3 {
		t.Errorf("a second start emitted events: %v", events.statusesOf("s1"))
	}
}

func TestQR_RenewedUntilConnected(t *testing.T) {
	t.Parallel()
	e, events := newEngine(t, simengine.Config{ConnectDelay: -1, QRInterval: 10 * time.Millisecond})
	if _, _, err := e.Start(t.Context(), "s1", "u", "n"); err != nil {
		t.Fatal(err)
	}
	workerkittest.Eventually(t, waitLong, func() bool { return len(events.statusesOf("s1")) >= 4 }, "renewed QRs")
	evs := events.sessionEvents("s1")
	seen := map[string]bool{}
	for _, ev := range evs[1:] {
		if ev.Status != "QR_REQUIRED" || ev.QRCode == nil || seen[*ev.QRCode] {
			t.Fatalf("renewal %+v", ev)
		}
		seen[*ev.QRCode] = true
	}
	qr, err := e.QR(t.Context(), "s1")
	if err != nil || !qrPattern.MatchString(qr) {
		t.Errorf("QR = %q, %v", qr, err)
	}
	if err := e.Connect("s1"); err != nil {
		t.Fatal(err)
	}
	n := len(events.statusesOf("s1"))
	// Three intervals later nothing more was emitted. A marker event after them proves the
	// time passed without a fixed sleep.
	if _, _, err := e.Start(t.Context(), "marker", "u", "n"); err != nil {
		t.Fatal(err)
	}
	workerkittest.Eventually(t, waitLong, func() bool { return len(events.statusesOf("marker")) >= 5 }, "marker renewals")
	if got := events.statusesOf("s1"); len(got) != n {
		t.Errorf("events after connecting: %v", got[n:])
	}
	if _, err := e.QR(t.Context(), "s1"); !errors.Is(err, workerkit.ErrQRNotAvailable) {
		t.Errorf("QR when connected: %v", err)
	}
}

func TestRestart_WithCredentials_ReconnectsWithoutQR(t *testing.T) {
	t.Parallel()
	e, events := newEngine(t, simengine.Config{ConnectDelay: 10 * time.Millisecond, QRInterval: time.Hour})
	if err := e.Resume(t.Context(), "s1", "u", "Shop"); err != nil {
		t.Fatal(err)
	}
	st, err := e.Restart(t.Context(), "s1")
	if err != nil || st.Status != "initializing" {
		t.Fatalf("Restart = %+v, %v", st, err)
	}
	waitStatus(t, e, "s1", "connected")
	if got := events.statusesOf("s1"); !slices.Equal(got, []string{"CONNECTED", "INIT", "CONNECTED"}) {
		t.Errorf("events = %v", got)
	}

	// Disconnect keeps the credentials: a start reconnects without a QR.
	st, err = e.Disconnect(t.Context(), "s1")
	if err != nil || st.Status != "disconnected" || st.PhoneNumber == nil {
		t.Fatalf("Disconnect = %+v, %v", st, err)
	}
	if _, err := e.Send(t.Context(), "s1", text("x", "")); !errors.Is(err, workerkit.ErrNotConnected) {
		t.Errorf("send when disconnected: %v", err)
	}
	st, created, err := e.Start(t.Context(), "s1", "u", "")
	if err != nil || created || st.Status != "initializing" {
		t.Fatalf("Start after disconnect = %+v, %v, %v", st, created, err)
	}
	waitStatus(t, e, "s1", "connected")
	if got := events.statusesOf("s1"); slices.Contains(got, "QR_REQUIRED") {
		t.Errorf("a QR was shown with credentials: %v", got)
	}
}

func TestLogout_DropsCredentials(t *testing.T) {
	t.Parallel()
	e, events := newEngine(t, simengine.Config{ConnectDelay: -1, QRInterval: time.Hour})
	if err := e.Resume(t.Context(), "s1", "u", "Shop"); err != nil {
		t.Fatal(err)
	}
	st, err := e.Logout(t.Context(), "s1")
	if err != nil || st.Status != "disconnected" || st.PhoneNumber != nil {
		t.Fatalf("Logout = %+v, %v", st, err)
	}
	evs := events.sessionEvents("s1")
	last := evs[len(evs)-1]
	if last.Status != "DISCONNECTED" || last.LoggedOutAt == nil || last.LoggedOutFromPhone == nil || last.Reason == nil {
		t.Errorf("logout event = %+v", last)
	}
	if snap := e.Sessions(); len(snap) != 1 || snap[0].Status != model.SessionDisconnected || snap[0].PhoneNumber != "" {
		t.Errorf("sessions = %+v", snap)
	}
	st, err = e.Restart(t.Context(), "s1")
	if err != nil || st.Status != "qr_ready" || st.QRCode == nil {
		t.Errorf("Restart after logout = %+v, %v: want a new QR", st, err)
	}
}

func TestPair_ReturnsCodeAndLinksThePhone(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, simengine.Config{ConnectDelay: -1, QRInterval: time.Hour})
	if _, _, err := e.Start(t.Context(), "s1", "u", "n"); err != nil {
		t.Fatal(err)
	}
	code, err := e.Pair(t.Context(), "s1", "6281122334455")
	if err != nil || !pairingPattern.MatchString(code) {
		t.Fatalf("Pair = %q, %v", code, err)
	}
	if err := e.Connect("s1"); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.Status(t.Context(), "s1"); *st.PhoneNumber != "+6281122334455" {
		t.Errorf("phone = %s", *st.PhoneNumber)
	}
	if _, err := e.Pair(t.Context(), "s1", "6281122334455"); !errors.Is(err, workerkit.ErrInvalid) {
		t.Errorf("Pair when connected: %v", err)
	}
	if _, err := e.Pair(t.Context(), "nope", "6281122334455"); !errors.Is(err, workerkit.ErrSessionNotFound) {
		t.Errorf("Pair unknown: %v", err)
	}
}

func TestSend_DeduplicatesAndCountsPerSessionAndType(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, simengine.Config{ConnectDelay: -1, ReceiptDelay: -1, DedupSize: 2})
	for _, id := range []string{"s1", "s2"} {
		if err := e.Resume(t.Context(), id, "u", "n"); err != nil {
			t.Fatal(err)
		}
	}
	first, err := e.Send(t.Context(), "s1", text("hi", "c1"))
	if err != nil || !messageIDPattern.MatchString(first.MessageID) || first.Status != "sent" || first.To != "6281234567890@s.whatsapp.net" {
		t.Fatalf("Send = %+v, %v", first, err)
	}
	again, _ := e.Send(t.Context(), "s1", text("hi", "c1"))
	if again != first {
		t.Errorf("retry = %+v, want %+v", again, first)
	}
	// The same clientMessageId on another session is another message.
	other, _ := e.Send(t.Context(), "s2", text("hi", "c1"))
	if other.MessageID == first.MessageID {
		t.Error("the dedup key ignores the session")
	}
	// No clientMessageId: never deduplicated.
	a, _ := e.Send(t.Context(), "s1", text("hi", ""))
	b, _ := e.Send(t.Context(), "s1", text("hi", ""))
	if a.MessageID == b.MessageID {
		t.Error("sends without clientMessageId were deduplicated")
	}
	img := "https://example.com/a.png"
	if _, err := e.Send(t.Context(), "s1", protocol.SendRequest{To: "62811@s.whatsapp.net", Type: protocol.SendImage, MediaURL: &img}); err != nil {
		t.Fatal(err)
	}
	if got := e.Sent("s1"); got["text"] != 3 || got["image"] != 1 {
		t.Errorf("Sent(s1) = %v", got)
	}
	if got := e.Sent("nobody"); len(got) != 0 {
		t.Errorf("Sent(nobody) = %v", got)
	}
	if e.SentTotal() != 5 {
		t.Errorf("SentTotal = %d", e.SentTotal())
	}

	// The map is bounded: two newer keys push c1 out, and a retry of it is a new message.
	_, _ = e.Send(t.Context(), "s1", text("x", "c2"))
	_, _ = e.Send(t.Context(), "s1", text("x", "c3"))
	late, _ := e.Send(t.Context(), "s1", text("hi", "c1"))
	if late.MessageID == first.MessageID {
		t.Error("the dedup map is not bounded")
	}
	st := e.Stats()
	if st.Deduplicated != 1 || st.SentTotal != 8 || st.Sent["s2"]["text"] != 1 || st.Sessions != 2 || st.Connected != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestSend_ReceiptsInOrder_NoneForTyping(t *testing.T) {
	t.Parallel()
	e, events := newEngine(t, simengine.Config{ConnectDelay: -1, ReceiptDelay: 5 * time.Millisecond})
	if err := e.Resume(t.Context(), "s1", "u", "n"); err != nil {
		t.Fatal(err)
	}
	res, err := e.Send(t.Context(), "s1", text("hi", "c1"))
	if err != nil {
		t.Fatal(err)
	}
	typing, _ := e.Send(t.Context(), "s1", protocol.SendRequest{To: "62811", Type: protocol.SendTypingStart})
	workerkittest.Eventually(t, waitLong, func() bool { return len(events.receiptsOf(res.MessageID)) == 3 }, "receipts")
	if got := events.receiptsOf(res.MessageID); !slices.Equal(got, []string{"SENT", "DELIVERED", "READ"}) {
		t.Errorf("receipts = %v", got)
	}
	if got := events.receiptsOf(typing.MessageID); len(got) != 0 {
		t.Errorf("typing receipts = %v", got)
	}
	if e.Stats().Receipts != 3 {
		t.Errorf("receipts counted %d", e.Stats().Receipts)
	}

	// A session that disconnects gets no more receipts.
	res, _ = e.Send(t.Context(), "s1", text("hi", "c2"))
	if _, err := e.Disconnect(t.Context(), "s1"); err != nil {
		t.Fatal(err)
	}
	if err := e.Resume(t.Context(), "s1", "u", "n"); err != nil {
		t.Fatal(err)
	}
	res2, _ := e.Send(t.Context(), "s1", text("hi", "c3"))
	workerkittest.Eventually(t, waitLong, func() bool { return len(events.receiptsOf(res2.MessageID)) == 3 }, "receipts of the new send")
	if got := events.receiptsOf(res.MessageID); len(got) != 0 {
		t.Errorf("receipts after a disconnect: %v", got)
	}
}

func TestIncoming_EveryInterval_AndOnDemand(t *testing.T) {
	t.Parallel()
	e, events := newEngine(t, simengine.Config{ConnectDelay: -1, IncomingEvery: 10 * time.Millisecond})
	if err := e.Resume(t.Context(), "s1", "u", "n"); err != nil {
		t.Fatal(err)
	}
	workerkittest.Eventually(t, waitLong, func() bool { return events.incomingCount() >= 3 }, "incoming messages")
	if err := e.Receive("s1", "6289999999999", "ping"); err != nil {
		t.Fatal(err)
	}
	if err := e.Receive("nope", "6289999999999", "ping"); !errors.Is(err, workerkit.ErrSessionNotFound) {
		t.Errorf("Receive on unknown: %v", err)
	}
	events.mu.Lock()
	first := events.incoming[0]
	var direct protocol.IncomingMessage
	for _, m := range events.incoming {
		if m.Content != nil && *m.Content == "ping" {
			direct = m
		}
	}
	events.mu.Unlock()
	if first.From != simengine.FakeContact || first.FromName == nil || first.Type != "TEXT" || !messageIDPattern.MatchString(first.MessageID) {
		t.Errorf("incoming = %+v", first)
	}
	if direct.From != "6289999999999@s.whatsapp.net" {
		t.Errorf("direct = %+v", direct)
	}
	if e.Stats().Incoming < 4 {
		t.Errorf("incoming counted %d", e.Stats().Incoming)
	}
}

func TestManageAndCheckNumber(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, simengine.Config{ConnectDelay: -1})
	if _, _, err := e.Start(t.Context(), "s1", "u", "n"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Manage(t.Context(), "s1", protocol.ManageRequest{Action: "star", MessageID: "m"}); !errors.Is(err, workerkit.ErrNotConnected) {
		t.Errorf("Manage when not connected: %v", err)
	}
	if _, err := e.CheckNumber(t.Context(), "s1", "6281234567890"); !errors.Is(err, workerkit.ErrNotConnected) {
		t.Errorf("CheckNumber when not connected: %v", err)
	}
	if err := e.Connect("s1"); err != nil {
		t.Fatal(err)
	}
	res, err := e.Manage(t.Context(), "s1", protocol.ManageRequest{Action: "star", MessageID: "m"})
	if err != nil || !res.Success || res.Action != "star" || res.MessageID != "m" {
		t.Errorf("Manage = %+v, %v", res, err)
	}
	yes, _ := e.CheckNumber(t.Context(), "s1", "6281234567890")
	no, _ := e.CheckNumber(t.Context(), "s1", "6281230000")
	if !yes.Exists || yes.JID != "6281234567890@s.whatsapp.net" || no.Exists || no.JID != "" {
		t.Errorf("CheckNumber = %+v, %+v", yes, no)
	}
	st := e.Stats()
	if st.Managed["star"] != 1 || st.NumberChecks != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestDelete_ForgetsTheSession(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, simengine.Config{ConnectDelay: 5 * time.Millisecond})
	if _, _, err := e.Start(t.Context(), "s1", "u", "n"); err != nil {
		t.Fatal(err)
	}
	if err := e.Delete(t.Context(), "s1"); err != nil {
		t.Fatal(err)
	}
	if len(e.Sessions()) != 0 {
		t.Error("the session is still listed")
	}
	for name, call := range map[string]func() error{
		"status":     func() error { _, err := e.Status(t.Context(), "s1"); return err },
		"qr":         func() error { _, err := e.QR(t.Context(), "s1"); return err },
		"restart":    func() error { _, err := e.Restart(t.Context(), "s1"); return err },
		"disconnect": func() error { _, err := e.Disconnect(t.Context(), "s1"); return err },
		"logout":     func() error { _, err := e.Logout(t.Context(), "s1"); return err },
		"delete":     func() error { return e.Delete(t.Context(), "s1") },
		"send":       func() error { _, err := e.Send(t.Context(), "s1", text("x", "")); return err },
		"connect":    func() error { return e.Connect("s1") },
	} {
		if err := call(); !errors.Is(err, workerkit.ErrSessionNotFound) {
			t.Errorf("%s after delete: %v", name, err)
		}
	}
	// The scheduled connect of the deleted session does nothing; a new session of the same
	// ID starts afresh.
	st, created, err := e.Start(t.Context(), "s1", "u", "n")
	if err != nil || !created || st.Status != "qr_ready" {
		t.Errorf("Start after delete = %+v, %v, %v", st, created, err)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, simengine.Config{ConnectDelay: -1, Faults: simengine.Faults{Latency: 60 * time.Millisecond}})
	if err := e.Resume(t.Context(), "s1", "u", "n"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := e.Status(t.Context(), "s1"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("latency 60ms, call took %s", d)
	}
	// Latency gives way to the caller's deadline.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
	defer cancel()
	if _, err := e.Status(ctx, "s1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("latency past the deadline: %v", err)
	}

	e.SetFaults(simengine.Faults{FailSends: true})
	if _, err := e.Send(t.Context(), "s1", text("x", "c1")); err == nil || errors.Is(err, workerkit.ErrNotConnected) {
		t.Errorf("send with failSends: %v", err)
	}
	if e.Stats().FailedSends != 1 || e.SentTotal() != 0 {
		t.Errorf("stats = %+v", e.Stats())
	}

	e.SetFaults(simengine.Faults{Hang: true})
	if got := e.Faults(); !got.Hang || got.FailSends {
		t.Errorf("Faults = %+v", got)
	}
	calls := map[string]func(context.Context) error{
		"start":   func(ctx context.Context) error { _, _, err := e.Start(ctx, "s1", "", ""); return err },
		"status":  func(ctx context.Context) error { _, err := e.Status(ctx, "s1"); return err },
		"qr":      func(ctx context.Context) error { _, err := e.QR(ctx, "s1"); return err },
		"pair":    func(ctx context.Context) error { _, err := e.Pair(ctx, "s1", "62811"); return err },
		"restart": func(ctx context.Context) error { _, err := e.Restart(ctx, "s1"); return err },
		"disc":    func(ctx context.Context) error { _, err := e.Disconnect(ctx, "s1"); return err },
		"logout":  func(ctx context.Context) error { _, err := e.Logout(ctx, "s1"); return err },
		"delete":  func(ctx context.Context) error { return e.Delete(ctx, "s1") },
		"send":    func(ctx context.Context) error { _, err := e.Send(ctx, "s1", text("x", "")); return err },
		"manage":  func(ctx context.Context) error { _, err := e.Manage(ctx, "s1", protocol.ManageRequest{}); return err },
		"check":   func(ctx context.Context) error { _, err := e.CheckNumber(ctx, "s1", "62811"); return err },
		"resume":  func(ctx context.Context) error { return e.Resume(ctx, "s1", "", "") },
	}
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		err := call(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with hang: %v, want the deadline", name, err)
		}
	}
	// Close releases hung calls too.
	done := make(chan error, 1)
	go func() { _, err := e.Status(context.WithoutCancel(t.Context()), "s1"); done <- err }()
	e.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a hung call answered after Close")
		}
	case <-time.After(waitLong):
		t.Fatal("Close did not release a hung call")
	}
}

func TestClose_StopsTimers(t *testing.T) {
	t.Parallel()
	e, events := newEngine(t, simengine.Config{ConnectDelay: 20 * time.Millisecond, QRInterval: 5 * time.Millisecond})
	if _, _, err := e.Start(t.Context(), "s1", "u", "n"); err != nil {
		t.Fatal(err)
	}
	e.Close()
	e.Close() // idempotent
	n := len(events.statusesOf("s1"))
	// A second engine's timers prove that time passed.
	other, otherEvents := newEngine(t, simengine.Config{ConnectDelay: 40 * time.Millisecond, QRInterval: time.Hour})
	if _, _, err := other.Start(t.Context(), "x", "u", "n"); err != nil {
		t.Fatal(err)
	}
	workerkittest.Eventually(t, waitLong, func() bool { return len(otherEvents.statusesOf("x")) == 3 }, "the other engine connected")
	if got := events.statusesOf("s1"); len(got) != n || slices.Contains(got, "CONNECTED") {
		t.Errorf("events after Close: %v", got[n:])
	}
}

func TestEngine_NoEventsSink_DoesNotPanic(t *testing.T) {
	t.Parallel()
	e := simengine.New(simengine.Config{ConnectDelay: time.Millisecond, ReceiptDelay: time.Millisecond, IncomingEvery: time.Millisecond})
	defer e.Close()
	if _, _, err := e.Start(t.Context(), "s1", "u", "n"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, "s1", "connected")
	if _, err := e.Send(t.Context(), "s1", text("x", "")); err != nil {
		t.Fatal(err)
	}
	workerkittest.Eventually(t, waitLong, func() bool { return e.Stats().Incoming >= 2 }, "incoming without a sink")
}

func TestEngine_ConcurrentUse(t *testing.T) {
	t.Parallel()
	e, events := newEngine(t, simengine.Config{ConnectDelay: time.Millisecond, ReceiptDelay: time.Millisecond, QRInterval: 2 * time.Millisecond})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			id := fmt.Sprintf("s%d", i)
			_, _, _ = e.Start(t.Context(), id, "u", "n")
			for j := range 20 {
				_, _ = e.Send(t.Context(), id, text("x", fmt.Sprintf("c%d", j%5)))
				_, _ = e.Status(t.Context(), id)
				_ = e.Sessions()
			}
			_, _ = e.Restart(t.Context(), id)
		})
	}
	wg.Wait()
	for i := range 8 {
		waitStatus(t, e, fmt.Sprintf("s%d", i), "connected")
	}
	if len(events.statusesOf("s0")) < 3 {
		t.Errorf("events of s0: %v", events.statusesOf("s0"))
	}
}
