// Package workers is the backend's side of the worker fleet: the HTTP client for every call
// the backend makes on a worker (with timeouts, retries and a circuit breaker per worker),
// and, in later files, placement, the health monitor and failover.
package workers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sony/gobreaker/v2"
	"github.com/valyala/fasthttp"

	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
)

// Timeouts of the protocol: commands and sends 10 s, health 5 s.
const (
	CommandTimeout = 10 * time.Second
	HealthTimeout  = 5 * time.Second
	maxAnswerBytes = 4 << 20
)

// Target is the worker a call goes to.
type Target struct {
	ID       string
	Endpoint string
}

// Client calls workers.
type Client struct {
	http    *fasthttp.Client
	token   string
	metrics *metrics.Metrics
	logger  *slog.Logger
	// Backoff between retries; tests shorten it.
	retryDelays []time.Duration

	mu       sync.Mutex
	breakers map[string]*gobreaker.CircuitBreaker[[]byte]
	// wedged are workers whose last command timed out: their /health may well answer (the
	// HTTP server is fine, the engine behind it is stuck), so a good health check does not
	// close their breaker; only a command answered in time does, after the breaker's timeout.
	wedged map[string]bool
}

// NewClient returns a client that authenticates with the shared worker token.
//
// The calls go through fasthttp's client, which reuses its requests, answers and buffers and
// makes each exchange in the caller's goroutine: every send is forwarded to a worker, and
// net/http's transport (a reader and a writer goroutine per connection, handing each exchange
// over twice) cost the sync-send benchmark about 26 µs of CPU per request against
// fasthttp's 9 (measured on the benchmark's load client). It follows no redirect: the worker
// token must not travel elsewhere.
func NewClient(token string, m *metrics.Metrics, logger *slog.Logger) *Client {
	dialer := &net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}
	return &Client{
		http: &fasthttp.Client{
			Dial: func(addr string) (net.Conn, error) { return dialer.Dial("tcp", addr) },
			// Workers are reached directly, many at once; a call waits for a connection
			// rather than failing when a worker has this many in use.
			MaxConnsPerHost:     1024,
			MaxConnWaitTimeout:  CommandTimeout,
			MaxResponseBodySize: maxAnswerBytes,
			// An idle connection is closed before a worker would close it (Node.js's
			// keep-alive timeout is 5 s): a connection the worker closed unnoticed fails the
			// next call on it, which a send must not be retried after.
			MaxIdleConnDuration: 2 * time.Second,
			// Retries are do's, by the kind of call.
			MaxIdemponentCallAttempts: 1,
			NoDefaultUserAgentHeader:  true,
		},
		token:       token,
		metrics:     m,
		logger:      logger,
		retryDelays: []time.Duration{100 * time.Millisecond, 400 * time.Millisecond},
		breakers:    map[string]*gobreaker.CircuitBreaker[[]byte]{},
		wedged:      map[string]bool{},
	}
}

// call describes one kind of worker call.
type call struct {
	name    string
	method  string
	path    string
	timeout time.Duration
	// idempotent calls are retried on any connection error or timeout; the others only when
	// the connection was refused, since then the request never reached the worker.
	idempotent bool
	// once calls are never retried.
	once bool
}

// Health asks GET {endpoint}/health directly (no breaker: it is how a breaker closes again).
// A success closes the worker's breaker when workerID is known.
func (c *Client) Health(ctx context.Context, workerID, endpoint string) (protocol.WorkerHealth, error) {
	return c.health(ctx, workerID, endpoint, false)
}

// CheckHealth is Health without retries, for the health monitor: it counts failed rounds
// itself, and retrying within a round would stretch every round by the backoff of each
// dead worker.
func (c *Client) CheckHealth(ctx context.Context, workerID, endpoint string) (protocol.WorkerHealth, error) {
	return c.health(ctx, workerID, endpoint, true)
}

