package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wagateway/gateway/internal/redisdb"
	"github.com/wagateway/gateway/internal/testenv"
)

// TestRun_WalksThenRemovesItsDatabaseKeysAndLog runs the program as `make demo` does and
// checks that it leaves nothing behind.
func TestRun_WalksThenRemovesItsDatabaseKeysAndLog(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": testenv.DatabaseServerURL(), "REDIS_URL": testenv.RedisURL()}
	var out bytes.Buffer
	if err := run(t.Context(), nil, func(name string) string { return env[name] }, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	output := out.String()
	m := regexp.MustCompile(`database (demo_[0-9a-f]+) on .* Redis keys under (demo:[0-9a-f]+:)`).FindStringSubmatch(output)
	if m == nil {
		t.Fatalf("the output does not name the database and key prefix:\n%s", output)
	}
	dbName, prefix := m[1], m[2]
	for _, want := range []string{"✓ All 12 steps succeeded.", "cleanup: server and workers stopped",
		"cleanup: database " + dbName + " dropped", " Redis keys deleted"} {
		if !strings.Contains(output, want) {
			t.Errorf("the output lacks %q:\n%s", want, output)
		}
	}
	if strings.Contains(output, "log kept") {
		t.Errorf("the log of a run that succeeded is kept")
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.DatabaseServerURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, dbName).Scan(&exists); err != nil || exists {
		t.Errorf("database %s still exists (%v)", dbName, err)
	}
	rdb, err := redisdb.Open(ctx, testenv.RedisURL())
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	defer rdb.Close()
	if keys, err := rdb.Keys(ctx, prefix+"*").Result(); err != nil || len(keys) > 0 {
		t.Errorf("keys left under %s: %v (%v)", prefix, keys, err)
	}
}

func TestParseOptions_FlagsWinOverTheEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": "postgres://u@db:5432/app", "REDIS_URL": "redis://cache:6379/1"}
	getenv := func(name string) string { return env[name] }
	o, err := parseOptions(nil, getenv, &bytes.Buffer{})
	if err != nil || o.databaseURL != env["DATABASE_URL"] || o.redisURL != env["REDIS_URL"] || o.keep || o.addr != "127.0.0.1:0" {
		t.Fatalf("defaults = %+v, %v", o, err)
	}
	o, err = parseOptions([]string{"-keep", "-addr", "127.0.0.1:8000", "-redis-url", "redis://other:6379/0"}, getenv, &bytes.Buffer{})
	if err != nil || !o.keep || o.addr != "127.0.0.1:8000" || o.redisURL != "redis://other:6379/0" {
		t.Fatalf("flags = %+v, %v", o, err)
	}
	if _, err := parseOptions([]string{"extra"}, getenv, &bytes.Buffer{}); err == nil {
		t.Fatal("a stray argument is accepted")
	}
}
