package httpapi_test

// Tests of the worker event intake: POST /webhooks/session-status and the legacy
// POST /webhooks/worker-heartbeat. Helpers (wrk...) live in workers_test.go.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/testenv"
)

const wrkEventWorker = "worker-events"

// wrkEventSession inserts a session placed on the events worker.
func wrkEventSession(t *testing.T, g *testenv.Gateway, id, status string) {
	t.Helper()
	wrkSession(t, g, wrkUser(t, g), id, wrkEventWorker, status)
}

// wrkPostEvent posts a session event with the shared token.
func wrkPostEvent(t *testing.T, g *testenv.Gateway, body any) testenv.Response {
	t.Helper()
	return g.Do(t, http.MethodPost, "/api/v1/webhooks/session-status", body, wrkShared(g)...)
}

func wrkAt(tm time.Time) string { return tm.UTC().Format(time.RFC3339Nano) }

func TestWorkerEventIntake(t *testing.T) {
	t.Parallel()
	g := wrkGateway(t, nil)
	wrkInsertWorker(t, g, wrkEventWorker, "ONLINE", 100)
	wrkInsertWorker(t, g, "worker-events-other", "ONLINE", 100)
	wrkRunSuite(t, g, []wrkCase{
		{"SessionStatus_EveryStatusIncludingLoggedOut_IsApplied", wrkEventEveryStatus},
		{"SessionStatus_QRRequired_StoresAndPublishesTheQR_LeavingQRRequiredClearsIt", wrkEventQR},
		{"SessionStatus_Connected_StoresPhoneAndDisplayName", wrkEventConnected},
		{"SessionStatus_LoggedOut_ClearsPhoneAndLastSeen", wrkEventLoggedOut},
		{"SessionStatus_UnknownSession_Returns404", wrkEventUnknownSession},
		{"SessionStatus_FromAnotherWorker_Returns409", wrkEventOtherWorker},
		{"SessionStatus_Stale_Returns200NotAppliedAndChangesNothing", wrkEventStale},
		{"SessionStatus_EqualTimestamps_AreApplied", wrkEventEqualTimestamps},
		{"SessionStatus_MissingTimestamp_MeansNow", wrkEventMissingTimestamp},
		{"SessionStatus_Transition_WritesASystemLogAndPublishes", wrkEventTransitionLogged},
		{"SessionStatus_QRCodeOver2000Characters_Returns400", wrkEventLongQR},
		{"SessionStatus_QRThenConnectedThenStaleDisconnected_KeepsConnected", wrkEventOrder},
		{"SessionStatus_MalformedEvents_AreRefused", wrkEventMalformed},
		{"SessionStatus_UnderTheAPIPrefix_IsTheSame", wrkEventAPIPrefix},
		{"LegacyHeartbeat_RecordsASampleAndLiveness", wrkLegacyRecords},
		{"LegacyHeartbeat_UnknownWorker_Returns404", func(t *testing.T, g *testenv.Gateway) {
			wrkWantError(t, g.Do(t, http.MethodPost, "/api/v1/webhooks/worker-heartbeat",
				map[string]any{"workerId": "worker-legacy-ghost", "status": "ONLINE"}, wrkShared(g)...), http.StatusNotFound, "not_found")
		}},
		{"LegacyHeartbeat_MissingWorkerID_Returns400", func(t *testing.T, g *testenv.Gateway) {
			wrkWantError(t, g.Do(t, http.MethodPost, "/api/v1/webhooks/worker-heartbeat",
				map[string]any{"status": "ONLINE"}, wrkShared(g)...), http.StatusBadRequest, "validation_error")
		}},
	})
}

