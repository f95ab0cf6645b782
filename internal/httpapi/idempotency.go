package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
)

const (
	maxIdempotencyKey = 255
	// idempotencyWait is how long a retry waits for the first request with its key to finish.
	idempotencyWait = 10 * time.Second
	// idempotencyStaleAfter is how long a claim may stay without answer before a retry takes
	// it over. A request is over by then: requestTimeout (30 s) bounds it, the worker's send
	// included (workers.CommandTimeout, 10 s an attempt), and storing the answer is one
	// statement. A claim that old lost its gateway (killed) or its database mid-request.
	idempotencyStaleAfter = 2 * time.Minute
)

// idempotent makes a send safe to retry with an Idempotency-Key: the first request with a key
// runs and its answer is stored; a retry with the same key and body gets that answer and
// sends nothing; the same key with another body is 409. The key's primary key in Postgres
// decides between racing requests on any replica, so a message is handed to a worker at most
// once per key. Answers worth retrying (429, 500) release the key instead of being stored.
//
// The send's message ID derives from the key (service.IdempotentMessageID). A claim left
// without answer by a gateway that died mid-request is taken over by a retry once it is stale
// (idempotencyStaleAfter): the retry answers from the message the first attempt recorded, or
// sends it if there is none; the message's primary key keeps it from being recorded twice.
func (s *Server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) > maxIdempotencyKey {
			respondError(w, r, model.ValidationError(model.FieldError{Field: "Idempotency-Key", Message: "must be at most 255 characters"}))
			return
		}
		// The key is stored as text: bytes that are not UTF-8 failed in PostgreSQL as a 500.
		if !utf8.ValidString(key) || strings.ContainsFunc(key, unicode.IsControl) {
			respondError(w, r, model.ValidationError(model.FieldError{Field: "Idempotency-Key", Message: "must be printable UTF-8 text"}))
			return
		}
		body, err := io.ReadAll(r.Body)
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			respondError(w, r, model.Errorf(model.KindPayloadTooLarge, "Request body is larger than %d bytes", tooLarge.Limit))
			return
		}
		if err != nil {
			respondError(w, r, model.Errorf(model.KindBadRequest, "Could not read the request body"))
			return
		}
		hash := requestHash(r, body)
		sessionID := principal(r).SessionID
		r.Body = io.NopCloser(bytes.NewReader(body))

		deadline := time.Now().Add(idempotencyWait)
		for {
			claimed, existing, err := s.claim(r.Context(), sessionID, key, hash)
			if errors.Is(err, model.ErrNotFound) && time.Now().Before(deadline) {
				continue // released between the claim's INSERT and the look at who holds it
			}
			if err != nil {
				s.abandonLostClaim(r.Context(), err, sessionID, key, existing.ClaimedAt)
				respondError(w, r, err)
				return
			}
			if claimed {
				messageID := service.IdempotentMessageID(sessionID, key, existing.CreatedAt)
				rec := &capture{ResponseWriter: w, status: http.StatusOK}
				next.ServeHTTP(rec, r.WithContext(service.WithMessageID(r.Context(), messageID)))
				s.keepAnswer(r.Context(), sessionID, key, existing.ClaimedAt, rec)
				return
			}
			if !s.replay(w, r, next, sessionID, key, hash, existing, deadline) {
				return
			}
			// The request that held the key released it: this retry claims it and runs.
		}
	})
}

// claimTimeout bounds the claim of a key, which a client's hang-up does not cut short.
const claimTimeout = 10 * time.Second

// claim claims a key for this request. The client hanging up does not cancel it: a claim cut
// off after its commit would hold the key against every retry until stale; once claimed, the
// request ends as a 499 and releases it.
func (s *Server) claim(ctx context.Context, sessionID, key, hash string) (bool, store.IdempotentResponse, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claimTimeout)
	defer cancel()
	return store.ClaimIdempotencyKey(ctx, s.db, sessionID, key, hash, s.replicaID, idempotencyStaleAfter)
}

// abandonLostClaim leaves to a retry the claim made at claimedAt whose INSERT failed with err,
// when err says PostgreSQL went away after the statement was sent: its commit may have landed
// with only the acknowledgement lost, and would hold the key against every retry until stale.
// A statement never sent (no connection) claimed nothing, and keeps nothing in LateWrites,
// whose room the outcomes of sends need during an outage.
func (s *Server) abandonLostClaim(ctx context.Context, err error, sessionID, key string, claimedAt time.Time) {
	var connect *pgconn.ConnectError
	if claimedAt.IsZero() || pgconn.SafeToRetry(err) || errors.As(err, &connect) {
		return
	}
	const what = "abandon idempotency key"
	if s.late.Keep(err, what, func(ctx context.Context) error {
		return store.AbandonIdempotencyKey(ctx, s.db, sessionID, key, claimedAt)
	}) {
		loggerFrom(ctx).WarnContext(ctx, "database unavailable: "+what+" once it is back", slog.Any("err", err))
	}
}

