package service_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/testenv"
)

// evFixture is a database with one user, two workers and the session events service.
type evFixture struct {
	db     *pgxpool.Pool
	bus    *events.Bus
	events *service.SessionEvents
	userID string
}

func newEvFixture(t *testing.T) *evFixture {
	t.Helper()
	db := testenv.NewDB(t)
	bus := events.NewBus()
	f := &evFixture{db: db, bus: bus, events: &service.SessionEvents{DB: db, Bus: bus, Logger: slog.New(slog.DiscardHandler)}}
	if err := db.QueryRow(context.Background(), `INSERT INTO users (name, email, password_hash) VALUES ('Owner', 'owner@example.com', 'x')
		RETURNING id::text`).Scan(&f.userID); err != nil {
		t.Fatal(err)
	}
	f.exec(t, `INSERT INTO workers (id, endpoint) VALUES ('worker-a', 'http://worker-a:8001'), ('worker-b', 'http://worker-b:8001')`)
	return f
}

func (f *evFixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// session inserts a session placed on workerID ("" for none) in status.
func (f *evFixture) session(t *testing.T, id, workerID string, status model.SessionStatus) {
	t.Helper()
	var worker *string
	if workerID != "" {
		worker = &workerID
	}
	f.exec(t, `INSERT INTO sessions (id, user_id, name, worker_id, status) VALUES ($1, $2, $1, $3, $4)`, id, f.userID, worker, status)
}

// evRow is what a session row holds after events.
type evRow struct {
	Status      string
	QRCode      *string
	Phone       *string
	DisplayName *string
	LastSeenAt  *time.Time
	LastEventAt *time.Time
	WorkerID    *string
	Reason      *string
}

func (f *evFixture) row(t *testing.T, id string) evRow {
	t.Helper()
	var r evRow
	if err := f.db.QueryRow(context.Background(), `SELECT status::text, qr_code, phone_number, display_name, last_seen_at,
		last_event_at, worker_id, status_reason FROM sessions WHERE id = $1`, id).
		Scan(&r.Status, &r.QRCode, &r.Phone, &r.DisplayName, &r.LastSeenAt, &r.LastEventAt, &r.WorkerID, &r.Reason); err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *evFixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *evFixture) apply(t *testing.T, src service.EventSource, ev protocol.SessionEvent) protocol.SessionEventResult {
	t.Helper()
	res, err := f.events.Apply(context.Background(), src, ev)
	if err != nil {
		t.Fatalf("apply %+v: %v", ev, err)
	}
	return res
}

// webhookDeliveries are the customer webhook deliveries stored for sessionID, oldest first, as
// "event status" (no recorder runs in these tests: only those stored with the change).
func (f *evFixture) webhookDeliveries(t *testing.T, sessionID string) []string {
	t.Helper()
	rows, err := f.db.Query(context.Background(), `SELECT d.event || ' ' || (d.payload->'data'->>'status')
		FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE w.session_id = $1
		ORDER BY d.created_at, d.event DESC`, sessionID)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// drain returns the events published so far, without waiting.
func drain(ch <-chan events.Event) []events.Event {
	var out []events.Event
	for {
		select {
		case e := <-ch:
			out = append(out, e)
		default:
			return out
		}
	}
}

// about keeps the events of typ ("" for any) about sessionID: fixtures are shared by
// parallel cases, so a subscriber also sees the events of other cases.
func about(evs []events.Event, typ, sessionID string) []events.Event {
	var out []events.Event
	for _, e := range evs {
		if (typ == "" || e.Type == typ) && e.SessionID == sessionID {
			out = append(out, e)
		}
	}
	return out
}

// TestSessionEvents runs the cases on one database: each uses sessions of its own.
func TestSessionEvents(t *testing.T) {
	t.Parallel()
	f := newEvFixture(t)
	cases := []struct {
		name string
		run  func(*testing.T, *evFixture)
	}{
		{"EveryReportedStatusIsApplied", evCaseEveryReportedStatusIsApplied},
		{"UnknownStatusOrLongQR_IsAValidationError", evCaseUnknownStatusOrLongQRIsAValidationError},
		{"ChecksRunInTheProtocolOrder", evCaseChecksRunInTheProtocolOrder},
		{"StaleEventIsNotAppliedAndEqualTimestampsAre", evCaseStaleEventIsNotAppliedAndEqualTimestampsAre},
		{"MissingTimestampMeansNow", evCaseMissingTimestampMeansNow},
		{"QRIsStoredReplacedAndClearedOnLeavingQRRequired", evCaseQRIsStoredReplacedAndClearedOnLeavingQRRequired},
		{"LoggedOutClearsPhoneAndLastSeen", evCaseLoggedOutClearsPhoneAndLastSeen},
		{"TransitionsAreLoggedAndPublishedOnce", evCaseTransitionsAreLoggedAndPublishedOnce},
		{"StaleEventPublishesNothing", evCaseStaleEventPublishesNothing},
		{"StatusAndQRWebhooksCommitWithTheChange", evCaseStatusAndQRWebhooksCommitWithTheChange},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, f)
		})
	}
}