func (c *Client) health(ctx context.Context, workerID, endpoint string, once bool) (protocol.WorkerHealth, error) {
	var h protocol.WorkerHealth
	start := time.Now()
	raw, err := c.do(ctx, Target{ID: workerID, Endpoint: endpoint}, call{name: "health", method: http.MethodGet,
		path: "/health", timeout: HealthTimeout, once: once}, nil)
	c.observe("health", workerID, start, err)
	if err != nil {
		return h, err
	}
	if workerID != "" {
		c.resetBreaker(workerID)
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		_ = json.Unmarshal(raw, &h) // the body is informational; a 2xx is what counts
	}
	return h, nil
}

// StartSession asks the worker to start (or restart) a session.
func (c *Client) StartSession(ctx context.Context, w Target, req protocol.StartSessionRequest) (protocol.SessionState, error) {
	return invoke[protocol.SessionState](ctx, c, w, call{name: "start", method: http.MethodPost,
		path: "/api/sessions/start", timeout: CommandTimeout}, req)
}

// SessionStatus asks the worker for a session's live status.
func (c *Client) SessionStatus(ctx context.Context, w Target, sessionID string) (protocol.SessionState, error) {
	return invoke[protocol.SessionState](ctx, c, w, call{name: "status", method: http.MethodGet,
		path: "/api/sessions/" + url.PathEscape(sessionID) + "/status", timeout: CommandTimeout, idempotent: true}, nil)
}

// QR asks the worker for a session's current QR code.
func (c *Client) QR(ctx context.Context, w Target, sessionID string) (protocol.QRResult, error) {
	return invoke[protocol.QRResult](ctx, c, w, call{name: "qr", method: http.MethodGet,
		path: "/api/sessions/" + url.PathEscape(sessionID) + "/qr", timeout: CommandTimeout, idempotent: true}, nil)
}

// Pair asks the worker for a phone pairing code.
func (c *Client) Pair(ctx context.Context, w Target, sessionID, phone string) (protocol.PairResult, error) {
	return invoke[protocol.PairResult](ctx, c, w, call{name: "pair", method: http.MethodPost,
		path: "/api/sessions/" + url.PathEscape(sessionID) + "/pair", timeout: CommandTimeout},
		protocol.PairRequest{PhoneNumber: phone})
}

// Restart restarts a session on its worker; like Disconnect and Logout it is safe to repeat.
func (c *Client) Restart(ctx context.Context, w Target, sessionID string) (protocol.SessionState, error) {
	return c.sessionCommand(ctx, w, sessionID, "restart")
}

// Disconnect stops a session on its worker and keeps its credentials.
func (c *Client) Disconnect(ctx context.Context, w Target, sessionID string) (protocol.SessionState, error) {
	return c.sessionCommand(ctx, w, sessionID, "disconnect")
}

// Logout logs a session out of WhatsApp; its credentials are dropped.
func (c *Client) Logout(ctx context.Context, w Target, sessionID string) (protocol.SessionState, error) {
	return c.sessionCommand(ctx, w, sessionID, "logout")
}

func (c *Client) sessionCommand(ctx context.Context, w Target, sessionID, action string) (protocol.SessionState, error) {
	return invoke[protocol.SessionState](ctx, c, w, call{name: action, method: http.MethodPost,
		path: "/api/sessions/" + url.PathEscape(sessionID) + "/" + action, timeout: CommandTimeout, idempotent: true}, nil)
}

// DeleteSession removes a session from its worker.
func (c *Client) DeleteSession(ctx context.Context, w Target, sessionID string) error {
	_, err := invoke[protocol.SessionState](ctx, c, w, call{name: "delete", method: http.MethodDelete,
		path: "/api/sessions/" + url.PathEscape(sessionID), timeout: CommandTimeout, idempotent: true}, nil)
	return err
}

// Send forwards a message. It is retried only when the connection was refused, because a
// send that may have reached the worker must not be sent twice (the worker deduplicates by
// clientMessageId only if it supports it).
func (c *Client) Send(ctx context.Context, w Target, sessionID string, req protocol.SendRequest) (protocol.SendResult, error) {
	return invoke[protocol.SendResult](ctx, c, w, call{name: "send", method: http.MethodPost,
		path: "/api/sessions/" + url.PathEscape(sessionID) + "/send", timeout: CommandTimeout}, req)
}

