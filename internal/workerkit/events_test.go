package workerkit_test

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workerkit"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
	"github.com/wagateway/gateway/internal/workerkit/workerkittest"
)

var phonePattern = regexp.MustCompile(`^\+62812\d{8}$`)

func TestStart_ReportsQRThenConnectedAfterTheDelay(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	backend.SetWorkerToken("own")
	tw := startWorker(t, backend, workerOptions{engine: simengine.Config{ConnectDelay: 150 * time.Millisecond, QRInterval: time.Hour}})
	tw.waitRegistered(t)
	started := time.Now()
	tw.call(t, http.MethodPost, "/api/sessions/start", protocol.StartSessionRequest{SessionID: "s1", UserID: "u1", SessionName: "Shop"})

	workerkittest.Eventually(t, waitLong, func() bool {
		return slices.Contains(statuses(backend.SessionEvents(), "s1"), "CONNECTED")
	}, "CONNECTED")
	events := backend.SessionEvents()
	if got := statuses(events, "s1"); !slices.Equal(got, []string{"INIT", "QR_REQUIRED", "CONNECTED"}) {
		t.Fatalf("events = %v", got)
	}
	qr, connected := events[1], events[2]
	if qr.QRCode == nil {
		t.Fatal("QR_REQUIRED without qrCode")
	}
	checkQR(t, *qr.QRCode)
	if connected.PhoneNumber == nil || !phonePattern.MatchString(*connected.PhoneNumber) ||
		connected.DisplayName == nil || *connected.DisplayName != "Shop" {
		t.Errorf("CONNECTED = %+v", connected)
	}
	if d := connected.Timestamp.Sub(started); d < 150*time.Millisecond {
		t.Errorf("connected %s after the start, want at least the 150ms delay", d)
	}
	for _, ev := range events {
		if ev.WorkerID == nil || *ev.WorkerID != tw.ID || ev.Timestamp == nil {
			t.Errorf("event %s: workerId %v, timestamp %v", ev.Status, ev.WorkerID, ev.Timestamp)
		}
	}
	for _, r := range backend.Requests(http.MethodPost, "/api/v1/webhooks/session-status") {
		if r.Authorization != "Bearer own" {
			t.Errorf("event sent with %q", r.Authorization)
		}
	}
}

// checkQR checks the shape of a WhatsApp Web QR: 2@ref,key,key,key, all base64.
func checkQR(t *testing.T, qr string) {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(qr, "2@"), ",")
	if !strings.HasPrefix(qr, "2@") || len(parts) != 4 || len(qr) > 2000 {
		t.Fatalf("QR %q is not shaped like a WhatsApp QR", qr)
	}
	for _, p := range parts {
		if _, err := base64.StdEncoding.DecodeString(p); err != nil || p == "" {
			t.Errorf("QR part %q is not base64", p)
		}
	}
}

func TestStart_QRRenewedWhileNotConnected(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{engine: simengine.Config{ConnectDelay: -1, QRInterval: 20 * time.Millisecond}})
	tw.call(t, http.MethodPost, "/api/sessions/start", protocol.StartSessionRequest{SessionID: "s1"})

	qrs := func() []string {
		var out []string
		for _, ev := range backend.SessionEvents() {
			if ev.Status == "QR_REQUIRED" && ev.QRCode != nil {
				out = append(out, *ev.QRCode)
			}
		}
		return out
	}
	workerkittest.Eventually(t, waitLong, func() bool { return len(qrs()) >= 3 }, "three QR codes")
	got := qrs()
	if got[0] == got[1] || got[1] == got[2] {
		t.Errorf("the QR was not renewed: %v", got[:3])
	}
	a := tw.call(t, http.MethodGet, "/api/sessions/s1/qr", nil)
	var qr protocol.QRResult
	a.decode(t, &qr)
	checkQR(t, qr.QRCode)

	// Connected: no more renewals.
	if err := tw.Engine.Connect("s1"); err != nil {
		t.Fatal(err)
	}
	workerkittest.Eventually(t, waitLong, func() bool {
		return slices.Contains(statuses(backend.SessionEvents(), "s1"), "CONNECTED")
	}, "CONNECTED")
	n := len(qrs())
	if err := tw.Engine.Resume(t.Context(), "marker", "u", "n"); err != nil { // an event after 3 QR intervals
		t.Fatal(err)
	}
	workerkittest.Eventually(t, waitLong, func() bool {
		return len(backend.Accepted("/api/v1/workers/"+tw.ID+"/heartbeat")) >= 3
	}, "time to pass")
	if len(qrs()) != n {
		t.Errorf("QR renewed after the session connected")
	}
}

func TestSend_ReceiptsReportedInOrder(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{})
	tw.startConnected(t, "s1")
	a := tw.call(t, http.MethodPost, "/api/sessions/s1/send", protocol.SendRequest{To: "6281234567890", Type: "text", Message: ptr("hi"), ClientMessageID: "c1"})
	var sent protocol.SendResult
	a.decode(t, &sent)

	receipts := func() []protocol.MessageStatusEvent {
		var out []protocol.MessageStatusEvent
		for _, ev := range backend.MessageStatuses() {
			if ev.MessageID == sent.MessageID {
				out = append(out, ev)
			}
		}
		return out
	}
	workerkittest.Eventually(t, waitLong, func() bool { return len(receipts()) == 3 }, "three receipts")
	got := receipts()
	for i, want := range []string{"SENT", "DELIVERED", "READ"} {
		if got[i].Status != want || got[i].SessionID != "s1" || got[i].Timestamp == nil {
			t.Errorf("receipt %d = %+v, want %s", i, got[i], want)
		}
	}
	if got[1].DeliveredAt == nil || got[2].ReadAt == nil {
		t.Errorf("deliveredAt %v, readAt %v", got[1].DeliveredAt, got[2].ReadAt)
	}
}