func evCaseEveryReportedStatusIsApplied(t *testing.T, f *evFixture) {
	tests := []struct {
		reported string
		want     model.SessionStatus
	}{
		{"INIT", model.SessionInit},
		{"QR_REQUIRED", model.SessionQRRequired},
		{"CONNECTED", model.SessionConnected},
		{"DISCONNECTED", model.SessionDisconnected},
		{"RECONNECTING", model.SessionReconnecting},
		{"ERROR", model.SessionError},
		{"LOGGED_OUT", model.SessionDisconnected},
		{"connected", model.SessionConnected},
		{"qr_ready", model.SessionQRRequired},
		{"failed", model.SessionError},
		// Workers are the truth about their connections: no transition is refused, even
		// ones the dashboard could not make (CONNECTED → INIT, ERROR → CONNECTED).
		{"INIT", model.SessionInit},
		{"ERROR", model.SessionError},
		{"CONNECTED", model.SessionConnected},
	}
	f.session(t, "every-status", "worker-a", model.SessionConnected)
	at := time.Now().Add(-time.Hour)
	for i, tt := range tests {
		at = at.Add(time.Second)
		res := f.apply(t, service.EventSource{WorkerID: "worker-a"},
			protocol.SessionEvent{SessionID: "every-status", Status: tt.reported, Timestamp: protocol.At(at)})
		if !res.Applied || res.Status != string(tt.want) {
			t.Fatalf("event %d %s: applied=%v status=%s, want applied %s", i, tt.reported, res.Applied, res.Status, tt.want)
		}
		if got := f.row(t, "every-status").Status; got != string(tt.want) {
			t.Fatalf("event %d %s: stored %s, want %s", i, tt.reported, got, tt.want)
		}
	}
}

func evCaseUnknownStatusOrLongQRIsAValidationError(t *testing.T, f *evFixture) {
	f.session(t, "bad-events", "worker-a", model.SessionInit)
	tests := []struct {
		name  string
		ev    protocol.SessionEvent
		field string
	}{
		{"unknown status", protocol.SessionEvent{SessionID: "bad-events", Status: "BANANA"}, "status"},
		{"QR over 2000 characters", protocol.SessionEvent{SessionID: "bad-events", Status: "QR_REQUIRED",
			QRCode: ptr(strings.Repeat("q", 2001))}, "qrCode"},
	}
	for _, tt := range tests {
		_, err := f.events.Apply(context.Background(), service.EventSource{}, tt.ev)
		if model.KindOf(err) != model.KindValidation {
			t.Fatalf("%s: err = %v, want a validation error", tt.name, err)
		}
		var e *model.Error
		if !errors.As(err, &e) || len(e.Details) != 1 || e.Details[0].Field != tt.field {
			t.Fatalf("%s: details = %+v, want the field %s", tt.name, e, tt.field)
		}
	}
	if got := f.row(t, "bad-events"); got.Status != "INIT" || got.QRCode != nil {
		t.Fatalf("a refused event changed the session: %+v", got)
	}
	// Exactly 2,000 characters is allowed.
	res := f.apply(t, service.EventSource{}, protocol.SessionEvent{SessionID: "bad-events", Status: "QR_REQUIRED",
		QRCode: ptr(strings.Repeat("q", 2000))})
	if !res.Applied || f.row(t, "bad-events").QRCode == nil {
		t.Fatal("a QR of exactly 2000 characters was not stored")
	}
}