// requestHash identifies a request with a key: its method, path, query and body.
func requestHash(r *http.Request, body []byte) string {
	sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+"\n"), body...))
	return hex.EncodeToString(sum[:])
}

// keepAnswer stores the answer of the request that holds the claim of a key made at
// claimedAt, or releases or abandons the claim (see keyAfter).
//
// When PostgreSQL is away, the write is kept and made once it is back (LateWrites): until
// then a retry waits for the claim, as for a request still running, or takes it over if it
// looks stale meanwhile, in which case the kept write changes nothing: it names its claim.
func (s *Server) keepAnswer(ctx context.Context, sessionID, key string, claimedAt time.Time, rec *capture) {
	ctx = context.WithoutCancel(ctx)
	var what string
	var write func(context.Context) error
	switch keyAfter(rec.status, rec.err) {
	case keyReleased:
		what, write = "release idempotency key", func(ctx context.Context) error {
			return store.ReleaseIdempotencyKey(ctx, s.db, sessionID, key, claimedAt)
		}
	case keyAbandoned:
		what, write = "abandon idempotency key", func(ctx context.Context) error {
			return store.AbandonIdempotencyKey(ctx, s.db, sessionID, key, claimedAt)
		}
	default:
		what, write = "store idempotent response", func(ctx context.Context) error {
			return store.CompleteIdempotencyKey(ctx, s.db, sessionID, key, claimedAt, rec.status, rec.body.Bytes())
		}
	}
	err := write(ctx)
	switch {
	case err == nil:
	case s.late.Keep(err, what, write):
		loggerFrom(ctx).WarnContext(ctx, "database unavailable: "+what+" once it is back", slog.Any("err", err))
	default:
		loggerFrom(ctx).ErrorContext(ctx, what, slog.Any("err", err))
	}
}

