// Package ratelimit counts requests in fixed windows kept in Redis, so that every replica of
// the gateway shares one count. A window starts at the first counted request and lasts the
// configured duration, as in the original.
//
// A busy key does not cost a Redis round trip per request: a replica takes a lease of several
// hits at once (INCRBY in Redis, so the shared count already includes them) and hands them out
// locally. Leases never let the replicas together allow more than the limit. Their size
// follows the key's request rate (about leaseHorizon of traffic) and is capped by a fraction of
// what is left in the window, so that near the limit every hit goes to Redis one by one and a
// single replica refuses at exactly limit+1. Units a replica leased and has not used are
// counted as used by the others until it gives them back: after leaseIdle without traffic on
// the key, or when the limiter stops.
package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/redisdb"
)

const (
	// leaseHorizon is how much of a key's recent traffic one lease covers.
	leaseHorizon = 50 * time.Millisecond
	// maxLease bounds a lease; leaseShare bounds it to this fraction of what is left.
	maxLease   = 256
	leaseShare = 64
	// leaseIdle is how long unused units stay with a replica after the key's last hit.
	leaseIdle = time.Second
)

// leaseScript takes up to ARGV[3] hits of a window with limit ARGV[2], starting the window
// (ARGV[1] ms) on its first hit. It returns {granted, count after, remaining ms}; granted is 0
// when the window is full (the refused hit is not counted).
var leaseScript = redis.NewScript(`
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) - count)
if grant < 1 then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then ttl = tonumber(ARGV[1]) end
  return {0, count, ttl}
end
count = redis.call('INCRBY', KEYS[1], grant)
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {grant, count, ttl}
`)

// returnScript gives back ARGV[1] unused hits of the window that ends at ARGV[2] (unix ms),
// and only of that window (its end known within ARGV[3] ms): a window that expired and
// started again is left alone.
var returnScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return 0 end
local t = redis.call('TIME')
local ends = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + ttl
if math.abs(ends - tonumber(ARGV[2])) > tonumber(ARGV[3]) then return 0 end
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
return redis.call('DECRBY', KEYS[1], math.min(tonumber(ARGV[1]), count))
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

// Limiter counts hits per key in Redis, through leases held by this replica. The lease
// requests of concurrent keys travel together in one pipeline (redisdb.AutoPipeline).
type Limiter struct {
	rdb    redis.UniversalClient
	pipe   *redisdb.AutoPipeline
	leases sync.Map // key → *lease
	swept  atomic.Int64
}

// lease is this replica's share of one key's current window.
type lease struct {
	mu sync.Mutex
	// units are hits counted in Redis and not used yet; count is the window's count in Redis
	// after the last lease, units included.
	units, count int
	window       time.Duration
	windowEnd    time.Time
	takenAt      time.Time
	size         int // of the last lease
	lastHit      time.Time
	forgotten    bool // removed from the map by a sweep
}

// New returns a limiter on rdb.
func New(rdb redis.UniversalClient) *Limiter {
	return &Limiter{rdb: rdb, pipe: redisdb.NewAutoPipeline(rdb)}
}

// Allow counts one hit on key, allowing at most limit hits per window.
func (l *Limiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (Result, error) {
	now := time.Now()
	ls := l.lock(key)
	// Holding the lease's lock over the Redis call makes one request per key and replica fetch
	// the next lease while the others wait for its units.
	defer ls.mu.Unlock()
	ls.lastHit = now
	if ls.units > 0 && now.Before(ls.windowEnd) {
		ls.units--
		return ls.result(limit, now), nil
	}
	want := ls.nextSize(limit, now)
	var cmd *redis.Cmd
	args := []any{window.Milliseconds(), limit, want}
	l.pipe.Do(ctx, func(p redis.Pipeliner) {
		cmd = p.EvalSha(ctx, leaseScript.Hash(), []string{key}, args...)
	})
	if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		// Redis lost its script cache (a restart, SCRIPT FLUSH): Run loads it again.
		cmd = leaseScript.Run(ctx, l.rdb, []string{key}, args...)
	}
	vals, err := cmd.Int64Slice()
	if err != nil || len(vals) != 3 {
		return Result{Allowed: true, Limit: limit, Remaining: limit, ResetIn: window}, fmt.Errorf("rate limit %s: %w", key, err)
	}
	granted, count, ttl := int(vals[0]), int(vals[1]), time.Duration(vals[2])*time.Millisecond
	ls.count, ls.window, ls.windowEnd, ls.takenAt, ls.size = count, window, now.Add(ttl), now, granted
	if granted == 0 {
		ls.units = 0
		return Result{Allowed: false, Limit: limit, Remaining: 0, ResetIn: ttl}, nil
	}
	ls.units = granted - 1
	l.sweepSometimes(now)
	return ls.result(limit, now), nil
}

