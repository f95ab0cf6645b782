package bench

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultMeterInterval is how often a meter samples the heap and the goroutines.
const DefaultMeterInterval = 20 * time.Millisecond

// Usage is what the process (server, simulated workers and load generator together: they
// share it) and the machine spent over a measured window.
type Usage struct {
	WallSeconds float64 `json:"wallSeconds"`
	// UserSeconds and SysSeconds are the process's CPU time (getrusage).
	UserSeconds float64 `json:"userSeconds"`
	SysSeconds  float64 `json:"sysSeconds"`
	// ProcessCores is CPU time over wall time: 1.0 is one core busy all along.
	ProcessCores float64 `json:"processCores"`
	// CPUPerOpMicros is the process CPU per operation, when operations were counted.
	CPUPerOpMicros float64 `json:"cpuPerOpMicros,omitempty"`
	// MachineBusy is the share of all cores busy (any process: Postgres and Redis too), from
	// /proc/stat; -1 when unknown.
	MachineBusy float64 `json:"machineBusy"`
	// MachineCPUPerOpMicros is the machine's busy CPU time per operation, every process
	// included: what one operation costs the machine.
	MachineCPUPerOpMicros float64 `json:"machineCpuPerOpMicros,omitempty"`
	// PostgresCores and RedisCores are the CPU of the postgres and redis-server processes over
	// wall time (from /proc/<pid>/stat; processes that exit during the window are missed);
	// -1 when unknown.
	PostgresCores float64 `json:"postgresCores"`
	RedisCores    float64 `json:"redisCores"`
	// OtherCores is the rest of the machine's busy CPU: processes that are not the bench's,
	// such as other work on a shared machine, which slows every figure down; -1 when unknown.
	OtherCores float64 `json:"otherCores"`
	// PeakRSSBytes is VmHWM over the window (the peak is reset at its start where the kernel
	// allows; PeakRSSSinceStart says it could not be).
	PeakRSSBytes      uint64 `json:"peakRssBytes"`
	PeakRSSSinceStart bool   `json:"peakRssSinceStart,omitempty"`
	// PeakHeapBytes is the largest live-and-unswept heap sampled (runtime/metrics
	// /memory/classes/heap/objects:bytes, HeapAlloc's equivalent).
	PeakHeapBytes  uint64 `json:"peakHeapBytes"`
	PeakGoroutines int    `json:"peakGoroutines"`
	GCCycles       uint64 `json:"gcCycles"`
}

// SetOps fills the per-operation figures for n operations.
func (u *Usage) SetOps(n int64) {
	if n <= 0 {
		return
	}
	u.CPUPerOpMicros = (u.UserSeconds + u.SysSeconds) / float64(n) * 1e6
	if u.MachineBusy >= 0 {
		u.MachineCPUPerOpMicros = u.MachineBusy * float64(runtime.NumCPU()) * u.WallSeconds / float64(n) * 1e6
	}
}

// MeterOptions shape a meter.
type MeterOptions struct {
	// Interval is the heap and goroutine sampling period; 0 takes DefaultMeterInterval.
	Interval time.Duration
	// PostgresDatabase, when set, limits the Postgres CPU to that database's backends (and
	// the server's shared writers), leaving other databases' work to OtherCores.
	PostgresDatabase string
}

// Meter measures a window: CPU, machine load, peak RSS, peak heap and goroutines.
type Meter struct {
	opts         MeterOptions
	start        time.Time
	cpu          cpuTimes
	machine      machineTimes
	machineOK    bool
	services     map[string]uint64
	resetPeakRSS bool
	gcStart      uint64

	stop chan struct{}
	done sync.WaitGroup

	mu             sync.Mutex
	peakHeap       uint64
	peakGoroutines int
}

var sampleNames = []string{"/memory/classes/heap/objects:bytes", "/sched/goroutines:goroutines", "/gc/cycles/total:gc-cycles"}

func readRuntime() (heap uint64, goroutines int, gcCycles uint64) {
	samples := make([]metrics.Sample, len(sampleNames))
	for i, name := range sampleNames {
		samples[i].Name = name
	}
	metrics.Read(samples)
	return samples[0].Value.Uint64(), int(samples[1].Value.Uint64()), samples[2].Value.Uint64()
}

