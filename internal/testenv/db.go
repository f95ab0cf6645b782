// Package testenv gives tests real dependencies in isolation: a fresh migrated PostgreSQL
// database cloned from a template (the pgtestdb pattern), a Redis key prefix of their own, and
// a whole gateway wired to both. Tests that use it may run in parallel.
//
// TEST_DATABASE_URL (default postgres://postgres:postgres@127.0.0.1:5432/postgres) names the server
// where test databases are created; TEST_REDIS_URL (default redis://127.0.0.1:6379/0) the
// Redis.
package testenv

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver pgtestdb connects with
	"github.com/peterldowns/pgtestdb"
	"github.com/pressly/goose/v3"

	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/migrations"
)

// DatabaseServerURL is the server tests create their databases on.
func DatabaseServerURL() string {
	if v := os.Getenv("TEST_DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// NewDatabaseURL creates a fresh database with every migration applied and returns its URL.
// The database is dropped when the test passes (kept for inspection when it fails).
func NewDatabaseURL(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(DatabaseServerURL())
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	password, _ := u.User.Password()
	conf := pgtestdb.Config{
		DriverName:                "pgx",
		Host:                      u.Hostname(),
		Port:                      u.Port(),
		User:                      u.User.Username(),
		Password:                  password,
		Database:                  "postgres",
		Options:                   "sslmode=disable",
		ForceTerminateConnections: true,
	}
	return pgtestdb.Custom(t, conf, gooseMigrator{}).URL()
}

// NewDB returns a pool on a fresh migrated database, closed at the end of the test.
func NewDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := store.Open(context.Background(), NewDatabaseURL(t), 8)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// gooseMigrator builds pgtestdb's template with the embedded goose migrations; the template is
// rebuilt whenever a migration file changes.
type gooseMigrator struct{}

func (gooseMigrator) Hash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16], err
}

func (gooseMigrator) Migrate(ctx context.Context, db *sql.DB, _ pgtestdb.Config) error {
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithDisableGlobalRegistry(true), goose.WithSlog(slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	_, err = provider.Up(ctx)
	return err
}

// Listen is a connection of db listening on channel until the test ends (WaitForNotification
// on its Conn reads what arrives).
func Listen(t testing.TB, db *pgxpool.Pool, channel string) *pgxpool.Conn {
	t.Helper()
	conn, err := db.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "UNLISTEN *") // best effort before the pool closes
		conn.Release()
	})
	if _, err := conn.Exec(context.Background(), "LISTEN "+channel); err != nil {
		t.Fatal(err)
	}
	return conn
}
