package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wagateway/gateway/internal/httpapi"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/testenv"
)

// A gateway killed (or cut from PostgreSQL) between claiming an Idempotency-Key and storing
// its answer leaves the claim without answer. These tests store such claims by hand on the
// session queue-1 of asyncSetup, and retry them.

const crashBody = `{"to":"6281234567890","message":"sent before the crash?"}`

// abandonClaim stores the claim of key for a crashBody send to target (path and query), made
// age ago and never answered, and returns the ID its message has.
func abandonClaim(t *testing.T, g *testenv.Gateway, target, key string, age time.Duration) string {
	t.Helper()
	hash := httpapi.RequestHash(httptest.NewRequest(http.MethodPost, target, nil), []byte(crashBody))
	var created time.Time
	if err := g.DB.QueryRow(context.Background(), `INSERT INTO idempotency_keys (session_id, key, request_hash, created_at, claimed_at)
		VALUES ('queue-1', $1, $2, now() - $3::interval, now() - $3::interval) RETURNING created_at`, key, hash, age).Scan(&created); err != nil {
		t.Fatalf("store claim: %v", err)
	}
	return service.IdempotentMessageID("queue-1", key, created)
}

// recordMessage stores the message id of queue-1 as the crashed gateway recorded it.
func recordMessage(t *testing.T, g *testenv.Gateway, id, status string, waID, errorMessage *string) {
	t.Helper()
	if _, err := g.DB.Exec(context.Background(), `INSERT INTO messages (id, session_id, direction, to_number, message_type,
			content, payload, status, wa_message_id, error_message, sent_at, scheduled_at, next_attempt_at)
		VALUES ($1, 'queue-1', 'OUTBOUND', '6281234567890@s.whatsapp.net', 'TEXT', 'sent before the crash?',
			jsonb_build_object('type', 'text', 'to', '6281234567890@s.whatsapp.net', 'clientMessageId', $5::text), $2::message_status,
			$3, $4, CASE WHEN $3::text IS NULL THEN NULL ELSE now() - interval '3 minutes' END,
			-- a queued message is due tomorrow, so that the dispatcher leaves it alone
			CASE WHEN $2 = 'QUEUED' THEN now() + interval '1 day' END, CASE WHEN $2 = 'QUEUED' THEN now() + interval '1 day' END)`,
		id, status, waID, errorMessage, id); err != nil {
		t.Fatalf("record message: %v", err)
	}
}

func (w *sendingWorker) sent() []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]map[string]any(nil), w.sends...)
}

func answerData(t *testing.T, res testenv.Response) map[string]any {
	t.Helper()
	data, _ := res.JSON(t)["data"].(map[string]any)
	return data
}

func storedStatus(t *testing.T, g *testenv.Gateway, key string) *int {
	t.Helper()
	var status *int
	if err := g.DB.QueryRow(context.Background(), `SELECT status_code FROM idempotency_keys WHERE session_id = 'queue-1' AND key = $1`,
		key).Scan(&status); err != nil {
		t.Fatalf("load key %s: %v", key, err)
	}
	return status
}

func TestIdempotencyKey_StaleClaimWithoutMessage_RetrySendsOnceUnderTheDerivedID(t *testing.T) {
	t.Parallel()
	g, apiKey, worker := asyncSetup(t, nil)
	id := abandonClaim(t, g, "/api/v1/sendText", "crash-1", httpapi.IdempotencyStaleAfter+time.Minute)
	headers := append(append([]string{}, apiKey...), "Idempotency-Key", "crash-1")

	start := time.Now()
	res := g.Do(t, http.MethodPost, "/api/v1/sendText", crashBody, headers...)
	if res.Code != http.StatusOK || answerData(t, res)["id"] != id || answerData(t, res)["status"] != "SENT" {
		t.Fatalf("retry of a stale claim: %d %s, want 200 SENT with id %s", res.Code, res.Body, id)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("the retry took %s: it waited for a claim nobody holds", waited)
	}
	sends := worker.sent()
	if len(sends) != 1 || sends[0]["clientMessageId"] != id {
		t.Fatalf("worker received %v, want exactly one send with clientMessageId %s", sends, id)
	}
	if status := storedStatus(t, g, "crash-1"); status == nil || *status != http.StatusOK {
		t.Fatalf("stored answer status %v, want 200", status)
	}

	again := g.Do(t, http.MethodPost, "/api/v1/sendText", crashBody, headers...)
	if again.Code != http.StatusOK || again.Header().Get("Idempotent-Replayed") != "true" || answerData(t, again)["id"] != id {
		t.Fatalf("next retry: %d %s, want the stored answer replayed", again.Code, again.Body)
	}
	if n := len(worker.sent()); n != 1 {
		t.Fatalf("worker received %d sends after the next retry, want still 1", n)
	}
}

