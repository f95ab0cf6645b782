package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/wagateway/gateway/internal/app"
	"github.com/wagateway/gateway/internal/bench"
	"github.com/wagateway/gateway/internal/config"
	"github.com/wagateway/gateway/internal/redisdb"
	"github.com/wagateway/gateway/internal/store"
)

// Settings of the gateway under test: quotas and the global rate limit high enough never to
// refuse, background health rounds off (the health-monitor scenario runs rounds by hand and
// the fixtures' fake workers must not be failed over behind the bench's back), failover off
// so that a leaving simulated worker simply releases its sessions.
const (
	benchTierLimits       = `{"BASIC":{"sessions":100,"messagesPerHour":100000000,"apiCallsPerHour":100000000}}`
	benchRateLimit        = "100000000"
	benchHealthInterval   = "3600000"
	benchBcryptRounds     = "10"
	benchAuthRateLimit    = "1000"
	setupCallTimeout      = 30 * time.Second
	cleanupTimeout        = 60 * time.Second
	serverStartupDeadline = 15 * time.Second
)

// env is one gateway under test with its fixtures: a fresh database, a Redis key prefix, the
// server on a loopback port, and a fake fleet answering /health for any number of workers.
type env struct {
	opts        options
	out         io.Writer
	cfg         *config.Config
	vars        map[string]string
	app         *app.App
	baseURL     string
	dbName      string
	databaseURL string
	keyPrefix   string
	logFile     *os.File
	closeLog    io.Closer
	fleet       *fakeFleet
	client      *http.Client // setup calls

	// naiveThroughput is the naive durable proxy's sendText rate once send-sync measured it,
	// for the async acceptance ratio.
	naiveThroughput float64
	// floorAcceptThroughput is the group-committing floor's async acceptance rate, likewise.
	floorAcceptThroughput float64
	// acceptMeasured says the sync scenario measured the gateway's async acceptance in its
	// rotation and gave the acceptance ratios.
	acceptMeasured bool

	// fixtureUserID owns the sessions scenarios insert with SQL.
	fixtureUserID  string
	startFootprint bench.Footprint

	stopServer context.CancelFunc
	served     chan error

	closeOnce  sync.Once
	closeLines []string
	closeErr   error
	cleanupCtx context.Context //nolint:containedctx // the run's context without its cancellation, for cleanup at any time
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newEnv creates the database and starts the gateway. On failure it has cleaned up already.
func newEnv(ctx context.Context, opts options, out io.Writer) (*env, error) {
	suffix := randomHex(6)
	e := &env{opts: opts, out: out, dbName: "bench_" + suffix, keyPrefix: "bench:" + suffix + ":",
		client: &http.Client{Timeout: setupCallTimeout}, cleanupCtx: context.WithoutCancel(ctx)}
	if err := e.start(ctx, suffix); err != nil {
		_, closeErr := e.close(true)
		for _, line := range e.closeLines {
			fmt.Fprintln(out, "cleanup:", line)
		}
		return nil, errors.Join(err, closeErr)
	}
	return e, nil
}

func (e *env) start(ctx context.Context, suffix string) error {
	var err error
	if e.databaseURL, err = store.DatabaseURLFor(e.opts.databaseURL, e.dbName); err != nil {
		return err
	}
	encryptionKey := make([]byte, 32)
	_, _ = rand.Read(encryptionKey)
	e.vars = map[string]string{
		"APP_ENV":                      "production",
		"LOG_LEVEL":                    e.opts.logLevel,
		"DATABASE_URL":                 e.databaseURL,
		"REDIS_URL":                    e.opts.redisURL,
		"REDIS_KEY_PREFIX":             e.keyPrefix,
		"JWT_SECRET":                   randomHex(32),
		"WORKER_AUTH_TOKEN":            randomHex(32),
		"API_KEY_ENCRYPTION_KEY":       base64.StdEncoding.EncodeToString(encryptionKey),
		"TIER_LIMITS":                  benchTierLimits,
		"RATE_LIMIT_MAX_REQUESTS":      benchRateLimit,
		"AUTH_RATE_LIMIT_PER_MINUTE":   benchAuthRateLimit,
		"WORKER_HEALTH_CHECK_INTERVAL": benchHealthInterval,
		"SESSION_FAILOVER":             "false",
		"BCRYPT_ROUNDS":                benchBcryptRounds,
	}
	if e.logFile, err = os.CreateTemp("", "wagateway-bench-*.log"); err != nil {
		return fmt.Errorf("gateway log: %w", err)
	}
	fmt.Fprintf(e.out, "database %s, redis prefix %s, gateway log %s\n", e.dbName, e.keyPrefix, e.logFile.Name())
	if err := e.startGateway(ctx, "127.0.0.1:0", nil); err != nil {
		return err
	}
	if e.fleet, err = startFakeFleet(ctx); err != nil {
		return err
	}
	err = e.app.DB.QueryRow(ctx, `INSERT INTO users (name, email, password_hash) VALUES ('Bench fixtures', $1, 'unusable')
		RETURNING id::text`, "fixtures-"+suffix+"@bench.invalid").Scan(&e.fixtureUserID)
	if err != nil {
		return fmt.Errorf("insert fixture user: %w", err)
	}
	e.client.CloseIdleConnections()
	settleGoroutines()
	e.startFootprint = bench.TakeFootprint(true)
	return nil
}

// settleGoroutines waits (at most 2 s) until the number of goroutines stops falling, so that
// connections just closed have let go of theirs.
func settleGoroutines() {
	deadline := time.Now().Add(2 * time.Second)
	last, steady := runtime.NumGoroutine(), 0
	for steady < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n < last {
			steady = 0
		} else {
			steady++
		}
		last = n
	}
}

