package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wagateway/gateway/internal/config"
	"github.com/wagateway/gateway/internal/workerkit"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
)

// options are the simworker's settings, from flags over the environment.
type options struct {
	port              int
	workerID          string
	endpoint          string
	backendURL        string
	token             string
	maxSessions       int
	environment       string
	version           string
	connectDelay      time.Duration
	qrInterval        time.Duration
	receiptDelay      time.Duration
	incomingEvery     time.Duration
	latency           time.Duration
	failSends         bool
	heartbeatInterval time.Duration
	shutdownTimeout   time.Duration
	logLevel          slog.Level
}

// run is the whole program; main only supplies the process's context, arguments,
// environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	opts, err := parseOptions(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort("", strconv.Itoa(opts.port)))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", opts.port, err)
	}
	defer ln.Close() // Run closes it too, unless it failed before serving
	// With -port 0 the defaults follow the port actually given.
	port := ln.Addr().(*net.TCPAddr).Port
	if opts.endpoint == "" {
		opts.endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	if opts.workerID == "" {
		opts.workerID = defaultWorkerID(port)
	}

	logger := newLogger(stdout, opts.logLevel).With(slog.String("worker_id", opts.workerID))
	engine := simengine.New(simengine.Config{
		ConnectDelay:  opts.connectDelay,
		QRInterval:    opts.qrInterval,
		ReceiptDelay:  opts.receiptDelay,
		IncomingEvery: opts.incomingEvery,
		Faults:        simengine.Faults{Latency: opts.latency, FailSends: opts.failSends},
		Logger:        logger,
	})
	defer engine.Close()

	crash := make(chan struct{})
	return workerkit.Run(ctx, workerkit.Config{
		WorkerID:          opts.workerID,
		Endpoint:          opts.endpoint,
		Listener:          ln,
		BackendURL:        opts.backendURL,
		SharedToken:       opts.token,
		MaxSessions:       opts.maxSessions,
		Version:           opts.version,
		Environment:       opts.environment,
		Description:       "Simulated WhatsApp worker (simworker, no WhatsApp)",
		HeartbeatInterval: opts.heartbeatInterval,
		ShutdownTimeout:   opts.shutdownTimeout,
		Logger:            logger,
		Engine:            engine,
		Admin:             newAdmin(engine, crash, logger),
		Crash:             crash,
	})
}