func wrkEventEveryStatus(t *testing.T, g *testenv.Gateway) {
	wrkEventSession(t, g, "ev-every", "DISCONNECTED")
	tests := []struct{ reported, want string }{
		{"INIT", "INIT"},
		{"QR_REQUIRED", "QR_REQUIRED"},
		{"CONNECTED", "CONNECTED"},
		{"RECONNECTING", "RECONNECTING"},
		{"ERROR", "ERROR"},
		{"DISCONNECTED", "DISCONNECTED"},
		{"CONNECTED", "CONNECTED"},
		{"LOGGED_OUT", "DISCONNECTED"},
		{"initializing", "INIT"},
		{"qr_ready", "QR_REQUIRED"},
		{"connected", "CONNECTED"},
		{"failed", "ERROR"},
	}
	at := time.Now().Add(-time.Hour)
	for i, tt := range tests {
		at = at.Add(time.Second)
		data := wrkData(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-every", "status": tt.reported,
			"workerId": wrkEventWorker, "timestamp": wrkAt(at)}), http.StatusOK)
		if data["applied"] != true || data["status"] != tt.want || data["sessionId"] != "ev-every" {
			t.Fatalf("event %d (%s): data %v, want applied %s", i, tt.reported, data, tt.want)
		}
		if got := wrkSessionOf(t, g, "ev-every").Status; got != tt.want {
			t.Fatalf("event %d (%s): stored %s, want %s", i, tt.reported, got, tt.want)
		}
	}
}

func wrkEventQR(t *testing.T, g *testenv.Gateway) {
	wrkEventSession(t, g, "ev-qr", "INIT")
	ch, unsubscribe := g.Bus.Subscribe(1024)
	defer unsubscribe()

	wrkData(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-qr", "status": "QR_REQUIRED", "qrCode": "2@abc,def==",
		"phoneNumber": nil, "displayName": nil}), http.StatusOK)
	if row := wrkSessionOf(t, g, "ev-qr"); row.QRCode == nil || *row.QRCode != "2@abc,def==" {
		t.Fatalf("qr = %v, want the raw QR string", row.QRCode)
	}
	e := wrkNextEvent(t, ch, events.QRCodeUpdated, "ev-qr")
	payload, _ := e.Payload.(map[string]any)
	if payload["qrCode"] != "2@abc,def==" || fmt.Sprint(payload["status"]) != "QR_REQUIRED" || payload["sessionId"] != "ev-qr" {
		t.Fatalf("qr_code_updated payload = %v", payload)
	}

	wrkData(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-qr", "status": "QR_REQUIRED", "qrCode": "2@second"}), http.StatusOK)
	if row := wrkSessionOf(t, g, "ev-qr"); *row.QRCode != "2@second" {
		t.Fatalf("qr = %v, want the replacement", *row.QRCode)
	}
	wrkNextEvent(t, ch, events.QRCodeUpdated, "ev-qr")

	wrkData(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-qr", "status": "RECONNECTING"}), http.StatusOK)
	if row := wrkSessionOf(t, g, "ev-qr"); row.QRCode != nil {
		t.Fatalf("qr = %v after leaving QR_REQUIRED, want none", *row.QRCode)
	}
	wrkNoEvent(t, ch, events.QRCodeUpdated, "ev-qr")
}

func wrkEventConnected(t *testing.T, g *testenv.Gateway) {
	wrkEventSession(t, g, "ev-connected", "QR_REQUIRED")
	data := wrkData(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-connected", "status": "CONNECTED",
		"phoneNumber": "+6281234567890", "displayName": "Toko Budi", "workerId": wrkEventWorker}), http.StatusOK)
	if data["phoneNumber"] != "+6281234567890" || data["displayName"] != "Toko Budi" {
		t.Fatalf("data = %v", data)
	}
	row := wrkSessionOf(t, g, "ev-connected")
	if row.Status != "CONNECTED" || *row.Phone != "+6281234567890" || *row.DisplayName != "Toko Budi" || row.LastSeenAt == nil {
		t.Fatalf("row = %+v", row)
	}
}

func wrkEventLoggedOut(t *testing.T, g *testenv.Gateway) {
	for _, tc := range []struct {
		id   string
		body map[string]any
	}{
		{"ev-logout-status", map[string]any{"status": "LOGGED_OUT"}},
		{"ev-logout-flag", map[string]any{"status": "DISCONNECTED", "loggedOutAt": wrkAt(time.Now()),
			"loggedOutFromPhone": true, "reason": "logged out from the phone"}},
	} {
		wrkEventSession(t, g, tc.id, "CONNECTED")
		wrkExec(t, g, `UPDATE sessions SET phone_number = '+62811', last_seen_at = now() WHERE id = $1`, tc.id)
		tc.body["sessionId"] = tc.id
		wrkData(t, wrkPostEvent(t, g, tc.body), http.StatusOK)
		row := wrkSessionOf(t, g, tc.id)
		if row.Status != "DISCONNECTED" || row.Phone != nil || row.LastSeenAt != nil {
			t.Fatalf("%s = %+v, want DISCONNECTED without phone and lastSeenAt", tc.id, row)
		}
	}
}