// SendEncoded is Send with the request already encoded as JSON (json.Marshal of a
// protocol.SendRequest): a recorded send hands over the payload it stored rather than
// encoding the request a second time.
func (c *Client) SendEncoded(ctx context.Context, w Target, sessionID string, req json.RawMessage) (protocol.SendResult, error) {
	return invoke[protocol.SendResult](ctx, c, w, call{name: "send", method: http.MethodPost,
		path: "/api/sessions/" + url.PathEscape(sessionID) + "/send", timeout: CommandTimeout}, req)
}

// Manage performs a message action (delete, react, edit, ...).
func (c *Client) Manage(ctx context.Context, w Target, sessionID string, req protocol.ManageRequest) (protocol.ManageResult, error) {
	return invoke[protocol.ManageResult](ctx, c, w, call{name: "manage", method: http.MethodPost,
		path: "/api/message/" + url.PathEscape(sessionID) + "/manage", timeout: CommandTimeout}, req)
}

// CheckNumber asks whether a phone number is on WhatsApp.
func (c *Client) CheckNumber(ctx context.Context, w Target, sessionID, phone string) (protocol.CheckNumberResult, error) {
	return invoke[protocol.CheckNumberResult](ctx, c, w, call{name: "check_number", method: http.MethodPost,
		path: "/api/sessions/" + url.PathEscape(sessionID) + "/check-number", timeout: CommandTimeout, idempotent: true},
		protocol.CheckNumberRequest{Phone: phone})
}

// invoke runs a call through the worker's breaker and decodes the envelope's data.
func invoke[T any](ctx context.Context, c *Client, w Target, k call, body any) (T, error) {
	var out T
	start := time.Now()
	raw, err := c.breaker(w.ID).Execute(func() ([]byte, error) { return c.do(ctx, w, k, body) })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		err = &model.Error{Kind: model.KindConnectivity, Err: err,
			Message: fmt.Sprintf("Worker %s is unavailable (circuit open after repeated failures)", w.ID)}
	}
	c.observe(k.name, w.ID, start, err)
	if err != nil {
		return out, err
	}
	var env protocol.Envelope[T]
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &env); err != nil {
			return out, &model.Error{Kind: model.KindWorker, Err: err,
				Message: fmt.Sprintf("Worker %s answered %s with invalid JSON", w.ID, k.name)}
		}
	}
	return env.Data, nil
}

// do performs the HTTP exchange with retries, and maps failures to connectivity (503) or
// worker (502) errors. Worker 4xx answers are not retried.
func (c *Client) do(ctx context.Context, w Target, k call, body any) ([]byte, error) {
	var payload []byte
	switch b := body.(type) {
	case nil:
	case json.RawMessage:
		payload = b // encoded by the caller (SendEncoded)
	default:
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("encode %s request: %w", k.name, err)
		}
	}
	for attempt := 0; ; attempt++ {
		raw, err := c.once(ctx, w, k, payload)
		if err == nil || k.once || attempt >= len(c.retryDelays) || !retryable(err, k.idempotent) || ctx.Err() != nil {
			return raw, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(c.retryDelays[attempt]):
		}
	}
}

// transportError is a failure to get any answer from the worker.
type transportError struct {
	err     error
	refused bool
}

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func retryable(err error, idempotent bool) bool {
	var te *transportError
	if !errors.As(err, &te) {
		return false // the worker answered: its answer stands
	}
	return idempotent || te.refused
}

