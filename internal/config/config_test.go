package config

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/model"
)

// env is a getenv over a fixed set of variables.
func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func mustLoad(t *testing.T, vars map[string]string) *Config {
	t.Helper()
	c, err := Load(env(vars))
	if err != nil {
		t.Fatalf("Load(%v): %v", vars, err)
	}
	return c
}

// productionVars is a production configuration that passes every check.
func productionVars() map[string]string {
	return map[string]string{
		"APP_ENV":                "production",
		"JWT_SECRET":             strings.Repeat("j", 40),
		"WORKER_AUTH_TOKEN":      strings.Repeat("w", 40),
		"API_KEY_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		"CORS_ORIGIN":            "https://app.example.com",
	}
}

func TestLoad_NoVariables_UsesDocumentedDefaults(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, nil)

	checks := []struct {
		name      string
		got, want any
	}{
		{"Port", c.Port, 8000},
		{"Env", c.Env, Development},
		{"APIVersion", c.APIVersion, "v1"},
		{"DBMaxConns", c.DBMaxConns, int32(20)},
		{"AutoMigrate", c.AutoMigrate, true},
		{"RedisURL", c.RedisURL, "redis://127.0.0.1:6379/0"},
		{"RedisKeyPrefix", c.RedisKeyPrefix, ""},
		{"JWTSecret", c.JWTSecret, DefaultJWTSecret},
		{"JWTExpiresIn", c.JWTExpiresIn, 7 * 24 * time.Hour},
		{"BcryptRounds", c.BcryptRounds, 12},
		{"WorkerAuthToken", c.WorkerAuthToken, DefaultWorkerAuthToken},
		{"WorkerRequireOwnToken", c.WorkerRequireOwnToken, false},
		{"WorkerHealthCheckInterval", c.WorkerHealthCheckInterval, 30 * time.Second},
		{"WorkerHeartbeatTimeout", c.WorkerHeartbeatTimeout, 90 * time.Second},
		{"LeaderLeaseTTL", c.LeaderLeaseTTL, 15 * time.Second},
		{"SessionFailover", c.SessionFailover, true},
		{"RateLimitWindow", c.RateLimitWindow, 15 * time.Minute},
		{"RateLimitMaxRequests", c.RateLimitMaxRequests, 1000},
		{"AuthRateLimitPerMinute", c.AuthRateLimitPerMinute, 10},
		{"LogLevel", c.LogLevel, slog.LevelInfo},
		{"LogFilePath", c.LogFilePath, ""},
		{"LogFlushInterval", c.LogFlushInterval, 100 * time.Millisecond},
		{"BodyLimitBytes", c.BodyLimitBytes, int64(1 << 20)},
		{"MetricsToken", c.MetricsToken, ""},
		{"SendMinInterval", c.SendMinInterval, time.Second},
		{"SendRetryBase", c.SendRetryBase, 2 * time.Second},
		{"SendRetryMax", c.SendRetryMax, 300 * time.Second},
		{"SendMaxAttempts", c.SendMaxAttempts, 10},
		{"WebhookAllowPrivate", c.WebhookAllowPrivate, false},
		{"WebhookRetryBase", c.WebhookRetryBase, 10 * time.Second},
		{"APIKeyReveal", c.APIKeyReveal, true},
		{"ShutdownTimeout", c.ShutdownTimeout, 30 * time.Second},
		{"QRTTL", c.QRTTL, 60 * time.Second},
		{"MetricsRetention", c.MetricsRetention, 7 * 24 * time.Hour},
		{"SystemLogRetention", c.SystemLogRetention, 30 * 24 * time.Hour},
		{"MessageRetention", c.MessageRetention, time.Duration(0)},
		{"WebhookDeliveryRetention", c.WebhookDeliveryRetention, 7 * 24 * time.Hour},
		{"IsProduction", c.IsProduction(), false},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if !strings.HasPrefix(c.DatabaseURL, "postgres://") {
		t.Errorf("DatabaseURL = %q, want a postgres:// default", c.DatabaseURL)
	}
	if !slices.Equal(c.CORSOrigins, []string{"http://localhost:3000"}) {
		t.Errorf("CORSOrigins = %v, want [http://localhost:3000]", c.CORSOrigins)
	}
	if len(c.TrustedProxies) != 0 {
		t.Errorf("TrustedProxies = %v, want none", c.TrustedProxies)
	}
	if len(c.APIKeyEncryptionKey) != 32 {
		t.Errorf("derived APIKeyEncryptionKey has %d bytes, want 32", len(c.APIKeyEncryptionKey))
	}
	if want := model.DefaultTierLimits(); len(c.TierLimits) != len(want) || c.TierLimits[model.TierPro] != want[model.TierPro] {
		t.Errorf("TierLimits = %v, want the defaults %v", c.TierLimits, want)
	}
}

