// Package config reads the gateway's configuration from the environment once, at start.
//
// Every variable of the operations spec is typed and validated here; a bad value is reported
// with the variable's name and stops the server. No other package reads the environment.
package config

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wagateway/gateway/internal/model"
)

// Environment is the deployment environment of the server.
type Environment string

// Environments.
const (
	Development Environment = "development"
	Test        Environment = "test"
	Production  Environment = "production"
)

// Development defaults of the secrets. Production refuses to start with any of them.
const (
	DefaultJWTSecret       = "dev-jwt-secret-change-me-in-production-0000" //nolint:gosec // a development default that production refuses
	DefaultWorkerAuthToken = "dev-worker-token-change-me-in-production-00" //nolint:gosec // a development default that production refuses
	minSecretLength        = 32
)

// Config is the whole configuration of the gateway.
type Config struct {
	Port       int
	Env        Environment
	APIVersion string

	DatabaseURL string
	DBMaxConns  int32
	AutoMigrate bool

	RedisURL       string
	RedisKeyPrefix string

	JWTSecret    string
	JWTExpiresIn time.Duration
	BcryptRounds int

	WorkerAuthToken           string
	WorkerRequireOwnToken     bool
	WorkerHealthCheckInterval time.Duration
	WorkerHeartbeatTimeout    time.Duration
	LeaderLeaseTTL            time.Duration
	SessionFailover           bool

	RateLimitWindow        time.Duration
	RateLimitMaxRequests   int
	AuthRateLimitPerMinute int

	LogLevel         slog.Level
	LogFilePath      string
	LogFlushInterval time.Duration

	CORSOrigins    []string
	BodyLimitBytes int64
	TrustedProxies []netip.Prefix
	MetricsToken   string

	TierLimits map[model.UserTier]model.TierLimits

	SendMinInterval time.Duration
	SendRetryBase   time.Duration
	SendRetryMax    time.Duration
	SendMaxAttempts int

	WebhookAllowPrivate bool
	WebhookRetryBase    time.Duration

	// RealtimeAuthRecheck is how often the JWT of a Socket.IO connection or SSE stream is checked again.
	RealtimeAuthRecheck time.Duration

	AdminEmail    string
	AdminPassword string

	// APIKeyEncryptionKey is the AES-256 key that lets owners see their full API keys.
	APIKeyEncryptionKey []byte
	APIKeyReveal        bool

	SMTPURL  string
	SMTPFrom string

	ShutdownTimeout time.Duration
	QRTTL           time.Duration
	// GCPercent is the garbage collector's target (GOGC; -1: off), applied by the serving
	// process (debug.SetGCPercent). See DefaultGCPercent.
	GCPercent int

	MetricsRetention   time.Duration
	SystemLogRetention time.Duration
	// MessageRetention is zero when messages are kept forever.
	MessageRetention time.Duration
	// WebhookDeliveryRetention is how long finished webhook deliveries (delivered or failed
	// for good) stay in the delivery log; deliveries still owed to a receiver are kept.
	WebhookDeliveryRetention time.Duration
}

// IsProduction reports whether the server runs in production.
func (c *Config) IsProduction() bool { return c.Env == Production }