func TestEvents_RetriedAcrossBackendOutage_InOrder(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{})
	tw.waitRegistered(t)
	backend.SetEventsDown(true)
	for _, id := range []string{"a", "b", "c"} {
		tw.call(t, http.MethodPost, "/api/sessions/start", protocol.StartSessionRequest{SessionID: id})
	}
	workerkittest.Eventually(t, waitLong, func() bool {
		st, err := tw.Engine.Status(t.Context(), "c")
		return err == nil && st.Status == "connected"
	}, "sessions connected during the outage")
	workerkittest.Eventually(t, waitLong, func() bool {
		return len(backend.Requests(http.MethodPost, "/api/v1/webhooks/session-status")) >= 6
	}, "refused deliveries")
	if n := len(backend.SessionEvents()); n != 0 {
		t.Fatalf("%d events accepted during the outage", n)
	}

	backend.SetEventsDown(false)
	workerkittest.Eventually(t, waitLong, func() bool { return len(backend.SessionEvents()) == 9 }, "all nine events")
	events := backend.SessionEvents()
	for _, id := range []string{"a", "b", "c"} {
		if got := statuses(events, id); !slices.Equal(got, []string{"INIT", "QR_REQUIRED", "CONNECTED"}) {
			t.Errorf("%s: %v, want INIT, QR_REQUIRED, CONNECTED", id, got)
		}
	}
}

func TestEvents_TokenRotated_RegistersAgainAndDelivers(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	backend.SetWorkerToken("own")
	tw := startWorker(t, backend, workerOptions{})
	tw.waitRegistered(t)
	// Another registration rotates the token: the worker's events are refused (401) until it
	// registers again, then delivered.
	backend.SetWorkerToken("rotated")
	tw.call(t, http.MethodPost, "/api/sessions/start", protocol.StartSessionRequest{SessionID: "s1"})
	workerkittest.Eventually(t, waitLong, func() bool {
		return len(backend.Requests(http.MethodPut, "/api/v1/workers/"+tw.ID+"/heartbeat")) >= 1 &&
			len(backend.Accepted("/api/v1/workers/register")) >= 2
	}, "a refused heartbeat and a new registration")
	workerkittest.Eventually(t, waitLong, func() bool {
		return slices.Contains(statuses(backend.SessionEvents(), "s1"), "CONNECTED")
	}, "the events delivered with the new token")
}

func TestEvents_IncomingMessagesReported(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{engine: simengine.Config{ConnectDelay: 5 * time.Millisecond, QRInterval: time.Hour,
		IncomingEvery: 20 * time.Millisecond}})
	tw.startConnected(t, "s1")
	workerkittest.Eventually(t, waitLong, func() bool { return len(backend.IncomingMessages()) >= 2 }, "incoming messages")
	msg := backend.IncomingMessages()[0]
	if msg.SessionID != "s1" || msg.From != simengine.FakeContact || msg.Type != "TEXT" || msg.Content == nil ||
		!strings.HasPrefix(msg.MessageID, "3EB0") || msg.Timestamp == nil {
		t.Errorf("incoming = %+v", msg)
	}
}

func TestEvents_QueueBounded_DropsOldest(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	backend.FailRegistrations(1 << 30) // nothing is delivered before registration
	tw := startWorker(t, backend, workerOptions{kit: func(c *workerkit.Config) { c.EventQueueSize = 4 }})
	for range 5 {
		if err := tw.Engine.Resume(t.Context(), "s", "u", "n"); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Engine.Disconnect(t.Context(), "s"); err != nil {
			t.Fatal(err)
		}
	}
	backend.FailRegistrations(0)
	workerkittest.Eventually(t, waitLong, func() bool { return len(backend.SessionEvents()) >= 1 }, "events")
	// Four lanes of one: only the last event of the session survived.
	if err := tw.Stop(t); err != nil {
		t.Fatal(err)
	}
	if got := statuses(backend.SessionEvents(), "s"); !slices.Equal(got, []string{"DISCONNECTED"}) {
		t.Errorf("delivered %v, want only the newest event", got)
	}
}

func TestEvents_RefusedForGood_AreDroppedNotRetried(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{engine: simengine.Config{ConnectDelay: -1, QRInterval: time.Hour}})
	tw.waitRegistered(t)
	backend.RefuseEvents(http.StatusConflict)
	tw.call(t, http.MethodPost, "/api/sessions/start", protocol.StartSessionRequest{SessionID: "elsewhere"})
	workerkittest.Eventually(t, waitLong, func() bool {
		return len(backend.Requests(http.MethodPost, "/api/v1/webhooks/session-status")) == 2
	}, "INIT and QR_REQUIRED refused")
	backend.RefuseEvents(0)
	if err := tw.Engine.Connect("elsewhere"); err != nil {
		t.Fatal(err)
	}
	workerkittest.Eventually(t, waitLong, func() bool { return len(backend.SessionEvents()) == 1 }, "CONNECTED accepted")
	if n := len(backend.Requests(http.MethodPost, "/api/v1/webhooks/session-status")); n != 3 {
		t.Errorf("%d deliveries, want 3: refused events are not retried", n)
	}
}