func evCaseChecksRunInTheProtocolOrder(t *testing.T, f *evFixture) {
	f.session(t, "on-worker-a", "worker-a", model.SessionConnected)
	f.session(t, "unplaced", "", model.SessionDisconnected)
	f.exec(t, `UPDATE sessions SET last_event_at = now() WHERE id = 'on-worker-a'`)
	old := protocol.At(time.Now().Add(-time.Hour))

	tests := []struct {
		name string
		src  string
		ev   protocol.SessionEvent
		want model.Kind
	}{
		{"unknown session before anything else", "worker-b",
			protocol.SessionEvent{SessionID: "no-such-session", Status: "CONNECTED", Timestamp: old}, model.KindNotFound},
		{"another worker's session is a conflict even when stale", "worker-b",
			protocol.SessionEvent{SessionID: "on-worker-a", Status: "DISCONNECTED", Timestamp: old}, model.KindConflict},
		{"an unplaced session is nobody's to report", "worker-a",
			protocol.SessionEvent{SessionID: "unplaced", Status: "CONNECTED"}, model.KindConflict},
	}
	for _, tt := range tests {
		_, err := f.events.Apply(context.Background(), service.EventSource{WorkerID: tt.src}, tt.ev)
		if model.KindOf(err) != tt.want {
			t.Errorf("%s: err = %v, want kind %s", tt.name, err, tt.want)
		}
	}
	if got := f.row(t, "on-worker-a").Status; got != "CONNECTED" {
		t.Fatalf("a refused event changed the session to %s", got)
	}
	// The shared token without a workerId does not know the source: the event applies.
	res := f.apply(t, service.EventSource{}, protocol.SessionEvent{SessionID: "unplaced", Status: "INIT"})
	if !res.Applied || res.Status != "INIT" {
		t.Fatalf("anonymous event on an unplaced session: %+v", res)
	}
}

func evCaseStaleEventIsNotAppliedAndEqualTimestampsAre(t *testing.T, f *evFixture) {
	f.session(t, "clock", "worker-a", model.SessionInit)
	src := service.EventSource{WorkerID: "worker-a"}
	// Nanoseconds on purpose: Postgres keeps microseconds, and an equal timestamp must
	// still count as equal, not as older.
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 123_456_789, time.UTC)

	res := f.apply(t, src, protocol.SessionEvent{SessionID: "clock", Status: "CONNECTED", PhoneNumber: ptr("+62811"), Timestamp: protocol.At(t0)})
	if !res.Applied {
		t.Fatal("first event not applied")
	}
	res = f.apply(t, src, protocol.SessionEvent{SessionID: "clock", Status: "CONNECTED", DisplayName: ptr("Shop"), Timestamp: protocol.At(t0)})
	if !res.Applied || res.DisplayName == nil || *res.DisplayName != "Shop" {
		t.Fatalf("event with an equal timestamp: %+v, want applied", res)
	}
	before := f.row(t, "clock")
	res = f.apply(t, src, protocol.SessionEvent{SessionID: "clock", Status: "DISCONNECTED", Timestamp: protocol.At(t0.Add(-time.Millisecond))})
	if res.Applied || res.Status != "CONNECTED" {
		t.Fatalf("stale event: %+v, want not applied and still CONNECTED", res)
	}
	after := f.row(t, "clock")
	if after.Status != "CONNECTED" || !after.LastEventAt.Equal(*before.LastEventAt) || !after.LastSeenAt.Equal(*before.LastSeenAt) {
		t.Fatalf("stale event changed the row: before %+v, after %+v", before, after)
	}
	if after.LastEventAt.Sub(t0).Abs() > time.Microsecond {
		t.Fatalf("last_event_at = %v, want the event's timestamp %v", after.LastEventAt, t0)
	}
}

