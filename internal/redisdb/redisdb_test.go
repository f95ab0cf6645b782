package redisdb_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/redisdb"
	"github.com/wagateway/gateway/internal/testenv"
)

func TestParseURL_SingleNode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url                string
		addr               string
		db                 int
		username, password string
		tls                bool
	}{
		{url: "redis://127.0.0.1:6379/0", addr: "127.0.0.1:6379"},
		{url: "redis://cache.internal:6380/3", addr: "cache.internal:6380", db: 3},
		{url: "redis://:s3cret@cache:6379/1", addr: "cache:6379", db: 1, password: "s3cret"},
		{url: "redis://app:pw@cache:6379", addr: "cache:6379", username: "app", password: "pw"},
		{url: "redis://cache", addr: "cache:6379"},
		{url: "rediss://:pw@cache.example.com:6380/2", addr: "cache.example.com:6380", db: 2, password: "pw", tls: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			opts, err := redisdb.ParseURL(tt.url)
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if !slices.Equal(opts.Addrs, []string{tt.addr}) {
				t.Errorf("Addrs = %v, want [%s]", opts.Addrs, tt.addr)
			}
			if opts.DB != tt.db {
				t.Errorf("DB = %d, want %d", opts.DB, tt.db)
			}
			if opts.Username != tt.username || opts.Password != tt.password {
				t.Errorf("credentials = %q/%q, want %q/%q", opts.Username, opts.Password, tt.username, tt.password)
			}
			if (opts.TLSConfig != nil) != tt.tls {
				t.Errorf("TLS = %v, want %v", opts.TLSConfig != nil, tt.tls)
			}
			if opts.MasterName != "" || opts.IsClusterMode {
				t.Errorf("single node parsed as sentinel %q / cluster %v", opts.MasterName, opts.IsClusterMode)
			}
			if opts.DialTimeout <= 0 || opts.ReadTimeout <= 0 {
				t.Errorf("timeouts not set: dial %v, read %v", opts.DialTimeout, opts.ReadTimeout)
			}
		})
	}
}

func TestParseURL_Sentinel_ReadsMasterAddrsAndPassword(t *testing.T) {
	t.Parallel()
	opts, err := redisdb.ParseURL("redis-sentinel://:pw@s1:26379,s2:26379,s3:26379/mymaster?db=4&tls=true")
	if err != nil {
		t.Fatalf("ParseURL: %v", err)
	}
	if opts.MasterName != "mymaster" {
		t.Errorf("MasterName = %q, want mymaster", opts.MasterName)
	}
	if want := []string{"s1:26379", "s2:26379", "s3:26379"}; !slices.Equal(opts.Addrs, want) {
		t.Errorf("Addrs = %v, want %v", opts.Addrs, want)
	}
	if opts.Password != "pw" || opts.SentinelPassword != "pw" {
		t.Errorf("Password = %q, SentinelPassword = %q, want pw for both", opts.Password, opts.SentinelPassword)
	}
	if opts.DB != 4 {
		t.Errorf("DB = %d, want 4", opts.DB)
	}
	if opts.TLSConfig == nil {
		t.Error("tls=true did not enable TLS")
	}
	if opts.IsClusterMode {
		t.Error("sentinel URL parsed as a cluster")
	}
}

func TestParseURL_Cluster_ReadsEveryAddr(t *testing.T) {
	t.Parallel()
	opts, err := redisdb.ParseURL("redis-cluster://:pw@n1:6379,n2:6379,n3:6380")
	if err != nil {
		t.Fatalf("ParseURL: %v", err)
	}
	if !opts.IsClusterMode {
		t.Error("IsClusterMode = false")
	}
	if want := []string{"n1:6379", "n2:6379", "n3:6380"}; !slices.Equal(opts.Addrs, want) {
		t.Errorf("Addrs = %v, want %v", opts.Addrs, want)
	}
	if opts.Password != "pw" {
		t.Errorf("Password = %q, want pw", opts.Password)
	}
	if opts.TLSConfig != nil {
		t.Error("TLS enabled without tls=true")
	}
}

