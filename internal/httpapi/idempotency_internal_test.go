package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/workers"
)

// A send answered 503 because PostgreSQL went away after its Idempotency-Key was claimed
// stored no answer: the key is abandoned so that the client's retry takes it over, instead of
// the 503 being replayed for a day. A 503 from an unreachable worker keeps its answer (the
// send may have reached the worker). Found with the fault suite (issue 13), which made
// database outages answer 503 instead of the 500 that released keys before.
func TestIdempotent_DatabaseOutageAbandonsTheKeyWorkerOutageKeepsIt(t *testing.T) {
	t.Parallel()
	answer := func(cause error) *capture {
		rec := &capture{ResponseWriter: httptest.NewRecorder(), status: http.StatusOK}
		respondError(rec, httptest.NewRequest(http.MethodPost, "/api/v1/sendText", nil), cause)
		return rec
	}
	tests := []struct {
		name   string
		cause  error
		status int
		key    keyOutcome
	}{
		{"database gone mid-request", fmt.Errorf("queue send: %w", io.ErrUnexpectedEOF), http.StatusServiceUnavailable, keyAbandoned},
		{"worker did not answer", model.Errorf(model.KindConnectivity, "Worker did not answer in time"), http.StatusServiceUnavailable, keyAnswered},
		{"worker answered an error", model.Errorf(model.KindWorker, "Worker error: boom"), http.StatusBadGateway, keyAnswered},
		{"rate limited", model.Errorf(model.KindRateLimited, "slow down"), http.StatusTooManyRequests, keyReleased},
		{"internal error", fmt.Errorf("boom"), http.StatusInternalServerError, keyReleased},
		{"session not connected", model.Errorf(model.KindConflict, "not connected"), http.StatusConflict, keyAnswered},
	}
	for _, tt := range tests {
		rec := answer(tt.cause)
		if rec.status != tt.status {
			t.Errorf("%s: answered %d, want %d", tt.name, rec.status, tt.status)
		}
		if got := keyAfter(rec.status, rec.err); got != tt.key {
			t.Errorf("%s: key outcome %d, want %d", tt.name, got, tt.key)
		}
	}

	// A client that hung up never learnt the answer, which may not exist: its retry runs.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := &capture{ResponseWriter: httptest.NewRecorder(), status: http.StatusOK}
	respondError(rec, respondQuietRequest(ctx), fmt.Errorf("record send: %w", ctx.Err()))
	if rec.status != statusClientClosedRequest || keyAfter(rec.status, rec.err) != keyReleased {
		t.Errorf("client hung up: answered %d, key outcome %d; want 499 and released", rec.status, keyAfter(rec.status, rec.err))
	}
}

// A claim without answer is taken over only once the request that made it is surely over,
// worker send included: otherwise a slow first request and its retry would both send.
func TestIdempotencyStaleAfter_OutlastsAnyRequest(t *testing.T) {
	t.Parallel()
	if longest := requestTimeout + workers.CommandTimeout; idempotencyStaleAfter < 2*longest {
		t.Fatalf("a claim is stale after %s, less than twice the longest request (%s)", idempotencyStaleAfter, longest)
	}
}

// A retry made right after its first request's replica was killed waits for the claim; the
// replica must be known gone before that wait ends, so that the retry takes the claim over
// instead of answering 409.
func TestReplicaGoneAfter_WithinTheWaitForAClaim(t *testing.T) {
	t.Parallel()
	// Its last beat came at the latest when it was killed: it is gone at most
	// ReplicaGoneAfter later.
	if store.ReplicaGoneAfter >= idempotencyWait {
		t.Fatalf("a replica is gone %s after its last beat, not within the %s a retry waits",
			store.ReplicaGoneAfter, idempotencyWait)
	}
}

// A claim whose INSERT failed once it was sent may have committed: its abandon is kept for
// when the database is back. One never sent (no connection) claimed nothing and keeps
// nothing: an outage's retries must not fill LateWrites, whose room the answers of sends
// need; neither does a claim that failed looking at who holds the key (no claim of its own).
func TestAbandonLostClaim_KeptOnlyForAClaimThatMayHaveCommitted(t *testing.T) {
	t.Parallel()
	lost := fmt.Errorf("claim idempotency key: %w", &pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"})
	refused := fmt.Errorf("claim idempotency key: %w", &pgconn.ConnectError{Config: &pgconn.Config{Host: "db"}})
	if !store.IsUnavailable(refused) {
		t.Fatal("a refused connection is not 'database unavailable': the case below proves nothing")
	}
	at := time.Now()
	for _, tc := range []struct {
		name      string
		err       error
		claimedAt time.Time
		kept      bool
	}{
		{"connection lost once the statement was sent", lost, at, true},
		{"no connection to send it on", refused, at, false},
		{"the look at who holds the key failed", lost, time.Time{}, false},
	} {
		s := &Server{late: &store.LateWrites{}}
		s.abandonLostClaim(context.Background(), tc.err, "ses-1", "k", tc.claimedAt)
		if kept := s.late.Len() == 1; kept != tc.kept {
			t.Errorf("%s: abandon kept %v, want %v", tc.name, kept, tc.kept)
		}
	}
}
