package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/wagateway/gateway/internal/bench"
)

// options are the benchmark's settings.
type options struct {
	duration    time.Duration
	warmup      time.Duration
	connections int
	quick       bool
	out         string
	scenarios   []string
	cpuProfile  string
	memProfile  string
	databaseURL string
	redisURL    string
	minRatio    float64
	logLevel    string
	// sendTargets are the sendText targets to measure (all by default).
	sendTargets []string
	// waitQuiet is how long to wait for the machine to be quiet before starting.
	waitQuiet time.Duration
	// rounds is how many times the throughput comparisons measure each target, in rotation.
	rounds int
}

// quietBusy is the share of all cores busy under which the machine counts as quiet.
const quietBusy = 0.25

// scenario is one part of the benchmark. run returns what it measured; an error marks the
// scenario failed and keeps what it measured until then.
type scenario struct {
	id    string
	title string
	run   func(ctx context.Context, e *env) (bench.Scenario, error)
}

// scenarios run in this order, whatever the order of -scenarios: each cleans up its fixtures,
// and the idle footprint comes last so that it sees the server after everything else.
var scenarios = []scenario{
	{"send-sync", "Sync sendText, end to end, against the floors", runSendSync},
	{"send-async", "Async sendText: acceptance rate and end-to-end time", runSendAsync},
	{"queue-backlog", "Async queue backlog: drain rate and dispatcher memory", runQueueBacklog},
	{"placement", "Session placement", runPlacement},
	{"routing", "Routing lookup (router.Lookup)", runRouting},
	{"health-monitor", "Health monitor round", runHealthMonitor},
	{"heartbeat", "Worker heartbeat intake", runHeartbeats},
	{"webhooks", "Customer webhook delivery", runWebhooks},
	{"idle", "Idle footprint", runIdle},
}

func scenarioIDs() []string {
	ids := make([]string, len(scenarios))
	for i, s := range scenarios {
		ids[i] = s.id
	}
	return ids
}