func TestLoad_JWTExpiresIn_AcceptsHumanDurations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"7d", 7 * 24 * time.Hour},
		{"12h", 12 * time.Hour},
		{"30m", 30 * time.Minute},
		{"45s", 45 * time.Second},
		{"1h30m", 90 * time.Minute},
		{"3600", time.Hour},
		{"2w", 14 * 24 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{" 12h ", 12 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, map[string]string{"JWT_EXPIRES_IN": tt.value})
			if c.JWTExpiresIn != tt.want {
				t.Errorf("JWTExpiresIn = %v, want %v", c.JWTExpiresIn, tt.want)
			}
		})
	}
}

func TestLoad_TypedVariables_AreParsed(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, map[string]string{
		"PORT":                            "9090",
		"APP_ENV":                         "test",
		"API_VERSION":                     "v2",
		"DATABASE_URL":                    "postgresql://u:p@db:5432/gw",
		"DB_MAX_CONNS":                    "7",
		"AUTO_MIGRATE":                    "false",
		"REDIS_URL":                       "rediss://cache:6380/1",
		"REDIS_KEY_PREFIX":                "wagw:",
		"BCRYPT_ROUNDS":                   "4",
		"WORKER_REQUIRE_OWN_TOKEN":        "yes",
		"WORKER_HEALTH_CHECK_INTERVAL":    "5000",
		"WORKER_HEARTBEAT_TIMEOUT_MS":     "15000",
		"LEADER_LEASE_TTL_MS":             "3000",
		"SESSION_FAILOVER":                "off",
		"RATE_LIMIT_WINDOW_MS":            "60000",
		"RATE_LIMIT_MAX_REQUESTS":         "5",
		"AUTH_RATE_LIMIT_PER_MINUTE":      "3",
		"LOG_LEVEL":                       "WARN",
		"LOG_FILE_PATH":                   "/var/log/gw",
		"LOG_FLUSH_INTERVAL_MS":           "0",
		"CORS_ORIGIN":                     "https://a.example.com, https://b.example.com:8443 ,",
		"BODY_LIMIT_BYTES":                "2048",
		"TRUSTED_PROXIES":                 "10.0.0.0/8, 192.168.1.7, ::1, 172.16.5.9/12",
		"METRICS_TOKEN":                   "scrape",
		"SEND_MIN_INTERVAL_MS":            "250",
		"SEND_RETRY_BASE_MS":              "100",
		"SEND_RETRY_MAX_MS":               "100",
		"SEND_MAX_ATTEMPTS":               "3",
		"WEBHOOK_ALLOW_PRIVATE":           "1",
		"WEBHOOK_RETRY_BASE_MS":           "500",
		"API_KEY_REVEAL":                  "0",
		"SMTP_URL":                        "smtps://user:pw@mail.example.com:465",
		"SHUTDOWN_TIMEOUT":                "5s",
		"QR_TTL_SECONDS":                  "30",
		"METRICS_RETENTION_DAYS":          "2",
		"SYSTEM_LOG_RETENTION_DAYS":       "3",
		"MESSAGE_RETENTION_DAYS":          "4",
		"WEBHOOK_DELIVERY_RETENTION_DAYS": "5",
	})

	checks := []struct {
		name      string
		got, want any
	}{
		{"Port", c.Port, 9090},
		{"Env", c.Env, Test},
		{"APIVersion", c.APIVersion, "v2"},
		{"DatabaseURL", c.DatabaseURL, "postgresql://u:p@db:5432/gw"},
		{"DBMaxConns", c.DBMaxConns, int32(7)},
		{"AutoMigrate", c.AutoMigrate, false},
		{"RedisURL", c.RedisURL, "rediss://cache:6380/1"},
		{"RedisKeyPrefix", c.RedisKeyPrefix, "wagw:"},
		{"BcryptRounds", c.BcryptRounds, 4},
		{"WorkerRequireOwnToken", c.WorkerRequireOwnToken, true},
		{"WorkerHealthCheckInterval", c.WorkerHealthCheckInterval, 5 * time.Second},
		{"WorkerHeartbeatTimeout", c.WorkerHeartbeatTimeout, 15 * time.Second},
		{"LeaderLeaseTTL", c.LeaderLeaseTTL, 3 * time.Second},
		{"SessionFailover", c.SessionFailover, false},
		{"RateLimitWindow", c.RateLimitWindow, time.Minute},
		{"RateLimitMaxRequests", c.RateLimitMaxRequests, 5},
		{"AuthRateLimitPerMinute", c.AuthRateLimitPerMinute, 3},
		{"LogLevel", c.LogLevel, slog.LevelWarn},
		{"LogFilePath", c.LogFilePath, "/var/log/gw"},
		{"LogFlushInterval", c.LogFlushInterval, time.Duration(0)},
		{"BodyLimitBytes", c.BodyLimitBytes, int64(2048)},
		{"MetricsToken", c.MetricsToken, "scrape"},
		{"SendMinInterval", c.SendMinInterval, 250 * time.Millisecond},
		{"SendRetryBase", c.SendRetryBase, 100 * time.Millisecond},
		{"SendRetryMax", c.SendRetryMax, 100 * time.Millisecond},
		{"SendMaxAttempts", c.SendMaxAttempts, 3},
		{"WebhookAllowPrivate", c.WebhookAllowPrivate, true},
		{"WebhookRetryBase", c.WebhookRetryBase, 500 * time.Millisecond},
		{"APIKeyReveal", c.APIKeyReveal, false},
		{"SMTPURL", c.SMTPURL, "smtps://user:pw@mail.example.com:465"},
		{"ShutdownTimeout", c.ShutdownTimeout, 5 * time.Second},
		{"QRTTL", c.QRTTL, 30 * time.Second},
		{"MetricsRetention", c.MetricsRetention, 2 * 24 * time.Hour},
		{"SystemLogRetention", c.SystemLogRetention, 3 * 24 * time.Hour},
		{"MessageRetention", c.MessageRetention, 4 * 24 * time.Hour},
		{"WebhookDeliveryRetention", c.WebhookDeliveryRetention, 5 * 24 * time.Hour},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if want := []string{"https://a.example.com", "https://b.example.com:8443"}; !slices.Equal(c.CORSOrigins, want) {
		t.Errorf("CORSOrigins = %q, want %q", c.CORSOrigins, want)
	}
	wantProxies := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.168.1.7/32"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("172.16.0.0/12"), // masked to the network
	}
	if !slices.Equal(c.TrustedProxies, wantProxies) {
		t.Errorf("TrustedProxies = %v, want %v", c.TrustedProxies, wantProxies)
	}
	if c.APIKeyEncryptionKey != nil {
		t.Errorf("APIKeyEncryptionKey = %x, want none when API_KEY_REVEAL=false and no key is set", c.APIKeyEncryptionKey)
	}
}