func evCaseMissingTimestampMeansNow(t *testing.T, f *evFixture) {
	f.session(t, "no-clock", "worker-a", model.SessionInit)
	src := service.EventSource{WorkerID: "worker-a"}
	before := time.Now()
	f.apply(t, src, protocol.SessionEvent{SessionID: "no-clock", Status: "CONNECTED"})
	row := f.row(t, "no-clock")
	if row.LastEventAt == nil || row.LastEventAt.Before(before.Add(-time.Second)) || row.LastEventAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("last_event_at = %v, want about now", row.LastEventAt)
	}
	// A late retry from a minute ago is now stale.
	res := f.apply(t, src, protocol.SessionEvent{SessionID: "no-clock", Status: "RECONNECTING", Timestamp: protocol.At(before.Add(-time.Minute))})
	if res.Applied {
		t.Fatal("an event older than the untimed one was applied")
	}
}

func evCaseQRIsStoredReplacedAndClearedOnLeavingQRRequired(t *testing.T, f *evFixture) {
	f.session(t, "qr-flow", "worker-a", model.SessionInit)
	ch, unsubscribe := f.bus.Subscribe(1024)
	defer unsubscribe()
	src := service.EventSource{WorkerID: "worker-a"}
	at := time.Now().Add(-time.Minute)
	next := func() *protocol.Timestamp { at = at.Add(time.Second); return protocol.At(at) }

	f.apply(t, src, protocol.SessionEvent{SessionID: "qr-flow", Status: "QR_REQUIRED", QRCode: ptr("2@first"), Timestamp: next()})
	if got := f.row(t, "qr-flow").QRCode; got == nil || *got != "2@first" {
		t.Fatalf("qr = %v, want 2@first", got)
	}
	f.apply(t, src, protocol.SessionEvent{SessionID: "qr-flow", Status: "QR_REQUIRED", QRCode: ptr("2@second"), Timestamp: next()})
	if got := f.row(t, "qr-flow").QRCode; got == nil || *got != "2@second" {
		t.Fatalf("qr = %v, want the replacement 2@second", got)
	}
	// QR_REQUIRED again without a code keeps the last one.
	f.apply(t, src, protocol.SessionEvent{SessionID: "qr-flow", Status: "QR_REQUIRED", QRCode: nil, Timestamp: next()})
	if got := f.row(t, "qr-flow").QRCode; got == nil || *got != "2@second" {
		t.Fatalf("qr = %v, want 2@second kept", got)
	}
	qrEvents := about(drain(ch), events.QRCodeUpdated, "qr-flow")
	if len(qrEvents) != 2 {
		t.Fatalf("published %d qr_code_updated events, want 2 (one per new code)", len(qrEvents))
	}
	payload, _ := qrEvents[1].Payload.(map[string]any)
	if qrEvents[1].SessionID != "qr-flow" || qrEvents[1].UserID != f.userID || payload["qrCode"] != "2@second" {
		t.Fatalf("qr event = %+v", qrEvents[1])
	}

	res := f.apply(t, src, protocol.SessionEvent{SessionID: "qr-flow", Status: "CONNECTED", PhoneNumber: ptr("+6281234567890"),
		DisplayName: ptr("Shop"), Timestamp: next()})
	row := f.row(t, "qr-flow")
	if row.QRCode != nil || row.Status != "CONNECTED" || *row.Phone != "+6281234567890" || *row.DisplayName != "Shop" || row.LastSeenAt == nil {
		t.Fatalf("after CONNECTED: %+v", row)
	}
	if res.PhoneNumber == nil || *res.PhoneNumber != "+6281234567890" {
		t.Fatalf("answer = %+v, want the phone", res)
	}
	// Credentials are kept through an ordinary disconnect; a null phone does not erase it.
	f.apply(t, src, protocol.SessionEvent{SessionID: "qr-flow", Status: "DISCONNECTED", PhoneNumber: nil, Timestamp: next()})
	if row := f.row(t, "qr-flow"); row.Phone == nil || row.Status != "DISCONNECTED" {
		t.Fatalf("after DISCONNECTED: %+v, want the phone kept", row)
	}
}