func parseOptions(args []string, getenv func(string) string, stdout io.Writer) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "measured window of each load scenario (quick: 2s)")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "warm-up before each measured window, not measured (quick: 500ms)")
	fs.IntVar(&o.connections, "connections", 64, "closed-loop connections (goroutines) of the load scenarios")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of the throughput comparisons (sync sendText targets, async acceptance): each round measures every "+
		"target once, in turn, and each target's median round counts, so that a machine whose speed drifts meanwhile skews no "+
		"ratio much (quick: 1)")
	fs.BoolVar(&o.quick, "quick", false, "run each scenario briefly (~2-3 s) with smaller fixtures; fail only on errors")
	fs.StringVar(&o.out, "out", "", "directory of REPORT.md and report.json (default docs/bench; quick: a temporary directory)")
	list := fs.String("scenarios", "all", "comma-separated scenarios to run: "+strings.Join(scenarioIDs(), ", "))
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the scenarios (server, simulated workers and load generator) to this file")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a heap profile of the process after the last scenario (before cleanup) to this file")
	fs.StringVar(&o.databaseURL, "database-url", firstOf(getenv("BENCH_DATABASE_URL"), getenv("TEST_DATABASE_URL"),
		"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"PostgreSQL server to create the benchmark database on (env BENCH_DATABASE_URL, TEST_DATABASE_URL)")
	fs.StringVar(&o.redisURL, "redis-url", firstOf(getenv("BENCH_REDIS_URL"), getenv("TEST_REDIS_URL"), "redis://127.0.0.1:6379/0"),
		"Redis to use, under a key prefix of the run's own (env BENCH_REDIS_URL, TEST_REDIS_URL)")
	fs.Float64Var(&o.minRatio, "min-ratio", 1.5, "full runs fail when gateway/naive sendText throughput is below this (0: no check)")
	fs.StringVar(&o.logLevel, "log-level", "info", "the gateway's LOG_LEVEL; its logs go to a temporary file, kept when the run fails")
	fs.DurationVar(&o.waitQuiet, "wait-quiet", 0, "before starting, wait up to this long for the machine to be quiet (other processes under 25 % of all cores over 5 s)")
	targets := fs.String("send-targets", strings.Join(defaultSendTarget, ","), "sendText targets to measure (e.g. gateway alone, to profile it): "+
		strings.Join(sendTargetIDs, ", "))
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["duration"] {
			o.duration = 2 * time.Second
		}
		if !set["warmup"] {
			o.warmup = 500 * time.Millisecond
		}
		if !set["rounds"] {
			o.rounds = 1
		}
		if !set["out"] {
			o.out = filepath.Join(os.TempDir(), "wagateway-bench-quick")
		}
	}
	if o.out == "" {
		o.out = filepath.Join("docs", "bench")
	}
	if o.duration <= 0 || o.warmup < 0 || o.connections <= 0 || o.rounds <= 0 {
		return o, errors.New("-duration, -connections and -rounds must be positive and -warmup not negative")
	}
	for _, id := range strings.Split(*targets, ",") {
		id = strings.TrimSpace(id)
		if !slices.Contains(sendTargetIDs, id) {
			return o, fmt.Errorf("unknown sendText target %q (want %s)", id, strings.Join(sendTargetIDs, ", "))
		}
		o.sendTargets = append(o.sendTargets, id)
	}
	if *list == "all" || *list == "" {
		o.scenarios = scenarioIDs()
	} else {
		for _, id := range strings.Split(*list, ",") {
			id = strings.TrimSpace(id)
			if !slices.Contains(scenarioIDs(), id) {
				return o, fmt.Errorf("unknown scenario %q (want %s)", id, strings.Join(scenarioIDs(), ", "))
			}
			o.scenarios = append(o.scenarios, id)
		}
	}
	return o, nil
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// run is the whole program; main only supplies the process's context, arguments, environment
// and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) (err error) {
	opts, err := parseOptions(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	baseline := runtime.NumGoroutine()
	report := &bench.Report{Title: "Gateway benchmark", GeneratedAt: time.Now().UTC(), Quick: opts.quick,
		Command: "go run ./cmd/bench " + strings.Join(args, " "), Machine: bench.DescribeMachine()}
	report.Command = strings.TrimSpace(report.Command)

	if opts.waitQuiet > 0 {
		waitForQuiet(ctx, stdout, opts.waitQuiet)
	}
	before := machineLoad(ctx, stdout)

	e, err := newEnv(ctx, opts, stdout)
	if err != nil {
		return err
	}
	// On an early return the gateway's log is kept for inspection; close is idempotent, so
	// after the orderly close below this does nothing.
	defer func() {
		cleanup, closeErr := e.close(true)
		for _, line := range cleanup {
			fmt.Fprintln(stdout, "cleanup:", line)
		}
		err = errors.Join(err, closeErr)
	}()
	e.describe(ctx, report)
	report.Settings = append(report.Settings, bench.TextFact("Machine before the run (nothing of the bench running)", before))
	if err := runScenarios(ctx, e, report, stdout); err != nil {
		return err
	}

	if load, err := bench.ReadLoadAverage("/proc/loadavg"); err == nil {
		report.Settings = append(report.Settings, bench.TextFact("Load average at the end", load))
	}
	summarize(report)
	verdict := check(report, opts)
	cleanup, closeErr := e.close(verdict != nil)
	for _, line := range cleanup {
		fmt.Fprintln(stdout, "cleanup:", line)
	}
	// Where this machine kept the log is no business of the report.
	done := slices.DeleteFunc(slices.Clone(cleanup), func(line string) bool { return strings.HasPrefix(line, keptLogPrefix) })
	report.Notes = append(report.Notes, "Cleanup: "+strings.Join(done, "; ")+".")
	if leaked := waitForGoroutines(baseline, 5*time.Second); leaked > 0 {
		report.Notes = append(report.Notes, fmt.Sprintf("**Goroutine leak:** %d goroutines more than at start after cleanup.", leaked))
		closeErr = errors.Join(closeErr, fmt.Errorf("%d goroutines leaked (stacks on stderr)", leaked))
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
	} else {
		report.Notes = append(report.Notes, fmt.Sprintf(
			"No goroutine leaked: after cleanup the process is back to its %d goroutines at start.", baseline))
	}
	markdown, jsonPath, writeErr := report.WriteFiles(opts.out)
	if writeErr != nil {
		return errors.Join(verdict, closeErr, writeErr)
	}
	fmt.Fprintf(stdout, "report: %s, %s\n", markdown, jsonPath)
	return errors.Join(verdict, closeErr)
}

// runScenarios runs the chosen scenarios in order, under the CPU profile when asked, and adds
// what they measured to the report; a failed scenario does not stop the others.
func runScenarios(ctx context.Context, e *env, report *bench.Report, stdout io.Writer) error {
	stopProfile, err := startCPUProfile(e.opts.cpuProfile)
	if err != nil {
		return err
	}
	for _, s := range scenarios {
		if !slices.Contains(e.opts.scenarios, s.id) || ctx.Err() != nil {
			continue
		}
		fmt.Fprintf(stdout, "== %s\n", s.title)
		started := time.Now()
		res, runErr := s.run(ctx, e)
		res.ID, res.Title = s.id, s.title
		if res.Status == "" {
			res.Status = bench.StatusOK
		}
		if runErr != nil {
			res.Status, res.Reason = bench.StatusFailed, runErr.Error()
		}
		printScenario(stdout, res, time.Since(started))
		report.Scenarios = append(report.Scenarios, res)
	}
	if err := stopProfile(); err != nil {
		return err
	}
	return writeHeapProfile(e.opts.memProfile)
}

// writeHeapProfile writes the live heap (after a GC) to path, when set.
func writeHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path) //nolint:gosec // the path the user asked for
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	runtime.GC()
	return errors.Join(pprof.WriteHeapProfile(f), f.Close())
}