func TestLoad_GOGC_IsAPercentOrOff(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]int{"50": 50, "400": 400, "off": -1, "OFF": -1} {
		if got := mustLoad(t, map[string]string{"GOGC": v}).GCPercent; got != want {
			t.Errorf("GOGC=%s: GCPercent %d, want %d", v, got, want)
		}
	}
}

func TestLoad_Booleans_AcceptCommonSpellings(t *testing.T) {
	t.Parallel()
	for value, want := range map[string]bool{
		"true": true, "TRUE": true, "1": true, "yes": true, "on": true,
		"false": false, "False": false, "0": false, "no": false, "off": false,
	} {
		c := mustLoad(t, map[string]string{"AUTO_MIGRATE": value})
		if c.AutoMigrate != want {
			t.Errorf("AUTO_MIGRATE=%q: AutoMigrate = %v, want %v", value, c.AutoMigrate, want)
		}
	}
}

func TestLoad_LogLevel_AcceptsAliases(t *testing.T) {
	t.Parallel()
	for value, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "silly": slog.LevelDebug, "verbose": slog.LevelDebug,
		"info": slog.LevelInfo, "http": slog.LevelInfo,
		"warn": slog.LevelWarn, "warning": slog.LevelWarn,
		"ERROR": slog.LevelError,
	} {
		if got := mustLoad(t, map[string]string{"LOG_LEVEL": value}).LogLevel; got != want {
			t.Errorf("LOG_LEVEL=%q: LogLevel = %v, want %v", value, got, want)
		}
	}
}