func evCaseLoggedOutClearsPhoneAndLastSeen(t *testing.T, f *evFixture) {
	tests := []struct {
		name string
		ev   protocol.SessionEvent
	}{
		{"status LOGGED_OUT", protocol.SessionEvent{Status: "LOGGED_OUT"}},
		{"DISCONNECTED with loggedOutAt", protocol.SessionEvent{Status: "DISCONNECTED", LoggedOutAt: protocol.At(time.Now()),
			LoggedOutFromPhone: ptr(true), Reason: ptr("logged out from the phone")}},
	}
	for i, tt := range tests {
		id := "logged-out-" + string(rune('a'+i))
		f.session(t, id, "worker-a", model.SessionConnected)
		f.exec(t, `UPDATE sessions SET phone_number = '+62811', display_name = 'Shop', last_seen_at = now() WHERE id = $1`, id)
		ev := tt.ev
		ev.SessionID = id
		res := f.apply(t, service.EventSource{WorkerID: "worker-a"}, ev)
		row := f.row(t, id)
		if !res.Applied || row.Status != "DISCONNECTED" || row.Phone != nil || row.LastSeenAt != nil {
			t.Fatalf("%s: %+v, want DISCONNECTED without phone and lastSeenAt", tt.name, row)
		}
		if ev.Reason != nil && (row.Reason == nil || *row.Reason != *ev.Reason) {
			t.Fatalf("%s: reason = %v, want %q", tt.name, row.Reason, *ev.Reason)
		}
	}
}

func evCaseTransitionsAreLoggedAndPublishedOnce(t *testing.T, f *evFixture) {
	f.session(t, "logged", "worker-a", model.SessionInit)
	ch, unsubscribe := f.bus.Subscribe(1024)
	defer unsubscribe()
	src := service.EventSource{WorkerID: "worker-a"}
	at := time.Now().Add(-time.Minute)
	for _, status := range []string{"CONNECTED", "CONNECTED", "RECONNECTING"} {
		at = at.Add(time.Second)
		f.apply(t, src, protocol.SessionEvent{SessionID: "logged", Status: status, Timestamp: protocol.At(at)})
	}
	if n := f.count(t, `SELECT count(*) FROM system_logs WHERE session_id = 'logged' AND worker_id = 'worker-a'
		AND user_id = $1 AND service = 'sessions'`, f.userID); n != 2 {
		t.Fatalf("%d system log rows, want 2 (INIT→CONNECTED, CONNECTED→RECONNECTING; none for the repeat)", n)
	}
	var details string
	if err := f.db.QueryRow(context.Background(), `SELECT details::text FROM system_logs WHERE session_id = 'logged'
		ORDER BY id LIMIT 1`).Scan(&details); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(details, `"from": "INIT"`) || !strings.Contains(details, `"to": "CONNECTED"`) {
		t.Fatalf("details = %s, want from INIT to CONNECTED", details)
	}
	changed := about(drain(ch), events.SessionStatusChanged, "logged")
	if len(changed) != 2 {
		t.Fatalf("published %d session_status_changed, want 2", len(changed))
	}
	payload, _ := changed[0].Payload.(map[string]any)
	if changed[0].SessionID != "logged" || changed[0].UserID != f.userID || changed[0].WorkerID != "worker-a" ||
		payload["status"] != model.SessionConnected {
		t.Fatalf("event = %+v", changed[0])
	}
}