func wrkEventUnknownSession(t *testing.T, g *testenv.Gateway) {
	wrkWantError(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-nobody", "status": "CONNECTED"}), http.StatusNotFound, "not_found")
	// Unknown comes first: even an event that would also be from the wrong worker is 404.
	wrkWantError(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-nobody", "status": "CONNECTED", "workerId": "worker-events-other"}),
		http.StatusNotFound, "not_found")
}

func wrkEventOtherWorker(t *testing.T, g *testenv.Gateway) {
	wrkEventSession(t, g, "ev-foreign", "CONNECTED")
	for _, worker := range []string{"worker-events-other", "Worker_Events_Other", "worker-not-registered"} {
		wrkWantError(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-foreign", "status": "DISCONNECTED", "workerId": worker}),
			http.StatusConflict, "conflict")
	}
	if row := wrkSessionOf(t, g, "ev-foreign"); row.Status != "CONNECTED" {
		t.Fatalf("a refused event changed the session: %+v", row)
	}
	// The placed worker, in any spelling of its ID, is accepted.
	wrkData(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-foreign", "status": "DISCONNECTED", "workerId": "Worker_Events"}), http.StatusOK)
}

func wrkEventStale(t *testing.T, g *testenv.Gateway) {
	wrkEventSession(t, g, "ev-stale", "INIT")
	t0 := time.Now().Add(-time.Minute)
	wrkData(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-stale", "status": "CONNECTED", "phoneNumber": "+62811",
		"timestamp": wrkAt(t0)}), http.StatusOK)
	before := wrkSessionOf(t, g, "ev-stale")
	ch, unsubscribe := g.Bus.Subscribe(1024)
	defer unsubscribe()

	res := wrkPostEvent(t, g, map[string]any{"sessionId": "ev-stale", "status": "DISCONNECTED", "timestamp": wrkAt(t0.Add(-time.Second))})
	data := wrkData(t, res, http.StatusOK)
	if data["applied"] != false || data["status"] != "CONNECTED" {
		t.Fatalf("data = %v, want applied false and the current status", data)
	}
	after := wrkSessionOf(t, g, "ev-stale")
	if after.Status != "CONNECTED" || !after.LastEventAt.Equal(*before.LastEventAt) || !after.LastSeenAt.Equal(*before.LastSeenAt) ||
		after.Phone == nil {
		t.Fatalf("a stale event changed the session: before %+v, after %+v", before, after)
	}
	wrkNoEvent(t, ch, events.SessionStatusChanged, "ev-stale")
	// Unix milliseconds count the same.
	data = wrkData(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-stale", "status": "ERROR",
		"timestamp": t0.Add(-time.Hour).UnixMilli()}), http.StatusOK)
	if data["applied"] != false {
		t.Fatalf("a stale event in unix milliseconds was applied: %v", data)
	}
}

func wrkEventEqualTimestamps(t *testing.T, g *testenv.Gateway) {
	wrkEventSession(t, g, "ev-equal", "INIT")
	at := wrkAt(time.Now().Add(-time.Minute))
	for _, status := range []string{"QR_REQUIRED", "CONNECTED"} {
		data := wrkData(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-equal", "status": status, "timestamp": at}), http.StatusOK)
		if data["applied"] != true {
			t.Fatalf("%s at an equal timestamp: %v, want applied", status, data)
		}
	}
	if got := wrkSessionOf(t, g, "ev-equal").Status; got != "CONNECTED" {
		t.Fatalf("status = %s, want CONNECTED", got)
	}
}

func wrkEventMissingTimestamp(t *testing.T, g *testenv.Gateway) {
	wrkEventSession(t, g, "ev-now", "INIT")
	before := time.Now().Add(-time.Second)
	wrkData(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-now", "status": "CONNECTED", "timestamp": nil}), http.StatusOK)
	row := wrkSessionOf(t, g, "ev-now")
	if row.LastEventAt == nil || row.LastEventAt.Before(before) || row.LastEventAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("last_event_at = %v, want about now", row.LastEventAt)
	}
	data := wrkData(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-now", "status": "DISCONNECTED",
		"timestamp": wrkAt(before.Add(-time.Minute))}), http.StatusOK)
	if data["applied"] != false {
		t.Fatalf("an event older than the untimed one was applied: %v", data)
	}
}

