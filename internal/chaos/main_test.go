//go:build chaos

package chaos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

var reportPath = flag.String("chaos.report", "", "write the report as Markdown to this file (the full run writes docs/reliability/REPORT.md)")

// suite is what every scenario shares: the binaries, the private PostgreSQL and Redis.
type suite struct {
	pg      *postgresServer
	redis   *redisServer
	started time.Time
}

var (
	theSuite  *suite
	suiteBins struct{ gateway string }
	report    = &suiteReport{}
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctx := context.Background()
	start := time.Now()
	dir, err := os.MkdirTemp("", "chaos-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildGateway(ctx, dir); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	report.BuildTime = time.Since(start)
	pg, err := startPostgres(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: private PostgreSQL:", err)
		return 1
	}
	defer pg.Close()
	rs, err := startRedis(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: private Redis:", err)
		return 1
	}
	defer rs.Close()
	theSuite = &suite{pg: pg, redis: rs, started: time.Now()}
	fmt.Printf("chaos: gateway built in %s; private PostgreSQL on port %d, Redis on port %d\n",
		report.BuildTime.Round(time.Second), pg.port, rs.port)

	code := m.Run()
	report.Total = time.Since(start)
	report.Short = testing.Short()
	fmt.Println()
	fmt.Print(report.Markdown())
	if *reportPath != "" {
		if err := os.WriteFile(*reportPath, []byte(report.Markdown()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "chaos: write report:", err)
			return 1
		}
		fmt.Println("chaos: report written to", *reportPath)
	}
	return code
}

// buildGateway builds cmd/gateway with the race detector into dir.
func buildGateway(ctx context.Context, dir string) error {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	suiteBins.gateway = filepath.Join(dir, "gateway")
	cmd := exec.CommandContext(ctx, "go", "build", "-race", "-o", suiteBins.gateway, "./cmd/gateway")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the gateway: %w\n%s", err, out)
	}
	return nil
}

// scenario is one fault: a database and a Redis key prefix of its own, its gateways and
// workers, the ledgers of what was accepted and what was sent, and its part of the report.
type scenario struct {
	suite       *suite
	name        string
	dir         string
	databaseURL string
	keyPrefix   string
	db          *pgxpool.Pool
	api         *apiClient
	ledger      *sendLedger
	accepted    *acceptLedger
	gateways    []*gateway
	workers     []*simWorker
	Report      *faultReport
}

// newScenario prepares a scenario; its report section is added when the test ends.
func newScenario(t *testing.T, group, title string) *scenario {
	t.Helper()
	s := theSuite
	name := sanitizeName(t.Name())
	dir, err := os.MkdirTemp("", "chaos-"+name+"-*")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(name))
	dbName := "chaos_" + name[:min(len(name), 40)] + "_" + hex.EncodeToString(sum[:4])
	ctx := context.Background()
	if err := s.pg.createDatabase(ctx, dbName); err != nil {
		t.Fatalf("create database %s: %v", dbName, err)
	}
	sc := &scenario{suite: s, name: name, dir: dir, databaseURL: s.pg.URL(dbName), keyPrefix: "chaos:" + name + ":",
		api: newAPIClient(), ledger: newSendLedger(), accepted: newAcceptLedger(),
		Report: &faultReport{Group: group, Title: title}}
	cfg, err := pgxpool.ParseConfig(sc.databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 4
	if sc.db, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	t.Cleanup(func() {
		for _, w := range sc.workers {
			w.stop()
		}
		for _, g := range sc.gateways {
			g.stop()
		}
		seen := map[*gateway]bool{}
		for _, g := range sc.gateways {
			if seen[g] {
				continue
			}
			seen[g] = true
			for _, p := range g.problems() {
				t.Errorf("gateway log shows: %s", p)
			}
		}
		sc.db.Close()
		sc.Report.Elapsed = time.Since(start)
		sc.Report.Passed = !t.Failed()
		report.add(sc.Report)
		if t.Failed() {
			t.Logf("logs kept in %s", dir)
			for _, g := range sc.gateways {
				t.Logf("%s log tail:\n%s", g.name, tail(g.logPath, 40))
			}
		} else {
			_ = os.RemoveAll(dir)
		}
	})
	return sc
}

// fact adds a line to the scenario's report and to the test log.
func (sc *scenario) fact(t testing.TB, name string, format string, args ...any) {
	t.Helper()
	v := fmt.Sprintf(format, args...)
	sc.Report.Facts = append(sc.Report.Facts, [2]string{name, v})
	t.Logf("%s: %s", name, v)
}

// durations picks the short form's value under -short.
func durations(short, full time.Duration) time.Duration {
	if testing.Short() {
		return short
	}
	return full
}