func TestLoad_TierLimits_MergeOverDefaultsPerField(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, map[string]string{
		"TIER_LIMITS": `{"pro":{"sessions":7},"MAX":{"messagesPerHour":5,"apiCallsPerHour":6}}`,
	})
	defaults := model.DefaultTierLimits()

	wantPro := defaults[model.TierPro]
	wantPro.Sessions = 7
	wantMax := defaults[model.TierMax]
	wantMax.MessagesPerHour, wantMax.APICallsPerHour = 5, 6
	want := map[model.UserTier]model.TierLimits{
		model.TierBasic: defaults[model.TierBasic],
		model.TierPro:   wantPro,
		model.TierMax:   wantMax,
	}
	for tier, w := range want {
		if got := c.TierLimits[tier]; got != w {
			t.Errorf("TierLimits[%s] = %+v, want %+v", tier, got, w)
		}
	}
	if len(c.TierLimits) != len(want) {
		t.Errorf("TierLimits has %d tiers, want %d", len(c.TierLimits), len(want))
	}
}

func TestLoad_TierLimits_DoesNotChangeTheDefaultsOfOtherLoads(t *testing.T) {
	t.Parallel()
	mustLoad(t, map[string]string{"TIER_LIMITS": `{"BASIC":{"sessions":99}}`})
	if got := mustLoad(t, nil).TierLimits[model.TierBasic]; got != model.DefaultTierLimits()[model.TierBasic] {
		t.Errorf("BASIC after an override elsewhere = %+v, want the defaults", got)
	}
}