// Load reads and validates the configuration. It reports every bad variable at once.
func Load(getenv func(string) string) (*Config, error) {
	r := reader{getenv: getenv}
	c := &Config{
		Port:       r.intRange("PORT", 8000, 1, 65535),
		Env:        r.environment(),
		APIVersion: r.str("API_VERSION", "v1"),

		DatabaseURL: r.str("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/wagateway?sslmode=disable"),
		DBMaxConns:  int32(r.intRange("DB_MAX_CONNS", 20, 1, 1000)),
		AutoMigrate: r.boolean("AUTO_MIGRATE", true),

		RedisURL:       r.str("REDIS_URL", "redis://127.0.0.1:6379/0"),
		RedisKeyPrefix: r.str("REDIS_KEY_PREFIX", ""),

		JWTSecret:    r.str("JWT_SECRET", DefaultJWTSecret),
		JWTExpiresIn: r.humanDuration("JWT_EXPIRES_IN", 7*24*time.Hour),
		BcryptRounds: r.intRange("BCRYPT_ROUNDS", 12, 4, 31),

		WorkerAuthToken:           r.str("WORKER_AUTH_TOKEN", DefaultWorkerAuthToken),
		WorkerRequireOwnToken:     r.boolean("WORKER_REQUIRE_OWN_TOKEN", false),
		WorkerHealthCheckInterval: r.millis("WORKER_HEALTH_CHECK_INTERVAL", 30000),
		WorkerHeartbeatTimeout:    r.millis("WORKER_HEARTBEAT_TIMEOUT_MS", 90000),
		LeaderLeaseTTL:            r.millis("LEADER_LEASE_TTL_MS", 15000),
		SessionFailover:           r.boolean("SESSION_FAILOVER", true),

		RateLimitWindow:        r.millis("RATE_LIMIT_WINDOW_MS", 900000),
		RateLimitMaxRequests:   r.intRange("RATE_LIMIT_MAX_REQUESTS", 1000, 1, 100_000_000),
		AuthRateLimitPerMinute: r.intRange("AUTH_RATE_LIMIT_PER_MINUTE", 10, 1, 100_000),

		LogLevel:    r.logLevel(),
		LogFilePath: r.str("LOG_FILE_PATH", ""),
		// 0 writes each line at once; at most 10 s of lines wait.
		LogFlushInterval: time.Duration(r.intRange("LOG_FLUSH_INTERVAL_MS", 100, 0, 10000)) * time.Millisecond,

		CORSOrigins:    r.list("CORS_ORIGIN", "http://localhost:3000"),
		BodyLimitBytes: int64(r.intRange("BODY_LIMIT_BYTES", 1<<20, 1024, 1<<30)),
		TrustedProxies: r.prefixes("TRUSTED_PROXIES"),
		MetricsToken:   r.str("METRICS_TOKEN", ""),

		TierLimits: r.tierLimits(),

		SendMinInterval: r.millis("SEND_MIN_INTERVAL_MS", 1000),
		SendRetryBase:   r.millis("SEND_RETRY_BASE_MS", 2000),
		SendRetryMax:    r.millis("SEND_RETRY_MAX_MS", 300000),
		SendMaxAttempts: r.intRange("SEND_MAX_ATTEMPTS", 10, 1, 1000),

		WebhookAllowPrivate: r.boolean("WEBHOOK_ALLOW_PRIVATE", false),
		WebhookRetryBase:    r.millis("WEBHOOK_RETRY_BASE_MS", 10000),

		RealtimeAuthRecheck: r.millis("REALTIME_AUTH_RECHECK_MS", 60000),

		AdminEmail:    r.str("ADMIN_EMAIL", ""),
		AdminPassword: r.str("ADMIN_PASSWORD", ""),

		APIKeyReveal: r.boolean("API_KEY_REVEAL", true),

		SMTPURL:  r.str("SMTP_URL", ""),
		SMTPFrom: r.str("SMTP_FROM", "WhatsApp Gateway <no-reply@localhost>"),

		ShutdownTimeout: r.humanDuration("SHUTDOWN_TIMEOUT", 30*time.Second),
		QRTTL:           time.Duration(r.intRange("QR_TTL_SECONDS", 60, 5, 3600)) * time.Second,
		GCPercent:       r.gcPercent(),

		MetricsRetention:   r.days("METRICS_RETENTION_DAYS", 7, 1),
		SystemLogRetention: r.days("SYSTEM_LOG_RETENTION_DAYS", 30, 1),
		MessageRetention:   r.days("MESSAGE_RETENTION_DAYS", 0, 0),

		WebhookDeliveryRetention: r.days("WEBHOOK_DELIVERY_RETENTION_DAYS", 7, 1),
	}
	c.APIKeyEncryptionKey = r.encryptionKey(c)
	r.checkURLs(c)
	r.checkSecrets(c)
	if err := errors.Join(r.errs...); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// reader collects every bad variable instead of stopping at the first.
type reader struct {
	getenv func(string) string
	errs   []error
}

func (r *reader) fail(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

func (r *reader) lookup(name string) (string, bool) {
	v := strings.TrimSpace(r.getenv(name))
	return v, v != ""
}

func (r *reader) str(name, def string) string {
	if v, ok := r.lookup(name); ok {
		return v
	}
	return def
}

func (r *reader) intRange(name string, def, lo, hi int) int {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.fail(name, "%q is not a whole number", v)
		return def
	}
	if n < lo || n > hi {
		r.fail(name, "%d is outside %d..%d", n, lo, hi)
		return def
	}
	return n
}

// DefaultGCPercent is the gateway's GOGC when none is set: twice Go's default. A request
// allocates a few KiB and the live heap is tens of MiB, so at Go's 100 the collector runs
// several times a second under load; at 200 the heap may grow to three times what is live
// (measured with the benchmark's process: peak heap 31 -> 48 MiB) and the collector runs half
// as often: sync sends 8,314 -> 9,596 msg/s, async acceptance 18,335 -> 19,014 msg/s (means
// of 3 alternated 4 s windows, AMD EPYC 2 cores).
const DefaultGCPercent = 200

// gcPercent reads GOGC as the Go runtime does (a whole number, or off), so that a value in
// .env, which the runtime does not read, applies too.
func (r *reader) gcPercent() int {
	if v, ok := r.lookup("GOGC"); ok && strings.EqualFold(v, "off") {
		return -1
	}
	return r.intRange("GOGC", DefaultGCPercent, 1, 1<<20)
}

func (r *reader) boolean(name string, def bool) bool {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	r.fail(name, "%q is not a boolean (true or false)", v)
	return def
}

// millis reads a positive number of milliseconds, as the original's *_MS variables.
func (r *reader) millis(name string, def int) time.Duration {
	return time.Duration(r.intRange(name, def, 1, 30*24*3600*1000)) * time.Millisecond
}

func (r *reader) days(name string, def, lo int) time.Duration {
	return time.Duration(r.intRange(name, def, lo, 36500)) * 24 * time.Hour
}

// humanDuration reads "7d", "12h", "30m", "45s", "1h30m" or a bare number of seconds,
// the forms jsonwebtoken's expiresIn accepted.
func (r *reader) humanDuration(name string, def time.Duration) time.Duration {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	d, err := ParseHumanDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, "%q is not a positive duration such as 7d, 12h, 30m or 3600", v)
		return def
	}
	return d
}

