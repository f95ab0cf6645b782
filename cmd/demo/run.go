package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/demo"
	"github.com/wagateway/gateway/internal/redisdb"
	"github.com/wagateway/gateway/internal/store"
)

// cleanupTimeout bounds the cleanup, which runs also after Ctrl-C.
const cleanupTimeout = 60 * time.Second

// options are the demo's settings.
type options struct {
	keep        bool
	addr        string
	databaseURL string
	redisURL    string
}

func parseOptions(args []string, getenv func(string) string, stdout io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.BoolVar(&o.keep, "keep", false, "keep the server and its workers running after the walk, until Ctrl-C, to try the API (Swagger UI, dashboard)")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:0", "address of the server (default: a free loopback port)")
	fs.StringVar(&o.databaseURL, "database-url", orDefault(getenv("DATABASE_URL"), "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"PostgreSQL server to create the demo's own database on; the URL's database name is not used (env DATABASE_URL)")
	fs.StringVar(&o.redisURL, "redis-url", orDefault(getenv("REDIS_URL"), "redis://127.0.0.1:6379/0"),
		"Redis to use, under a key prefix of the demo's own (env REDIS_URL)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, nil
}

// orDefault is v, or fallback when v is empty.
func orDefault(v, fallback string) string {
	if v = strings.TrimSpace(v); v != "" {
		return v
	}
	return fallback
}

// owned is what the demo creates, and removes at the end.
type owned struct {
	dbName, databaseURL string
	keyPrefix           string
	logFile             *os.File
}

// run is the whole program; main only supplies the process's context, arguments,
// environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) (err error) {
	opts, err := parseOptions(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	suffix := randomHex(4)
	own := owned{dbName: "demo_" + suffix, keyPrefix: "demo:" + suffix + ":"}
	if own.databaseURL, err = store.DatabaseURLFor(opts.databaseURL, own.dbName); err != nil {
		return err
	}
	// Opened first, the client also checks that Redis answers before anything is created;
	// the cleanup deletes the keys with it.
	rdb, err := redisdb.Open(ctx, opts.redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	if own.logFile, err = os.CreateTemp("", "wagateway-demo-*.log"); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	server, _ := url.Parse(own.databaseURL)
	fmt.Fprintf(stdout, "WhatsApp Gateway demo: the real server and two simulated workers, in this process\n"+
		"  database %s on %s and Redis keys under %s, both removed at the end\n"+
		"  server and worker logs: %s\n", own.dbName, server.Host, own.keyPrefix, own.logFile.Name())

	var stack *demo.Stack
	defer func() {
		// The log is kept when something went wrong, to see why.
		lines, cleanupErr := cleanup(context.WithoutCancel(ctx), stack, rdb, own, err != nil)
		for _, line := range lines {
			fmt.Fprintln(stdout, "cleanup:", line)
		}
		err = errors.Join(err, cleanupErr)
	}()
	stack, err = demo.Start(ctx, demo.Config{DatabaseURL: own.databaseURL, RedisURL: opts.redisURL, KeyPrefix: own.keyPrefix,
		Addr: opts.addr, Logs: own.logFile})
	if err != nil {
		return interrupted(ctx, err)
	}
	fmt.Fprintf(stdout, "  server %s; simulated workers", stack.BaseURL)
	for i, w := range stack.Workers {
		sep := ","
		if i == len(stack.Workers)-1 {
			sep = ", both ONLINE\n"
		}
		fmt.Fprintf(stdout, " %s (%s)%s", w.ID, w.Endpoint, sep)
	}
	res, err := demo.Walk(ctx, stack, stdout)
	if err != nil {
		return interrupted(ctx, err)
	}
	if opts.keep {
		printKeep(stdout, stack, res)
		<-ctx.Done()
		fmt.Fprintln(stdout, "\nstopping")
	}
	return nil
}

// interrupted names an error caused by Ctrl-C as such.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return err
}

// printKeep says how to carry on with the running server.
func printKeep(w io.Writer, stack *demo.Stack, res *demo.Result) {
	fmt.Fprintf(w, `
The server keeps running until Ctrl-C:
  Swagger UI  %[1]s/api/v1/docs
  health      %[1]s/health/detailed
  log in as   %[2]s / %[3]s
In another terminal:
  export BASE=%[1]s JWT=%[4]s KEY=%[5]s
  curl -N -H "Authorization: Bearer $JWT" $BASE/api/v1/sessions/%[6]s/events
  curl -H "X-API-Key: $KEY" -H 'Content-Type: application/json' -d '{"to":"6281234567890","message":"hi"}' $BASE/api/v1/sendText
A session you create connects by itself 30 s after its QR code shows (the simulated phone
scans it); BASIC allows one session per user, so register another user or delete %[6]s first.
`, stack.BaseURL, res.Email, res.Password, res.Token, res.APIKey, res.SessionID)
}

// cleanup stops the stack, drops the database, deletes the Redis keys and removes the log
// file unless keepLog; it says what it did.
func cleanup(ctx context.Context, stack *demo.Stack, rdb redis.UniversalClient, own owned, keepLog bool) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
	defer cancel()
	var lines []string
	var errs []error
	if stack != nil {
		if err := stack.Close(); err != nil {
			errs = append(errs, err)
		} else {
			lines = append(lines, "server and workers stopped")
		}
	}
	if err := store.DropDatabase(ctx, own.databaseURL); err != nil {
		errs = append(errs, err)
	} else {
		lines = append(lines, "database "+own.dbName+" dropped")
	}
	if n, err := redisdb.DeletePrefix(ctx, rdb, own.keyPrefix); err != nil {
		errs = append(errs, err)
	} else {
		lines = append(lines, fmt.Sprintf("%d Redis keys deleted", n))
	}
	_ = own.logFile.Close()
	if keepLog {
		lines = append(lines, "log kept at "+own.logFile.Name())
	} else {
		_ = os.Remove(own.logFile.Name())
	}
	return lines, errors.Join(errs...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
