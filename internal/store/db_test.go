package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
)

// dbTestNewDatabase returns the URL of a database that does not exist yet on the test server,
// dropped at the end of the test.
func dbTestNewDatabase(t *testing.T) (name, databaseURL string) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name = "store_test_" + hex.EncodeToString(b[:])
	u, err := url.Parse(testenv.DatabaseServerURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	t.Cleanup(func() { dbTestDrop(t, name) })
	return name, u.String()
}

func dbTestDrop(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.DatabaseServerURL())
	if err != nil {
		t.Errorf("drop %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("drop %s: %v", name, err)
	}
}

func dbTestExists(t *testing.T, name string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.DatabaseServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	return exists
}

func dbTestOpen(t *testing.T, databaseURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := store.Open(context.Background(), databaseURL, 4)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestEnsureDatabase_MissingDatabase_CreatesItOnceAndIsIdempotent(t *testing.T) {
	t.Parallel()
	name, databaseURL := dbTestNewDatabase(t)
	ctx := context.Background()

	for i := range 2 {
		if err := store.EnsureDatabase(ctx, databaseURL); err != nil {
			t.Fatalf("EnsureDatabase call %d: %v", i+1, err)
		}
		if !dbTestExists(t, name) {
			t.Fatalf("database %s missing after call %d", name, i+1)
		}
	}
	dbTestOpen(t, databaseURL) // connectable
}

func TestEnsureDatabase_ConcurrentReplicas_AllSucceed(t *testing.T) {
	t.Parallel()
	name, databaseURL := dbTestNewDatabase(t)

	const replicas = 6
	errs := make([]error, replicas)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			<-start
			errs[i] = store.EnsureDatabase(context.Background(), databaseURL)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	if !dbTestExists(t, name) {
		t.Errorf("database %s was not created", name)
	}
}

func TestEnsureDatabase_MaintenanceDatabase_IsANoOp(t *testing.T) {
	t.Parallel()
	if err := store.EnsureDatabase(context.Background(), testenv.DatabaseServerURL()); err != nil {
		t.Errorf("EnsureDatabase on the postgres database: %v", err)
	}
}

func TestEnsureDatabase_Unreachable_Errors(t *testing.T) {
	t.Parallel()
	tests := []string{
		"postgres://postgres@127.0.0.1:1/gw?sslmode=disable&connect_timeout=2",
		"::not a url",
	}
	for _, databaseURL := range tests {
		if err := store.EnsureDatabase(context.Background(), databaseURL); err == nil {
			t.Errorf("EnsureDatabase(%q) succeeded, want an error", databaseURL)
		}
	}
}

func TestDropDatabase_DropsADatabaseInUse_AndIsIdempotent(t *testing.T) {
	t.Parallel()
	name, databaseURL := dbTestNewDatabase(t)
	ctx := context.Background()
	if err := store.EnsureDatabase(ctx, databaseURL); err != nil {
		t.Fatalf("EnsureDatabase: %v", err)
	}
	dbTestOpen(t, databaseURL) // its connections do not stop the drop
	for i := range 2 {
		if err := store.DropDatabase(ctx, databaseURL); err != nil {
			t.Fatalf("DropDatabase call %d: %v", i+1, err)
		}
		if dbTestExists(t, name) {
			t.Fatalf("database %s still exists after call %d", name, i+1)
		}
	}
	if err := store.DropDatabase(ctx, testenv.DatabaseServerURL()); err == nil {
		t.Error("DropDatabase of the maintenance database succeeded")
	}
}

func TestDatabaseURLFor_ReplacesOnlyTheDatabaseName(t *testing.T) {
	t.Parallel()
	got, err := store.DatabaseURLFor("postgres://u:p@db:5432/app?sslmode=disable", "demo_1")
	if err != nil || got != "postgres://u:p@db:5432/demo_1?sslmode=disable" {
		t.Errorf("DatabaseURLFor = %q, %v", got, err)
	}
	for _, bad := range []string{"mysql://db/app", "::not a url"} {
		if _, err := store.DatabaseURLFor(bad, "demo_1"); err == nil {
			t.Errorf("DatabaseURLFor(%q) succeeded, want an error", bad)
		}
	}
}

func TestOpen_BadURLOrClosedPort_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, wantErr string
	}{
		{"::not a url", "parse DATABASE_URL"},
		{"postgres://postgres@127.0.0.1:1/gw?sslmode=disable", "connect to database"},
	}
	for _, tt := range tests {
		pool, err := store.Open(context.Background(), tt.url, 2)
		if err == nil {
			pool.Close()
			t.Errorf("Open(%q) succeeded", tt.url)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Open(%q) = %v, want an error mentioning %q", tt.url, err, tt.wantErr)
		}
	}
}

