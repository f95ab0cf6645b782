package workers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/redisdb"
)

// Leader elects the one replica that runs the health monitor, with a lease in Redis: SET NX PX
// taken with a fencing token from INCR, renewed every TTL/3 by a compare-and-PEXPIRE script and
// released by a compare-and-DEL script at shutdown.
//
// Why a Redis lease rather than a Postgres session advisory lock: an advisory lock lives as
// long as one TCP connection, so takeover after a host dies or is partitioned away depends on
// how soon the server notices a dead connection (keepalive settings we do not control behind
// a proxy, and which PgBouncer in transaction mode breaks outright), and it pins a pooled
// connection for the life of the process. A lease expires on its own after exactly its TTL,
// whatever happened to the holder, and the holder knows when it ends: it counts its validity
// from before it sent the command (Redis starts the TTL later) minus a margin for clock-rate
// drift, so it stops acting as leader before any other replica can take the lease. Redis is
// where the gateway keeps its locks already (data-model.md); if Redis is down nobody leads and
// rounds pause, which is safe (no worker is failed over by mistake) and resumes by itself.
//
// Takeover stays within TTL plus one interval: a follower retries every min(TTL/3,
// WORKER_HEALTH_CHECK_INTERVAL), sooner when the remaining PTTL is shorter, and the new leader
// runs a round at once. The fencing token grows with each acquisition; it is logged and shown
// in the monitor's status, and the leader re-checks (and renews) the lease before every round,
// so that even a lease lost abnormally (a Redis failover that dropped the key) overlaps a new
// leader by at most one round, whose writes are conditional in Postgres anyway.
type Leader struct {
	rdb        redis.UniversalClient
	leaseKey   string
	fencingKey string
	ttl        time.Duration
	poll       time.Duration
	replica    string
	gauge      prometheus.Gauge
	logger     *slog.Logger
	elected    chan struct{}
	lost       chan struct{} // wakes the campaign when a term ends early, to retry at once

	mu       sync.Mutex
	value    string // "replica:token" while this replica holds the lease, else ""
	token    int64
	gen      uint64 // counts terms, so that a stale expiry timer cannot end a newer term
	endTerm  context.CancelFunc
	term     context.Context //nolint:containedctx // the current term's lifetime, handed to rounds
	expiry   *time.Timer
	redisErr bool // the last Redis call failed; logged once per outage
}

// leaseValidity is the share of the TTL this replica trusts its lease for, leaving a margin
// for clock-rate drift between this process and Redis.
const leaseValidity = 0.9