func TestIdempotencyKey_StaleAsyncClaimWithoutMessage_RetryQueuesOnceUnderTheDerivedID(t *testing.T) {
	t.Parallel()
	g, apiKey, worker := asyncSetup(t, nil)
	id := abandonClaim(t, g, "/api/v1/sendText?async=true", "crash-async", httpapi.IdempotencyStaleAfter+time.Minute)

	res := g.Do(t, http.MethodPost, "/api/v1/sendText?async=true", crashBody, append(append([]string{}, apiKey...), "Idempotency-Key", "crash-async")...)
	if res.Code != http.StatusAccepted || answerData(t, res)["id"] != id || answerData(t, res)["status"] != "QUEUED" {
		t.Fatalf("retry of a stale async claim: %d %s, want 202 QUEUED with id %s", res.Code, res.Body, id)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(worker.sent()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if sends := worker.sent(); len(sends) != 1 || sends[0]["clientMessageId"] != id {
		t.Fatalf("worker received %v, want exactly one send with clientMessageId %s", sends, id)
	}
}

func TestIdempotencyKey_StaleClaimWithRecordedMessage_AnsweredFromItAndNotSentAgain(t *testing.T) {
	t.Parallel()
	g, apiKey, worker := asyncSetup(t, nil)
	sentID, deliveredID, reason := "3EB0SENT", "3EB0DELIVERED", "Worker error: number blocked"
	tests := []struct {
		name, target, status string
		waID, errorMessage   *string
		code                 int
		answer               string // data.status, or the error's type
	}{
		{"sent", "/api/v1/sendText", "SENT", &sentID, nil, http.StatusOK, "SENT"},
		{"delivered since", "/api/v1/sendText", "DELIVERED", &deliveredID, nil, http.StatusOK, "SENT"},
		{"queued async", "/api/v1/sendText?async=true", "QUEUED", nil, nil, http.StatusAccepted, "QUEUED"},
		{"failed", "/api/v1/sendText", "FAILED", nil, &reason, http.StatusBadGateway, "worker_error"},
	}
	for i, tt := range tests {
		key := "crash-recorded-" + string(rune('a'+i))
		id := abandonClaim(t, g, tt.target, key, httpapi.IdempotencyStaleAfter+time.Minute)
		recordMessage(t, g, id, tt.status, tt.waID, tt.errorMessage)

		res := g.Do(t, http.MethodPost, tt.target, crashBody, append(append([]string{}, apiKey...), "Idempotency-Key", key)...)
		body := res.JSON(t)
		var got string
		if tt.code < 300 {
			data := answerData(t, res)
			got, _ = data["status"].(string)
			if data["id"] != id {
				t.Errorf("%s: answered id %v, want the recorded message %s", tt.name, data["id"], id)
			}
			if tt.waID != nil && data["messageId"] != *tt.waID {
				t.Errorf("%s: answered messageId %v, want %s", tt.name, data["messageId"], *tt.waID)
			}
		} else {
			got, _ = body["type"].(string)
		}
		if res.Code != tt.code || got != tt.answer {
			t.Errorf("%s: %d %s, want %d %s", tt.name, res.Code, res.Body, tt.code, tt.answer)
		}
		if tt.errorMessage != nil && body["message"] != *tt.errorMessage {
			t.Errorf("%s: message %v, want the recorded reason %q", tt.name, body["message"], *tt.errorMessage)
		}
		if res.Header().Get("Idempotent-Replayed") != "true" {
			t.Errorf("%s: not marked Idempotent-Replayed", tt.name)
		}
		if status := storedStatus(t, g, key); status == nil || *status != tt.code {
			t.Errorf("%s: stored answer status %v, want %d", tt.name, status, tt.code)
		}
	}
	if sends := worker.sent(); len(sends) != 0 {
		t.Fatalf("worker received %d sends of recorded messages, want none", len(sends))
	}
}

// The first attempt recorded its message and died before the worker's answer was recorded:
// the retry hands the message to the dispatcher and answers 202 QUEUED; the worker gets it
// once, under its clientMessageId (deduplicated there, had the first attempt's send gone out).
func TestIdempotencyKey_StaleClaimWithPendingMessage_HandedToTheDispatcherAndSentOnce(t *testing.T) {
	t.Parallel()
	g, apiKey, worker := asyncSetup(t, nil)
	id := abandonClaim(t, g, "/api/v1/sendText", "crash-pending", httpapi.IdempotencyStaleAfter+time.Minute)
	recordMessage(t, g, id, "PENDING", nil, nil)

	res := g.Do(t, http.MethodPost, "/api/v1/sendText", crashBody, append(append([]string{}, apiKey...), "Idempotency-Key", "crash-pending")...)
	if res.Code != http.StatusAccepted || answerData(t, res)["id"] != id || answerData(t, res)["status"] != "QUEUED" ||
		res.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry of a claim whose message stayed PENDING: %d %s, want a replayed 202 QUEUED with id %s", res.Code, res.Body, id)
	}
	deadline := time.Now().Add(10 * time.Second)
	for msgLoad(t, g, id).Status != "SENT" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if sends := worker.sent(); len(sends) != 1 || sends[0]["clientMessageId"] != id || msgLoad(t, g, id).Status != "SENT" {
		t.Fatalf("worker received %v and the message is %s, want one send with clientMessageId %s, SENT", sends, msgLoad(t, g, id).Status, id)
	}
	if got := msgHistory(t, g, id); !slices.Equal(got, []string{"PENDING", "QUEUED", "SENT"}) {
		t.Errorf("history %v, want PENDING, QUEUED (handed to the dispatcher), SENT", got)
	}
}

// The first attempt's replica was killed a moment ago: its claim is young, but the replica has
// not been seen for store.ReplicaGoneAfter, so the retry takes the claim over at once instead
// of answering 409 for 2 minutes, and sends the message once.
func TestIdempotencyKey_YoungClaimOfAReplicaGone_TakenOverAtOnce(t *testing.T) {
	t.Parallel()
	g, apiKey, worker := asyncSetup(t, nil)
	id := abandonClaim(t, g, "/api/v1/sendText", "crash-replica", 0)
	killed := uuid.NewString()
	for _, q := range []string{
		`INSERT INTO gateway_replicas (id, seen_at) VALUES ('` + killed + `', now() - interval '1 minute')`,
		`UPDATE idempotency_keys SET claimed_by = '` + killed + `' WHERE key = 'crash-replica'`,
	} {
		if _, err := g.DB.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	// Waiting for the claim instead would answer 409 in progress after idempotencyWait.
	res := g.Do(t, http.MethodPost, "/api/v1/sendText", crashBody, append(append([]string{}, apiKey...), "Idempotency-Key", "crash-replica")...)
	if res.Code != http.StatusOK || answerData(t, res)["id"] != id {
		t.Fatalf("retry of a claim whose replica is gone: %d %s, want 200 with id %s", res.Code, res.Body, id)
	}
	if sends := worker.sent(); len(sends) != 1 || sends[0]["clientMessageId"] != id {
		t.Fatalf("worker received %v, want one send with clientMessageId %s", sends, id)
	}
}

// The first attempt's gateway was stalled, not dead: it records the message right after the
// retry took the claim over and looked for it (a deferred trigger on the takeover's commit
// plays it). The retry's own record then meets the message's primary key.
func TestIdempotencyKey_MessageRecordedAfterTheTakeoverLooked_AnsweredFromItNot5xx(t *testing.T) {
	t.Parallel()
	g, apiKey, worker := asyncSetup(t, nil)
	id := abandonClaim(t, g, "/api/v1/sendText", "crash-late", httpapi.IdempotencyStaleAfter+time.Minute)
	for _, stmt := range []string{
		`CREATE FUNCTION record_late() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			INSERT INTO messages (id, session_id, direction, to_number, message_type, content, payload, status, wa_message_id, sent_at)
			VALUES ('` + id + `', 'queue-1', 'OUTBOUND', '6281234567890@s.whatsapp.net', 'TEXT', 'late', '{"type":"text"}',
				'SENT', '3EB0LATE', now());
			RETURN NULL;
		END $$`,
		`CREATE CONSTRAINT TRIGGER record_late AFTER UPDATE ON idempotency_keys DEFERRABLE INITIALLY DEFERRED
			FOR EACH ROW WHEN (NEW.claimed_at IS DISTINCT FROM OLD.claimed_at) EXECUTE FUNCTION record_late()`,
	} {
		if _, err := g.DB.Exec(context.Background(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}

	res := g.Do(t, http.MethodPost, "/api/v1/sendText", crashBody, append(append([]string{}, apiKey...), "Idempotency-Key", "crash-late")...)
	if res.Code != http.StatusOK || answerData(t, res)["id"] != id || answerData(t, res)["messageId"] != "3EB0LATE" {
		t.Fatalf("retry: %d %s, want 200 answered from the message recorded late", res.Code, res.Body)
	}
	if sends := worker.sent(); len(sends) != 0 {
		t.Fatalf("worker received %d sends, want none", len(sends))
	}
	if status := storedStatus(t, g, "crash-late"); status == nil || *status != http.StatusOK {
		t.Fatalf("stored answer status %v, want 200", status)
	}
}

func TestIdempotencyKey_StaleClaimRacingRetries_WorkerGetsOneSend(t *testing.T) {
	t.Parallel()
	g, baseURL, apiKey, worker := asyncServe(t, nil)
	id := abandonClaim(t, g, "/api/v1/sendText", "crash-race", httpapi.IdempotencyStaleAfter+time.Minute)

	const racers = 2
	codes, ids := make([]int, racers), make([]any, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, baseURL+"/api/v1/sendText", strings.NewReader(crashBody))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(apiKey[0], apiKey[1])
			req.Header.Set("Idempotency-Key", "crash-race")
			<-start
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			var body struct {
				Data struct {
					ID string `json:"id"`
				} `json:"data"`
			}
			_ = json.Unmarshal(raw, &body)
			codes[i], ids[i] = res.StatusCode, body.Data.ID
		})
	}
	close(start)
	wg.Wait()
	for i := range racers {
		if codes[i] != http.StatusOK || ids[i] != id {
			t.Errorf("racer %d: %d id %v, want 200 with id %s", i, codes[i], ids[i], id)
		}
	}
	if sends := worker.sent(); len(sends) != 1 {
		t.Fatalf("worker received %d sends from %d racing retries, want exactly 1", len(sends), racers)
	}
}

// A claim younger than the threshold may belong to a request still running: a retry waits
// for its answer, then answers 409 in progress; so does a young claim of a replica that is
// alive (this one). So does a claim made by a gateway from before claims could be taken over
// (no claimed_at), however old: its message ID was random.
func TestIdempotencyKey_FreshOrOldStyleClaim_StillInProgressAfterTheWait(t *testing.T) {
	t.Parallel()
	g, apiKey, worker := asyncSetup(t, nil)
	abandonClaim(t, g, "/api/v1/sendText", "running", 0)
	abandonClaim(t, g, "/api/v1/sendText", "running-here", 0)
	abandonClaim(t, g, "/api/v1/sendText", "old-style", time.Hour)
	for _, q := range []string{`UPDATE idempotency_keys SET claimed_at = NULL WHERE key = 'old-style'`,
		`UPDATE idempotency_keys SET claimed_by = '` + g.ReplicaID + `' WHERE key = 'running-here'`} {
		if _, err := g.DB.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for _, key := range []string{"running", "running-here", "old-style"} {
		wg.Go(func() {
			res := g.Do(t, http.MethodPost, "/api/v1/sendText", crashBody, append(append([]string{}, apiKey...), "Idempotency-Key", key)...)
			if msg, _ := res.JSON(t)["message"].(string); res.Code != http.StatusConflict || !strings.Contains(msg, "still in progress") {
				t.Errorf("%s: %d %s, want 409 still in progress", key, res.Code, res.Body)
			}
			if status := storedStatus(t, g, key); status != nil {
				t.Errorf("%s: an answer %d was stored", key, *status)
			}
		})
	}
	wg.Wait()
	if sends := worker.sent(); len(sends) != 0 {
		t.Fatalf("worker received %d sends, want none", len(sends))
	}
}