// ParseHumanDuration parses a Go duration, a bare number of seconds, or a number of days or
// weeks ("7d", "2w").
func ParseHumanDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(v, suffix); ok {
			days, err := strconv.ParseFloat(n, 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(days * float64(unit)), nil
		}
	}
	return time.ParseDuration(v)
}

func (r *reader) list(name, def string) []string {
	var out []string
	for item := range strings.SplitSeq(r.str(name, def), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func (r *reader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, item := range r.list(name, "") {
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		addr, err := netip.ParseAddr(item)
		if err != nil {
			r.fail(name, "%q is neither an IP address nor a CIDR range", item)
			continue
		}
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return out
}

func (r *reader) environment() Environment {
	v, ok := r.lookup("APP_ENV")
	name := "APP_ENV"
	if !ok {
		v, ok = r.lookup("NODE_ENV")
		name = "NODE_ENV"
	}
	if !ok {
		return Development
	}
	switch strings.ToLower(v) {
	case "development", "dev":
		return Development
	case "test", "testing":
		return Test
	case "production", "prod":
		return Production
	}
	r.fail(name, "%q is not one of development, test, production", v)
	return Development
}

func (r *reader) logLevel() slog.Level {
	v, ok := r.lookup("LOG_LEVEL")
	if !ok {
		return slog.LevelInfo
	}
	switch strings.ToLower(v) {
	case "debug", "trace", "verbose", "silly":
		return slog.LevelDebug
	case "info", "http":
		return slog.LevelInfo
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	r.fail("LOG_LEVEL", "%q is not one of debug, info, warn, error", v)
	return slog.LevelInfo
}

// tierLimits merges TIER_LIMITS (JSON) over the defaults, per tier and per field.
func (r *reader) tierLimits() map[model.UserTier]model.TierLimits {
	limits := model.DefaultTierLimits()
	v, ok := r.lookup("TIER_LIMITS")
	if !ok {
		return limits
	}
	var override map[string]map[string]int
	if err := json.Unmarshal([]byte(v), &override); err != nil {
		r.fail("TIER_LIMITS", "not a JSON object of tiers: %v", err)
		return limits
	}
	for tierName, fields := range override {
		tier := model.UserTier(strings.ToUpper(tierName))
		l, known := limits[tier]
		if !known {
			r.fail("TIER_LIMITS", "unknown tier %q (want BASIC, PRO or MAX)", tierName)
			continue
		}
		for field, n := range fields {
			if n < 0 {
				r.fail("TIER_LIMITS", "%s.%s must not be negative", tierName, field)
				continue
			}
			switch field {
			case "sessions":
				l.Sessions = n
			case "messagesPerHour":
				l.MessagesPerHour = n
			case "apiCallsPerHour":
				l.APICallsPerHour = n
			default:
				r.fail("TIER_LIMITS", "unknown limit %q (want sessions, messagesPerHour or apiCallsPerHour)", field)
			}
		}
		limits[tier] = l
	}
	return limits
}

// encryptionKey decodes API_KEY_ENCRYPTION_KEY, or outside production derives one from
// JWT_SECRET so that development needs no extra setup.
func (r *reader) encryptionKey(c *Config) []byte {
	v, ok := r.lookup("API_KEY_ENCRYPTION_KEY")
	if ok {
		key, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			key, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
		}
		if err != nil || len(key) != 32 {
			r.fail("API_KEY_ENCRYPTION_KEY", "must be 32 bytes encoded in base64 (openssl rand -base64 32)")
			return nil
		}
		return key
	}
	if !c.APIKeyReveal {
		return nil
	}
	if c.IsProduction() {
		r.fail("API_KEY_ENCRYPTION_KEY", "is required in production unless API_KEY_REVEAL=false")
		return nil
	}
	key, err := hkdf.Key(sha256.New, []byte(c.JWTSecret), nil, "wagateway api-key encryption", 32)
	if err != nil {
		r.fail("API_KEY_ENCRYPTION_KEY", "cannot derive from JWT_SECRET: %v", err)
	}
	return key
}

func (r *reader) checkURLs(c *Config) {
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		r.fail("DATABASE_URL", "must be a postgres:// URL")
	}
	if u, err := url.Parse(c.RedisURL); err != nil || !slices.Contains(
		[]string{"redis", "rediss", "redis-sentinel", "redis-cluster"}, u.Scheme) {
		r.fail("REDIS_URL", "must be a redis://, rediss://, redis-sentinel:// or redis-cluster:// URL")
	}
	if c.SMTPURL != "" {
		if u, err := url.Parse(c.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			r.fail("SMTP_URL", "must be an smtp:// or smtps:// URL with a host")
		}
	}
	for _, origin := range c.CORSOrigins {
		if origin == "*" {
			continue
		}
		if u, err := url.Parse(origin); err != nil || u.Scheme == "" || u.Host == "" {
			r.fail("CORS_ORIGIN", "%q is not an origin such as https://app.example.com", origin)
		}
	}
	if c.SendRetryMax < c.SendRetryBase {
		r.fail("SEND_RETRY_MAX_MS", "must not be below SEND_RETRY_BASE_MS")
	}
	if c.LeaderLeaseTTL < 3*time.Second {
		r.fail("LEADER_LEASE_TTL_MS", "must be at least 3000 so the lease can be renewed in time")
	}
}

// checkSecrets refuses default or short secrets in production.
func (r *reader) checkSecrets(c *Config) {
	if !c.IsProduction() {
		return
	}
	for _, s := range []struct{ name, value, def string }{
		{"JWT_SECRET", c.JWTSecret, DefaultJWTSecret},
		{"WORKER_AUTH_TOKEN", c.WorkerAuthToken, DefaultWorkerAuthToken},
	} {
		switch {
		case s.value == s.def || strings.Contains(strings.ToLower(s.value), "change-me"):
			r.fail(s.name, "the default value is refused in production; set a random secret (openssl rand -hex 32)")
		case len(s.value) < minSecretLength:
			r.fail(s.name, "must be at least %d bytes in production", minSecretLength)
		}
	}
	if c.JWTSecret == c.WorkerAuthToken {
		r.fail("WORKER_AUTH_TOKEN", "must differ from JWT_SECRET")
	}
	if slices.Contains(c.CORSOrigins, "*") {
		r.fail("CORS_ORIGIN", "* is refused in production: CORS here allows credentials")
	}
}
