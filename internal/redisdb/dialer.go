package redisdb

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"
)

// downFor is how long a failed dial marks an address as down.
const downFor = time.Second

// fastFailDialer dials Redis, and after a dial to an address failed, fails every dial to it at
// once for downFor, with an error go-redis does not retry.
//
// Why: Redis is optional on the request path (rate limits and quotas let requests through,
// routes are read from Postgres), but go-redis would make each command wait for its own dial,
// retried with backoff, before giving up: about 1.7 s per command while Redis is down, several
// seconds per request. Found by the fault suite (issue 13). A background probe of the pool and
// the next dial after downFor notice when Redis is back.
type fastFailDialer struct {
	dialer net.Dialer
	tls    *tls.Config

	mu   sync.Mutex
	down map[string]dialFailure
}

type dialFailure struct {
	until time.Time
	cause string
}

// errRedisDown is returned while an address is marked down. It does not wrap the dial error on
// purpose: go-redis retries commands on dial errors, which is what must not happen here.
type errRedisDown struct {
	addr, cause string
}

func (e errRedisDown) Error() string {
	return fmt.Sprintf("redis at %s is unavailable (a dial failed less than %s ago: %s)", e.addr, downFor, e.cause)
}

func newFastFailDialer(timeout time.Duration, tlsConfig *tls.Config) *fastFailDialer {
	return &fastFailDialer{dialer: net.Dialer{Timeout: timeout, KeepAlive: 5 * time.Minute}, tls: tlsConfig,
		down: map[string]dialFailure{}}
}

// DialContext is go-redis's Dialer.
func (d *fastFailDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	f, isDown := d.down[addr]
	d.mu.Unlock()
	if isDown && time.Now().Before(f.until) {
		return nil, errRedisDown{addr: addr, cause: f.cause}
	}
	var conn net.Conn
	var err error
	if d.tls != nil {
		td := tls.Dialer{NetDialer: &d.dialer, Config: d.tls}
		conn, err = td.DialContext(ctx, network, addr)
	} else {
		conn, err = d.dialer.DialContext(ctx, network, addr)
	}
	d.mu.Lock()
	switch {
	case err == nil:
		delete(d.down, addr)
	case ctx.Err() == nil: // the caller giving up says nothing about Redis
		d.down[addr] = dialFailure{until: time.Now().Add(downFor), cause: err.Error()}
	}
	d.mu.Unlock()
	return conn, err
}