// replay answers a repeated key: the stored answer, 409 for another body, or, while the first
// request is still running, its answer once it is there (409 when it is not by deadline). A
// stale claim is taken over. It reports released, without answering, when the first request
// released the key meanwhile: the caller claims it again.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, next http.Handler, sessionID, key, hash string,
	existing store.IdempotentResponse, deadline time.Time) (released bool) {
	waiting := false
	for {
		if existing.RequestHash != hash {
			respondError(w, r, model.Errorf(model.KindConflict, "This Idempotency-Key was used with a different request"))
			return
		}
		if existing.StatusCode != nil {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(*existing.StatusCode)
			_, _ = w.Write(existing.Response)
			return false
		}
		// A stale claim another retry took over first is waited for like any running one.
		if existing.Stale && s.takeOver(w, r, next, sessionID, key, hash, existing) {
			return false
		}
		if time.Now().After(deadline) {
			respondError(w, r, model.Errorf(model.KindConflict, "A request with this Idempotency-Key is still in progress"))
			return false
		}
		if !waiting {
			waiting = true
			loggerFrom(r.Context()).DebugContext(r.Context(), "waiting for the request that holds the Idempotency-Key",
				slog.String("session_id", sessionID))
		}
		select {
		case <-r.Context().Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
		var err error
		existing, err = store.GetIdempotencyKey(r.Context(), s.db, sessionID, key, idempotencyStaleAfter)
		if errors.Is(err, model.ErrNotFound) {
			return true
		}
		if err != nil {
			respondError(w, r, err)
			return false
		}
	}
}

// takeOver takes over a stale claim for this retry, and reports whether it did (and so
// answered). The retry answers from the message the first attempt recorded, if it did;
// otherwise it sends. A message recorded meanwhile by the first attempt (its gateway was
// stalled, not dead) makes the send fail on the message's primary key: the retry then answers
// from that message too.
func (s *Server) takeOver(w http.ResponseWriter, r *http.Request, next http.Handler, sessionID, key, hash string, existing store.IdempotentResponse) bool {
	ctx := r.Context()
	messageID := service.IdempotentMessageID(sessionID, key, existing.CreatedAt)
	took, err := store.TakeOverIdempotencyKey(ctx, s.db, sessionID, key, hash, s.replicaID, existing.CreatedAt, idempotencyStaleAfter, messageID)
	if err != nil {
		respondError(w, r, err)
		return true
	}
	if !took.Taken {
		return false
	}
	recorded := took.Recorded
	loggerFrom(ctx).WarnContext(ctx, "idempotency key taken over from a request that left it without answer",
		slog.String("session_id", sessionID), slog.String("message_id", messageID), slog.Bool("message_recorded", recorded != nil))
	if recorded == nil {
		// Held back: a duplicate message is answered from the message instead.
		held := &capture{ResponseWriter: w, status: http.StatusOK, held: true}
		next.ServeHTTP(held, r.WithContext(service.WithMessageID(ctx, messageID)))
		if errors.Is(held.err, model.ErrConflict) {
			if msg, err := store.GetSessionMessage(ctx, s.db, sessionID, messageID); err == nil {
				recorded = &msg
			}
		}
		if recorded == nil {
			held.release()
			s.keepAnswer(ctx, sessionID, key, took.ClaimedAt, held)
			return true
		}
	}
	if recorded.Status == model.MessagePending {
		// Recorded, but the worker's answer never was: the dispatcher sends it (with the same
		// clientMessageId, which the worker deduplicates), and the retry answers 202 QUEUED.
		requeued, err := store.RequeueUnansweredMessage(ctx, s.db, sessionID, recorded.ID)
		if err != nil {
			respondError(w, r, err)
			return true
		}
		if requeued {
			recorded.Status = model.MessageQueued
		}
	}
	// Nothing is sent now: the answer is the first attempt's, as a replay is.
	w.Header().Set("Idempotent-Replayed", "true")
	rec := &capture{ResponseWriter: w, status: http.StatusOK}
	answerFromMessage(rec, r, *recorded)
	s.keepAnswer(ctx, sessionID, key, took.ClaimedAt, rec)
	return true
}

// answerFromMessage answers a send from the message it recorded, as the send answered: 202
// QUEUED for an async send (or a synchronous one handed to the dispatcher because its
// worker's answer was never recorded), 200 for a message the worker took, 502 with the reason
// for a failed one. A message still PENDING is being answered right now by a late first
// attempt: the answer is the 503 of a worker that did not answer in time.
func answerFromMessage(w http.ResponseWriter, r *http.Request, msg model.Message) {
	res := service.SendResult{ID: msg.ID, Type: strings.ToLower(string(msg.Type)), Status: msg.Status, Timestamp: msg.CreatedAt}
	if msg.To != nil {
		res.To = *msg.To
	}
	var sent protocol.SendRequest
	if json.Unmarshal(msg.Payload, &sent) == nil && sent.Type != "" {
		res.Type = sent.Type // the type on the wire, as the send answered it
	}
	if wantsAsync(r) || msg.Status == model.MessageQueued || msg.Status == model.MessageCancelled {
		res.Status = model.MessageQueued
		w.Header().Set("Preference-Applied", "respond-async")
		respond(w, http.StatusAccepted, "Message queued", res)
		return
	}
	switch msg.Status {
	case model.MessageSent, model.MessageDelivered, model.MessageRead:
		res.Status = model.MessageSent
		if msg.WAMessageID != nil {
			res.MessageID = *msg.WAMessageID
		}
		if msg.SentAt != nil {
			res.Timestamp = *msg.SentAt
		}
		respond(w, http.StatusOK, "Message sent successfully", res)
	case model.MessageFailed:
		reason := "send failed"
		if msg.ErrorMessage != nil && *msg.ErrorMessage != "" {
			reason = *msg.ErrorMessage
		}
		respondError(w, r, model.Errorf(model.KindWorker, "%s", reason))
	default:
		respondError(w, r, model.Errorf(model.KindConnectivity,
			"The first request with this Idempotency-Key stopped before the worker's answer was recorded: "+
				"the message may have been sent, and is not sent again"))
	}
}

// keyOutcome is what becomes of a claimed key once its request answered.
type keyOutcome int

const (
	// keyAnswered: the answer is stored and replayed to retries.
	keyAnswered keyOutcome = iota
	// keyReleased: the claim is forgotten, and a retry runs as a first request.
	keyReleased
	// keyAbandoned: the claim is left for a retry to take over at once (see
	// store.AbandonIdempotencyKey).
	keyAbandoned
)

// keyAfter tells what becomes of a claimed key after its request's answer. Rate limited, an
// internal error, or a client that hung up before its answer (which was never known) release
// it: a retry runs again instead of replaying the answer. A database outage abandons it: the
// 503 stored nothing, and replaying it for a day would make the key useless, but a statement
// whose commit was lost may have recorded the message, which the retry's takeover finds
// instead of sending a second one. A 503 from a worker is kept: the send may have reached it.
func keyAfter(status int, err error) keyOutcome {
	switch {
	case errors.Is(err, store.ErrDatabaseUnavailable):
		return keyAbandoned
	case status == http.StatusTooManyRequests || status == http.StatusInternalServerError ||
		status == statusClientClosedRequest:
		return keyReleased
	}
	return keyAnswered
}

// capture keeps a copy of what a handler writes, and the error it answered with.
type capture struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	err    error
	// held keeps the answer from the client until release.
	held bool
}

// answeredError is told by respondError which error the answer reports.
func (c *capture) answeredError(err error) { c.err = err }

func (c *capture) WriteHeader(status int) {
	c.status = status
	if !c.held {
		c.ResponseWriter.WriteHeader(status)
	}
}

func (c *capture) Write(b []byte) (int, error) {
	c.body.Write(b)
	if c.held {
		return len(b), nil
	}
	return c.ResponseWriter.Write(b)
}

// release sends a held answer to the client.
func (c *capture) release() {
	c.held = false
	c.ResponseWriter.WriteHeader(c.status)
	_, _ = c.ResponseWriter.Write(c.body.Bytes()) // the client may be gone; nothing to do about it
}