var (
	acquireLease = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('PTTL', KEYS[1])}
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return {1, token}`)
	renewLease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)
	releaseLease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)
)

// NewLeader returns a candidate for the lease named by keys, held for ttl. poll bounds how
// long a follower waits between attempts (the monitor passes its interval).
func NewLeader(rdb redis.UniversalClient, keys redisdb.Keys, ttl, poll time.Duration, gauge prometheus.Gauge, logger *slog.Logger) *Leader {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &Leader{
		rdb:        rdb,
		leaseKey:   keys.Tagged("health_monitor", "lease"),
		fencingKey: keys.Tagged("health_monitor", "fencing"),
		ttl:        ttl,
		poll:       min(ttl/3, poll),
		replica:    fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:])),
		gauge:      gauge,
		logger:     logger,
		elected:    make(chan struct{}, 1),
		lost:       make(chan struct{}, 1),
	}
}

// LeaseKey is the Redis key of the lease (tests delete it to simulate a lost lease).
func (l *Leader) LeaseKey() string { return l.leaseKey }

// Run campaigns for the lease until ctx ends, then releases it if held.
func (l *Leader) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			l.release(context.WithoutCancel(ctx))
			return
		case <-t.C:
		case <-l.lost:
		}
		t.Reset(l.step(ctx))
	}
}

// step renews a held lease or tries to take a free one, and says when to try again.
func (l *Leader) step(ctx context.Context) time.Duration {
	if l.IsLeader() {
		l.Confirm(ctx)
		return l.ttl / 3
	}
	sent := time.Now()
	res, err := acquireLease.Run(ctx, l.rdb, []string{l.leaseKey, l.fencingKey}, l.replica, l.ttl.Milliseconds()).Int64Slice()
	if l.noteRedis(ctx, err) != nil || len(res) != 2 {
		return l.poll
	}
	if res[0] == 1 {
		l.begin(ctx, res[1], sent)
		return l.ttl / 3
	}
	// Held by another replica: come back when it would expire, or at the poll period.
	wait := time.Duration(res[1])*time.Millisecond + time.Millisecond
	if res[1] <= 0 || wait > l.poll {
		wait = l.poll
	}
	return wait
}

// Confirm renews the lease if this replica holds it and reports whether it still does. A
// Redis error keeps the lease until its validity runs out; a lease found in other hands (or
// gone) ends the term at once.
func (l *Leader) Confirm(ctx context.Context) bool {
	l.mu.Lock()
	value, gen := l.value, l.gen
	l.mu.Unlock()
	if value == "" {
		return false
	}
	sent := time.Now()
	n, err := renewLease.Run(ctx, l.rdb, []string{l.leaseKey}, value, l.ttl.Milliseconds()).Int64()
	if l.noteRedis(ctx, err) != nil {
		return l.IsLeader()
	}
	if n == 0 {
		l.end(gen, "the lease was lost or taken over")
		return false
	}
	l.mu.Lock()
	if gen == l.gen && l.value != "" {
		l.expiry.Reset(time.Until(sent.Add(l.validity())))
	}
	l.mu.Unlock()
	return l.IsLeader()
}

func (l *Leader) validity() time.Duration {
	return time.Duration(float64(l.ttl) * leaseValidity)
}

func (l *Leader) begin(ctx context.Context, token int64, sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	gen := l.gen
	l.value = fmt.Sprintf("%s:%d", l.replica, token)
	l.token = token
	l.term, l.endTerm = context.WithCancel(ctx)
	l.expiry = time.AfterFunc(time.Until(sent.Add(l.validity())), func() {
		l.end(gen, "the lease expired before it could be renewed")
	})
	l.gauge.Set(1)
	select {
	case l.elected <- struct{}{}:
	default:
	}
	l.logger.InfoContext(ctx, "this replica leads the health monitor", slog.Int64("lease_fence", token),
		slog.String("replica", l.replica))
}

// end closes term gen, if it is still the current one.
func (l *Leader) end(gen uint64, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen != l.gen || l.value == "" {
		return
	}
	l.value = ""
	l.endTerm()
	l.expiry.Stop()
	l.gauge.Set(0)
	select {
	case l.lost <- struct{}{}:
	default:
	}
	l.logger.Warn("this replica no longer leads the health monitor", slog.String("reason", reason),
		slog.Int64("lease_fence", l.token))
}

// release gives the lease up at shutdown so that another replica takes over at once.
func (l *Leader) release(ctx context.Context) {
	l.mu.Lock()
	value, gen := l.value, l.gen
	l.mu.Unlock()
	if value == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := releaseLease.Run(ctx, l.rdb, []string{l.leaseKey}, value).Err(); err != nil {
		l.logger.WarnContext(ctx, "release the health-monitor lease; it will expire by itself", slog.Any("err", err))
	}
	l.end(gen, "released at shutdown")
}

// noteRedis logs the first failure of an outage and the recovery, not every attempt.
func (l *Leader) noteRedis(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil && !l.redisErr:
		l.redisErr = true
		l.logger.WarnContext(ctx, "health-monitor lease: redis unavailable", slog.Any("err", err))
	case err == nil && l.redisErr:
		l.redisErr = false
		l.logger.InfoContext(ctx, "health-monitor lease: redis available again")
	}
	return err
}

// IsLeader reports whether this replica holds the lease now.
func (l *Leader) IsLeader() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.value != ""
}

// Term returns a context that ends with the current term, and whether there is one.
func (l *Leader) Term() (context.Context, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.value == "" {
		return nil, false
	}
	return l.term, true
}

// FencingToken is the token of the current or last term (0 before the first).
func (l *Leader) FencingToken() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.token
}

// Elected is signalled when this replica takes the lease.
func (l *Leader) Elected() <-chan struct{} { return l.elected }
