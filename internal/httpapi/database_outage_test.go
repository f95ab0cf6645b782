package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
)

// databaseSwitch cuts a test gateway's database off and brings it back, as a PostgreSQL
// crash and restart do for that database: its connections are closed and new ones refused.
type databaseSwitch struct {
	admin *pgxpool.Pool
	name  string
}

func newDatabaseSwitch(t *testing.T, g *testenv.Gateway) *databaseSwitch {
	t.Helper()
	u, err := url.Parse(g.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgxpool.New(context.Background(), testenv.DatabaseServerURL())
	if err != nil {
		t.Fatal(err)
	}
	s := &databaseSwitch{admin: admin, name: strings.TrimPrefix(u.Path, "/")}
	t.Cleanup(func() { s.restore(t); admin.Close() })
	return s
}

// cut closes every connection to the database and refuses new ones, and returns once no
// connection is left.
func (s *databaseSwitch) cut(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.admin.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{s.name}.Sanitize()+` ALLOW_CONNECTIONS false`); err != nil {
		t.Errorf("refuse connections: %v", err)
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left int
		if err := s.admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1`,
			s.name).Scan(&left); err != nil {
			t.Errorf("close connections: %v", err)
			return
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d connections still open 10s after they were closed", left)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *databaseSwitch) restore(t *testing.T) {
	t.Helper()
	if _, err := s.admin.Exec(context.Background(), `ALTER DATABASE `+pgx.Identifier{s.name}.Sanitize()+` ALLOW_CONNECTIONS true`); err != nil {
		t.Errorf("allow connections: %v", err)
	}
}

// PostgreSQL went away while the worker was sending: the send answers what the worker did
// (200 SENT), not a 503 that would invite a second send; the answer is recorded, and the
// Idempotency-Key's answer stored, once the database is back, and a retry with the key
// replays it without sending again.
func TestSendText_DatabaseGoneWhileTheWorkerSends_Answers200AndRecordsItOnceBack(t *testing.T) {
	t.Parallel()
	g, apiKey, worker := asyncSetup(t, nil)
	db := newDatabaseSwitch(t, g)
	worker.mu.Lock()
	worker.beforeAnswer = func() { db.cut(t) }
	worker.mu.Unlock()
	headers := append(append([]string{}, apiKey...), "Idempotency-Key", "outage-1")

	res := g.Do(t, http.MethodPost, "/api/v1/sendText", map[string]any{"to": "6281234567890", "message": "in the outage"}, headers...)
	worker.mu.Lock()
	worker.beforeAnswer = nil
	worker.mu.Unlock()
	if res.Code != http.StatusOK {
		t.Fatalf("send while the database went away: %d %s, want 200", res.Code, res.Body)
	}
	data := answerData(t, res)
	if data["status"] != "SENT" || data["messageId"] != "3EB0FLOW1" {
		t.Fatalf("answer %v, want SENT with the worker's message ID", data)
	}
	if n := g.LateWrites.Len(); n != 2 {
		t.Fatalf("%d writes waiting for the database, want 2 (the send's answer, the key's answer)", n)
	}

	db.restore(t)
	ctx := context.Background()
	var status, waID string
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := g.DB.QueryRow(ctx, `SELECT status::text, coalesce(wa_message_id, '') FROM messages WHERE id = $1`, data["id"]).Scan(&status, &waID)
		if err == nil && status == "SENT" && g.LateWrites.Len() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %v still %q (err %v) with %d late writes, 15s after the database came back", data["id"], status, err, g.LateWrites.Len())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if waID != "3EB0FLOW1" {
		t.Fatalf("recorded WhatsApp ID %q, want 3EB0FLOW1", waID)
	}
	if code := storedStatus(t, g, "outage-1"); code == nil || *code != http.StatusOK {
		t.Fatalf("stored answer of the key %v, want 200", code)
	}

	again := g.Do(t, http.MethodPost, "/api/v1/sendText", map[string]any{"to": "6281234567890", "message": "in the outage"}, headers...)
	if again.Code != http.StatusOK || again.Header().Get("Idempotent-Replayed") != "true" || answerData(t, again)["id"] != data["id"] {
		t.Fatalf("retry with the key: %d %s, want the answer replayed", again.Code, again.Body)
	}
	if n := len(worker.sent()); n != 1 {
		t.Fatalf("worker received %d sends, want 1", n)
	}
}

// A retry waiting for the request that holds its key runs itself when that request releases
// the key (its answer was worth retrying: here the worker's 429), instead of answering 409.
func TestIdempotencyKey_RetryWaitingForAReleasedKey_ClaimsItAndSends(t *testing.T) {
	t.Parallel()
	g, apiKey, worker := asyncSetup(t, nil)
	first, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	worker.mu.Lock()
	worker.paced = 1
	worker.beforeAnswer = func() {
		once.Do(func() { close(first); <-release })
	}
	worker.mu.Unlock()
	headers := append(append([]string{}, apiKey...), "Idempotency-Key", "released-1")
	body := map[string]any{"to": "6281234567890", "message": "paced"}

	answers := make(chan testenv.Response, 2)
	go func() { answers <- g.Do(t, http.MethodPost, "/api/v1/sendText", body, headers...) }()
	<-first
	go func() { answers <- g.Do(t, http.MethodPost, "/api/v1/sendText", body, headers...) }()
	// The first request answers once the retry waits for its key.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(g.Logs.String(), "waiting for the request that holds the Idempotency-Key") {
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("the retry did not wait for the key within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)

	codes := map[int]int{}
	for range 2 {
		res := <-answers
		codes[res.Code]++
		if res.Code == http.StatusOK && answerData(t, res)["status"] != "SENT" {
			t.Errorf("retry answered %s", res.Body)
		}
	}
	if codes[http.StatusTooManyRequests] != 1 || codes[http.StatusOK] != 1 {
		t.Fatalf("answers %v, want one 429 (the paced first request) and one 200 (the retry)", codes)
	}
	if sends := worker.sent(); len(sends) != 1 {
		t.Fatalf("worker performed %d sends, want 1", len(sends))
	}
}

// cutNextRecord makes the next INSERT into messages lose its connection, as a PostgreSQL
// crash mid-statement does.
func cutNextRecord(t *testing.T, g *testenv.Gateway) {
	t.Helper()
	if _, err := g.DB.Exec(context.Background(), `
		CREATE SEQUENCE cut_records;
		CREATE FUNCTION cut_first_record() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('cut_records') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER cut_first_record BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION cut_first_record()`); err != nil {
		t.Fatalf("install the cut: %v", err)
	}
}

// PostgreSQL went away while a send was being recorded: the answer is 503 and the key is
// abandoned, so that the client's retry takes it over at once (no 409 for two minutes). The
// retry sends under the key's message ID when nothing was recorded, and answers from the
// message when the record's commit landed after all (its acknowledgement lost with the
// connection), which the dispatcher then sends: either way the worker gets one send.
func TestSendText_DatabaseGoneWhileRecording_RetryTakesTheKeyOverAndSendsOnce(t *testing.T) {
	t.Parallel()
	for _, recorded := range []bool{false, true} {
		t.Run(map[bool]string{false: "nothing recorded", true: "record committed"}[recorded], func(t *testing.T) {
			t.Parallel()
			g, apiKey, worker := asyncSetup(t, nil)
			cutNextRecord(t, g)
			headers := append(append([]string{}, apiKey...), "Idempotency-Key", "cut-1")

			res := g.Do(t, http.MethodPost, "/api/v1/sendText", crashBody, headers...)
			if res.Code != http.StatusServiceUnavailable {
				t.Fatalf("send whose record lost the database: %d %s, want 503", res.Code, res.Body)
			}
			var created time.Time
			if err := g.DB.QueryRow(context.Background(), `SELECT created_at FROM idempotency_keys WHERE session_id = 'queue-1' AND key = 'cut-1'`).
				Scan(&created); err != nil {
				t.Fatalf("the claim is gone: %v", err)
			}
			id := service.IdempotentMessageID("queue-1", "cut-1", created)
			if recorded {
				recordMessage(t, g, id, "PENDING", nil, nil)
			}

			start := time.Now()
			retry := g.Do(t, http.MethodPost, "/api/v1/sendText", crashBody, headers...)
			if waited := time.Since(start); waited > 5*time.Second {
				t.Errorf("the retry waited %s for a claim nobody holds", waited)
			}
			want, status := http.StatusOK, "SENT"
			if recorded {
				want, status = http.StatusAccepted, "QUEUED"
			}
			if retry.Code != want || answerData(t, retry)["id"] != id || answerData(t, retry)["status"] != status {
				t.Fatalf("retry: %d %s, want %d %s with id %s", retry.Code, retry.Body, want, status, id)
			}
			// Once the message is SENT, nothing of the session is left to send.
			deadline := time.Now().Add(10 * time.Second)
			for {
				var sent bool
				if err := g.DB.QueryRow(context.Background(), `SELECT status = 'SENT' FROM messages WHERE id = $1`, id).Scan(&sent); err == nil && sent {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("message %s not SENT within 10s", id)
				}
				time.Sleep(20 * time.Millisecond)
			}
			var left int
			if err := g.DB.QueryRow(context.Background(), `SELECT count(*) FROM messages WHERE status IN ('PENDING', 'QUEUED')`).Scan(&left); err != nil || left != 0 {
				t.Fatalf("%d messages left to send (err %v), want 0", left, err)
			}
			sends := worker.sent()
			if len(sends) != 1 || sends[0]["clientMessageId"] != id {
				t.Fatalf("worker received %v, want one send with clientMessageId %s", sends, id)
			}
		})
	}
}

// cutClaimAfterCommit makes the next claim of an Idempotency-Key commit and then lose its
// connection before the acknowledgement, as a PostgreSQL crash right after a commit does: a
// trigger writes the claim through a connection of its own (dblink), which commits it, and
// ends its own backend. It is installed as the server's superuser: dblink is an extension,
// and connects without a password only for a superuser.
func cutClaimAfterCommit(t *testing.T, g *testenv.Gateway) {
	t.Helper()
	test, err := url.Parse(g.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(testenv.DatabaseServerURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = test.Path
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("connect as the superuser: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `
		CREATE EXTENSION IF NOT EXISTS dblink;
		CREATE SEQUENCE cut_claims;
		CREATE FUNCTION cut_first_claim() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
		BEGIN
			IF nextval('cut_claims') = 1 THEN
				PERFORM dblink_exec('`+strings.ReplaceAll(u.String(), "'", "''")+`', format(
					'INSERT INTO idempotency_keys (session_id, key, request_hash, claimed_at, claimed_by) VALUES (%L, %L, %L, %L, %L)',
					NEW.session_id, NEW.key, NEW.request_hash, NEW.claimed_at, NEW.claimed_by));
				PERFORM pg_terminate_backend(pg_backend_pid());
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER cut_first_claim BEFORE INSERT ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION cut_first_claim()`); err != nil {
		t.Fatalf("install the cut: %v", err)
	}
}

// The claim of a key committed but its acknowledgement was lost with the connection: the
// request answers 503 and abandons the claim once the database answers again, so that the
// client's retry takes the key over at once and sends, once, instead of waiting on a claim
// nobody holds and answering 409 until it is two minutes old.
func TestIdempotencyKey_ClaimCommittedButItsAcknowledgementLost_RetryTakesItOverAndSendsOnce(t *testing.T) {
	t.Parallel()
	g, apiKey, worker := asyncSetup(t, nil)
	cutClaimAfterCommit(t, g)
	headers := append(append([]string{}, apiKey...), "Idempotency-Key", "lost-ack-1")

	res := g.Do(t, http.MethodPost, "/api/v1/sendText", crashBody, headers...)
	if res.Code != http.StatusServiceUnavailable {
		t.Fatalf("send whose claim lost its acknowledgement: %d %s, want 503", res.Code, res.Body)
	}
	var claims int
	if err := g.DB.QueryRow(context.Background(), `SELECT count(*) FROM idempotency_keys WHERE session_id = 'queue-1' AND key = 'lost-ack-1'`).
		Scan(&claims); err != nil || claims != 1 {
		t.Fatalf("%d claims committed (err %v), want the one whose acknowledgement was lost", claims, err)
	}

	start := time.Now()
	retry := g.Do(t, http.MethodPost, "/api/v1/sendText", crashBody, headers...)
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("the retry waited %s for a claim nobody holds", waited)
	}
	if retry.Code != http.StatusOK || answerData(t, retry)["status"] != "SENT" {
		t.Fatalf("retry: %d %s, want 200 SENT", retry.Code, retry.Body)
	}
	if sends := worker.sent(); len(sends) != 1 {
		t.Fatalf("worker received %d sends, want 1", len(sends))
	}
}

// After a database outage a replica says it is alive again at once, not at its next regular
// beat: until it does, its Idempotency-Key claims look abandoned to retries.
func TestReplicaHeartbeat_WrittenAgainAtOnceAfterAnOutage(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})
	db := newDatabaseSwitch(t, g)
	db.cut(t)
	time.Sleep(store.ReplicaBeat + store.ReplicaBeat/4) // at least one beat fails
	db.restore(t)
	restored := time.Now()

	deadline := restored.Add(10 * time.Second)
	for {
		var seen time.Time
		err := g.DB.QueryRow(context.Background(), `SELECT seen_at FROM gateway_replicas WHERE id = $1`, g.ReplicaID).Scan(&seen)
		if err == nil && seen.After(restored.Add(-100*time.Millisecond)) {
			if waited := time.Since(restored); waited > store.ReplicaBeat/2 {
				t.Fatalf("the heartbeat was written %s after the database came back, want within %s", waited, store.ReplicaBeat/2)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat within 10s of the database coming back (err %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A client that hangs up while the worker sends its message does not cancel the send: what the
// worker did is recorded (SENT, not FAILED "context canceled"), and the client's retry with
// the same Idempotency-Key replays it instead of sending a second message.
func TestSendText_ClientHangsUpWhileTheWorkerSends_RetryReplaysNoSecondSend(t *testing.T) {
	t.Parallel()
	g, apiKey, worker := asyncSetup(t, nil)
	ctx, hangUp := context.WithCancel(context.Background())
	worker.mu.Lock()
	worker.beforeAnswer = func() {
		hangUp()
		time.Sleep(50 * time.Millisecond) // the gateway sees the hang-up before the answer
	}
	worker.mu.Unlock()
	headers := append(append([]string{}, apiKey...), "Idempotency-Key", "hang-up-1")
	body := map[string]any{"to": "6281234567890", "message": "sent while the client left"}

	g.DoContext(ctx, t, http.MethodPost, "/api/v1/sendText", body, headers...)
	worker.mu.Lock()
	worker.beforeAnswer = nil
	worker.mu.Unlock()

	retry := g.Do(t, http.MethodPost, "/api/v1/sendText", body, headers...)
	if retry.Code != http.StatusOK || retry.Header().Get("Idempotent-Replayed") != "true" || answerData(t, retry)["status"] != "SENT" {
		t.Fatalf("retry after the hang-up: %d %s, want the send's 200 replayed", retry.Code, retry.Body)
	}
	var status string
	if err := g.DB.QueryRow(context.Background(), `SELECT status::text FROM messages WHERE id = $1`, answerData(t, retry)["id"]).Scan(&status); err != nil || status != "SENT" {
		t.Fatalf("message recorded %q (err %v), want SENT", status, err)
	}
	if n := len(worker.sent()); n != 1 {
		t.Fatalf("worker received %d sends, want 1", n)
	}
}
