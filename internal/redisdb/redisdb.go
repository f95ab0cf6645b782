// Package redisdb opens the Redis client and names every Redis key of the gateway.
//
// The client is a go-redis UniversalClient, so REDIS_URL can name one node, a Sentinel set or
// a Cluster. Every key goes through Keys, which applies REDIS_KEY_PREFIX; keys that a single
// command or script touches together share a hash tag so that they land on one Cluster slot.
package redisdb

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Open connects to the Redis named by rawURL:
//
//	redis://[user:password@]host:port[/db]            one node (rediss:// for TLS)
//	redis-sentinel://[:password@]h1:26379,h2:26379/mymaster[?db=0]
//	redis-cluster://[:password@]h1:6379,h2:6379
func Open(ctx context.Context, rawURL string) (redis.UniversalClient, error) {
	opts, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	client := redis.NewUniversalClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("connect to redis: %w", err)
	}
	return client, nil
}

// ParseURL turns REDIS_URL into go-redis options. The options fail fast while Redis is down
// (see fastFailDialer): one dial per connection instead of five, and none at all for a second
// after a dial failed.
func ParseURL(rawURL string) (*redis.UniversalOptions, error) {
	opts, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	opts.DialerRetries = 1
	opts.Dialer = newFastFailDialer(opts.DialTimeout, opts.TLSConfig).DialContext
	return opts, nil
}

func parseURL(rawURL string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse REDIS_URL: %w", err)
	}
	opts := &redis.UniversalOptions{
		DialTimeout:  3 * time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
		PoolTimeout:  3 * time.Second,
	}
	if u.User != nil {
		opts.Username = u.User.Username()
		opts.Password, _ = u.User.Password()
	}
	switch u.Scheme {
	case "redis", "rediss":
		single, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("parse REDIS_URL: %w", err)
		}
		opts.Addrs = []string{single.Addr}
		opts.DB = single.DB
		opts.Username, opts.Password = single.Username, single.Password
		opts.TLSConfig = single.TLSConfig
		return opts, nil
	case "redis-sentinel":
		opts.MasterName = strings.Trim(u.Path, "/")
		if opts.MasterName == "" {
			return nil, fmt.Errorf("parse REDIS_URL: a sentinel URL names the master as its path")
		}
		opts.SentinelPassword = opts.Password
	case "redis-cluster":
		opts.IsClusterMode = true
	default:
		return nil, fmt.Errorf("parse REDIS_URL: unknown scheme %q", u.Scheme)
	}
	opts.Addrs = strings.Split(u.Host, ",")
	if db := u.Query().Get("db"); db != "" {
		if opts.DB, err = strconv.Atoi(db); err != nil {
			return nil, fmt.Errorf("parse REDIS_URL: db %q is not a number", db)
		}
	}
	if u.Query().Get("tls") == "true" {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return opts, nil
}

// Keys names Redis keys under the configured prefix.
type Keys struct {
	prefix string
}

// NewKeys returns a key namer; prefix may be empty.
func NewKeys(prefix string) Keys { return Keys{prefix: prefix} }

// Prefix is the configured prefix.
func (k Keys) Prefix() string { return k.prefix }

// Key joins parts with ':' under the prefix: Key("ratelimit", "ip", "1.2.3.4").
func (k Keys) Key(parts ...string) string {
	// One allocation: the per-IP limit and the quotas build a key on every request.
	n := len(k.prefix)
	for _, p := range parts {
		n += len(p) + 1
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(k.prefix)
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(p)
	}
	return b.String()
}

// Tagged is like Key but wraps the first part in a hash tag, so that keys sharing it land on
// the same Cluster slot: Tagged("session", "s1", "lock") → "prefix{session}:s1:lock".
func (k Keys) Tagged(tag string, parts ...string) string {
	return k.prefix + "{" + tag + "}" + strings.Join(append([]string{""}, parts...), ":")
}

// DeletePrefix deletes every key under prefix, in batches, and returns how many there were.
// Tools and tests that share a Redis under a prefix of their own clean up with it.
func DeletePrefix(ctx context.Context, rdb redis.UniversalClient, prefix string) (int, error) {
	if prefix == "" {
		return 0, fmt.Errorf("delete redis keys: refusing an empty prefix")
	}
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return 0, fmt.Errorf("scan redis keys under %s: %w", prefix, err)
	}
	for rest := keys; len(rest) > 0; {
		n := min(len(rest), 500)
		if err := rdb.Unlink(ctx, rest[:n]...).Err(); err != nil {
			return 0, fmt.Errorf("delete redis keys under %s: %w", prefix, err)
		}
		rest = rest[n:]
	}
	return len(keys), nil
}