// lock returns key's lease, locked.
func (l *Limiter) lock(key string) *lease {
	for {
		v, ok := l.leases.Load(key)
		if !ok {
			v, _ = l.leases.LoadOrStore(key, &lease{})
		}
		ls := v.(*lease)
		ls.mu.Lock()
		if !ls.forgotten {
			return ls
		}
		ls.mu.Unlock() // swept while this request waited for it: take the new one
	}
}

// result reports an allowed hit and the window as this replica knows it: Redis's count at the last lease, less
// what this replica has not used of it.
func (ls *lease) result(limit int, now time.Time) Result {
	return Result{Allowed: true, Limit: limit, Remaining: max(limit-(ls.count-ls.units), 0), ResetIn: ls.windowEnd.Sub(now)}
}

// nextSize is the size of the next lease: about leaseHorizon of the rate at which the last
// one was used, at most what is left over leaseShare, and 1 for a key seen for the first time.
func (ls *lease) nextSize(limit int, now time.Time) int {
	if ls.size == 0 || !now.Before(ls.windowEnd) {
		return 1
	}
	used := ls.size - ls.units
	elapsed := max(now.Sub(ls.takenAt), time.Millisecond)
	want := int(float64(used) * float64(leaseHorizon) / float64(elapsed))
	left := limit - (ls.count - ls.units)
	return max(1, min(want, maxLease, left/leaseShare))
}

// Undo takes back one hit counted on key, for a request that turned out not to count.
func (l *Limiter) Undo(ctx context.Context, key string) error {
	if v, ok := l.leases.Load(key); ok {
		ls := v.(*lease)
		ls.mu.Lock()
		live := time.Now().Before(ls.windowEnd) && ls.size > 0
		if live {
			ls.units++
		}
		ls.mu.Unlock()
		if live {
			return nil
		}
	}
	if err := undoScript.Run(ctx, l.rdb, []string{key}).Err(); err != nil {
		return fmt.Errorf("rate limit %s: undo: %w", key, err)
	}
	return nil
}

// Unused is how many hits of key's current window this replica holds without having used
// them; Redis's count less Unused is what this replica knows was used.
func (l *Limiter) Unused(key string) int {
	v, ok := l.leases.Load(key)
	if !ok {
		return 0
	}
	ls := v.(*lease)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if !time.Now().Before(ls.windowEnd) {
		return 0
	}
	return ls.units
}

// Run gives back the units of leases idle for leaseIdle until ctx ends, then gives back all.
// Without it, unused units stay counted until their window ends.
func (l *Limiter) Run(ctx context.Context) {
	t := time.NewTicker(leaseIdle / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			l.giveBack(context.WithoutCancel(ctx), time.Now(), 0)
			return
		case now := <-t.C:
			l.giveBack(ctx, now, leaseIdle)
		}
	}
}

// sweepSometimes forgets, about once a window of leaseIdle, leases whose window ended, so
// that keys of clients gone for good do not pile up in memory.
func (l *Limiter) sweepSometimes(now time.Time) {
	last := l.swept.Load()
	if now.UnixNano()-last < int64(leaseIdle) || !l.swept.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	l.leases.Range(func(k, v any) bool {
		ls := v.(*lease)
		if ls.mu.TryLock() {
			if !now.Before(ls.windowEnd) && ls.units == 0 {
				ls.forgotten = true
				l.leases.Delete(k)
			}
			ls.mu.Unlock()
		}
		return true
	})
}

// giveBack returns the unused units of leases whose key has had no hit for idle.
func (l *Limiter) giveBack(ctx context.Context, now time.Time, idle time.Duration) {
	l.leases.Range(func(k, v any) bool {
		ls := v.(*lease)
		ls.mu.Lock()
		units, end, window := ls.units, ls.windowEnd, ls.window
		if units == 0 || now.Sub(ls.lastHit) < idle || !now.Before(end) {
			ls.mu.Unlock()
			return true
		}
		ls.units, ls.count = 0, ls.count-units
		ls.mu.Unlock()
		// The script gives them back to this window only. On failure they stay counted until
		// the window ends, as they would without leases.
		tolerance := min(time.Second, window/4).Milliseconds()
		_ = returnScript.Run(ctx, l.rdb, []string{k.(string)}, units, strconv.FormatInt(end.UnixMilli(), 10), tolerance).Err()
		return true
	})
}