func TestLoad_BadValue_ErrorNamesTheVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		vars    map[string]string
		wantVar string
	}{
		{"port not a number", map[string]string{"PORT": "abc"}, "PORT"},
		{"port out of range", map[string]string{"PORT": "70000"}, "PORT"},
		{"port zero", map[string]string{"PORT": "0"}, "PORT"},
		{"boolean", map[string]string{"AUTO_MIGRATE": "maybe"}, "AUTO_MIGRATE"},
		{"log level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"environment", map[string]string{"APP_ENV": "staging"}, "APP_ENV"},
		{"node environment", map[string]string{"NODE_ENV": "staging"}, "NODE_ENV"},
		{"duration", map[string]string{"JWT_EXPIRES_IN": "forever"}, "JWT_EXPIRES_IN"},
		{"zero duration", map[string]string{"JWT_EXPIRES_IN": "0"}, "JWT_EXPIRES_IN"},
		{"negative duration", map[string]string{"SHUTDOWN_TIMEOUT": "-5s"}, "SHUTDOWN_TIMEOUT"},
		{"bad days", map[string]string{"JWT_EXPIRES_IN": "xd"}, "JWT_EXPIRES_IN"},
		{"milliseconds not a number", map[string]string{"RATE_LIMIT_WINDOW_MS": "15m"}, "RATE_LIMIT_WINDOW_MS"},
		{"milliseconds zero", map[string]string{"SEND_MIN_INTERVAL_MS": "0"}, "SEND_MIN_INTERVAL_MS"},
		{"bcrypt too low", map[string]string{"BCRYPT_ROUNDS": "3"}, "BCRYPT_ROUNDS"},
		{"body limit too small", map[string]string{"BODY_LIMIT_BYTES": "10"}, "BODY_LIMIT_BYTES"},
		{"GOGC not a number", map[string]string{"GOGC": "lots"}, "GOGC"},
		{"GOGC zero", map[string]string{"GOGC": "0"}, "GOGC"},
		{"tier limits not JSON", map[string]string{"TIER_LIMITS": "{bad"}, "TIER_LIMITS"},
		{"tier limits unknown tier", map[string]string{"TIER_LIMITS": `{"GOLD":{"sessions":1}}`}, "TIER_LIMITS"},
		{"tier limits unknown field", map[string]string{"TIER_LIMITS": `{"PRO":{"seats":1}}`}, "TIER_LIMITS"},
		{"tier limits negative", map[string]string{"TIER_LIMITS": `{"PRO":{"sessions":-1}}`}, "TIER_LIMITS"},
		{"encryption key wrong length", map[string]string{
			"API_KEY_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(make([]byte, 16)),
		}, "API_KEY_ENCRYPTION_KEY"},
		{"encryption key not base64", map[string]string{"API_KEY_ENCRYPTION_KEY": "!!!not base64!!!"}, "API_KEY_ENCRYPTION_KEY"},
		{"database URL scheme", map[string]string{"DATABASE_URL": "mysql://root@localhost/gw"}, "DATABASE_URL"},
		{"redis URL scheme", map[string]string{"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"},
		{"smtp URL scheme", map[string]string{"SMTP_URL": "http://mail.example.com"}, "SMTP_URL"},
		{"cors origin", map[string]string{"CORS_ORIGIN": "not-an-origin"}, "CORS_ORIGIN"},
		{"cors origin without scheme", map[string]string{"CORS_ORIGIN": "https://ok.example.com,localhost:3000"}, "CORS_ORIGIN"},
		{"trusted proxy", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, "TRUSTED_PROXIES"},
		{"retry max below base", map[string]string{"SEND_RETRY_BASE_MS": "5000", "SEND_RETRY_MAX_MS": "1000"}, "SEND_RETRY_MAX_MS"},
		{"leader lease too short", map[string]string{"LEADER_LEASE_TTL_MS": "1000"}, "LEADER_LEASE_TTL_MS"},
		{"webhook delivery retention zero", map[string]string{"WEBHOOK_DELIVERY_RETENTION_DAYS": "0"}, "WEBHOOK_DELIVERY_RETENTION_DAYS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(env(tt.vars))
			if err == nil {
				t.Fatalf("Load(%v) = %+v, want an error naming %s", tt.vars, c, tt.wantVar)
			}
			if !strings.Contains(err.Error(), tt.wantVar+":") {
				t.Errorf("error %q does not name %s", err, tt.wantVar)
			}
		})
	}
}