func wrkEventTransitionLogged(t *testing.T, g *testenv.Gateway) {
	wrkEventSession(t, g, "ev-logged", "INIT")
	ch, unsubscribe := g.Bus.Subscribe(1024)
	defer unsubscribe()
	at := time.Now().Add(-time.Minute)
	for i, status := range []string{"CONNECTED", "CONNECTED", "RECONNECTING"} {
		wrkData(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-logged", "status": status,
			"timestamp": wrkAt(at.Add(time.Duration(i) * time.Second))}), http.StatusOK)
	}
	if n := wrkCount(t, g, `SELECT count(*) FROM system_logs WHERE session_id = 'ev-logged' AND worker_id = $1`, wrkEventWorker); n != 2 {
		t.Fatalf("%d system log rows, want 2 (one per transition, none for the repeat)", n)
	}
	first := wrkNextEvent(t, ch, events.SessionStatusChanged, "ev-logged")
	second := wrkNextEvent(t, ch, events.SessionStatusChanged, "ev-logged")
	p1, _ := first.Payload.(map[string]any)
	p2, _ := second.Payload.(map[string]any)
	if fmt.Sprint(p1["status"]) != "CONNECTED" || fmt.Sprint(p2["status"]) != "RECONNECTING" || first.WorkerID != wrkEventWorker {
		t.Fatalf("events = %+v then %+v", first, second)
	}
	wrkNoEvent(t, ch, events.SessionStatusChanged, "ev-logged")
}

func wrkEventLongQR(t *testing.T, g *testenv.Gateway) {
	wrkEventSession(t, g, "ev-long-qr", "INIT")
	body := wrkWantError(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-long-qr", "status": "QR_REQUIRED",
		"qrCode": strings.Repeat("Q", 2001)}), http.StatusBadRequest, "validation_error")
	if fields := wrkFields(body); len(fields) != 1 || fields[0] != "qrCode" {
		t.Fatalf("fields = %v, want [qrCode]", fields)
	}
	if row := wrkSessionOf(t, g, "ev-long-qr"); row.Status != "INIT" || row.QRCode != nil {
		t.Fatalf("a refused event changed the session: %+v", row)
	}
	wrkData(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-long-qr", "status": "QR_REQUIRED",
		"qrCode": strings.Repeat("Q", 2000)}), http.StatusOK)
}

func wrkEventOrder(t *testing.T, g *testenv.Gateway) {
	wrkEventSession(t, g, "ev-order", "INIT")
	t0 := time.Now().Add(-time.Minute)
	wrkData(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-order", "status": "QR_REQUIRED", "qrCode": "2@qr",
		"timestamp": wrkAt(t0)}), http.StatusOK)
	wrkData(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-order", "status": "CONNECTED", "phoneNumber": "+62811",
		"timestamp": wrkAt(t0.Add(2 * time.Second))}), http.StatusOK)
	// The DISCONNECTED that happened between them arrives late.
	data := wrkData(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-order", "status": "DISCONNECTED",
		"timestamp": wrkAt(t0.Add(time.Second))}), http.StatusOK)
	if data["applied"] != false {
		t.Fatalf("the late DISCONNECTED was applied: %v", data)
	}
	if row := wrkSessionOf(t, g, "ev-order"); row.Status != "CONNECTED" || row.QRCode != nil || row.Phone == nil {
		t.Fatalf("row = %+v, want CONNECTED with the phone and no QR", row)
	}
}