func parseOptions(args []string, getenv func(string) string, stdout io.Writer) (options, error) {
	env := envReader{getenv: getenv}
	o := options{
		port:              env.integer("PORT", 8001),
		workerID:          env.str("WORKER_ID", ""),
		endpoint:          env.str("WORKER_ENDPOINT", ""),
		backendURL:        env.str("BACKEND_URL", "http://127.0.0.1:8000"),
		token:             env.str("WORKER_AUTH_TOKEN", config.DefaultWorkerAuthToken),
		maxSessions:       env.integer("MAX_SESSIONS", workerkit.DefaultMaxSessions),
		environment:       env.str("WORKER_ENVIRONMENT", workerkit.DefaultEnvironment),
		version:           env.str("WORKER_VERSION", workerkit.DefaultVersion),
		connectDelay:      env.duration("CONNECT_DELAY", simengine.DefaultConnectDelay),
		qrInterval:        env.duration("QR_INTERVAL", simengine.DefaultQRInterval),
		receiptDelay:      env.duration("RECEIPT_DELAY", simengine.DefaultReceiptDelay),
		incomingEvery:     env.duration("INCOMING_EVERY", 0),
		latency:           env.duration("LATENCY", 0),
		failSends:         env.boolean("FAIL_SENDS", false),
		heartbeatInterval: env.duration("HEARTBEAT_INTERVAL", workerkit.DefaultHeartbeatInterval),
		shutdownTimeout:   env.duration("SHUTDOWN_TIMEOUT", workerkit.DefaultShutdownTimeout),
	}
	if err := o.logLevel.UnmarshalText([]byte(env.str("LOG_LEVEL", "info"))); err != nil {
		env.errs = append(env.errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	if err := errors.Join(env.errs...); err != nil {
		return o, err
	}

	fs := flag.NewFlagSet("simworker", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.IntVar(&o.port, "port", o.port, "port to listen on, all interfaces (env PORT; 0 picks a free one)")
	fs.StringVar(&o.workerID, "worker-id", o.workerID, "worker ID (env WORKER_ID; default sim-<hostname>-<port>)")
	fs.StringVar(&o.endpoint, "endpoint", o.endpoint, "URL the backend reaches this worker at (env WORKER_ENDPOINT; default http://127.0.0.1:<port>)")
	fs.StringVar(&o.backendURL, "backend", o.backendURL, "backend base URL (env BACKEND_URL)")
	fs.IntVar(&o.maxSessions, "max-sessions", o.maxSessions, "maximum sessions (env MAX_SESSIONS)")
	fs.StringVar(&o.environment, "environment", o.environment, "DEVELOPMENT, STAGING, TESTING or PRODUCTION (env WORKER_ENVIRONMENT)")
	fs.DurationVar(&o.connectDelay, "connect-delay", o.connectDelay, "QR shown → connected; negative: never by itself (env CONNECT_DELAY)")
	fs.DurationVar(&o.qrInterval, "qr-interval", o.qrInterval, "QR renewal while not connected (env QR_INTERVAL)")
	fs.DurationVar(&o.receiptDelay, "receipt-delay", o.receiptDelay, "delay between send, SENT, DELIVERED and READ; negative: no receipts (env RECEIPT_DELAY)")
	fs.DurationVar(&o.incomingEvery, "incoming-every", o.incomingEvery, "an incoming message per connected session this often; 0: never (env INCOMING_EVERY)")
	fs.DurationVar(&o.latency, "latency", o.latency, "latency added to every call (env LATENCY)")
	fs.BoolVar(&o.failSends, "fail-sends", o.failSends, "make every send fail with 500 (env FAIL_SENDS)")
	fs.DurationVar(&o.heartbeatInterval, "heartbeat-interval", o.heartbeatInterval, "heartbeat interval (env HEARTBEAT_INTERVAL)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", o.shutdownTimeout, "bound of the graceful shutdown (env SHUTDOWN_TIMEOUT)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.port < 0 || o.port > 65535 {
		return o, fmt.Errorf("port %d is out of range", o.port)
	}
	return o, nil
}

// defaultWorkerID is sim-<hostname>-<port>, short enough for the backend's 50 characters.
func defaultWorkerID(port int) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "local"
	}
	host = strings.ToLower(strings.Split(host, ".")[0])
	if len(host) > 30 {
		host = host[:30]
	}
	return fmt.Sprintf("sim-%s-%d", host, port)
}

// envReader reads typed variables and collects the bad ones, each named.
type envReader struct {
	getenv func(string) string
	errs   []error
}

func (e *envReader) str(name, def string) string {
	if v := strings.TrimSpace(e.getenv(name)); v != "" {
		return v
	}
	return def
}

func (e *envReader) integer(name string, def int) int {
	v := e.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not a whole number", name, v))
		return def
	}
	return n
}

func (e *envReader) boolean(name string, def bool) bool {
	v := e.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not true or false", name, v))
		return def
	}
	return b
}

// duration accepts Go durations ("1.5s") and, like the Node services, bare milliseconds.
func (e *envReader) duration(name string, def time.Duration) time.Duration {
	v := e.str(name, "")
	if v == "" {
		return def
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(ms) * time.Millisecond
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not a duration (like 1.5s) or milliseconds", name, v))
		return def
	}
	return d
}

// newLogger writes JSON logs. An attribute whose name says it holds a secret is never
// written, whoever logs it.
func newLogger(out io.Writer, level slog.Level) *slog.Logger {
	handler := slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		key := strings.ToLower(a.Key)
		for _, word := range []string{"token", "authorization", "secret", "password"} {
			if strings.Contains(key, word) {
				return slog.String(a.Key, "[REDACTED]")
			}
		}
		return a
	}})
	return slog.New(handler).With(slog.String("service", "simworker"))
}
