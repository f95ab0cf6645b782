package workerkit

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultMaxSessions       = 50
	DefaultVersion           = "1.0.0"
	DefaultEnvironment       = "DEVELOPMENT"
	DefaultDescription       = "WhatsApp Worker Instance"
	DefaultHeartbeatInterval = 30 * time.Second
	DefaultShutdownTimeout   = 15 * time.Second
	DefaultRetryBackoff      = 500 * time.Millisecond
	DefaultMaxRetryBackoff   = 10 * time.Second
	DefaultEventQueueSize    = 10000

	maxBodyBytes = 1 << 20
)

// Config is what a worker needs to run.
type Config struct {
	// WorkerID names the worker to the backend (which normalises it: "Worker_01" → "worker-01";
	// the kit uses the ID the backend answers with afterwards).
	WorkerID string
	// Endpoint is the URL the backend reaches this worker at.
	Endpoint string
	// Listener serves the API when set (tests pass 127.0.0.1:0 and learn the endpoint
	// first); otherwise the kit listens on Listen (":8001").
	Listener net.Listener
	Listen   string
	// BackendURL is the backend's base URL; the kit calls {BackendURL}/api/v1/....
	BackendURL string
	// SharedToken is WORKER_AUTH_TOKEN: the backend calls the worker with it, and the worker
	// registers with it (and uses it for everything when the backend returns no workerToken).
	SharedToken string

	MaxSessions int    // default 50
	Version     string // x.y.z, default 1.0.0
	Environment string // DEVELOPMENT, STAGING, TESTING or PRODUCTION (default DEVELOPMENT)
	Description string // default "WhatsApp Worker Instance"

	HeartbeatInterval time.Duration // default 30 s
	// ShutdownTimeout bounds the goodbye: event drain (at most half of it), sessions-preserved,
	// unregister and draining in-flight requests. Default 15 s.
	ShutdownTimeout time.Duration
	// RetryBackoff is the first wait between retries of registration and event delivery; it
	// doubles up to MaxRetryBackoff. Defaults 500 ms and 10 s.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// EventQueueSize bounds the events waiting for the backend; past it the oldest are
	// dropped (and logged). Default 10000.
	EventQueueSize int

	Logger *slog.Logger // default: discard
	Engine Engine

	// Admin, when set, is served under /admin/ behind the same bearer as the API.
	Admin http.Handler
	// Crash, when closed, stops the worker at once like a crashed process: the listener and
	// every connection are cut, nothing more is sent to the backend (no sessions-preserved,
	// no unregister), and Run returns ErrCrashed.
	Crash <-chan struct{}
}

// ErrCrashed is what Run returns after Config.Crash was closed.
var ErrCrashed = errors.New("worker crashed on purpose")

func (c Config) withDefaults() (Config, error) {
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	if c.Environment == "" {
		c.Environment = DefaultEnvironment
	}
	c.Environment = strings.ToUpper(c.Environment)
	if c.Description == "" {
		c.Description = DefaultDescription
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.MaxRetryBackoff <= 0 {
		c.MaxRetryBackoff = DefaultMaxRetryBackoff
	}
	c.MaxRetryBackoff = max(c.MaxRetryBackoff, c.RetryBackoff)
	if c.EventQueueSize <= 0 {
		c.EventQueueSize = DefaultEventQueueSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c.BackendURL = strings.TrimRight(c.BackendURL, "/")

	var problems []error
	if strings.TrimSpace(c.WorkerID) == "" {
		problems = append(problems, errors.New("WorkerID is required"))
	}
	if err := checkURL(c.Endpoint); err != nil {
		problems = append(problems, fmt.Errorf("endpoint: %w", err))
	}
	if err := checkURL(c.BackendURL); err != nil {
		problems = append(problems, fmt.Errorf("backend URL: %w", err))
	}
	if c.SharedToken == "" {
		problems = append(problems, errors.New("SharedToken is required"))
	}
	if c.Engine == nil {
		problems = append(problems, errors.New("engine is required"))
	}
	if c.Listener == nil && c.Listen == "" {
		problems = append(problems, errors.New("listener or listen address is required"))
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("worker config: %w", errors.Join(problems...))
	}
	return c, nil
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", raw)
	}
	return nil
}