func TestParseURL_BadURL_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		wantErr string
	}{
		{"http://127.0.0.1:6379", "unknown scheme"},
		{"memcached://cache:11211", "unknown scheme"},
		{"127.0.0.1:6379", "REDIS_URL"},
		{"redis-sentinel://s1:26379,s2:26379", "master"},
		{"redis-sentinel://s1:26379/", "master"},
		{"redis-cluster://n1:6379?db=one", "db"},
		{"redis://cache:6379/notanumber", "REDIS_URL"},
		{"redis://[::1", "REDIS_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			opts, err := redisdb.ParseURL(tt.url)
			if err == nil {
				t.Fatalf("ParseURL = %+v, want an error", opts)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestOpen_ReachableRedis_Pings(t *testing.T) {
	t.Parallel()
	rdb, err := redisdb.Open(context.Background(), testenv.RedisURL())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestOpen_ClosedPort_Errors(t *testing.T) {
	t.Parallel()
	rdb, err := redisdb.Open(context.Background(), "redis://127.0.0.1:1/0")
	if err == nil {
		_ = rdb.Close()
		t.Fatal("Open on a closed port succeeded")
	}
	if !strings.Contains(err.Error(), "connect to redis") {
		t.Errorf("error %q does not say it could not connect to redis", err)
	}
	if _, err := redisdb.Open(context.Background(), "http://127.0.0.1:6379"); err == nil {
		t.Error("Open with a bad scheme succeeded")
	}
}

func TestKeys_JoinPartsUnderThePrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prefix string
		key    func(redisdb.Keys) string
		want   string
	}{
		{"", func(k redisdb.Keys) string { return k.Key("ratelimit", "global", "1.2.3.4") }, "ratelimit:global:1.2.3.4"},
		{"wagw:", func(k redisdb.Keys) string { return k.Key("ratelimit", "global", "1.2.3.4") }, "wagw:ratelimit:global:1.2.3.4"},
		{"wagw:", func(k redisdb.Keys) string { return k.Key("leader") }, "wagw:leader"},
		{"wagw:", func(k redisdb.Keys) string { return k.Key() }, "wagw:"},
		{"wagw:", func(k redisdb.Keys) string { return k.Key("", "x", "") }, "wagw::x:"},
		{"", func(k redisdb.Keys) string { return k.Tagged("session", "s1", "lock") }, "{session}:s1:lock"},
		{"wagw:", func(k redisdb.Keys) string { return k.Tagged("session", "s1", "lock") }, "wagw:{session}:s1:lock"},
		{"wagw:", func(k redisdb.Keys) string { return k.Tagged("session") }, "wagw:{session}"},
	}
	for _, tt := range tests {
		k := redisdb.NewKeys(tt.prefix)
		if got := tt.key(k); got != tt.want {
			t.Errorf("prefix %q: key = %q, want %q", tt.prefix, got, tt.want)
		}
		if k.Prefix() != tt.prefix {
			t.Errorf("Prefix() = %q, want %q", k.Prefix(), tt.prefix)
		}
	}
}

func TestKeys_KeyAllocatesOnce(t *testing.T) {
	k := redisdb.NewKeys("wagw:")
	ip := "203.0.113.7"
	if allocs := testing.AllocsPerRun(100, func() { _ = k.Key("ratelimit", "global", ip) }); allocs > 1 {
		t.Errorf("Key allocates %.0f times per call, want 1", allocs)
	}
}

// Found by the fault suite (issue 13): with Redis stopped, every command waited about 1.7 s
// for its dials before failing, so every request of the gateway took seconds. Now the first
// command fails after one dial and the next ones at once.
func TestParseURL_RedisDown_CommandsFailFast(t *testing.T) {
	t.Parallel()
	opts, err := redisdb.ParseURL("redis://" + testenv.ClosedAddr(t) + "/0")
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewUniversalClient(opts)
	defer client.Close()
	ctx := context.Background()
	start := time.Now()
	if err := client.Get(ctx, "k").Err(); err == nil {
		t.Fatal("GET succeeded against a closed port")
	}
	if first := time.Since(start); first > time.Second {
		t.Errorf("first command against a down Redis took %s", first)
	}
	start = time.Now()
	for range 20 {
		if err := client.Get(ctx, "k").Err(); err == nil || !strings.Contains(err.Error(), "unavailable") {
			t.Fatalf("GET while down: %v, want the fast unavailable error", err)
		}
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Errorf("20 commands against a down Redis took %s, want them to fail at once", took)
	}
}

func TestParseURL_RedisBackAfterDown_ClientReconnects(t *testing.T) {
	t.Parallel()
	opts, err := redisdb.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewUniversalClient(opts)
	defer client.Close()
	if err := client.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING through the fast-failing dialer: %v", err)
	}
}

func TestDeletePrefix_DeletesOnlyTheKeysUnderThePrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, err := redisdb.Open(ctx, testenv.RedisURL())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer rdb.Close()
	prefix := "test:deleteprefix:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	other := strings.TrimSuffix(prefix, ":") + "-other:"
	for i := range 1200 { // more than one batch
		rdb.Set(ctx, prefix+strconv.Itoa(i), "x", time.Minute)
	}
	rdb.Set(ctx, other+"kept", "x", time.Minute)
	defer rdb.Del(ctx, other+"kept")

	n, err := redisdb.DeletePrefix(ctx, rdb, prefix)
	if err != nil || n != 1200 {
		t.Fatalf("DeletePrefix = %d, %v; want 1200", n, err)
	}
	if left, _ := rdb.Keys(ctx, prefix+"*").Result(); len(left) > 0 {
		t.Errorf("%d keys left under the prefix", len(left))
	}
	if rdb.Exists(ctx, other+"kept").Val() != 1 {
		t.Error("a key under another prefix was deleted")
	}
	if _, err := redisdb.DeletePrefix(ctx, rdb, ""); err == nil {
		t.Error("an empty prefix (every key) is accepted")
	}
}