func TestLoad_SeveralBadValues_ReportsEveryOne(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{
		"PORT":         "abc",
		"AUTO_MIGRATE": "maybe",
		"LOG_LEVEL":    "loud",
		"TIER_LIMITS":  "{bad",
		"REDIS_URL":    "http://x",
	}))
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	for _, name := range []string{"PORT", "AUTO_MIGRATE", "LOG_LEVEL", "TIER_LIMITS", "REDIS_URL"} {
		if !strings.Contains(err.Error(), name+":") {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

func TestLoad_Production_ValidSecrets_Loads(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, productionVars())
	if !c.IsProduction() {
		t.Errorf("IsProduction() = false for APP_ENV=production")
	}
	if !bytes.Equal(c.APIKeyEncryptionKey, bytes.Repeat([]byte{7}, 32)) {
		t.Errorf("APIKeyEncryptionKey = %x, want the decoded variable", c.APIKeyEncryptionKey)
	}
}

func TestLoad_Production_RefusesUnsafeSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  map[string]string
		drop    string
		wantVar string
	}{
		{"default JWT secret", map[string]string{"JWT_SECRET": DefaultJWTSecret}, "", "JWT_SECRET"},
		{"unset JWT secret", nil, "JWT_SECRET", "JWT_SECRET"},
		{"change-me JWT secret", map[string]string{"JWT_SECRET": "change-me-jwt-secret-use-at-least-32-random-bytes"}, "", "JWT_SECRET"},
		{"short JWT secret", map[string]string{"JWT_SECRET": strings.Repeat("s", 31)}, "", "JWT_SECRET"},
		{"default worker token", map[string]string{"WORKER_AUTH_TOKEN": DefaultWorkerAuthToken}, "", "WORKER_AUTH_TOKEN"},
		{"unset worker token", nil, "WORKER_AUTH_TOKEN", "WORKER_AUTH_TOKEN"},
		{"short worker token", map[string]string{"WORKER_AUTH_TOKEN": "short"}, "", "WORKER_AUTH_TOKEN"},
		{"worker token equals JWT secret", map[string]string{"WORKER_AUTH_TOKEN": strings.Repeat("j", 40)}, "", "WORKER_AUTH_TOKEN"},
		{"missing encryption key", nil, "API_KEY_ENCRYPTION_KEY", "API_KEY_ENCRYPTION_KEY"},
		{"CORS wildcard", map[string]string{"CORS_ORIGIN": "*"}, "", "CORS_ORIGIN"},
		{"CORS wildcard among others", map[string]string{"CORS_ORIGIN": "https://app.example.com,*"}, "", "CORS_ORIGIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vars := productionVars()
			for k, v := range tt.change {
				vars[k] = v
			}
			delete(vars, tt.drop)
			_, err := Load(env(vars))
			if err == nil {
				t.Fatalf("Load succeeded, want production to refuse %s", tt.wantVar)
			}
			if !strings.Contains(err.Error(), tt.wantVar+":") {
				t.Errorf("error %q does not name %s", err, tt.wantVar)
			}
		})
	}
}

func TestLoad_Production_NoEncryptionKeyWithRevealOff_Loads(t *testing.T) {
	t.Parallel()
	vars := productionVars()
	delete(vars, "API_KEY_ENCRYPTION_KEY")
	vars["API_KEY_REVEAL"] = "false"
	c := mustLoad(t, vars)
	if c.APIKeyEncryptionKey != nil {
		t.Errorf("APIKeyEncryptionKey = %x, want none", c.APIKeyEncryptionKey)
	}
}

func TestLoad_DevelopmentDefaults_AreAcceptedOutsideProduction(t *testing.T) {
	t.Parallel()
	for _, e := range []string{"development", "test"} {
		c := mustLoad(t, map[string]string{"APP_ENV": e, "CORS_ORIGIN": "*", "JWT_SECRET": "short"})
		if c.IsProduction() {
			t.Errorf("APP_ENV=%s: IsProduction() = true", e)
		}
	}
}

func TestLoad_Environment_NodeEnvIsAFallbackForAppEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		vars map[string]string
		want Environment
	}{
		{map[string]string{"NODE_ENV": "test"}, Test},
		{map[string]string{"NODE_ENV": "testing"}, Test},
		{map[string]string{"NODE_ENV": "dev"}, Development},
		{map[string]string{"APP_ENV": "test", "NODE_ENV": "production"}, Test},
		{map[string]string{"APP_ENV": "Development"}, Development},
	}
	for _, tt := range tests {
		if got := mustLoad(t, tt.vars).Env; got != tt.want {
			t.Errorf("Load(%v).Env = %q, want %q", tt.vars, got, tt.want)
		}
	}

	// NODE_ENV=production alone makes a production configuration, with its checks.
	vars := productionVars()
	delete(vars, "APP_ENV")
	vars["NODE_ENV"] = "prod"
	if c := mustLoad(t, vars); !c.IsProduction() {
		t.Errorf("NODE_ENV=prod: Env = %q, want production", c.Env)
	}
	vars["JWT_SECRET"] = DefaultJWTSecret
	if _, err := Load(env(vars)); err == nil || !strings.Contains(err.Error(), "JWT_SECRET:") {
		t.Errorf("NODE_ENV=prod with the default JWT secret: err = %v, want JWT_SECRET refused", err)
	}
}