func dbTestCountWorkers(t *testing.T, db store.DBTX, id string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM workers WHERE id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func dbTestInsertWorker(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := tx.Exec(ctx, `INSERT INTO workers (id, endpoint) VALUES ($1, $2)`, id, "http://"+id+":8001")
	return err
}

func TestWithTx_FnSucceeds_Commits(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t)
	ctx := context.Background()

	err := store.WithTx(ctx, db, func(tx pgx.Tx) error { return dbTestInsertWorker(ctx, tx, "worker-commit") })
	if err != nil {
		t.Fatalf("WithTx: %v", err)
	}
	if n := dbTestCountWorkers(t, db, "worker-commit"); n != 1 {
		t.Errorf("rows after commit = %d, want 1", n)
	}
}

func TestWithTx_FnFails_RollsBackAndReturnsTheError(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t)
	ctx := context.Background()
	errBoom := errors.New("boom")

	err := store.WithTx(ctx, db, func(tx pgx.Tx) error {
		if err := dbTestInsertWorker(ctx, tx, "worker-rollback"); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("WithTx = %v, want the function's error", err)
	}
	if n := dbTestCountWorkers(t, db, "worker-rollback"); n != 0 {
		t.Errorf("rows after rollback = %d, want 0", n)
	}
	if acquired := db.Stat().AcquiredConns(); acquired != 0 {
		t.Errorf("%d connections still acquired after the rollback", acquired)
	}
}