// startGateway builds the gateway from e.vars with overrides on top and serves it on addr.
func (e *env) startGateway(ctx context.Context, addr string, overrides map[string]string) error {
	cfg, err := config.Load(func(name string) string {
		if v, ok := overrides[name]; ok {
			return v
		}
		return e.vars[name]
	})
	if err != nil {
		return fmt.Errorf("gateway configuration: %w", err)
	}
	e.cfg = cfg
	// As gateway serve does: the process runs every target with the gateway's collector target.
	app.SetProcessDefaults(cfg)
	logger, closeLog := app.NewLogger(cfg, e.logFile)
	e.closeLog = closeLog
	if e.app, err = app.New(ctx, cfg, logger); err != nil {
		return fmt.Errorf("start gateway: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	e.baseURL = "http://" + ln.Addr().String()
	// The server stops when the bench says so, not at the first signal: close drains it.
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	e.stopServer, e.served = stop, make(chan error, 1)
	go func() { e.served <- e.app.Run(runCtx, ln) }()
	return e.waitHealthy(ctx)
}

// stopGateway shuts the server down and closes the App.
func (e *env) stopGateway() error {
	var err error
	if e.stopServer != nil {
		e.stopServer()
		if served := <-e.served; served != nil {
			err = fmt.Errorf("gateway shutdown: %w", served)
		}
		e.stopServer = nil
	}
	if e.app != nil {
		e.app.Close()
		e.app = nil
	}
	if e.closeLog != nil {
		_ = e.closeLog.Close() // writes the lines still batched
		e.closeLog = nil
	}
	return err
}

// restartGateway replaces the running gateway by one with overrides over the bench's
// configuration (nil: the bench's own), on the same database, Redis prefix and address.
func (e *env) restartGateway(ctx context.Context, overrides map[string]string) error {
	addr := strings.TrimPrefix(e.baseURL, "http://")
	if err := e.stopGateway(); err != nil {
		return err
	}
	return e.startGateway(ctx, addr, overrides)
}

func (e *env) waitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(serverStartupDeadline)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.baseURL+"/health", nil) //nolint:gosec // the gateway under test, on loopback
		if err != nil {
			return err
		}
		resp, err := e.client.Do(req) //nolint:gosec // the gateway under test, on loopback
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-e.served:
			e.served <- err
			return fmt.Errorf("gateway stopped at start: %w", err)
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("gateway did not answer /health within %s", serverStartupDeadline)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// close stops the server and the fake fleet, drops the database and deletes the Redis keys
// under the run's prefix; it says what it did. keepLog keeps the gateway's log file. Only the
// first call does anything.
func (e *env) close(keepLog bool) ([]string, error) {
	first := false
	e.closeOnce.Do(func() {
		first = true
		e.closeLines, e.closeErr = e.cleanup(keepLog)
	})
	if !first {
		return nil, nil
	}
	return e.closeLines, e.closeErr
}

func (e *env) cleanup(keepLog bool) ([]string, error) {
	ctx, cancel := context.WithTimeout(e.cleanupCtx, cleanupTimeout)
	defer cancel()
	var lines []string
	var errs []error
	if e.app != nil {
		if err := e.stopGateway(); err != nil {
			errs = append(errs, err)
		}
		lines = append(lines, "gateway stopped")
	}
	if e.fleet != nil {
		if err := e.fleet.close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	e.client.CloseIdleConnections()
	if e.databaseURL != "" {
		if err := store.DropDatabase(ctx, e.databaseURL); err != nil {
			errs = append(errs, err)
		} else {
			lines = append(lines, "database "+e.dbName+" dropped")
		}
	}
	if n, err := deleteRedisPrefix(ctx, e.opts.redisURL, e.keyPrefix); err != nil {
		errs = append(errs, err)
	} else {
		lines = append(lines, fmt.Sprintf("%d Redis keys under %s deleted", n, e.keyPrefix))
	}
	if e.logFile != nil {
		_ = e.logFile.Close()
		if keepLog {
			lines = append(lines, keptLogPrefix+e.logFile.Name())
		} else {
			_ = os.Remove(e.logFile.Name()) //nolint:gosec // the temporary file this run created
		}
	}
	return lines, errors.Join(errs...)
}

// keptLogPrefix starts the cleanup line that says where the gateway's log was kept.
const keptLogPrefix = "gateway log kept at "

// deleteRedisPrefix deletes the keys under prefix, and only those: the Redis is shared.
func deleteRedisPrefix(ctx context.Context, redisURL, prefix string) (int, error) {
	rdb, err := redisdb.Open(ctx, redisURL)
	if err != nil {
		return 0, fmt.Errorf("delete redis keys under %s: %w", prefix, err)
	}
	defer rdb.Close()
	return redisdb.DeletePrefix(ctx, rdb, prefix)
}

// call makes one setup request on the gateway and decodes the envelope's data into out (when
// not nil); an answer other than 2xx is an error quoting the body.
func (e *env) call(ctx context.Context, method, path, bearer string, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.baseURL+path, body) //nolint:gosec // the gateway under test, on loopback
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := e.client.Do(req) //nolint:gosec // the gateway under test, on loopback
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, truncate(string(raw), 300))
	}
	if out == nil {
		return nil
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return json.Unmarshal(env.Data, out)
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// meter is how the bench's meters measure: the Postgres CPU of its own database only.
func (e *env) meter(interval time.Duration) bench.MeterOptions {
	return bench.MeterOptions{Interval: interval, PostgresDatabase: e.dbName}
}

// registerUser registers a dashboard user and returns its JWT and ID.
func (e *env) registerUser(ctx context.Context, name string) (token, userID, email, password string, err error) {
	email, password = fmt.Sprintf("%s-%s@bench.example.com", name, randomHex(4)), "Bench-"+randomHex(12)
	var res struct {
		Token string `json:"token"`
		User  struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	err = e.call(ctx, http.MethodPost, "/api/v1/auth/register",
		"", map[string]string{"name": "Bench " + name, "email": email, "password": password}, &res)
	return res.Token, res.User.ID, email, password, err
}

// adminToken registers a user, makes it an administrator with SQL and logs it in again, so
// that the token carries the role.
func (e *env) adminToken(ctx context.Context) (string, error) {
	_, userID, email, password, err := e.registerUser(ctx, "admin")
	if err != nil {
		return "", err
	}
	if _, err := e.app.DB.Exec(ctx, `UPDATE users SET role = 'ADMINISTRATOR' WHERE id = $1`, userID); err != nil {
		return "", fmt.Errorf("promote admin: %w", err)
	}
	var res struct {
		Token string `json:"token"`
	}
	err = e.call(ctx, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, &res)
	return res.Token, err
}

// describe fills what the report says about the machine's services and the settings.
func (e *env) describe(ctx context.Context, r *bench.Report) {
	var version string
	if err := e.app.DB.QueryRow(ctx, `SHOW server_version`).Scan(&version); err == nil {
		r.Machine.Postgres = "PostgreSQL " + version
	}
	var settings []string
	for _, name := range []string{"fsync", "synchronous_commit", "wal_level", "shared_buffers", "max_connections"} {
		var v string
		if err := e.app.DB.QueryRow(ctx, "SHOW "+name).Scan(&v); err == nil {
			settings = append(settings, name+"="+v)
		}
	}
	r.Machine.PostgresSettings = strings.Join(settings, ", ")
	if info, err := e.app.Redis.Info(ctx, "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				r.Machine.Redis = "Redis " + v
			}
		}
	}
	o := e.opts
	mode := "full"
	if o.quick {
		mode = "quick (smaller fixtures, no timing assertions)"
	}
	r.Settings = []bench.Fact{
		bench.TextFact("Mode", mode),
		bench.TextFact("Load", fmt.Sprintf("closed loop: %d connections, each request → response on its own keep-alive connection (fasthttp client); %s warm-up (not measured), then a %s measured window",
			o.connections, o.warmup, o.duration)),
		bench.TextFact("Process", "the gateway (app.New + App.Run on 127.0.0.1), the simulated worker (workerkit + simengine), the floors and the load generator share one process and "+
			fmt.Sprintf("its %d cores with PostgreSQL and Redis on the same machine: CPU figures are the whole process (getrusage), \"machine busy\" is every process (/proc/stat); the process runs with the gateway's garbage-collector target (GOGC=%d, set as gateway serve sets it), every target alike", r.Machine.CPUs, e.cfg.GCPercent)),
		bench.TextFact("Gateway", fmt.Sprintf("APP_ENV=production, LOG_LEVEL=%s (JSON access log to a file), DB_MAX_CONNS=%d, RATE_LIMIT_MAX_REQUESTS=%s, TIER_LIMITS=%s, SESSION_FAILOVER=false, WORKER_HEALTH_CHECK_INTERVAL=1h (background rounds off; rounds run by hand); the async scenario restarts it with SEND_MIN_INTERVAL_MS=1 and back",
			o.logLevel, e.cfg.DBMaxConns, benchRateLimit, benchTierLimits)),
		bench.TextFact("Database", "fresh database "+e.dbName+" (migrations applied by app.New), dropped at the end; Redis keys under a prefix of the run's own, deleted at the end"),
	}
}
