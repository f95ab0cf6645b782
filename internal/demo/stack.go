// Package demo runs the gateway end to end on one machine: the real server (app.New +
// App.Run) and two simulated workers (workerkit + simengine) in-process, then a walk through
// the public API as a customer would take it (register, log in, create a session, connect,
// scan the QR, send, receipts, an incoming message, the history), printed step by step.
// cmd/demo (`make demo`) runs it on a database of its own; its test runs it on a test
// database so that the demo cannot rot.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/wagateway/gateway/internal/app"
	"github.com/wagateway/gateway/internal/config"
	"github.com/wagateway/gateway/internal/workerkit"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
)

// Timings of the simulated phone. Receipts come receiptDelay apart (SENT, DELIVERED, READ),
// slow enough to be seen arriving one by one. The walk scans the QR itself; a QR nobody
// scans (a session created by hand while the demo is kept running) is scanned after
// autoScanDelay.
const (
	receiptDelay   = 300 * time.Millisecond
	autoScanDelay  = 30 * time.Second
	qrInterval     = time.Minute
	startupTimeout = 30 * time.Second
	workerShutdown = 10 * time.Second
)

// WorkerIDs name the two simulated workers.
var WorkerIDs = []string{"demo-sim-1", "demo-sim-2"}

// Config says where the demo's gateway keeps its state.
type Config struct {
	// DatabaseURL is the gateway's database; the gateway creates it when missing and applies
	// the migrations.
	DatabaseURL string
	RedisURL    string
	// KeyPrefix puts every Redis key of the demo under a prefix of its own.
	KeyPrefix string
	// Addr is where the gateway listens; empty: a free loopback port.
	Addr string
	// Logs receives the gateway's and the workers' logs; nil discards them.
	Logs io.Writer
	// Env is gateway configuration over the demo's own (e.g. {"BCRYPT_ROUNDS": "4"}).
	Env map[string]string
}

// Stack is the running demo: the gateway, the two simulated workers and the web server of
// the image the walk sends.
type Stack struct {
	App     *app.App
	BaseURL string
	Workers []*SimWorker
	// ImageURL is a PNG served by the demo itself.
	ImageURL string

	stopGateway context.CancelFunc
	served      chan error
	image       *http.Server
	imageDone   chan error
	closeOnce   sync.Once
	closeErr    error
}

// SimWorker is one simulated worker; Engine is its simulated WhatsApp, which the walk uses
// as the phone (scan a QR, write to the session).
type SimWorker struct {
	ID       string
	Endpoint string
	Engine   *simengine.Engine
	stop     context.CancelFunc
	done     chan error
}

// Start starts the gateway, waits until it answers, then starts the two simulated workers
// and waits until the gateway has them ONLINE. On failure it has stopped what it started.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	if cfg.Logs == nil {
		cfg.Logs = io.Discard
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s := &Stack{}
	if err := s.start(ctx, cfg); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

func (s *Stack) start(ctx context.Context, cfg Config) error {
	gatewayConfig, err := loadConfig(cfg)
	if err != nil {
		return err
	}
	logger, _ := app.NewLogger(gatewayConfig, cfg.Logs)
	if s.App, err = app.New(ctx, gatewayConfig, logger); err != nil {
		return fmt.Errorf("start gateway: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("gateway listen on %s: %w", cfg.Addr, err)
	}
	s.BaseURL = "http://" + ln.Addr().String()
	// The stack stops when Close says so, not when ctx ends: the workers must say goodbye
	// to a gateway that still answers.
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopGateway, s.served = stop, make(chan error, 1)
	go func() { s.served <- s.App.Run(runCtx, ln) }()
	if err := s.waitHealthy(ctx); err != nil {
		return err
	}
	if err := s.serveImage(ctx); err != nil {
		return err
	}
	for _, id := range WorkerIDs {
		w, err := s.startWorker(ctx, id, cfg.Logs)
		if err != nil {
			return err
		}
		s.Workers = append(s.Workers, w)
	}
	return nil
}

// loadConfig is the gateway's configuration for the demo: development mode with secrets of
// its own, and private media URLs allowed because the image the walk sends is served on
// loopback by the demo itself.
func loadConfig(cfg Config) (*config.Config, error) {
	vars := map[string]string{
		"APP_ENV":               "development",
		"LOG_LEVEL":             "info",
		"DATABASE_URL":          cfg.DatabaseURL,
		"DB_MAX_CONNS":          "8",
		"REDIS_URL":             cfg.RedisURL,
		"REDIS_KEY_PREFIX":      cfg.KeyPrefix,
		"JWT_SECRET":            randomHex(32),
		"WORKER_AUTH_TOKEN":     randomHex(32),
		"BCRYPT_ROUNDS":         "10",
		"WEBHOOK_ALLOW_PRIVATE": "true",
	}
	for k, v := range cfg.Env {
		vars[k] = v
	}
	c, err := config.Load(func(name string) string { return vars[name] })
	if err != nil {
		return nil, fmt.Errorf("gateway configuration: %w", err)
	}
	return c, nil
}

func (s *Stack) waitHealthy(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	return poll(ctx, startupTimeout, "the gateway answering /health", func() (bool, error) {
		select {
		case err := <-s.served:
			s.served <- err
			return false, fmt.Errorf("gateway stopped: %w", err)
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.BaseURL+"/health", nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req) //nolint:gosec // the demo's own gateway, on the address it listens on
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		// Not answering yet is not a failure: poll tries again.
		return err == nil && resp.StatusCode == http.StatusOK, nil
	})
}

// serveImage serves the PNG the walk sends (a QR code saying hello) on a loopback port.
func (s *Stack) serveImage(ctx context.Context) error {
	png, err := qrcode.Encode("Hello from the wagateway demo", qrcode.Medium, 256)
	if err != nil {
		return fmt.Errorf("demo image: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo image server: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /menu.png", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png)
	})
	s.ImageURL = "http://" + ln.Addr().String() + "/menu.png"
	s.image, s.imageDone = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, make(chan error, 1)
	go func() { s.imageDone <- s.image.Serve(ln) }()
	return nil
}