func (c *Client) once(ctx context.Context, w Target, k call, payload []byte) ([]byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI(strings.TrimRight(w.Endpoint, "/") + k.path)
	req.Header.SetMethod(k.method)
	req.Header.Set("Accept", "application/json")
	req.Header.SetUserAgent("wagateway-backend")
	if payload != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(payload)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	deadline := time.Now().Add(k.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	abandoned, err := c.exchange(ctx, req, resp, deadline)
	fasthttp.ReleaseRequest(req)
	if err != nil {
		if !abandoned {
			fasthttp.ReleaseResponse(resp)
		}
		if errors.Is(err, fasthttp.ErrBodyTooLarge) {
			return nil, &model.Error{Kind: model.KindWorker, Err: err,
				Message: fmt.Sprintf("Worker %s answered %s with more than %d bytes", w.ID, k.name, maxAnswerBytes)}
		}
		c.noteCommand(w.ID, k, err)
		return nil, &model.Error{Kind: model.KindConnectivity, Message: describeTransportError(w, err),
			Err: &transportError{err: err, refused: errors.Is(err, syscall.ECONNREFUSED)}}
	}
	defer fasthttp.ReleaseResponse(resp)
	c.noteCommand(w.ID, k, nil)
	raw := bytes.Clone(resp.Body())
	status := resp.StatusCode()
	if status >= 200 && status < 300 {
		return raw, nil
	}
	if status == http.StatusTooManyRequests {
		return nil, workerPacingError(w, k, string(resp.Header.Peek("Retry-After")), raw)
	}
	return nil, workerAnswerError(w, k, status, raw)
}

// exchange makes the HTTP exchange by deadline, in the caller's goroutine when ctx cannot be
// cancelled (sends run without cancellation: an answer is always recorded). Otherwise a
// cancellation returns at once (abandoned): the exchange, which fasthttp cannot stop, goes
// on to its deadline in its goroutine, which then releases resp.
func (c *Client) exchange(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response,
	deadline time.Time) (abandoned bool, err error) {
	if ctx.Done() == nil {
		return false, c.http.DoDeadline(req, resp, deadline)
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	own := fasthttp.AcquireRequest() // the goroutine's: the caller releases req on return
	req.CopyTo(own)
	done := make(chan error, 1)
	go func() {
		done <- c.http.DoDeadline(own, resp, deadline)
		fasthttp.ReleaseRequest(own)
	}()
	select {
	case err := <-done:
		return false, err
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.Canceled) {
			return false, <-done // a deadline: the exchange ends by the same one
		}
		go func() {
			if err := <-done; err != nil {
				c.logger.Debug("worker call abandoned by its caller failed", slog.Any("err", err))
			}
			fasthttp.ReleaseResponse(resp)
		}()
		return true, ctx.Err()
	}
}

// defaultWorkerRetryAfter is the wait assumed when a worker refuses a command with 429 and
// no Retry-After.
const defaultWorkerRetryAfter = 2 * time.Second

// workerPacingError is a worker's 429: it paces sends (per recipient, or identical messages
// to many) to keep the number from being banned. It is a rate_limited answer to the client,
// with the worker's Retry-After, and an async send waits that long without spending an
// attempt.
func workerPacingError(w Target, k call, retryAfter string, raw []byte) error {
	wait := defaultWorkerRetryAfter
	if secs, err := strconv.Atoi(strings.TrimSpace(retryAfter)); err == nil && secs > 0 {
		wait = time.Duration(min(secs, 3600)) * time.Second
	}
	e := workerAnswerError(w, k, http.StatusTooManyRequests, raw)
	e.Kind, e.RetryAfter = model.KindRateLimited, wait
	e.Message = strings.Replace(e.Message, "Worker error: ", "The worker is pacing sends: ", 1)
	return e
}

// workerAnswerError passes the worker's own message on as a 502 worker_error.
func workerAnswerError(w Target, k call, status int, raw []byte) *model.Error {
	var env protocol.Envelope[json.RawMessage]
	message := ""
	if json.Unmarshal(raw, &env) == nil {
		message = env.ErrorMessage()
	}
	if message == "" {
		message = http.StatusText(status)
	}
	if len(message) > 500 {
		message = message[:500]
	}
	return &model.Error{Kind: model.KindWorker, Message: fmt.Sprintf("Worker error: %s", message),
		Err: fmt.Errorf("worker %s answered %s with %d", w.ID, k.name, status)}
}

// describeTransportError names the cause precisely, without leaking more than the endpoint
// the caller already knows.
func describeTransportError(w Target, err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("Worker is unreachable at %s: connection refused", w.Endpoint)
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err), errors.Is(err, fasthttp.ErrDialTimeout):
		return fmt.Sprintf("Worker at %s did not answer in time (timeout)", w.Endpoint)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("Worker is unreachable at %s: unknown host", w.Endpoint)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, fasthttp.ErrConnectionClosed):
		return fmt.Sprintf("Worker at %s closed the connection", w.Endpoint)
	default:
		return fmt.Sprintf("Worker is unreachable at %s", w.Endpoint)
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool } // net.Error's, and fasthttp.ErrTimeout's
	return errors.As(err, &te) && te.Timeout()
}