// StartMeter starts measuring. Stop must be called: it ends the sampling goroutine.
func StartMeter(opts MeterOptions) *Meter {
	interval := opts.Interval
	if interval <= 0 {
		interval = DefaultMeterInterval
	}
	m := &Meter{opts: opts, stop: make(chan struct{}), resetPeakRSS: ResetPeakRSS() == nil}
	var err error
	m.machine, err = readMachineTimes("/proc/stat")
	m.machineOK = err == nil
	m.services, _ = serviceTicks("/proc", m.keep)
	heap, goroutines, gc := readRuntime()
	m.peakHeap, m.peakGoroutines, m.gcStart = heap, goroutines, gc
	m.start, m.cpu = time.Now(), processCPU()
	m.done.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.sample()
			}
		}
	})
	return m
}

func (m *Meter) sample() {
	heap, goroutines, _ := readRuntime()
	m.mu.Lock()
	m.peakHeap = max(m.peakHeap, heap)
	m.peakGoroutines = max(m.peakGoroutines, goroutines)
	m.mu.Unlock()
}

// Stop ends the window and returns what it measured.
func (m *Meter) Stop() Usage {
	cpu, wall := processCPU(), time.Since(m.start)
	close(m.stop)
	m.done.Wait()
	m.sample()
	u := Usage{
		WallSeconds: wall.Seconds(),
		UserSeconds: (cpu.user - m.cpu.user).Seconds(),
		SysSeconds:  (cpu.sys - m.cpu.sys).Seconds(),
		MachineBusy: -1, PostgresCores: -1, RedisCores: -1, OtherCores: -1,
	}
	if wall > 0 {
		u.ProcessCores = (u.UserSeconds + u.SysSeconds) / wall.Seconds()
	}
	if now, err := readMachineTimes("/proc/stat"); err == nil && m.machineOK {
		u.MachineBusy = now.busySince(m.machine)
	}
	if now, err := serviceTicks("/proc", m.keep); err == nil && m.services != nil && wall > 0 {
		u.PostgresCores = ticksToCores(now["postgres"], m.services["postgres"], wall)
		u.RedisCores = ticksToCores(now["redis-server"], m.services["redis-server"], wall)
		if u.MachineBusy >= 0 {
			u.OtherCores = max(u.MachineBusy*float64(runtime.NumCPU())-u.ProcessCores-u.PostgresCores-u.RedisCores, 0)
		}
	}
	if st, err := ReadProcStatus("/proc/self/status"); err == nil {
		u.PeakRSSBytes = st.HWM
	}
	u.PeakRSSSinceStart = !m.resetPeakRSS
	_, _, gc := readRuntime()
	m.mu.Lock()
	u.PeakHeapBytes, u.PeakGoroutines, u.GCCycles = m.peakHeap, m.peakGoroutines, gc-m.gcStart
	m.mu.Unlock()
	return u
}

// ResetPeakRSS resets the process's VmHWM to its current RSS (Linux 4.0+, clear_refs 5).
func ResetPeakRSS() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// ProcStatus are the memory figures of /proc/<pid>/status, in bytes.
type ProcStatus struct {
	RSS uint64 // VmRSS
	HWM uint64 // VmHWM, the peak RSS
}

// ReadProcStatus reads a /proc/<pid>/status file.
func ReadProcStatus(path string) (ProcStatus, error) {
	f, err := os.Open(path) //nolint:gosec // a /proc path chosen by the caller
	if err != nil {
		return ProcStatus{}, err
	}
	defer f.Close()
	return ParseProcStatus(f)
}

// ParseProcStatus parses the VmRSS and VmHWM lines ("VmRSS:   1234 kB").
func ParseProcStatus(r io.Reader) (ProcStatus, error) {
	var st ProcStatus
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if key == "VmRSS" {
			st.RSS = kb * 1024
		} else {
			st.HWM = kb * 1024
		}
	}
	return st, sc.Err()
}

var errNoCPULine = errors.New("no aggregate cpu line")

// postgresWriters are the Postgres server processes that work for every database.
var postgresWriters = []string{"checkpointer", "background writer", "walwriter", "wal writer"}

// keep picks the processes whose CPU the meter reports besides its own: redis-server, and
// postgres (only the meter's database and the shared writers, when it names a database).
func (m *Meter) keep(pid, name string) bool {
	switch name {
	case "redis-server":
		return true
	case "postgres":
		if m.opts.PostgresDatabase == "" {
			return true
		}
		title, err := os.ReadFile(filepath.Join("/proc", pid, "cmdline")) //nolint:gosec // a /proc path
		if err != nil {
			return false
		}
		return postgresTitleMatches(string(title), m.opts.PostgresDatabase)
	}
	return false
}

