package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
)

const (
	maxIdempotencyKey = 255
	// idempotencyWait is how long a retry waits for the first request with its key to finish.
	idempotencyWait = 10 * time.Second
)

// idempotent makes a send safe to retry with an Idempotency-Key: the first request with a key
// runs and its answer is stored; a retry with the same key and body gets that answer and
// sends nothing; the same key with another body is 409. The key's primary key in Postgres
// decides between racing requests on any replica, so a message is handed to a worker at most
// once per key. Answers worth retrying (429, 500) release the key instead of being stored.
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
		sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+"\n"), body...))
		hash := hex.EncodeToString(sum[:])
		sessionID := principal(r).SessionID

		claimed, existing, err := store.ClaimIdempotencyKey(r.Context(), s.db, sessionID, key, hash)
		if err != nil {
			respondError(w, r, err)
			return
		}
		if !claimed {
			s.replay(w, r, sessionID, key, hash, existing)
			return
		}

		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &capture{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)

		ctx := context.WithoutCancel(r.Context())
		if worthRetrying(rec.status, rec.err) {
			if err := store.ReleaseIdempotencyKey(ctx, s.db, sessionID, key); err != nil {
				loggerFrom(ctx).ErrorContext(ctx, "release idempotency key", slog.Any("err", err))
			}
			return
		}
		if err := store.CompleteIdempotencyKey(ctx, s.db, sessionID, key, rec.status, rec.body.Bytes()); err != nil {
			loggerFrom(ctx).ErrorContext(ctx, "store idempotent response", slog.Any("err", err))
		}
	})
}

// replay answers a repeated key: the stored answer, 409 for another body, or, while the first
// request is still running, its answer once it is there.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, sessionID, key, hash string, existing store.IdempotentResponse) {
	deadline := time.Now().Add(idempotencyWait)
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
			return
		}
		if time.Now().After(deadline) {
			respondError(w, r, model.Errorf(model.KindConflict, "A request with this Idempotency-Key is still in progress"))
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
		var err error
		existing, err = store.GetIdempotencyKey(r.Context(), s.db, sessionID, key)
		if errors.Is(err, model.ErrNotFound) {
			respondError(w, r, model.Errorf(model.KindConflict, "The first request with this Idempotency-Key failed; retry it"))
			return
		}
		if err != nil {
			respondError(w, r, err)
			return
		}
	}
}

// worthRetrying reports whether a claimed key is released after its request's answer, so that
// a retry with the same key runs again instead of replaying the answer: rate limited, an
// internal error, or a database outage (a 503 that stored nothing; replaying it for a day
// would make the key useless). A 503 from a worker is kept: the send may have reached it.
func worthRetrying(status int, err error) bool {
	return status == http.StatusTooManyRequests || status == http.StatusInternalServerError ||
		errors.Is(err, store.ErrDatabaseUnavailable)
}

// capture keeps a copy of what a handler writes, and the error it answered with.
type capture struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	err    error
}

// answeredError is told by respondError which error the answer reports.
func (c *capture) answeredError(err error) { c.err = err }

func (c *capture) WriteHeader(status int) {
	c.status = status
	c.ResponseWriter.WriteHeader(status)
}

func (c *capture) Write(b []byte) (int, error) {
	c.body.Write(b)
	return c.ResponseWriter.Write(b)
}
