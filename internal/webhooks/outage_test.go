package webhooks_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/testenv"
)

// TestDelivery_AReceiverDownForAnHour_LosesNothing runs the default retry schedule
// (WEBHOOK_RETRY_BASE_MS=10000) against a receiver that refuses connections for an hour, and
// lets the hour pass in SQL instead of waiting: before each round, every delivery is moved to
// its next retry (next_retry and created_at moved back by the same amount), so the deliverer
// retries at once and the retry policy sees the time gone by. Then the receiver comes back.
func TestDelivery_AReceiverDownForAnHour_LosesNothing(t *testing.T) {
	t.Parallel()
	g := whGateway(t, map[string]string{"WEBHOOK_RETRY_BASE_MS": "10000"})
	g.Serve(t)
	o := whNewOwner(t, g)
	ctx := context.Background()

	const n = 20
	addr := whDownReceiver(t, g, o, "hour", n)

	// state is what the log holds: deliveries, those waiting for a retry (not leased), the
	// fewest attempts, and the time since the youngest was stored (the outage so far).
	state := func() (stored, waiting, fewest int, outage time.Duration) {
		var seconds float64
		if err := g.DB.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE d.status = 'RETRYING' AND d.lease_token IS NULL),
			coalesce(min(d.attempts), 0), coalesce(extract(epoch FROM now() - max(d.created_at)), 0)::float8
			FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE w.session_id = $1`, o.SessionID).
			Scan(&stored, &waiting, &fewest, &seconds); err != nil {
			t.Fatal(err)
		}
		return stored, waiting, fewest, time.Duration(seconds * float64(time.Second))
	}
	whEventually(t, 10*time.Second, "every delivery to fail once and wait for a retry", func() bool {
		stored, waiting, fewest, _ := state()
		return stored == n && waiting == n && fewest >= 1
	})

	rounds := 1
	for {
		_, _, _, outage := state()
		if outage >= time.Hour {
			break
		}
		whExec(t, g, `UPDATE webhook_deliveries d SET created_at = d.created_at - (d.next_retry - now()), next_retry = now()
			FROM webhooks w WHERE w.id = d.webhook_id AND w.session_id = $1 AND d.status = 'RETRYING' AND d.next_retry > now()`, o.SessionID)
		g.WebhookDeliverer.Kick()
		rounds++
		whEventually(t, 10*time.Second, fmt.Sprintf("retry %d of every delivery", rounds), func() bool {
			stored, waiting, fewest, _ := state()
			if stored != n {
				t.Fatalf("%d deliveries stored during the outage, want all %d", stored, n)
			}
			return waiting == n && fewest >= rounds
		})
		if rounds > 30 {
			t.Fatalf("the outage has lasted only %s after %d attempts: the backoff does not grow", outage, rounds)
		}
	}
	_, _, _, outage := state()
	var active bool
	var failures int
	if err := g.DB.QueryRow(ctx, `SELECT is_active, failure_count FROM webhooks WHERE session_id = $1`, o.SessionID).Scan(&active, &failures); err != nil {
		t.Fatal(err)
	}
	if !active || failures != 0 {
		t.Fatalf("after the outage the webhook is active=%v with %d consecutive failed deliveries, want active and none FAILED", active, failures)
	}
	t.Logf("%s of outage in %d attempts per delivery; all %d deliveries still waiting for a retry", outage.Round(time.Second), rounds, n)

	// The receiver is back; its next retry (tens of minutes away by now) comes at once.
	back := whReceiverBack(t, addr)
	whExec(t, g, `UPDATE webhook_deliveries d SET next_retry = now() FROM webhooks w
		WHERE w.id = d.webhook_id AND w.session_id = $1 AND d.status = 'RETRYING'`, o.SessionID)
	g.WebhookDeliverer.Kick()

	whEventually(t, 10*time.Second, "every delivery recorded DELIVERED once the receiver is back", func() bool {
		delivered := 0
		for _, d := range whDeliveries(t, g, o.SessionID) {
			if d.Status == "DELIVERED" {
				delivered++
			}
		}
		return delivered == n
	})
	back.wantEachOnce(t, n)
}

// whDownReceiver points the session's webhook at a loopback port where nothing listens
// (connection refused), raises n message events "<label>-<i>", and returns the port's address
// for the receiver to come back on.
func whDownReceiver(t testing.TB, g *testenv.Gateway, o whOwner, label string, n int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	whPutWebhook(t, g, o, "http://"+addr+"/hook")
	for i := range n {
		whMessageReceived(g, o, fmt.Sprintf("%s-%d", label, i))
	}
	return addr
}

// whBack is a receiver come back on the address of one that was down; it counts deliveries
// by webhook-id.
type whBack struct {
	mu    sync.Mutex
	byID  map[string]int
	serve *http.Server
}

// whReceiverBack starts a receiver on addr (the test is skipped if the port was taken).
func whReceiverBack(t testing.TB, addr string) *whBack {
	t.Helper()
	b := &whBack{byID: map[string]int{}}
	b.serve = &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.byID[r.Header.Get("webhook-id")]++
		b.mu.Unlock()
	})}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the receiver's port was taken meanwhile: %v", err)
	}
	go func() { _ = b.serve.Serve(ln) }()
	t.Cleanup(func() { _ = b.serve.Close() })
	return b
}

// received returns how many times each webhook-id arrived.
func (b *whBack) received() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.byID)
}

// wantEachOnce checks that n distinct deliveries arrived, each once.
func (b *whBack) wantEachOnce(t testing.TB, n int) {
	t.Helper()
	got := b.received()
	if len(got) != n {
		t.Fatalf("the receiver got %d distinct deliveries, want %d", len(got), n)
	}
	for id, count := range got {
		if count != 1 {
			t.Fatalf("%s arrived %d times", id, count)
		}
	}
}
