package service_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/router"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
	"github.com/wagateway/gateway/internal/workers"
)

const wkSharedToken = "shared-worker-token-for-tests"

// wkFixture is the worker service on a fresh database, built as the gateway builds it.
type wkFixture struct {
	*evFixture
	svc  *service.Workers
	auth *service.WorkerAuth
}

func newWkFixture(t *testing.T) *wkFixture {
	t.Helper()
	ev := newEvFixture(t)
	logger := slog.New(slog.DiscardHandler)
	rdb, keys := testenv.NewRedis(t)
	return &wkFixture{
		evFixture: ev,
		svc: &service.Workers{DB: ev.db, Client: workers.NewClient(wkSharedToken, metrics.New(), logger),
			Sessions: ev.events, Bus: ev.bus, Router: router.New(ev.db, rdb, keys, logger), Logger: logger},
		auth: &service.WorkerAuth{DB: ev.db, SharedToken: wkSharedToken},
	}
}

// wkFakeWorker is a worker process that answers GET /health.
func wkFakeWorker(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"healthy","workerId":"whoever","uptime":1}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func wkClosedEndpoint(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

var reservedIDs = []string{"register", "unregister", "statistics", "available", "test", "health", "health-check"}

// workers inserts ONLINE workers.
func (f *wkFixture) workers(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		f.exec(t, `INSERT INTO workers (id, endpoint, last_heartbeat) VALUES ($1, $2, now())`, id, "http://"+id+":8001")
	}
}

func (f *wkFixture) register(t *testing.T, id, endpoint string) protocol.RegisterResult {
	t.Helper()
	res, err := f.svc.Register(context.Background(), service.WorkerInput{WorkerID: id, Endpoint: endpoint})
	if err != nil {
		t.Fatalf("register %s at %s: %v", id, endpoint, err)
	}
	return res
}

func (f *wkFixture) heartbeat(t *testing.T, workerID string, hb protocol.HeartbeatRequest) protocol.HeartbeatResult {
	t.Helper()
	res, err := f.svc.Heartbeat(context.Background(), service.WorkerCaller{}, workerID, hb)
	if err != nil {
		t.Fatalf("heartbeat of %s: %v", workerID, err)
	}
	return res
}

func wkFields(err error) []string {
	var e *model.Error
	if !errors.As(err, &e) {
		return nil
	}
	var fields []string
	for _, d := range e.Details {
		fields = append(fields, d.Field)
	}
	slices.Sort(fields)
	return fields
}

// TestWorkers runs the cases on one database: each uses workers and sessions of its own.
func TestWorkers(t *testing.T) {
	t.Parallel()
	f := newWkFixture(t)
	cases := []struct {
		name string
		run  func(*testing.T, *wkFixture)
	}{
		{"Register_InvalidInput_ListsEveryBadFieldBeforeAnyNetworkCall", wkCaseRegisterInvalidInputListsEveryBadFieldBeforeAnyNetworkCall},
		{"Register_NormalisesAndAppliesDefaults", wkCaseRegisterNormalisesAndAppliesDefaults},
		{"WorkerAuth_SharedOwnRotatedAndRequiredOwnTokens", wkCaseWorkerAuthSharedOwnRotatedAndRequiredOwnTokens},
		{"Heartbeat_PerWorkerCallerMayOnlyActForItself", wkCaseHeartbeatPerWorkerCallerMayOnlyActForItself},
		{"Heartbeat_UnknownWorkerIsNotFound", wkCaseHeartbeatUnknownWorkerIsNotFound},
		{"Heartbeat_ImplausibleFiguresAreDroppedNotFatal", wkCaseHeartbeatImplausibleFiguresAreDroppedNotFatal},
		{"Heartbeat_SessionOmittedTwiceInARowIsDisconnectedAndUnplaced", wkCaseHeartbeatSessionOmittedTwiceInARowIsDisconnectedAndUnplaced},
		{"Heartbeat_StaleReportStillResetsTheOmissionCount", wkCaseHeartbeatStaleReportStillResetsTheOmissionCount},
		{"Heartbeat_ReconcilesReportedSessions", wkCaseHeartbeatReconcilesReportedSessions},
		{"Heartbeat_EntryWithoutLastActivityUsesTheHeartbeats", wkCaseHeartbeatEntryWithoutLastActivityUsesTheHeartbeats},
		{"RecoveryStatus_CountsAndAppliesOnlyItsOwnSessions", wkCaseRecoveryStatusCountsAndAppliesOnlyItsOwnSessions},
		{"LegacyHeartbeat_AppliesAReportedStatusAndNeedsAWorkerID", wkCaseLegacyHeartbeatAppliesAReportedStatusAndNeedsAWorkerID},
		{"Update_ValidatesAndRefusesCapacityBelowPlacedSessions", wkCaseUpdateValidatesAndRefusesCapacityBelowPlacedSessions},
		{"Delete_ReleasesSessionsThenDeletes", wkCaseDeleteReleasesSessionsThenDeletes},
		{"Unregister_ChecksTheWorkerAndEndpointThenReleasesAndDeletes", wkCaseUnregister},
		{"SessionsPreserved_OnlyTheWorkersOwnSessionsForTwoMinutes", wkCaseSessionsPreserved},
		{"AssignedSessions_ListsTheRecoverableSessionsWithTheirOwners", wkCaseAssignedSessions},
		{"AddByHand_DefaultsTheIDFromHostAndPort", wkCaseAddByHandDefaultsTheIDFromHostAndPort},
		{"TestEndpoint_ReportsReachabilityWithoutFailing", wkCaseTestEndpointReportsReachabilityWithoutFailing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, f)
		})
	}
}

