package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseProcStatus_ReadsRSSAndPeak(t *testing.T) {
	st, err := ParseProcStatus(strings.NewReader("Name:\tbench\nVmPeak:\t  999 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nVmSwap: x kB\nVmData:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if st.RSS != 1024*1024 || st.HWM != 2048*1024 {
		t.Errorf("status = %+v", st)
	}
	if _, err := ReadProcStatus(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file read fine")
	}
}

func TestParseMachineTimes_CountsIdleAndIOWaitAsNotBusy(t *testing.T) {
	before, err := parseMachineTimes(strings.NewReader("cpu  100 0 50 800 50 0 0 0 7 7\ncpu0 1 2 3 4 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseMachineTimes(strings.NewReader("cpu  200 0 100 850 50 0 0 0 9 9\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := after.busySince(before); got != 0.75 { // 150 busy of 200
		t.Errorf("busy = %v, want 0.75", got)
	}
	if got := before.busySince(after); got != 0 {
		t.Errorf("busy backwards = %v", got)
	}
	for _, bad := range []string{"intr 1 2 3\n", "cpu  1 2 x 4 5\n"} {
		if _, err := parseMachineTimes(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if _, err := readMachineTimes(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file read fine")
	}
}

var sink []byte

func TestMeter_MeasuresCPUHeapAndGoroutines(t *testing.T) {
	meter := StartMeter(MeterOptions{Interval: time.Millisecond, PostgresDatabase: "no_such_database"})
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { <-release })
	}
	sink = make([]byte, 64<<20)
	for i := range sink {
		sink[i] = byte(i)
	}
	// Burn 60 ms of CPU, however busy the machine is.
	burnStart, deadline := processCPU(), time.Now().Add(10*time.Second)
	for now := processCPU(); now.user+now.sys-burnStart.user-burnStart.sys < 60*time.Millisecond && time.Now().Before(deadline); now = processCPU() {
		for x := range 10000 {
			sink[x]++
		}
	}
	time.Sleep(5 * time.Millisecond)
	close(release)
	wg.Wait()
	u := meter.Stop()
	sink = nil
	if u.UserSeconds+u.SysSeconds < 0.05 || u.ProcessCores <= 0 || u.WallSeconds <= 0 {
		t.Errorf("cpu %+v", u)
	}
	if u.PeakHeapBytes < 64<<20 || u.PeakGoroutines < 50 || u.PeakRSSBytes < 64<<20 {
		t.Errorf("peaks %+v", u)
	}
	if u.MachineBusy < 0 || u.MachineBusy > 1 {
		t.Errorf("machine busy %v", u.MachineBusy)
	}
	u.SetOps(0)
	if u.CPUPerOpMicros != 0 {
		t.Error("CPU per op without ops")
	}
	u.SetOps(1000)
	if want := (u.UserSeconds + u.SysSeconds) * 1000; u.CPUPerOpMicros < want*0.999 || u.CPUPerOpMicros > want*1.001 {
		t.Errorf("CPU per op %v, want %v", u.CPUPerOpMicros, want)
	}
}

func TestTakeFootprint_ReadsTheProcess(t *testing.T) {
	fp := TakeFootprint(true)
	if fp.RSSBytes == 0 || fp.HeapBytes == 0 || fp.Goroutines < 1 || fp.PeakRSSBytes < fp.RSSBytes || !fp.AfterFreeOSMem {
		t.Errorf("footprint %+v", fp)
	}
	if runtime.GOOS == "linux" {
		if err := ResetPeakRSS(); err != nil && !errors.Is(err, os.ErrPermission) {
			t.Errorf("reset peak RSS: %v", err)
		}
	}
}

func TestMachine_DescribesThisOne(t *testing.T) {
	m := DescribeMachine()
	if m.CPUs < 1 || m.GOMAXPROCS < 1 || m.GoVersion == "" {
		t.Errorf("machine %+v", m)
	}
	if runtime.GOOS == "linux" && (m.MemoryBytes == 0 || m.Kernel == "") {
		t.Errorf("machine %+v", m)
	}
}

func TestParseCPUModelAndMemTotal(t *testing.T) {
	cpuinfo := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nmodel name\t: other\n"
	if got := ParseCPUModel(strings.NewReader(cpuinfo)); got != "AMD EPYC 7B13" {
		t.Errorf("model %q", got)
	}
	if got := ParseCPUModel(strings.NewReader("processor: 0\n")); got != "" {
		t.Errorf("model %q", got)
	}
	for in, want := range map[string]uint64{
		"MemFree: 1 kB\nMemTotal:       24684184 kB\n": 24684184 * 1024,
		"MemTotal:\n":      0,
		"MemTotal: lots\n": 0,
		"":                 0,
	} {
		if got := ParseMemTotal(strings.NewReader(in)); got != want {
			t.Errorf("ParseMemTotal(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestReadLoadAverage(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	if err := os.WriteFile(good, []byte("0.52 0.58 0.59 1/234 5678\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("0.52\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadLoadAverage(good); err != nil || got != "0.52 0.58 0.59" {
		t.Errorf("load average %q, %v", got, err)
	}
	if _, err := ReadLoadAverage(bad); err == nil {
		t.Error("a short file parsed")
	}
	if _, err := ReadLoadAverage(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file read fine")
	}
}

func TestSampleMachineBusy(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/stat")
	}
	busy, err := SampleMachineBusy(context.Background(), 20*time.Millisecond)
	if err != nil || busy < 0 || busy > 1 {
		t.Errorf("busy %v, %v", busy, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SampleMachineBusy(ctx, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled sample: %v", err)
	}
}

func TestServiceTicks_SumsTheNamedProcesses(t *testing.T) {
	proc := t.TempDir()
	write := func(pid, stat string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, pid, "stat"), []byte(stat), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rest := " S 1 1 1 0 -1 4194304 102 0 1 0 %s 0 0 20 0 1 0 789909\n"
	write("10", "10 (postgres)"+strings.Replace(rest, "%s", "30 12", 1))
	write("11", "11 (postgres)"+strings.Replace(rest, "%s", "5 3", 1))
	write("12", "12 (redis-server)"+strings.Replace(rest, "%s", "7 1", 1))
	write("13", "13 (odd (name) here)"+strings.Replace(rest, "%s", "100 100", 1))
	write("14", "14 (short) S 1")
	write("15", "15 no parentheses")
	write("16", "16 (postgres)"+strings.Replace(rest, "%s", "x 1", 1))
	if err := os.MkdirAll(filepath.Join(proc, "self"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(proc, "17"), 0o750); err != nil { // exited: no stat
		t.Fatal(err)
	}
	names := []string{"postgres", "redis-server", "odd (name) here"}
	ticks, err := serviceTicks(proc, func(_, name string) bool { return slices.Contains(names, name) })
	if err != nil {
		t.Fatal(err)
	}
	if ticks["postgres"] != 50 || ticks["redis-server"] != 8 || ticks["odd (name) here"] != 200 {
		t.Errorf("ticks = %v", ticks)
	}
	if _, err := serviceTicks(filepath.Join(proc, "missing"), (&Meter{}).keep); err == nil {
		t.Error("a missing /proc read fine")
	}
	if got := ticksToCores(250, 50, 2*time.Second); got != 1 {
		t.Errorf("cores = %v, want 1", got)
	}
	if got := ticksToCores(10, 50, time.Second); got != 0 {
		t.Errorf("cores going backwards = %v", got)
	}
}

func TestUsage_SetOps_MachineCostPerOperation(t *testing.T) {
	u := Usage{MachineBusy: 0.5, WallSeconds: 2, UserSeconds: 0.5, SysSeconds: 0.5}
	u.SetOps(1000)
	if want := 0.5 * float64(runtime.NumCPU()) * 2 / 1000 * 1e6; u.MachineCPUPerOpMicros != want || u.CPUPerOpMicros != 1000 {
		t.Errorf("per op: process %v, machine %v (want %v)", u.CPUPerOpMicros, u.MachineCPUPerOpMicros, want)
	}
	unknown := Usage{MachineBusy: -1, WallSeconds: 1, UserSeconds: 1}
	unknown.SetOps(10)
	if unknown.MachineCPUPerOpMicros != 0 {
		t.Errorf("machine per op without a machine figure: %v", unknown.MachineCPUPerOpMicros)
	}
}

func TestPostgresTitleMatches_OwnDatabaseAndSharedWriters(t *testing.T) {
	for title, want := range map[string]bool{
		"postgres: 15/main: postgres bench_ab12 127.0.0.1(5555) idle\x00\x00": true,
		"postgres: 15/main: postgres bench_ab12x 127.0.0.1(5555) idle":        false,
		"postgres: 15/main: autovacuum worker bench_ab12":                     true,
		"postgres: 15/main: checkpointer \x00\x00\x00":                        true,
		"postgres: 15/main: walwriter ":                                       true,
		"postgres: 15/main: background writer":                                true,
		"postgres: 15/main: logical replication launcher":                     false,
		"postgres: 15/main: pgtdbuser testdb_tpl_1 127.0.0.1(1) idle":         false,
	} {
		if got := postgresTitleMatches(title, "bench_ab12"); got != want {
			t.Errorf("%q: %v, want %v", title, got, want)
		}
	}
	m := &Meter{}
	if !m.keep("1", "postgres") || !m.keep("1", "redis-server") || m.keep("1", "bash") {
		t.Error("without a database every postgres and redis-server process counts, nothing else")
	}
	m.opts.PostgresDatabase = "bench_ab12"
	if m.keep("no-such-pid", "postgres") {
		t.Error("a postgres process whose title cannot be read counted")
	}
}