// breaker returns the worker's circuit breaker: after 5 consecutive failures its calls fail
// fast for 30 s, then one trial call decides; a successful health check closes it at once,
// unless the failures were timeouts (see wedged).
func (c *Client) breaker(workerID string) *gobreaker.CircuitBreaker[[]byte] {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.breakers[workerID]; ok {
		return b
	}
	b := gobreaker.NewCircuitBreaker[[]byte](gobreaker.Settings{
		Name:        workerID,
		MaxRequests: 1,
		Timeout:     30 * time.Second,
		ReadyToTrip: func(counts gobreaker.Counts) bool { return counts.ConsecutiveFailures >= 5 },
		// Only failures to reach the worker count: a worker that answers, even with an
		// error, is up, and the caller's own cancellation says nothing about the worker.
		IsSuccessful: func(err error) bool { var te *transportError; return err == nil || !errors.As(err, &te) },
		IsExcluded:   func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(name string, _, to gobreaker.State) {
			open := 0.0
			if to == gobreaker.StateOpen {
				open = 1
			}
			c.metrics.WorkerBreakerState.WithLabelValues(name).Set(open)
			c.logger.Warn("worker circuit breaker", slog.String("worker_id", name), slog.String("state", to.String()))
		},
	})
	c.breakers[workerID] = b
	return b
}

// BreakerOpen reports whether calls to the worker currently fail fast.
func (c *Client) BreakerOpen(workerID string) bool {
	return c.breaker(workerID).State() == gobreaker.StateOpen
}

// noteCommand records whether a command (not a health check) to the worker timed out or was
// answered in time; see wedged.
func (c *Client) noteCommand(workerID string, k call, err error) {
	if k.name == "health" || workerID == "" || errors.Is(err, context.Canceled) {
		return
	}
	timedOut := err != nil && (errors.Is(err, context.DeadlineExceeded) || isTimeout(err))
	c.mu.Lock()
	if timedOut {
		c.wedged[workerID] = true
	} else if err == nil {
		delete(c.wedged, workerID)
	}
	c.mu.Unlock()
}

// resetBreaker closes the breaker of a worker whose health check succeeded, unless the worker
// is wedged: then the breaker's own timeout and trial call decide.
func (c *Client) resetBreaker(workerID string) {
	c.mu.Lock()
	b, ok := c.breakers[workerID]
	if ok && b.State() != gobreaker.StateClosed && !c.wedged[workerID] {
		delete(c.breakers, workerID)
		c.metrics.WorkerBreakerState.WithLabelValues(workerID).Set(0)
	}
	c.mu.Unlock()
}

// Forget drops the breaker of a worker that left.
func (c *Client) Forget(workerID string) {
	c.mu.Lock()
	delete(c.breakers, workerID)
	delete(c.wedged, workerID)
	c.mu.Unlock()
	c.metrics.WorkerBreakerState.DeleteLabelValues(workerID)
}

func (c *Client) observe(name, workerID string, start time.Time, err error) {
	c.metrics.WorkerCallDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	outcome := "ok"
	if err != nil {
		outcome = string(model.KindOf(err))
		kind := outcome
		if errors.Is(err, gobreaker.ErrOpenState) {
			kind = "breaker_open"
		}
		c.metrics.WorkerCallErrors.WithLabelValues(workerID, name, kind).Inc()
	}
	c.metrics.WorkerCalls.WithLabelValues(name, outcome).Inc()
}