func wkCaseRegisterInvalidInputListsEveryBadFieldBeforeAnyNetworkCall(t *testing.T, f *wkFixture) {
	// The endpoint is a closed port: a validation error must come before the reachability check.
	closed := wkClosedEndpoint(t)
	tests := []struct {
		name string
		in   service.WorkerInput
		want []string
	}{
		{"empty after normalising", service.WorkerInput{WorkerID: "ÄÖ", Endpoint: closed}, []string{"workerId"}},
		{"too short", service.WorkerInput{WorkerID: "ab", Endpoint: closed}, []string{"workerId"}},
		{"too long", service.WorkerInput{WorkerID: strings.Repeat("w", 51), Endpoint: closed}, []string{"workerId"}},
		{"missing endpoint", service.WorkerInput{WorkerID: "worker-1"}, []string{"endpoint"}},
		{"not http", service.WorkerInput{WorkerID: "worker-1", Endpoint: "ftp://10.0.0.5:21"}, []string{"endpoint"}},
		{"no host", service.WorkerInput{WorkerID: "worker-1", Endpoint: "http://"}, []string{"endpoint"}},
		{"credentials", service.WorkerInput{WorkerID: "worker-1", Endpoint: "http://u:p@10.0.0.5:8001"}, []string{"endpoint"}},
		{"query", service.WorkerInput{WorkerID: "worker-1", Endpoint: "http://10.0.0.5:8001/?x=1"}, []string{"endpoint"}},
		{"maxSessions 0", service.WorkerInput{WorkerID: "worker-1", Endpoint: closed, MaxSessions: ptr(0)}, []string{"maxSessions"}},
		{"maxSessions 1001", service.WorkerInput{WorkerID: "worker-1", Endpoint: closed, MaxSessions: ptr(1001)}, []string{"maxSessions"}},
		{"version 1.0", service.WorkerInput{WorkerID: "worker-1", Endpoint: closed, Version: ptr("1.0")}, []string{"version"}},
		{"environment PROD", service.WorkerInput{WorkerID: "worker-1", Endpoint: closed, Environment: ptr("PROD")}, []string{"environment"}},
		{"description over 500", service.WorkerInput{WorkerID: "worker-1", Endpoint: closed, Description: ptr(strings.Repeat("d", 501))}, []string{"description"}},
		{"everything at once", service.WorkerInput{WorkerID: "!!", Endpoint: "nope", MaxSessions: ptr(-1), Version: ptr("v1"),
			Environment: ptr("PROD"), Description: ptr(strings.Repeat("d", 501))},
			[]string{"description", "endpoint", "environment", "maxSessions", "version", "workerId"}},
	}
	for _, reserved := range append(reservedIDs, "Health_Check") {
		tests = append(tests, struct {
			name string
			in   service.WorkerInput
			want []string
		}{"reserved " + reserved, service.WorkerInput{WorkerID: reserved, Endpoint: closed}, []string{"workerId"}})
	}
	for _, tt := range tests {
		_, err := f.svc.Register(context.Background(), tt.in)
		if model.KindOf(err) != model.KindValidation {
			t.Errorf("%s: err = %v, want a validation error", tt.name, err)
			continue
		}
		if got := wkFields(err); !slices.Equal(got, tt.want) {
			t.Errorf("%s: fields = %v, want %v", tt.name, got, tt.want)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM workers WHERE id IN ('worker-1', 'ab') OR id = ANY($1)`, reservedIDs); n != 0 {
		t.Fatalf("%d workers registered by invalid input", n)
	}
}

func wkCaseRegisterNormalisesAndAppliesDefaults(t *testing.T, f *wkFixture) {
	worker := wkFakeWorker(t)
	res, err := f.svc.Register(context.Background(), service.WorkerInput{WorkerID: "  Shop Worker_01 ", Endpoint: worker.URL + "/",
		Version: ptr("2.1.0-beta.1"), Environment: ptr("staging")})
	if err != nil {
		t.Fatal(err)
	}
	if res.WorkerID != "shop-worker-01" || res.Endpoint != worker.URL || res.MaxSessions != 50 || res.Environment != "STAGING" ||
		res.Status != "ONLINE" || res.RecoveryRequired || !strings.HasPrefix(res.WorkerToken, service.WorkerTokenPrefix) {
		t.Fatalf("register = %+v", res)
	}
	var hash string
	if err := f.db.QueryRow(context.Background(), `SELECT token_hash FROM workers WHERE id = 'shop-worker-01'`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if hash == "" || strings.Contains(hash, res.WorkerToken) ||
		f.count(t, `SELECT count(*) FROM workers w WHERE strpos(w::text, $1) > 0`, res.WorkerToken) != 0 {
		t.Fatal("the worker token is stored in clear")
	}
}

func wkCaseWorkerAuthSharedOwnRotatedAndRequiredOwnTokens(t *testing.T, f *wkFixture) {
	ctx := context.Background()
	worker := wkFakeWorker(t)
	first := f.register(t, "worker-auth", worker.URL)

	caller, err := f.auth.Authenticate(ctx, wkSharedToken, false)
	if err != nil || caller.ID != "" {
		t.Fatalf("shared token: %+v, %v", caller, err)
	}
	caller, err = f.auth.Authenticate(ctx, first.WorkerToken, false)
	if err != nil || caller.ID != "worker-auth" {
		t.Fatalf("own token: %+v, %v; want worker-auth", caller, err)
	}
	for _, bad := range []string{"", "nope", wkSharedToken + "x", service.WorkerTokenPrefix + "unknown", strings.ToUpper(first.WorkerToken)} {
		if _, err := f.auth.Authenticate(ctx, bad, false); model.KindOf(err) != model.KindUnauthorized {
			t.Errorf("token %q: err = %v, want unauthorized", bad, err)
		}
	}

	second := f.register(t, "worker-auth", worker.URL)
	if second.WorkerToken == first.WorkerToken {
		t.Fatal("re-registration did not rotate the token")
	}
	if caller, err := f.auth.Authenticate(ctx, second.WorkerToken, false); err != nil || caller.ID != "worker-auth" {
		t.Fatalf("new token: %+v, %v", caller, err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := f.auth.Authenticate(ctx, first.WorkerToken, false)
		if model.KindOf(err) == model.KindUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rotated-out token still works after 3 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling the cache expiry, not waiting blindly
	}

	strict := &service.WorkerAuth{DB: f.db, SharedToken: wkSharedToken, RequireOwnToken: true}
	if _, err := strict.Authenticate(ctx, wkSharedToken, false); model.KindOf(err) != model.KindUnauthorized {
		t.Fatalf("shared token with own tokens required: %v, want unauthorized", err)
	}
	if _, err := strict.Authenticate(ctx, wkSharedToken, true); err != nil {
		t.Fatalf("shared token for registration with own tokens required: %v", err)
	}
	if caller, err := strict.Authenticate(ctx, second.WorkerToken, false); err != nil || caller.ID != "worker-auth" {
		t.Fatalf("own token with own tokens required: %+v, %v", caller, err)
	}
}

func wkCaseHeartbeatPerWorkerCallerMayOnlyActForItself(t *testing.T, f *wkFixture) {
	f.workers(t, "caller-a", "caller-b")
	ctx := context.Background()
	other := service.WorkerCaller{ID: "caller-b"}
	if _, err := f.svc.Heartbeat(ctx, other, "caller-a", protocol.HeartbeatRequest{}); model.KindOf(err) != model.KindForbidden {
		t.Errorf("heartbeat: %v, want forbidden", err)
	}
	if _, err := f.svc.AssignedSessions(ctx, other, "caller-a"); model.KindOf(err) != model.KindForbidden {
		t.Errorf("assigned: %v, want forbidden", err)
	}
	if _, err := f.svc.RecoveryStatus(ctx, other, "caller-a", protocol.RecoveryStatusRequest{}); model.KindOf(err) != model.KindForbidden {
		t.Errorf("recovery: %v, want forbidden", err)
	}
	if _, _, err := f.svc.SessionsPreserved(ctx, other, "caller-a", protocol.SessionsPreservedRequest{}); model.KindOf(err) != model.KindForbidden {
		t.Errorf("preserved: %v, want forbidden", err)
	}
	if _, err := f.svc.Unregister(ctx, other, protocol.UnregisterRequest{WorkerID: "caller-a"}); model.KindOf(err) != model.KindForbidden {
		t.Errorf("unregister: %v, want forbidden", err)
	}
	if _, err := f.svc.LegacyHeartbeat(ctx, other, protocol.LegacyHeartbeat{WorkerID: "caller-a"}); model.KindOf(err) != model.KindForbidden {
		t.Errorf("legacy heartbeat: %v, want forbidden", err)
	}
	if n := f.count(t, `SELECT count(*) FROM workers WHERE id IN ('caller-a', 'caller-b')`); n != 2 {
		t.Fatalf("%d workers left, want both", n)
	}
	// Its own ID, in any spelling that normalises to it, is fine.
	if _, err := f.svc.Heartbeat(ctx, service.WorkerCaller{ID: "caller-a"}, "Caller_A", protocol.HeartbeatRequest{}); err != nil {
		t.Fatalf("own heartbeat: %v", err)
	}
}

func wkCaseHeartbeatUnknownWorkerIsNotFound(t *testing.T, f *wkFixture) {
	_, err := f.svc.Heartbeat(context.Background(), service.WorkerCaller{}, "worker-zzz", protocol.HeartbeatRequest{})
	if model.KindOf(err) != model.KindNotFound {
		t.Fatalf("err = %v, want not found", err)
	}
	if n := f.count(t, `SELECT count(*) FROM worker_metrics WHERE worker_id = 'worker-zzz'`); n != 0 {
		t.Fatalf("%d metrics rows for an unknown worker", n)
	}
}

func wkCaseHeartbeatImplausibleFiguresAreDroppedNotFatal(t *testing.T, f *wkFixture) {
	f.workers(t, "figures-a", "figures-b")
	f.exec(t, `UPDATE workers SET cpu_usage = 10, memory_usage = 20 WHERE id = 'figures-a'`)
	res := f.heartbeat(t, "figures-a", protocol.HeartbeatRequest{Metrics: &protocol.HeartbeatMetrics{
		CPUUsage: ptr(250.0), MemoryUsage: ptr(-3.0), Uptime: ptr(42.0), MessageCount: ptr(7.0)}})
	if res.Status != "ONLINE" {
		t.Fatalf("status = %s", res.Status)
	}
	var cpu, mem float64
	var sampleCPU, sampleMem *float64
	var messages int64
	if err := f.db.QueryRow(context.Background(), `SELECT w.cpu_usage, w.memory_usage, m.cpu_usage, m.memory_usage, m.message_count
		FROM workers w JOIN worker_metrics m ON m.worker_id = w.id WHERE w.id = 'figures-a'`).
		Scan(&cpu, &mem, &sampleCPU, &sampleMem, &messages); err != nil {
		t.Fatal(err)
	}
	if cpu != 10 || mem != 20 || sampleCPU != nil || sampleMem != nil || messages != 7 {
		t.Fatalf("cpu %v mem %v, sample %v/%v, messages %d; want the old figures kept and no bad sample values",
			cpu, mem, sampleCPU, sampleMem, messages)
	}
}

func wkCaseHeartbeatSessionOmittedTwiceInARowIsDisconnectedAndUnplaced(t *testing.T, f *wkFixture) {
	f.workers(t, "omit-a", "omit-b")
	f.session(t, "kept", "omit-a", model.SessionConnected)
	f.session(t, "dropped", "omit-a", model.SessionConnected)
	f.session(t, "flapping", "omit-a", model.SessionConnected)
	wkStatusWebhook(t, f, "dropped")
	ch, unsubscribe := f.bus.Subscribe(1024)
	defer unsubscribe()
	entry := func(id string) protocol.HeartbeatSession {
		return protocol.HeartbeatSession{SessionID: id, Status: "CONNECTED"}
	}

	// 1: flapping and dropped omitted once.
	res := f.heartbeat(t, "omit-a", protocol.HeartbeatRequest{Sessions: []protocol.HeartbeatSession{entry("kept")}})
	if res.SessionCount != 3 {
		t.Fatalf("after one omission sessionCount = %d, want 3", res.SessionCount)
	}
	for _, id := range []string{"dropped", "flapping"} {
		if row := f.row(t, id); row.Status != "CONNECTED" || row.WorkerID == nil {
			t.Fatalf("%s after one omission: %+v, want still CONNECTED and placed", id, row)
		}
	}
	// 2: flapping is back, dropped omitted again.
	res = f.heartbeat(t, "omit-a", protocol.HeartbeatRequest{Sessions: []protocol.HeartbeatSession{entry("kept"), entry("flapping")}})
	if row := f.row(t, "dropped"); row.Status != "DISCONNECTED" || row.WorkerID != nil || row.Reason == nil {
		t.Fatalf("dropped after two omissions: %+v, want DISCONNECTED, unplaced, with a reason", row)
	}
	if res.SessionCount != 2 {
		t.Fatalf("sessionCount = %d, want 2", res.SessionCount)
	}
	// 3: flapping omitted once more: not two in a row.
	f.heartbeat(t, "omit-a", protocol.HeartbeatRequest{Sessions: []protocol.HeartbeatSession{entry("kept")}})
	if row := f.row(t, "flapping"); row.Status != "CONNECTED" || row.WorkerID == nil {
		t.Fatalf("flapping omitted, reported, omitted: %+v, want still placed", row)
	}
	evs := drain(ch)
	if got := about(evs, events.SessionStatusChanged, "dropped"); len(got) != 1 || !got[0].WebhooksStored {
		t.Fatalf("published %+v for dropped, want one session_status_changed stored with its webhook", got)
	}
	// The customer's session.status webhook was stored with the change.
	if got := f.webhookDeliveries(t, "dropped"); !slices.Equal(got, []string{"session.status DISCONNECTED"}) {
		t.Fatalf("dropped: session.status deliveries %q, want one DISCONNECTED", got)
	}
	for _, id := range []string{"kept", "flapping"} {
		if got := about(evs, "", id); len(got) != 0 {
			t.Fatalf("published %+v for %s, want nothing", got, id)
		}
	}
}

// A reported session counts as reported even when its report is older than what the backend
// already knows: the omission count is about presence in the heartbeat, not about news.
func wkCaseHeartbeatStaleReportStillResetsTheOmissionCount(t *testing.T, f *wkFixture) {
	f.workers(t, "stale-a", "stale-b")
	f.session(t, "stale-report", "stale-a", model.SessionConnected)
	f.exec(t, `UPDATE sessions SET last_event_at = now() WHERE id = 'stale-report'`)

	f.heartbeat(t, "stale-a", protocol.HeartbeatRequest{}) // omitted once
	f.heartbeat(t, "stale-a", protocol.HeartbeatRequest{Sessions: []protocol.HeartbeatSession{{SessionID: "stale-report",
		Status: "RECONNECTING", LastActivity: protocol.At(time.Now().Add(-time.Hour))}}}) // reported, stale
	if row := f.row(t, "stale-report"); row.Status != "CONNECTED" {
		t.Fatalf("a stale heartbeat entry was applied: %+v", row)
	}
	f.heartbeat(t, "stale-a", protocol.HeartbeatRequest{}) // omitted once more: not two in a row
	if row := f.row(t, "stale-report"); row.Status != "CONNECTED" || row.WorkerID == nil {
		t.Fatalf("omitted, reported (stale), omitted: %+v, want still CONNECTED and placed", row)
	}
}

func wkCaseHeartbeatReconcilesReportedSessions(t *testing.T, f *wkFixture) {
	f.workers(t, "recon-a", "recon-b")
	f.session(t, "changed", "recon-a", model.SessionInit)
	f.session(t, "same", "recon-a", model.SessionConnected)
	f.session(t, "elsewhere", "recon-b", model.SessionConnected)
	f.session(t, "idle", "", model.SessionDisconnected)
	f.session(t, "banana", "recon-a", model.SessionConnected)

	lastActivity := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	res := f.heartbeat(t, "recon-a", protocol.HeartbeatRequest{Sessions: []protocol.HeartbeatSession{
		{SessionID: "changed", Status: "connected", PhoneNumber: ptr("+62811"), DisplayName: nil, LastActivity: protocol.At(lastActivity)},
		{SessionID: "same", Status: "CONNECTED"},
		{SessionID: "elsewhere", Status: "CONNECTED"},
		{SessionID: "idle", Status: "CONNECTED"},
		{SessionID: "ghost", Status: "CONNECTED"},
		{SessionID: "banana", Status: "BANANA"},
		{SessionID: "", Status: "CONNECTED"},
	}})
	slices.Sort(res.SessionsToStop)
	if !slices.Equal(res.SessionsToStop, []string{"elsewhere", "ghost", "idle"}) {
		t.Fatalf("sessionsToStop = %v, want elsewhere, ghost, idle", res.SessionsToStop)
	}
	if res.SessionsProcessed != 7 || res.SessionsSynced != 1 || res.SessionCount != 3 {
		t.Fatalf("processed %d synced %d count %d, want 7, 1, 3", res.SessionsProcessed, res.SessionsSynced, res.SessionCount)
	}
	row := f.row(t, "changed")
	if row.Status != "CONNECTED" || row.Phone == nil || *row.Phone != "+62811" || row.LastEventAt == nil || !row.LastEventAt.Equal(lastActivity) {
		t.Fatalf("changed: %+v, want CONNECTED with the phone, stamped with lastActivity %v", row, lastActivity)
	}
	if row := f.row(t, "elsewhere"); row.Status != "CONNECTED" || *row.WorkerID != "recon-b" {
		t.Fatalf("another worker's session was touched: %+v", row)
	}
	if row := f.row(t, "banana"); row.Status != "CONNECTED" {
		t.Fatalf("an unknown status changed the session: %+v", row)
	}
	if row := f.row(t, "idle"); row.Status != "DISCONNECTED" || row.WorkerID != nil {
		t.Fatalf("an unplaced session was adopted: %+v", row)
	}
}

func wkCaseHeartbeatEntryWithoutLastActivityUsesTheHeartbeats(t *testing.T, f *wkFixture) {
	f.workers(t, "hbclock-a", "hbclock-b")
	f.session(t, "hb-clock", "hbclock-a", model.SessionInit)
	at := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	f.heartbeat(t, "hbclock-a", protocol.HeartbeatRequest{LastActivity: protocol.At(at),
		Sessions: []protocol.HeartbeatSession{{SessionID: "hb-clock", Status: "RECONNECTING"}}})
	if row := f.row(t, "hb-clock"); row.Status != "RECONNECTING" || row.LastEventAt == nil || !row.LastEventAt.Equal(at) {
		t.Fatalf("row = %+v, want RECONNECTING at %v", row, at)
	}
}

func wkCaseRecoveryStatusCountsAndAppliesOnlyItsOwnSessions(t *testing.T, f *wkFixture) {
	f.workers(t, "recovery-a", "recovery-b")
	f.session(t, "recovered", "recovery-a", model.SessionInit)
	f.session(t, "lost", "recovery-a", model.SessionConnected)
	f.session(t, "skipped", "recovery-a", model.SessionQRRequired)
	f.session(t, "not-mine", "recovery-b", model.SessionConnected)
	out, err := f.svc.RecoveryStatus(context.Background(), service.WorkerCaller{}, "recovery-a", protocol.RecoveryStatusRequest{
		RecoveryResults: []protocol.RecoveryResult{
			{SessionID: "recovered", Status: "success"},
			{SessionID: "lost", Status: "FAILED", Error: ptr("credentials missing")},
			{SessionID: "skipped", Status: "SKIPPED"},
			{SessionID: "not-mine", Status: "FAILED"},
			{SessionID: "ghost", Status: "SUCCESS"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Processed != 5 || out.Recovered != 1 || out.Failed != 1 || out.Skipped != 3 {
		t.Fatalf("outcome = %+v, want 5 processed, 1 recovered, 1 failed, 3 skipped", out)
	}
	if row := f.row(t, "lost"); row.Status != "ERROR" || row.WorkerID != nil || row.Reason == nil || *row.Reason != "credentials missing" {
		t.Fatalf("lost = %+v", row)
	}
	if row := f.row(t, "not-mine"); row.Status != "CONNECTED" || *row.WorkerID != "recovery-b" {
		t.Fatalf("not-mine = %+v, want untouched", row)
	}
	if _, err := f.svc.RecoveryStatus(context.Background(), service.WorkerCaller{}, "worker-zzz", protocol.RecoveryStatusRequest{}); model.KindOf(err) != model.KindNotFound {
		t.Fatalf("unknown worker: %v, want not found", err)
	}
	if _, err := f.svc.AssignedSessions(context.Background(), service.WorkerCaller{}, "worker-zzz"); model.KindOf(err) != model.KindNotFound {
		t.Fatalf("unknown worker: %v, want not found", err)
	}
}

func wkCaseLegacyHeartbeatAppliesAReportedStatusAndNeedsAWorkerID(t *testing.T, f *wkFixture) {
	f.workers(t, "legacy-a", "legacy-b")
	ctx := context.Background()
	wk, err := f.svc.LegacyHeartbeat(ctx, service.WorkerCaller{}, protocol.LegacyHeartbeat{WorkerID: "Legacy_A", Status: "maintenance",
		CPUUsage: ptr(12.0), SessionCount: ptr(3.0)})
	if err != nil {
		t.Fatal(err)
	}
	if wk.ID != "legacy-a" || wk.Status != model.WorkerMaintenance || wk.CPUUsage == nil || *wk.CPUUsage != 12 {
		t.Fatalf("worker = %+v", wk)
	}
	if n := f.count(t, `SELECT count(*) FROM worker_metrics WHERE worker_id = 'legacy-a' AND session_count = 3`); n != 1 {
		t.Fatalf("%d metrics samples, want 1", n)
	}
	// An unknown status is not applied; liveness still is.
	wk, err = f.svc.LegacyHeartbeat(ctx, service.WorkerCaller{}, protocol.LegacyHeartbeat{WorkerID: "legacy-a", Status: "sleepy"})
	if err != nil || wk.Status != model.WorkerMaintenance {
		t.Fatalf("unknown status: %+v, %v; want MAINTENANCE kept", wk, err)
	}
	if _, err := f.svc.LegacyHeartbeat(ctx, service.WorkerCaller{}, protocol.LegacyHeartbeat{}); model.KindOf(err) != model.KindValidation {
		t.Fatalf("no workerId: %v, want a validation error", err)
	}
}

func TestWorkersAvailable_RanksOnlineWorkersWithRoomBestFirst(t *testing.T) {
	t.Parallel()
	f := newWkFixture(t)
	f.exec(t, `DELETE FROM workers`)
	f.exec(t, `INSERT INTO workers (id, endpoint, status, max_sessions, cpu_usage, memory_usage, last_heartbeat) VALUES
		('idle-a', 'http://idle-a', 'ONLINE', 10, 0, 0, now()),
		('idle-b', 'http://idle-b', 'ONLINE', 10, 0, 0, now()),
		('loaded', 'http://loaded', 'ONLINE', 10, 0, 0, now()),
		('hot', 'http://hot', 'ONLINE', 10, 80, 80, now()),
		('full', 'http://full', 'ONLINE', 1, 0, 0, now()),
		('offline', 'http://offline', 'OFFLINE', 10, 0, 0, now()),
		('maintenance', 'http://maintenance', 'MAINTENANCE', 10, 0, 0, now())`)
	f.session(t, "on-loaded-1", "loaded", model.SessionConnected)
	f.session(t, "on-loaded-2", "loaded", model.SessionConnected)
	f.session(t, "on-full", "full", model.SessionConnected)
	list, err := f.svc.Available(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, w := range list {
		ids = append(ids, w.WorkerID)
	}
	if want := []string{"idle-a", "idle-b", "loaded", "hot"}; !slices.Equal(ids, want) {
		t.Fatalf("available = %v, want %v", ids, want)
	}
	if list[2].SessionCount != 2 || list[2].Free != 8 || list[2].Score < 20 || list[2].Score > 21 {
		t.Fatalf("loaded = %+v, want 2 used, 8 free, score about 20", list[2])
	}
}

func wkCaseUpdateValidatesAndRefusesCapacityBelowPlacedSessions(t *testing.T, f *wkFixture) {
	f.workers(t, "update-a", "update-b")
	f.session(t, "upd-1", "update-a", model.SessionConnected)
	f.session(t, "upd-2", "update-a", model.SessionConnected)
	ctx := context.Background()
	offline := model.WorkerOffline
	bogusEnv := model.WorkerEnvironment("PROD")
	_, err := f.svc.Update(ctx, "update-a", store.WorkerChanges{MaxSessions: ptr(0), Status: &offline, Version: ptr("x"), Environment: &bogusEnv})
	if got := wkFields(err); !slices.Equal(got, []string{"environment", "maxSessions", "status", "version"}) {
		t.Fatalf("fields = %v (%v), want all four", got, err)
	}
	_, err = f.svc.Update(ctx, "update-a", store.WorkerChanges{MaxSessions: ptr(1)})
	if got := wkFields(err); !slices.Equal(got, []string{"maxSessions"}) {
		t.Fatalf("maxSessions below placed: %v, want a validation error on maxSessions", err)
	}
	maintenance := model.WorkerMaintenance
	wk, err := f.svc.Update(ctx, "Update_A", store.WorkerChanges{MaxSessions: ptr(2), Status: &maintenance, Description: ptr("rack 4")})
	if err != nil || wk.MaxSessions != 2 || wk.Status != model.WorkerMaintenance || *wk.Description != "rack 4" {
		t.Fatalf("update = %+v, %v", wk, err)
	}
	if n := f.count(t, `SELECT count(*) FROM system_logs WHERE worker_id = 'update-a' AND message LIKE '%MAINTENANCE%'`); n != 1 {
		t.Fatalf("%d system log rows for the status change, want 1", n)
	}
	if _, err := f.svc.Update(ctx, "worker-zzz", store.WorkerChanges{}); model.KindOf(err) != model.KindNotFound {
		t.Fatalf("unknown worker: %v, want not found", err)
	}
}

func wkCaseDeleteReleasesSessionsThenDeletes(t *testing.T, f *wkFixture) {
	f.workers(t, "delete-a", "delete-b")
	f.session(t, "released-1", "delete-a", model.SessionConnected)
	f.session(t, "released-2", "delete-a", model.SessionQRRequired)
	f.session(t, "other", "delete-b", model.SessionConnected)
	ch, unsubscribe := f.bus.Subscribe(1024)
	defer unsubscribe()
	res, err := f.svc.Delete(context.Background(), "delete-a")
	if err != nil {
		t.Fatal(err)
	}
	if res.ReleasedSessions != 2 || res.WorkerID != "delete-a" {
		t.Fatalf("delete = %+v", res)
	}
	for _, id := range []string{"released-1", "released-2"} {
		if row := f.row(t, id); row.Status != "DISCONNECTED" || row.WorkerID != nil || row.Reason == nil || row.QRCode != nil {
			t.Fatalf("%s = %+v, want DISCONNECTED, unplaced, with a reason", id, row)
		}
	}
	if row := f.row(t, "other"); row.Status != "CONNECTED" {
		t.Fatalf("another worker's session changed: %+v", row)
	}
	evs := drain(ch)
	for _, id := range []string{"released-1", "released-2"} {
		if got := about(evs, events.SessionStatusChanged, id); len(got) != 1 {
			t.Fatalf("%d session_status_changed for %s, want 1", len(got), id)
		}
	}
	workerEvents := 0
	for _, e := range evs {
		if e.Type == events.WorkerStatusUpdated && e.WorkerID == "delete-a" {
			workerEvents++
		}
	}
	if workerEvents != 1 {
		t.Fatalf("%d worker_status_updated for delete-a, want 1", workerEvents)
	}
	if _, err := f.svc.Delete(context.Background(), "delete-a"); model.KindOf(err) != model.KindNotFound {
		t.Fatalf("second delete: %v, want not found", err)
	}
}

func wkCaseAddByHandDefaultsTheIDFromHostAndPort(t *testing.T, f *wkFixture) {
	worker := wkFakeWorker(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(worker.URL, "http://"))
	wk, err := f.svc.AddByHand(context.Background(), service.WorkerInput{Endpoint: "http://localhost:" + port})
	if err != nil {
		t.Fatal(err)
	}
	if wk.ID != "worker-localhost-"+port || wk.Status != model.WorkerOnline {
		t.Fatalf("worker = %+v, want worker-localhost-%s ONLINE", wk, port)
	}
	if _, err := f.svc.AddByHand(context.Background(), service.WorkerInput{Endpoint: wkClosedEndpoint(t)}); model.KindOf(err) != model.KindConnectivity {
		t.Fatalf("unreachable: %v, want connectivity", err)
	}
}

func wkCaseTestEndpointReportsReachabilityWithoutFailing(t *testing.T, f *wkFixture) {
	worker := wkFakeWorker(t)
	res, err := f.svc.TestEndpoint(context.Background(), "", worker.URL)
	if err != nil || !res.Reachable || res.Health == nil || res.Health.Status != "healthy" {
		t.Fatalf("reachable: %+v, %v", res, err)
	}
	res, err = f.svc.TestEndpoint(context.Background(), "", wkClosedEndpoint(t))
	if err != nil || res.Reachable || !strings.Contains(res.Error, "connection refused") {
		t.Fatalf("unreachable: %+v, %v; want reachable false naming the cause", res, err)
	}
	if _, err := f.svc.TestEndpoint(context.Background(), "", "not a url"); model.KindOf(err) != model.KindValidation {
		t.Fatalf("invalid endpoint: %v, want a validation error", err)
	}
}

func wkCaseUnregister(t *testing.T, f *wkFixture) {
	f.workers(t, "unreg-a")
	f.session(t, "unreg-1", "unreg-a", model.SessionConnected)
	wkStatusWebhook(t, f, "unreg-1")
	ctx := context.Background()
	anyone := service.WorkerCaller{}
	if _, err := f.svc.Unregister(ctx, anyone, protocol.UnregisterRequest{WorkerID: "  "}); model.KindOf(err) != model.KindValidation {
		t.Fatalf("no workerId: %v, want a validation error", err)
	}
	if _, err := f.svc.Unregister(ctx, anyone, protocol.UnregisterRequest{WorkerID: "unreg-zzz"}); model.KindOf(err) != model.KindNotFound {
		t.Fatalf("unknown worker: %v, want not found", err)
	}
	if _, err := f.svc.Unregister(ctx, anyone, protocol.UnregisterRequest{WorkerID: "unreg-a", Endpoint: "http://elsewhere:8001"}); model.KindOf(err) != model.KindConflict {
		t.Fatalf("another endpoint: %v, want a conflict", err)
	}
	if row := f.row(t, "unreg-1"); row.WorkerID == nil {
		t.Fatal("a refused unregister released the session")
	}
	res, err := f.svc.Unregister(ctx, service.WorkerCaller{ID: "unreg-a"}, protocol.UnregisterRequest{WorkerID: "Unreg_A", Endpoint: "http://unreg-a:8001/"})
	if err != nil || res.WorkerID != "unreg-a" || res.ReleasedSessions != 1 || res.UnregisteredAt.IsZero() {
		t.Fatalf("unregister = %+v, %v", res, err)
	}
	if row := f.row(t, "unreg-1"); row.Status != "DISCONNECTED" || row.WorkerID != nil || row.Reason == nil {
		t.Fatalf("session = %+v, want released", row)
	}
	if n := f.count(t, `SELECT count(*) FROM workers WHERE id = 'unreg-a'`); n != 0 {
		t.Fatal("the worker is still registered")
	}
	if got := f.webhookDeliveries(t, "unreg-1"); !slices.Equal(got, []string{"session.status DISCONNECTED"}) {
		t.Fatalf("session.status deliveries %q, want one DISCONNECTED, stored with the release", got)
	}
}

// wkStatusWebhook subscribes a webhook of sessionID to session.status.
func wkStatusWebhook(t *testing.T, f *wkFixture, sessionID string) {
	t.Helper()
	if _, err := f.db.Exec(context.Background(), `INSERT INTO webhooks (session_id, url, events, secret)
		VALUES ($1, 'https://example.com/hook', '{session.status}', 'whsec_test')`, sessionID); err != nil {
		t.Fatal(err)
	}
}

func wkCaseSessionsPreserved(t *testing.T, f *wkFixture) {
	f.workers(t, "keep-a", "keep-b")
	f.session(t, "keep-1", "keep-a", model.SessionConnected)
	f.session(t, "keep-2", "keep-a", model.SessionConnected)
	f.session(t, "keep-3", "keep-b", model.SessionConnected)
	before := time.Now()
	n, until, err := f.svc.SessionsPreserved(context.Background(), service.WorkerCaller{ID: "keep-a"}, "keep-a",
		protocol.SessionsPreservedRequest{PreservedSessions: []protocol.SessionRef{"keep-1", "", "keep-3", "keep-none"}})
	if err != nil || n != 1 {
		t.Fatalf("preserved %d (%v), want 1", n, err)
	}
	if d := until.Sub(before); d < 110*time.Second || d > 130*time.Second {
		t.Fatalf("preserved until %v from now, want about 2 minutes", d)
	}
	var preserved []string
	rows, err := f.db.Query(context.Background(), `SELECT id FROM sessions WHERE preserved_until IS NOT NULL AND id LIKE 'keep-%' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		preserved = append(preserved, id)
	}
	if !slices.Equal(preserved, []string{"keep-1"}) {
		t.Fatalf("preserved = %v, want [keep-1]", preserved)
	}
}

func wkCaseAssignedSessions(t *testing.T, f *wkFixture) {
	f.workers(t, "assigned-a")
	for _, s := range []struct {
		id     string
		status model.SessionStatus
	}{
		{"assigned-init", model.SessionInit}, {"assigned-qr", model.SessionQRRequired}, {"assigned-connected", model.SessionConnected},
		{"assigned-reconnecting", model.SessionReconnecting}, {"assigned-error", model.SessionError},
		{"assigned-disconnected", model.SessionDisconnected},
	} {
		f.session(t, s.id, "assigned-a", s.status)
	}
	res, err := f.svc.AssignedSessions(context.Background(), service.WorkerCaller{}, "Assigned_A")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range res.Sessions {
		ids = append(ids, s.SessionID)
		if s.UserID != f.userID || s.UserEmail != "owner@example.com" || s.UserTier != "BASIC" {
			t.Errorf("session %+v lacks its owner", s)
		}
	}
	slices.Sort(ids)
	if want := []string{"assigned-connected", "assigned-init", "assigned-qr", "assigned-reconnecting"}; !slices.Equal(ids, want) ||
		res.SessionCount != 4 || res.WorkerID != "assigned-a" {
		t.Fatalf("assigned = %v (%d) of %s, want %v", ids, res.SessionCount, res.WorkerID, want)
	}
}