// postgresTitleMatches reports whether a postgres process title ("postgres: 15/main: user db
// 127.0.0.1(5555) idle", "postgres: 15/main: walwriter") works for database or for all.
func postgresTitleMatches(title, database string) bool {
	title = strings.TrimSpace(strings.ReplaceAll(title, "\x00", " "))
	for _, field := range strings.Fields(title) {
		if field == database {
			return true
		}
	}
	for _, w := range postgresWriters {
		if strings.HasSuffix(title, ": "+w) {
			return true
		}
	}
	return false
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux platform Go
// supports.
const clockTicks = 100

func ticksToCores(now, before uint64, wall time.Duration) float64 {
	if now < before {
		return 0
	}
	return float64(now-before) / clockTicks / wall.Seconds()
}

// serviceTicks sums utime+stime under procDir by command name, of the processes keep(pid,
// name) picks.
func serviceTicks(procDir string, keep func(pid, name string) bool) (map[string]uint64, error) {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return nil, err
	}
	ticks := map[string]uint64{}
	for _, entry := range entries {
		if _, err := strconv.Atoi(entry.Name()); err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(procDir, entry.Name(), "stat")) //nolint:gosec // a /proc path
		if err != nil {
			continue // exited meanwhile
		}
		if name, t, ok := parseProcessStat(string(raw)); ok && keep(entry.Name(), name) {
			ticks[name] += t
		}
	}
	return ticks, nil
}

// parseProcessStat reads the command name and utime+stime of a /proc/<pid>/stat line:
// "pid (comm) state ppid ... utime stime ...", comm possibly holding spaces or parentheses.
func parseProcessStat(line string) (name string, ticks uint64, ok bool) {
	open, closing := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || closing < open {
		return "", 0, false
	}
	fields := strings.Fields(line[closing+1:])
	// fields[0] is the state (field 3); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return "", 0, false
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, false
	}
	return line[open+1 : closing], utime + stime, true
}

// machineTimes are the aggregate CPU counters of /proc/stat, in clock ticks.
type machineTimes struct {
	busy, total uint64
}

func (now machineTimes) busySince(before machineTimes) float64 {
	total := now.total - before.total
	if total == 0 || now.total < before.total {
		return 0
	}
	return float64(now.busy-before.busy) / float64(total)
}

func readMachineTimes(path string) (machineTimes, error) {
	f, err := os.Open(path) //nolint:gosec // a /proc path chosen by the caller
	if err != nil {
		return machineTimes{}, err
	}
	defer f.Close()
	return parseMachineTimes(f)
}

// parseMachineTimes reads the first "cpu" line: user nice system idle iowait irq softirq
// steal ...; idle and iowait are not busy.
func parseMachineTimes(r io.Reader) (machineTimes, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || fields[0] != "cpu" {
			continue
		}
		var t machineTimes
		for i, f := range fields[1:] {
			if i >= 8 { // guest times are already in user and nice
				break
			}
			v, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				return machineTimes{}, err
			}
			t.total += v
			if i != 3 && i != 4 {
				t.busy += v
			}
		}
		return t, nil
	}
	if err := sc.Err(); err != nil {
		return machineTimes{}, err
	}
	return machineTimes{}, errNoCPULine
}

// Footprint is the memory and goroutines of the process at one moment.
type Footprint struct {
	RSSBytes       uint64 `json:"rssBytes"`
	HeapBytes      uint64 `json:"heapBytes"`
	HeapSysBytes   uint64 `json:"heapSysBytes"`
	Goroutines     int    `json:"goroutines"`
	PeakRSSBytes   uint64 `json:"peakRssBytes"`
	AfterFreeOSMem bool   `json:"afterFreeOsMemory"`
}

// TakeFootprint measures the process now. With settle, it first collects garbage twice (the
// second empties what sync.Pools kept through the first, such as gzip writers) and returns
// freed memory to the OS (debug.FreeOSMemory), so that footprints taken at different times
// compare the live state, not what was left over by what ran before.
func TakeFootprint(settle bool) Footprint {
	if settle {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fp := Footprint{HeapBytes: ms.HeapAlloc, HeapSysBytes: ms.HeapSys, Goroutines: runtime.NumGoroutine(), AfterFreeOSMem: settle}
	if st, err := ReadProcStatus("/proc/self/status"); err == nil {
		fp.RSSBytes, fp.PeakRSSBytes = st.RSS, st.HWM
	}
	return fp
}