func wrkEventMalformed(t *testing.T, g *testenv.Gateway) {
	wrkEventSession(t, g, "ev-malformed", "INIT")
	body := wrkWantError(t, wrkPostEvent(t, g, map[string]any{"status": "CONNECTED"}), http.StatusBadRequest, "validation_error")
	if fields := wrkFields(body); len(fields) != 1 || fields[0] != "sessionId" {
		t.Fatalf("fields = %v, want [sessionId]", fields)
	}
	body = wrkWantError(t, wrkPostEvent(t, g, map[string]any{"sessionId": "ev-malformed", "status": "BANANA"}),
		http.StatusBadRequest, "validation_error")
	if fields := wrkFields(body); len(fields) != 1 || fields[0] != "status" {
		t.Fatalf("fields = %v, want [status]", fields)
	}
	wrkWantError(t, wrkPostEvent(t, g, `{"sessionId": "ev-malformed", `), http.StatusBadRequest, "bad_request")
	wrkWantError(t, g.Do(t, http.MethodPost, "/api/v1/webhooks/session-status", `sessionId=ev-malformed`,
		append(wrkShared(g), "Content-Type", "application/x-www-form-urlencoded")...), http.StatusUnsupportedMediaType, "unsupported_media_type")
	if got := wrkSessionOf(t, g, "ev-malformed").Status; got != "INIT" {
		t.Fatalf("status = %s, want INIT", got)
	}
}

func wrkEventAPIPrefix(t *testing.T, g *testenv.Gateway) {
	wrkEventSession(t, g, "ev-prefix", "INIT")
	data := wrkData(t, g.Do(t, http.MethodPost, "/api/webhooks/session-status",
		map[string]any{"sessionId": "ev-prefix", "status": "CONNECTED"}, wrkShared(g)...), http.StatusOK)
	if data["applied"] != true || wrkSessionOf(t, g, "ev-prefix").Status != "CONNECTED" {
		t.Fatalf("data = %v", data)
	}
}

// --- Legacy heartbeat -----------------------------------------------------------------------

func wrkLegacyRecords(t *testing.T, g *testenv.Gateway) {
	wrkInsertWorker(t, g, "worker-legacy", "OFFLINE", 10)
	wrkExec(t, g, `UPDATE workers SET last_heartbeat = now() - interval '1 hour' WHERE id = 'worker-legacy'`)
	before := time.Now().Add(-time.Second)
	data := wrkData(t, g.Do(t, http.MethodPost, "/api/v1/webhooks/worker-heartbeat", map[string]any{
		"workerId": "Worker_Legacy", "status": "ONLINE", "sessionCount": 3, "cpuUsage": 20.5, "memoryUsage": 30,
		"uptime": 100, "activeConnections": 2, "timestamp": wrkAt(time.Now()), "extra": "ignored",
	}, wrkShared(g)...), http.StatusOK)
	if data["workerId"] != "worker-legacy" || data["status"] != "ONLINE" {
		t.Fatalf("data = %v", data)
	}
	var last time.Time
	var cpu float64
	if err := g.DB.QueryRow(context.Background(), `SELECT last_heartbeat, cpu_usage FROM workers WHERE id = 'worker-legacy'`).Scan(&last, &cpu); err != nil {
		t.Fatal(err)
	}
	if last.Before(before) || cpu != 20.5 || wrkWorkerStatus(t, g, "worker-legacy") != "ONLINE" {
		t.Fatalf("last heartbeat %v, cpu %v, status %s", last, cpu, wrkWorkerStatus(t, g, "worker-legacy"))
	}
	if n := wrkCount(t, g, `SELECT count(*) FROM worker_metrics WHERE worker_id = 'worker-legacy' AND session_count = 3
		AND cpu_usage = 20.5 AND memory_usage = 30 AND uptime = 100`); n != 1 {
		t.Fatalf("%d matching samples, want 1", n)
	}
	// A worker that says it is going into MAINTENANCE is believed.
	data = wrkData(t, g.Do(t, http.MethodPost, "/api/v1/webhooks/worker-heartbeat",
		map[string]any{"workerId": "worker-legacy", "status": "MAINTENANCE", "cpuUsage": nil}, wrkShared(g)...), http.StatusOK)
	if data["status"] != "MAINTENANCE" {
		t.Fatalf("data = %v", data)
	}
}