// machineLoad says how busy the machine is before the run: other processes' load makes
// every number lower.
func machineLoad(ctx context.Context, stdout io.Writer) string {
	load := "unknown"
	if busy, err := bench.SampleMachineBusy(ctx, time.Second); err == nil {
		load = fmt.Sprintf("%.0f %% of all cores busy over 1 s", 100*busy)
		if busy > quietBusy {
			fmt.Fprintf(stdout, "warning: the machine is already %.0f %% busy before the run; the numbers will be low\n", 100*busy)
		}
	}
	if avg, err := bench.ReadLoadAverage("/proc/loadavg"); err == nil {
		load += ", load average " + avg
	}
	return load
}

// waitForQuiet waits up to timeout for the machine to be quiet, saying what it sees.
func waitForQuiet(ctx context.Context, stdout io.Writer, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil {
		busy, err := bench.SampleMachineBusy(ctx, 5*time.Second)
		if err != nil {
			return
		}
		if busy < quietBusy {
			fmt.Fprintf(stdout, "the machine is quiet: %.0f %% busy\n", 100*busy)
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(stdout, "the machine is still %.0f %% busy after %s; starting anyway\n", 100*busy, timeout)
			return
		}
		fmt.Fprintf(stdout, "waiting for a quiet machine: %.0f %% busy\n", 100*busy)
	}
}

// waitForGoroutines waits until the process is back to baseline goroutines and returns how
// many more there still are after timeout.
func waitForGoroutines(baseline int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		n := runtime.NumGoroutine() - baseline
		if n <= 0 || time.Now().After(deadline) {
			return max(n, 0)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path) //nolint:gosec // the path the user asked for
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// check fails the run on a failed scenario or on errors; a full run also fails when the
// gateway is below -min-ratio times the naive durable proxy.
func check(r *bench.Report, opts options) error {
	var problems []error
	for _, s := range r.Scenarios {
		switch {
		case s.Status == bench.StatusFailed:
			problems = append(problems, fmt.Errorf("scenario %s failed: %s", s.ID, s.Reason))
		case s.Errors() > 0:
			problems = append(problems, fmt.Errorf("scenario %s had %d errors", s.ID, s.Errors()))
		}
	}
	if !opts.quick && opts.minRatio > 0 {
		for _, f := range r.Summary {
			if f.Name == ratioNaiveFact && f.Value < opts.minRatio {
				problems = append(problems, fmt.Errorf("gateway/naive sendText throughput is %.2f×, below the required %.2f×", f.Value, opts.minRatio))
			}
		}
	}
	return errors.Join(problems...)
}

func printScenario(w io.Writer, s bench.Scenario, took time.Duration) {
	switch s.Status {
	case bench.StatusNotAvailable:
		fmt.Fprintf(w, "   not available: %s\n", s.Reason)
		return
	case bench.StatusFailed:
		fmt.Fprintf(w, "   FAILED: %s\n", s.Reason)
	}
	for _, r := range s.Rows {
		line := fmt.Sprintf("   %-58s %12s %-13s", r.Name, bench.FormatNumber(r.Throughput), r.Unit)
		if r.Latency != nil && r.Latency.Count > 0 {
			line += fmt.Sprintf(" p50 %-9s p99 %-9s", bench.FormatMillis(r.Latency.P50), bench.FormatMillis(r.Latency.P99))
		}
		if r.Usage != nil {
			line += fmt.Sprintf(" cpu %.2f cores", r.Usage.ProcessCores)
		}
		line += fmt.Sprintf(" errors %d", r.Errors+r.WarmupErrors)
		fmt.Fprintln(w, line)
	}
	for _, f := range s.Facts {
		fmt.Fprintf(w, "   %s: %s\n", f.Name, f)
	}
	fmt.Fprintf(w, "   (%.1f s)\n", took.Seconds())
}