func TestWithTx_FnPanics_RollsBackAndReleasesTheConnection(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t)
	ctx := context.Background()

	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not propagate")
			}
		}()
		_ = store.WithTx(ctx, db, func(tx pgx.Tx) error {
			if err := dbTestInsertWorker(ctx, tx, "worker-panic"); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	if n := dbTestCountWorkers(t, db, "worker-panic"); n != 0 {
		t.Errorf("rows after a panic = %d, want 0", n)
	}
	if acquired := db.Stat().AcquiredConns(); acquired != 0 {
		t.Errorf("%d connections still acquired after the panic", acquired)
	}
}

func TestWithTx_CommitFails_ReturnsCommitError(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `CREATE TABLE deferred_check (id int, CONSTRAINT deferred_check_id_key UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)`); err != nil {
		t.Fatal(err)
	}

	err := store.WithTx(ctx, db, func(tx pgx.Tx) error {
		// The duplicate is only detected at commit.
		_, err := tx.Exec(ctx, `INSERT INTO deferred_check VALUES (1), (1)`)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "commit") {
		t.Fatalf("WithTx = %v, want a commit error", err)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM deferred_check`).Scan(&n); err != nil || n != 0 {
		t.Errorf("rows after a failed commit = %d (%v), want 0", n, err)
	}
}

func TestWithTx_CannotBegin_Errors(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	called := false
	err := store.WithTx(ctx, db, func(pgx.Tx) error { called = true; return nil })
	if err == nil || !strings.Contains(err.Error(), "begin") {
		t.Errorf("WithTx on a cancelled context = %v, want a begin error", err)
	}
	if called {
		t.Error("fn ran without a transaction")
	}
}

func TestGetWorkerCapacity_CountsWorkersByStatusAndPlacedSessions(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t)
	ctx := context.Background()

	empty, err := store.GetWorkerCapacity(ctx, db)
	if err != nil {
		t.Fatalf("GetWorkerCapacity on an empty fleet: %v", err)
	}
	if empty != (store.WorkerCapacity{}) {
		t.Errorf("empty fleet = %+v, want zeroes", empty)
	}

	if _, err := db.Exec(ctx, `
		INSERT INTO workers (id, endpoint, status, max_sessions) VALUES
			('worker-a', 'http://a:8001', 'ONLINE', 10),
			('worker-b', 'http://b:8001', 'ONLINE', 5),
			('worker-c', 'http://c:8001', 'OFFLINE', 50),
			('worker-d', 'http://d:8001', 'MAINTENANCE', 7);
		INSERT INTO users (id, name, email, password_hash)
			VALUES ('00000000-0000-0000-0000-000000000001', 'Owner', 'owner@example.com', 'x');
		INSERT INTO sessions (id, user_id, worker_id, name) VALUES
			('s-a1', '00000000-0000-0000-0000-000000000001', 'worker-a', 'A1'),
			('s-a2', '00000000-0000-0000-0000-000000000001', 'worker-a', 'A2'),
			('s-c1', '00000000-0000-0000-0000-000000000001', 'worker-c', 'C1'),
			('s-none', '00000000-0000-0000-0000-000000000001', NULL, 'unplaced');
	`); err != nil {
		t.Fatal(err)
	}

	got, err := store.GetWorkerCapacity(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	want := store.WorkerCapacity{Online: 2, Offline: 1, Maintenance: 1, Capacity: 15, Used: 3}
	if got != want {
		t.Errorf("GetWorkerCapacity = %+v, want %+v", got, want)
	}
}

func dbTestTableExists(t *testing.T, db *pgxpool.Pool, table string) bool {
	t.Helper()
	var exists bool
	if err := db.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, "public."+table).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	return exists
}

func dbTestStatus(t *testing.T, m *store.Migrator) string {
	t.Helper()
	var buf bytes.Buffer
	if err := m.WriteStatus(context.Background(), &buf); err != nil {
		t.Fatalf("WriteStatus: %v", err)
	}
	return buf.String()
}

func dbTestMigrator(t *testing.T, db *pgxpool.Pool) *store.Migrator {
	t.Helper()
	m, err := store.NewMigrator(db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("NewMigrator: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func TestMigrator_DownUpRedoAndStatus(t *testing.T) {
	t.Parallel()
	db := dbTestOpen(t, testenv.NewDatabaseURL(t))
	m := dbTestMigrator(t, db)
	ctx := context.Background()

	status := dbTestStatus(t, m)
	if !strings.Contains(status, "00001") || !strings.Contains(status, "00001_initial_schema.sql") {
		t.Fatalf("status does not list 00001_initial_schema.sql:\n%s", status)
	}
	if strings.Contains(status, "pending") || !strings.Contains(status, "applied") {
		t.Fatalf("status of a migrated database is not all applied:\n%s", status)
	}

	// Roll back every migration: the schema goes away.
	for strings.Contains(dbTestStatus(t, m), "applied") {
		if err := m.Down(ctx); err != nil {
			t.Fatalf("Down: %v", err)
		}
	}
	if dbTestTableExists(t, db, "users") || dbTestTableExists(t, db, "workers") {
		t.Error("tables remain after rolling back every migration")
	}
	if status := dbTestStatus(t, m); !strings.Contains(status, "pending") {
		t.Errorf("status after Down does not say pending:\n%s", status)
	}

	if err := m.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	if !dbTestTableExists(t, db, "users") || !dbTestTableExists(t, db, "sessions") {
		t.Error("tables missing after Up")
	}
	if status := dbTestStatus(t, m); strings.Contains(status, "pending") {
		t.Errorf("status after Up still has pending migrations:\n%s", status)
	}

	if err := m.Redo(ctx); err != nil {
		t.Fatalf("Redo: %v", err)
	}
	if !dbTestTableExists(t, db, "workers") {
		t.Error("tables missing after Redo")
	}
	if status := dbTestStatus(t, m); strings.Contains(status, "pending") {
		t.Errorf("status after Redo has pending migrations:\n%s", status)
	}

	// Up with nothing pending is fine.
	if err := m.Up(ctx); err != nil {
		t.Errorf("Up with nothing pending: %v", err)
	}
}

func TestMigrator_EmptyDatabase_ConcurrentUpFromTwoReplicas(t *testing.T) {
	t.Parallel()
	_, databaseURL := dbTestNewDatabase(t)
	ctx := context.Background()
	if err := store.EnsureDatabase(ctx, databaseURL); err != nil {
		t.Fatal(err)
	}
	dbA, dbB := dbTestOpen(t, databaseURL), dbTestOpen(t, databaseURL)
	migrators := []*store.Migrator{dbTestMigrator(t, dbA), dbTestMigrator(t, dbB)}

	if status := dbTestStatus(t, migrators[0]); !strings.Contains(status, "pending") {
		t.Fatalf("a fresh database is not pending:\n%s", status)
	}

	errs := make([]error, len(migrators))
	var wg sync.WaitGroup
	for i, m := range migrators {
		wg.Go(func() { errs[i] = m.Up(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d Up: %v", i, err)
		}
	}
	if !dbTestTableExists(t, dbA, "users") {
		t.Error("users missing after concurrent Up")
	}
}

func TestMigrator_DownOnEmptyDatabase_Errors(t *testing.T) {
	t.Parallel()
	_, databaseURL := dbTestNewDatabase(t)
	ctx := context.Background()
	if err := store.EnsureDatabase(ctx, databaseURL); err != nil {
		t.Fatal(err)
	}
	m := dbTestMigrator(t, dbTestOpen(t, databaseURL))
	if err := m.Down(ctx); err == nil || !strings.Contains(err.Error(), "migrate down") {
		t.Errorf("Down with nothing applied = %v, want a migrate down error", err)
	}
	if err := m.Redo(ctx); err == nil {
		t.Error("Redo with nothing applied succeeded")
	}
}

// The batch writer's statements are planned once per connection and the plan kept: a plan
// made on an empty database must still find rows by key, or every batch would read the whole
// table once it has grown. On an ordinary connection the generic plan of the answers'
// statement does scan messages: the pool's settings are what rule that out.
func TestOpenBatchWriter_GenericPlansProbeByKey(t *testing.T) {
	ctx := context.Background()
	databaseURL := testenv.NewDatabaseURL(t)
	batch, err := store.OpenBatchWriter(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer batch.Close()
	if got := batch.Config().MaxConns; got != store.BatchWriterConns {
		t.Errorf("MaxConns = %d, want %d", got, store.BatchWriterConns)
	}
	conn, err := batch.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for name, sql := range store.BatchStatements {
		if plan := genericPlan(t, conn.Conn(), sql); strings.Contains(plan, "Seq Scan") {
			t.Errorf("%s: the batch writer's plan scans a table:\n%s", name, plan)
		}
	}

	plain, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close(ctx)
	if _, err := plain.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
		t.Fatal(err)
	}
	if plan := genericPlan(t, plain, store.BatchStatements["record send outcomes"]); !strings.Contains(plan, "Seq Scan on messages") {
		t.Errorf("an ordinary connection's generic plan does not scan messages: the test shows nothing\n%s", plan)
	}
}

// genericPlan prepares sql on conn and returns EXPLAIN of its execution (the generic plan
// under plan_cache_mode=force_generic_plan).
func genericPlan(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	ctx := context.Background()
	params := 0
	for _, m := range regexp.MustCompile(`\$(\d+)`).FindAllStringSubmatch(sql, -1) {
		n, _ := strconv.Atoi(m[1])
		params = max(params, n)
	}
	if _, err := conn.Exec(ctx, "PREPARE batch_statement AS "+sql, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	defer conn.Exec(ctx, "DEALLOCATE batch_statement", pgx.QueryExecModeSimpleProtocol) //nolint:errcheck // the connection is the test's
	nulls := strings.TrimSuffix(strings.Repeat("NULL, ", params), ", ")
	rows, err := conn.Query(ctx, "EXPLAIN EXECUTE batch_statement("+nulls+")", pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	return strings.Join(lines, "\n")
}