func TestLoad_DerivedEncryptionKey_Is32BytesAndStablePerSecret(t *testing.T) {
	t.Parallel()
	a1 := mustLoad(t, map[string]string{"JWT_SECRET": "secret-a"}).APIKeyEncryptionKey
	a2 := mustLoad(t, map[string]string{"JWT_SECRET": "secret-a"}).APIKeyEncryptionKey
	b := mustLoad(t, map[string]string{"JWT_SECRET": "secret-b"}).APIKeyEncryptionKey

	if len(a1) != 32 {
		t.Fatalf("derived key has %d bytes, want 32", len(a1))
	}
	if !bytes.Equal(a1, a2) {
		t.Errorf("the derived key changed between loads with the same JWT_SECRET: %x vs %x", a1, a2)
	}
	if bytes.Equal(a1, b) {
		t.Errorf("different JWT secrets derived the same key %x", a1)
	}
}

func TestLoad_EncryptionKey_AcceptsURLSafeBase64(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{0xfb, 0xff}, 16) // encodes with - and _ in the URL alphabet
	for _, enc := range []string{
		base64.StdEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key),
		base64.RawURLEncoding.EncodeToString(key),
	} {
		got := mustLoad(t, map[string]string{"API_KEY_ENCRYPTION_KEY": enc}).APIKeyEncryptionKey
		if !bytes.Equal(got, key) {
			t.Errorf("API_KEY_ENCRYPTION_KEY=%s decoded to %x, want %x", enc, got, key)
		}
	}
}

func TestParseHumanDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "1w", want: 7 * 24 * time.Hour},
		{in: "90", want: 90 * time.Second},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "d", wantErr: true},
		{in: "soon", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseHumanDuration(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseHumanDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func writeDotenv(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWithDotenv_FallsBackToTheFileAndTheEnvironmentWins(t *testing.T) {
	t.Parallel()
	path := writeDotenv(t, "# local settings\nPORT=9001\nLOG_LEVEL=debug\nAPI_VERSION=\"v9\"\n")
	getenv, err := WithDotenv(env(map[string]string{"PORT": "9002"}), path)
	if err != nil {
		t.Fatalf("WithDotenv: %v", err)
	}

	c, err := Load(getenv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Port != 9002 {
		t.Errorf("Port = %d, want 9002 from the environment over the file's 9001", c.Port)
	}
	if c.LogLevel != slog.LevelDebug {
		t.Errorf("LogLevel = %v, want debug from the file", c.LogLevel)
	}
	if c.APIVersion != "v9" {
		t.Errorf("APIVersion = %q, want v9 from the file", c.APIVersion)
	}
	if getenv("UNSET_ANYWHERE") != "" {
		t.Errorf("a variable set nowhere reads %q, want empty", getenv("UNSET_ANYWHERE"))
	}
}

func TestWithDotenv_BadFileValue_IsReportedByLoad(t *testing.T) {
	t.Parallel()
	getenv, err := WithDotenv(env(nil), writeDotenv(t, "PORT=eighty\n"))
	if err != nil {
		t.Fatalf("WithDotenv: %v", err)
	}
	if _, err := Load(getenv); err == nil || !strings.Contains(err.Error(), "PORT:") {
		t.Errorf("Load with PORT=eighty from .env: err = %v, want one naming PORT", err)
	}
}

func TestWithDotenv_MissingFile_IsFine(t *testing.T) {
	t.Parallel()
	getenv, err := WithDotenv(env(map[string]string{"PORT": "1234"}), filepath.Join(t.TempDir(), "absent.env"))
	if err != nil {
		t.Fatalf("WithDotenv on a missing file: %v", err)
	}
	if got := getenv("PORT"); got != "1234" {
		t.Errorf("PORT = %q, want the environment's 1234", got)
	}
}

func TestWithDotenv_UnreadableFile_Errors(t *testing.T) {
	t.Parallel()
	// A directory where the file should be cannot be read as one.
	if _, err := WithDotenv(env(nil), t.TempDir()); err == nil {
		t.Error("WithDotenv on a directory succeeded, want an error")
	}
}