func evCaseStaleEventPublishesNothing(t *testing.T, f *evFixture) {
	f.session(t, "quiet", "worker-a", model.SessionConnected)
	f.exec(t, `UPDATE sessions SET last_event_at = now() WHERE id = 'quiet'`)
	ch, unsubscribe := f.bus.Subscribe(1024)
	defer unsubscribe()
	res := f.apply(t, service.EventSource{WorkerID: "worker-a"}, protocol.SessionEvent{SessionID: "quiet", Status: "QR_REQUIRED",
		QRCode: ptr("2@late"), Timestamp: protocol.At(time.Now().Add(-time.Hour))})
	if res.Applied {
		t.Fatal("stale event applied")
	}
	if got := about(drain(ch), "", "quiet"); len(got) != 0 {
		t.Fatalf("a stale event published %v", got)
	}
	if n := f.count(t, `SELECT count(*) FROM system_logs WHERE session_id = 'quiet'`); n != 0 {
		t.Fatalf("a stale event wrote %d system log rows", n)
	}
}

// A change's customer webhooks (session.status, session.qr) are stored in the transaction
// that applies it, no recorder involved: once Apply returns, the deliveries are in Postgres,
// the events on the bus say so (the recorder skips them) and the deliverer is woken. A
// session without a subscribed webhook stores none; a stale event stores nothing.
func evCaseStatusAndQRWebhooksCommitWithTheChange(t *testing.T, f *evFixture) {
	f.session(t, "hooked", "worker-a", model.SessionInit)
	f.session(t, "status-only", "worker-a", model.SessionInit)
	f.session(t, "unhooked", "worker-a", model.SessionInit)
	f.exec(t, `INSERT INTO webhooks (session_id, url, events, secret) VALUES
		('hooked', 'https://example.com/hook', '{*}', 'whsec_test'),
		('status-only', 'https://example.com/hook', '{session.status}', 'whsec_test')`)
	woken := 0
	svc := *f.events
	svc.WebhooksQueued = func() { woken++ }
	ch, unsubscribe := f.bus.Subscribe(1024)
	defer unsubscribe()
	deliveries := func(sessionID string) []string { return f.webhookDeliveries(t, sessionID) }
	at := time.Now().Add(-time.Minute)
	for _, id := range []string{"hooked", "status-only", "unhooked"} {
		if _, err := svc.Apply(context.Background(), service.EventSource{WorkerID: "worker-a"}, protocol.SessionEvent{
			SessionID: id, Status: "QR_REQUIRED", QRCode: ptr("2@qr-" + id), Timestamp: protocol.At(at)}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := deliveries("hooked"), []string{"session.status QR_REQUIRED", "session.qr QR_REQUIRED"}; !slices.Equal(got, want) {
		t.Errorf("hooked: deliveries %q, want %q", got, want)
	}
	if got, want := deliveries("status-only"), []string{"session.status QR_REQUIRED"}; !slices.Equal(got, want) {
		t.Errorf("status-only: deliveries %q, want %q", got, want)
	}
	if got := deliveries("unhooked"); len(got) != 0 {
		t.Errorf("unhooked: deliveries %q, want none", got)
	}
	if woken != 2 {
		t.Errorf("the deliverer was woken %d times, want 2 (the sessions with a subscribed webhook)", woken)
	}
	published := drain(ch)
	for _, id := range []string{"hooked", "status-only", "unhooked"} {
		got := about(published, "", id)
		if len(got) != 2 {
			t.Fatalf("%s: published %v, want a status and a QR event", id, got)
		}
		for _, e := range got {
			if !e.WebhooksStored {
				t.Errorf("%s: %s published without WebhooksStored: the recorder would store it again", id, e.Type)
			}
		}
	}

	// A stale report changes nothing and stores nothing.
	if _, err := svc.Apply(context.Background(), service.EventSource{WorkerID: "worker-a"}, protocol.SessionEvent{
		SessionID: "hooked", Status: "CONNECTED", Timestamp: protocol.At(at.Add(-time.Hour))}); err != nil {
		t.Fatal(err)
	}
	if got := deliveries("hooked"); len(got) != 2 {
		t.Errorf("after a stale report: deliveries %q, want the 2 before", got)
	}
}
