// Package workerenv is what the worker commands (cmd/worker, cmd/simworker) share to read
// their settings, environment variables under flags, and to log.
package workerenv

import (
	"context"
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
)

// Reader reads typed environment variables and collects the bad ones, each named, in Errs.
type Reader struct {
	Getenv func(string) string
	Errs   []error
}

// Str returns the trimmed variable, or def when it is empty.
func (e *Reader) Str(name, def string) string {
	if v := strings.TrimSpace(e.Getenv(name)); v != "" {
		return v
	}
	return def
}

// Integer reads a whole number.
func (e *Reader) Integer(name string, def int) int {
	v := e.Str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.Errs = append(e.Errs, fmt.Errorf("%s: %q is not a whole number", name, v))
		return def
	}
	return n
}

// Boolean reads true or false (and the other spellings strconv.ParseBool knows).
func (e *Reader) Boolean(name string, def bool) bool {
	v := e.Str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.Errs = append(e.Errs, fmt.Errorf("%s: %q is not true or false", name, v))
		return def
	}
	return b
}

// Duration accepts Go durations ("1.5s") and, like the Node services, bare milliseconds.
func (e *Reader) Duration(name string, def time.Duration) time.Duration {
	v := e.Str(name, "")
	if v == "" {
		return def
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(ms) * time.Millisecond
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.Errs = append(e.Errs, fmt.Errorf("%s: %q is not a duration (like 1.5s) or milliseconds", name, v))
		return def
	}
	return d
}

// NewLogger writes JSON logs tagged with the service. An attribute whose name says it holds
// a secret is never written, whoever logs it.
func NewLogger(out io.Writer, level slog.Level, service string) *slog.Logger {
	handler := slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		key := strings.ToLower(a.Key)
		for _, word := range []string{"token", "authorization", "secret", "password"} {
			if strings.Contains(key, word) {
				return slog.String(a.Key, "[REDACTED]")
			}
		}
		return a
	}})
	return slog.New(handler).With(slog.String("service", service))
}

// DefaultWorkerID is <prefix>-<hostname>-<port>, short enough for the backend's 50
// characters.
func DefaultWorkerID(prefix string, port int) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "local"
	}
	host = strings.ToLower(strings.Split(host, ".")[0])
	if len(host) > 30 {
		host = host[:30]
	}
	return fmt.Sprintf("%s-%s-%d", prefix, host, port)
}

// LogLevel reads a slog level name (debug, info, warn, error).
func (e *Reader) LogLevel(name, def string) slog.Level {
	var level slog.Level
	if err := level.UnmarshalText([]byte(e.Str(name, def))); err != nil {
		e.Errs = append(e.Errs, fmt.Errorf("%s: %w", name, err))
	}
	return level
}

// Listen listens on port (0 picks a free one) on all interfaces, and fills an empty
// endpoint (http://127.0.0.1:<port>) and worker ID (DefaultWorkerID) from the port actually
// given.
func Listen(ctx context.Context, port int, endpoint, workerID *string, idPrefix string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort("", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("listen on port %d: %w", port, err)
	}
	port = ln.Addr().(*net.TCPAddr).Port
	if *endpoint == "" {
		*endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	if *workerID == "" {
		*workerID = DefaultWorkerID(idPrefix, port)
	}
	return ln, nil
}

// Common are the settings every worker command has.
type Common struct {
	Port              int
	WorkerID          string
	Endpoint          string
	BackendURL        string
	Token             string
	MaxSessions       int
	Environment       string
	HeartbeatInterval time.Duration
	ShutdownTimeout   time.Duration
	LogLevel          slog.Level
}

// ReadCommon reads the common settings from the environment.
func ReadCommon(env *Reader) Common {
	return Common{
		Port:              env.Integer("PORT", 8001),
		WorkerID:          env.Str("WORKER_ID", ""),
		Endpoint:          env.Str("WORKER_ENDPOINT", ""),
		BackendURL:        env.Str("BACKEND_URL", "http://127.0.0.1:8000"),
		Token:             env.Str("WORKER_AUTH_TOKEN", config.DefaultWorkerAuthToken),
		MaxSessions:       env.Integer("MAX_SESSIONS", workerkit.DefaultMaxSessions),
		Environment:       env.Str("WORKER_ENVIRONMENT", workerkit.DefaultEnvironment),
		HeartbeatInterval: env.Duration("HEARTBEAT_INTERVAL", workerkit.DefaultHeartbeatInterval),
		ShutdownTimeout:   env.Duration("SHUTDOWN_TIMEOUT", workerkit.DefaultShutdownTimeout),
		LogLevel:          env.LogLevel("LOG_LEVEL", "info"),
	}
}

// AddFlags lets flags override the common settings.
func (c *Common) AddFlags(fs *flag.FlagSet, idPrefix string) {
	fs.IntVar(&c.Port, "port", c.Port, "port to listen on, all interfaces (env PORT; 0 picks a free one)")
	fs.StringVar(&c.WorkerID, "worker-id", c.WorkerID, "worker ID (env WORKER_ID; default "+idPrefix+"-<hostname>-<port>)")
	fs.StringVar(&c.Endpoint, "endpoint", c.Endpoint, "URL the backend reaches this worker at (env WORKER_ENDPOINT; default http://127.0.0.1:<port>)")
	fs.StringVar(&c.BackendURL, "backend", c.BackendURL, "backend base URL (env BACKEND_URL)")
	fs.IntVar(&c.MaxSessions, "max-sessions", c.MaxSessions, "maximum sessions (env MAX_SESSIONS)")
	fs.StringVar(&c.Environment, "environment", c.Environment, "DEVELOPMENT, STAGING, TESTING or PRODUCTION (env WORKER_ENVIRONMENT)")
	fs.DurationVar(&c.HeartbeatInterval, "heartbeat-interval", c.HeartbeatInterval, "heartbeat interval (env HEARTBEAT_INTERVAL)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "bound of the graceful shutdown (env SHUTDOWN_TIMEOUT)")
}

// Parse parses args into fs and checks what the common settings allow.
func (c *Common) Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("port %d is out of range", c.Port)
	}
	return nil
}

// KitConfig is the workerkit configuration of these settings.
func (c Common) KitConfig(ln net.Listener, logger *slog.Logger, engine workerkit.Engine) workerkit.Config {
	return workerkit.Config{
		WorkerID:          c.WorkerID,
		Endpoint:          c.Endpoint,
		Listener:          ln,
		BackendURL:        c.BackendURL,
		SharedToken:       c.Token,
		MaxSessions:       c.MaxSessions,
		Environment:       c.Environment,
		HeartbeatInterval: c.HeartbeatInterval,
		ShutdownTimeout:   c.ShutdownTimeout,
		Logger:            logger,
		Engine:            engine,
	}
}
