package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/redisdb"
)

// RedisURL is the Redis tests use.
func RedisURL() string {
	if v := os.Getenv("TEST_REDIS_URL"); v != "" {
		return v
	}
	return "redis://127.0.0.1:6379/0"
}

// NewKeyPrefix returns a key prefix no other test uses; its keys are deleted after the test.
func NewKeyPrefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() { deletePrefix(t, prefix) })
	return prefix
}

// NewRedis returns a client and a key namer under a prefix of the test's own.
func NewRedis(t testing.TB) (redis.UniversalClient, redisdb.Keys) {
	t.Helper()
	rdb, err := redisdb.Open(context.Background(), RedisURL())
	if err != nil {
		t.Fatalf("open test redis: %v", err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb, redisdb.NewKeys(NewKeyPrefix(t))
}

func deletePrefix(t testing.TB, prefix string) {
	rdb, err := redisdb.Open(context.Background(), RedisURL())
	if err != nil {
		t.Logf("clean redis prefix %s: %v", prefix, err)
		return
	}
	defer rdb.Close()
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		rdb.Unlink(ctx, keys[:n]...)
		keys = keys[n:]
	}
}
