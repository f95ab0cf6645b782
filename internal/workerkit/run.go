package workerkit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// worker is one running worker: its API, its backend conversation and its engine.
type worker struct {
	cfg       Config
	engine    Engine
	logger    *slog.Logger
	client    *backendClient
	reporter  *reporter
	backoff   backoff
	started   time.Time
	resources resourceSampler

	messagesSent atomic.Int64

	mu sync.Mutex
	// released are sessions the backend placed elsewhere: the engine keeps them
	// (disconnected, with credentials) but the worker no longer reports them.
	released map[string]bool
	// placedAt is when the backend last started a session here; an answer to a heartbeat sent
	// before that cannot ask to stop it.
	placedAt map[string]time.Time
	// startsInFlight counts starts of new sessions not finished yet, so that concurrent
	// starts cannot together pass maxSessions.
	startsInFlight int
}

// Run serves the worker API, registers with the backend (retrying until it answers), recovers
// the sessions the backend still places here, heartbeats, and reports the engine's events,
// until ctx is done. Then it drains the events, tells the backend which sessions keep their
// credentials, unregisters and stops serving, within Config.ShutdownTimeout; it returns nil
// after a clean shutdown. The engine is the caller's to close after Run returns.
func Run(ctx context.Context, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	ln := cfg.Listener
	if ln == nil {
		var lc net.ListenConfig
		if ln, err = lc.Listen(ctx, "tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
	}

	b := backoff{min: cfg.RetryBackoff, max: cfg.MaxRetryBackoff}
	client := newBackendClient(cfg.BackendURL, cfg.SharedToken, cfg.WorkerID)
	w := &worker{
		cfg:      cfg,
		engine:   cfg.Engine,
		logger:   cfg.Logger,
		client:   client,
		reporter: newReporter(client, cfg.Logger, cfg.EventQueueSize, b),
		backoff:  b,
		started:  time.Now(),
		released: map[string]bool{},
		placedAt: map[string]time.Time{},
	}
	w.engine.SetEvents(w.reporter)
	return w.run(ctx, ln)
}

func (w *worker) run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           w.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		// In-flight requests outlive the shutdown signal so that they can drain.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:    slog.NewLogLogger(w.logger.Handler(), slog.LevelWarn),
	}
	// The backend checks GET {endpoint}/health while registering us: serve first.
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	w.logger.Info("worker listening", slog.String("addr", ln.Addr().String()),
		slog.String("worker_id", w.cfg.WorkerID), slog.String("endpoint", w.cfg.Endpoint),
		slog.String("backend", w.cfg.BackendURL), slog.String("version", w.cfg.Version))

	// Delivery outlives ctx so that the events can drain at shutdown.
	deliveryCtx, stopDelivery := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDelivery()
	registered := make(chan struct{})
	closing := make(chan struct{})
	var lanes sync.WaitGroup
	for _, l := range w.reporter.lanes {
		lanes.Go(func() {
			select {
			case <-registered:
				w.reporter.run(deliveryCtx, l, closing)
			case <-deliveryCtx.Done():
			}
		})
	}

	controlCtx, stopControl := context.WithCancel(ctx)
	defer stopControl()
	fatal := make(chan error, 1)
	var control sync.WaitGroup
	control.Go(func() { w.control(controlCtx, registered, fatal) })

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		serveErr <- err // read again below
		runErr = fmt.Errorf("serve worker API: %w", err)
	case err := <-fatal:
		runErr = err
	case <-w.cfg.Crash:
		// Like a crash: cut everything, say nothing.
		w.logger.Warn("crashing on request: connections cut, no goodbye to the backend")
		_ = srv.Close()
		stopControl()
		stopDelivery()
		control.Wait()
		lanes.Wait()
		if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
			return errors.Join(ErrCrashed, err)
		}
		return ErrCrashed
	}

	stopControl()
	control.Wait()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.ShutdownTimeout)
	defer cancel()
	w.logger.Info("shutting down", slog.Duration("timeout", w.cfg.ShutdownTimeout))

	select {
	case <-registered:
		// Deliver what is queued, but keep half of the time for the goodbye.
		close(closing)
		drained := make(chan struct{})
		go func() { lanes.Wait(); close(drained) }()
		drainTimer := time.NewTimer(w.cfg.ShutdownTimeout / 2)
		select {
		case <-drained:
		case <-drainTimer.C:
			w.logger.Warn("shutting down with undelivered events", slog.Int("pending", w.reporter.pending()))
		}
		drainTimer.Stop()
		stopDelivery()
		<-drained
		if runErr == nil {
			w.goodbye(shutdownCtx)
		}
	default:
		stopDelivery()
		lanes.Wait()
	}

	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Requests still running (a hung engine call) are cut.
		_ = srv.Close()
		w.logger.Warn("in-flight requests cut at shutdown", slog.Any("err", err))
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) && runErr == nil {
		runErr = fmt.Errorf("serve worker API: %w", err)
	}
	w.logger.Info("worker stopped", slog.Any("err", runErr),
		slog.Int64("events_delivered", w.reporter.delivered.Load()),
		slog.Int64("events_dropped", w.reporter.dropped.Load()),
		slog.Int64("events_undelivered", w.reporter.undelivered.Load()+int64(w.reporter.pending())))
	return runErr
}

// sessions lists the engine's sessions that this worker still reports, sorted by ID.
func (w *worker) sessions() []SessionSnapshot {
	all := w.engine.Sessions()
	w.mu.Lock()
	kept := make([]SessionSnapshot, 0, len(all))
	for _, s := range all {
		if !w.released[s.SessionID] {
			kept = append(kept, s)
		}
	}
	w.mu.Unlock()
	slices.SortFunc(kept, func(a, b SessionSnapshot) int { return strings.Compare(a.SessionID, b.SessionID) })
	return kept
}

// holds reports whether the engine has the session and the worker still reports it.
func (w *worker) holds(sessionID string) bool {
	for _, s := range w.sessions() {
		if s.SessionID == sessionID {
			return true
		}
	}
	return false
}

func (w *worker) release(sessionID string) {
	w.mu.Lock()
	w.released[sessionID] = true
	w.mu.Unlock()
}

// placed records that the backend (re)placed the session here.
func (w *worker) placed(sessionID string) {
	w.mu.Lock()
	delete(w.released, sessionID)
	w.placedAt[sessionID] = time.Now()
	w.mu.Unlock()
}

// forget drops what the worker knows of a deleted session.
func (w *worker) forget(sessionID string) {
	w.mu.Lock()
	delete(w.released, sessionID)
	delete(w.placedAt, sessionID)
	w.mu.Unlock()
}

// placedSince reports whether the session was placed here after t.
func (w *worker) placedSince(sessionID string, t time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.placedAt[sessionID].After(t)
}
