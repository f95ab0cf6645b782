// Package ratelimit counts requests in fixed windows kept in Redis, so that every replica of
// the gateway shares one count. A window starts at the first counted request and lasts the
// configured duration, as in the original.
package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/redisdb"
)

// One round trip: count, start the window on the first hit, and report its remaining time.
var incrScript = redis.NewScript(`
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`)

// undoScript takes back one hit of a window that still exists (an expired window stays gone).
var undoScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('DECR', KEYS[1])
end
return 0
`)

// Result is the state of one window after a request was counted.
type Result struct {
	Allowed   bool
	Limit     int
	Remaining int
	// ResetIn is the time until the window ends; RetryAfter when not allowed.
	ResetIn time.Duration
}

// Limiter counts hits per key in Redis. The counts of concurrent requests travel together in
// one pipeline (redisdb.AutoPipeline).
type Limiter struct {
	rdb  redis.UniversalClient
	pipe *redisdb.AutoPipeline
}

// New returns a limiter on rdb.
func New(rdb redis.UniversalClient) *Limiter {
	return &Limiter{rdb: rdb, pipe: redisdb.NewAutoPipeline(rdb)}
}

// Allow counts one hit on key, allowing at most limit hits per window.
func (l *Limiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (Result, error) {
	var cmd *redis.Cmd
	l.pipe.Do(ctx, func(p redis.Pipeliner) {
		cmd = p.EvalSha(ctx, incrScript.Hash(), []string{key}, window.Milliseconds())
	})
	if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		// Redis lost its script cache (a restart, SCRIPT FLUSH): Run loads it again.
		cmd = incrScript.Run(ctx, l.rdb, []string{key}, window.Milliseconds())
	}
	vals, err := cmd.Int64Slice()
	if err != nil {
		return Result{Allowed: true, Limit: limit, Remaining: limit, ResetIn: window}, fmt.Errorf("rate limit %s: %w", key, err)
	}
	count, ttl := int(vals[0]), time.Duration(vals[1])*time.Millisecond
	return Result{
		Allowed:   count <= limit,
		Limit:     limit,
		Remaining: max(limit-count, 0),
		ResetIn:   ttl,
	}, nil
}

// Undo takes back one hit counted on key, for a request that turned out not to count.
func (l *Limiter) Undo(ctx context.Context, key string) error {
	if err := undoScript.Run(ctx, l.rdb, []string{key}).Err(); err != nil {
		return fmt.Errorf("rate limit %s: undo: %w", key, err)
	}
	return nil
}