func (s *Stack) startWorker(ctx context.Context, id string, logs io.Writer) (*SimWorker, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("simworker %s: %w", id, err)
	}
	logger := slog.New(slog.NewJSONHandler(logs, nil)).With(slog.String("service", "simworker"), slog.String("worker_id", id))
	w := &SimWorker{ID: id, Endpoint: "http://" + ln.Addr().String(), done: make(chan error, 1),
		Engine: simengine.New(simengine.Config{ConnectDelay: autoScanDelay, QRInterval: qrInterval, ReceiptDelay: receiptDelay, Logger: logger})}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	w.stop = stop
	go func() {
		w.done <- workerkit.Run(runCtx, workerkit.Config{WorkerID: id, Endpoint: w.Endpoint, Listener: ln,
			BackendURL: s.BaseURL, SharedToken: s.App.Config.WorkerAuthToken, MaxSessions: 10,
			Description: "Simulated WhatsApp worker of the demo", ShutdownTimeout: workerShutdown,
			Logger: logger, Engine: w.Engine})
		_ = ln.Close() // already closed unless Run failed before serving
	}()
	err = poll(ctx, startupTimeout, "simworker "+id+" ONLINE", func() (bool, error) {
		select {
		case runErr := <-w.done:
			w.done <- runErr
			return false, fmt.Errorf("simworker %s stopped: %w", id, runErr)
		default:
		}
		var status string
		err := s.App.DB.QueryRow(ctx, `SELECT status::text FROM workers WHERE id = $1`, id).Scan(&status)
		return err == nil && status == "ONLINE", nil
	})
	if err != nil {
		return nil, errors.Join(err, w.close())
	}
	return w, nil
}

// close stops the worker, which unregisters from the gateway.
func (w *SimWorker) close() error {
	w.stop()
	err := <-w.done
	w.Engine.Close()
	if err != nil {
		return fmt.Errorf("simworker %s: %w", w.ID, err)
	}
	return nil
}

// Worker returns the simulated worker with that ID, or nil.
func (s *Stack) Worker(id string) *SimWorker {
	for _, w := range s.Workers {
		if w.ID == id {
			return w
		}
	}
	return nil
}

// Close stops the workers (they unregister while the gateway still answers), the image
// server and the gateway. Only the first call does anything.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		for _, w := range s.Workers {
			errs = append(errs, w.close())
		}
		if s.image != nil {
			errs = append(errs, s.image.Close())
			if err := <-s.imageDone; !errors.Is(err, http.ErrServerClosed) {
				errs = append(errs, fmt.Errorf("demo image server: %w", err))
			}
		}
		if s.stopGateway != nil {
			s.stopGateway()
			if err := <-s.served; err != nil {
				errs = append(errs, fmt.Errorf("gateway: %w", err))
			}
		}
		if s.App != nil {
			s.App.Close()
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// poll checks cond every 20 ms until it holds, fails, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-deadline.C:
			return fmt.Errorf("%s: not within %s", what, timeout)
		case <-tick.C:
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
