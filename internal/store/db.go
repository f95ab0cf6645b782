// Package store holds the PostgreSQL repositories: hand-written SQL over pgx, one file per
// table group. It maps pgx.ErrNoRows to model.ErrNotFound and unique violations to
// model.ErrConflict; nothing above it sees a pgx error.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/model"
)

// DBTX is what a repository needs: a pool, a connection or a transaction.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Open connects a pool to databaseURL. URLs with several hosts and
// target_session_attrs=read-write are understood by pgx, for failover setups.
func Open(ctx context.Context, databaseURL string, maxConns int32) (*pgxpool.Pool, error) {
	return open(ctx, databaseURL, maxConns, nil)
}

// BatchWriterConns is the size of the pool OpenBatchWriter opens: one connection for each of
// the group-commit flushers (sync sends' records and answers, sends queued), one for the
// answers of a batch written apart (Messaging) or late, and one spare.
const BatchWriterConns = 4

// OpenBatchWriter connects the pool of the group-committed batch statements
// (WriteSends, RecordSendOutcomeBatch, QueueBatch). Their shapes never change and
// each finds its rows by key, so each is planned once per connection (a generic plan) and
// kept, never re-parsed and re-planned per batch; sequential scans are ruled out, so that
// the plan made while a table is still small (or its statistics stale) cannot scan the whole
// table once it has grown. Per batch this saves more Postgres CPU than the statements cost to
// execute on a busy gateway.
func OpenBatchWriter(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	return open(ctx, databaseURL, BatchWriterConns, map[string]string{
		"plan_cache_mode": "force_generic_plan",
		"enable_seqscan":  "off",
	})
}

func open(ctx context.Context, databaseURL string, maxConns int32, params map[string]string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	for k, v := range params {
		cfg.ConnConfig.RuntimeParams[k] = v
	}
	cfg.MaxConns = maxConns
	cfg.MinConns = min(2, maxConns)
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 15 * time.Second
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return pool, nil
}

// EnsureDatabase creates the database named in databaseURL when it does not exist and the
// role may create databases. It connects to the "postgres" maintenance database to do so.
func EnsureDatabase(ctx context.Context, databaseURL string) error {
	conn, name, err := connectMaintenance(ctx, databaseURL)
	if err != nil || conn == nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	// Created meanwhile by another replica: 42P04 when its CREATE committed before our check
	// inside CREATE DATABASE, 23505 on pg_database's name index when both ran at once.
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P04" ||
		(pgErr.Code == "23505" && pgErr.ConstraintName == "pg_database_datname_index")) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// DropDatabase drops the database named in databaseURL, if it exists, closing its
// connections first. Tools that create a database of their own (the benchmark, the demo)
// drop it with this when they are done.
func DropDatabase(ctx context.Context, databaseURL string) error {
	conn, name, err := connectMaintenance(ctx, databaseURL)
	if err != nil {
		return err
	}
	if conn == nil {
		return fmt.Errorf("drop database: %q is the maintenance database", name)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// DatabaseURLFor returns serverURL with its database replaced by name: the URL of a database
// of one's own on the same server.
func DatabaseURLFor(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("database URL %q is not a postgres:// URL", serverURL)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// connectMaintenance connects to the "postgres" maintenance database of the server of
// databaseURL and returns the name of the database the URL names. It returns no connection
// when that name is empty or "postgres" itself.
func connectMaintenance(ctx context.Context, databaseURL string) (*pgx.Conn, string, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, "", fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	name := cfg.Database
	if name == "" || name == "postgres" {
		return nil, name, nil
	}
	cfg.Database = "postgres"
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, name, fmt.Errorf("connect to maintenance database: %w", err)
	}
	return conn, name, nil
}

// WithTx runs fn in a transaction, committing when fn returns nil and rolling back otherwise.
func WithTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) error {
	return WithTxOn(ctx, pool, fn)
}

// mapError turns pgx errors into the model's sentinels so that callers never see pgx.
func mapError(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return model.ErrNotFound
	case errors.As(err, &pgErr) && pgErr.Code == "23505": // unique_violation
		return fmt.Errorf("%w: %s", model.ErrConflict, pgErr.ConstraintName)
	default:
		return err
	}
}

// IsDeadlock reports whether err is PostgreSQL aborting the statement as a deadlock's victim
// (deadlock_detected, 40P01): its transaction rolled back whole, so running it again is safe.
func IsDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}

// DeadlockRetries is how many times a write that PostgreSQL aborted as a deadlock's victim is
// run again (retryDeadlock, GroupCommit). A deadlock is a race lost once: the transaction it
// raced holds its locks by the time the write runs again, and the write waits for it.
const DeadlockRetries = 3

// retryDeadlock runs write, which writes all or nothing (one statement, or one transaction),
// and runs it again while PostgreSQL aborts it as a deadlock's victim, up to DeadlockRetries
// times.
func retryDeadlock(write func() error) error {
	err := write()
	for retry := 0; retry < DeadlockRetries && IsDeadlock(err); retry++ {
		err = write()
	}
	return err
}

// WithTxOn runs fn in a transaction on db: a new one on a pool, or a nested one (a
// savepoint) inside a transaction.
func WithTxOn(ctx context.Context, db DBTX, fn func(tx pgx.Tx) error) error {
	beginner, ok := db.(interface {
		Begin(ctx context.Context) (pgx.Tx, error)
	})
	if !ok {
		return errors.New("begin: the connection cannot start a transaction")
	}
	tx, err := beginner.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(mapError(err), model.ErrNotFound) }
