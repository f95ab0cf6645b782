package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where the benchmark ran.
type Machine struct {
	CPUs        int    `json:"cpus"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
	CPUModel    string `json:"cpuModel"`
	MemoryBytes uint64 `json:"memoryBytes"`
	Kernel      string `json:"kernel"`
	GoVersion   string `json:"goVersion"`
	GOOS        string `json:"goos"`
	GOARCH      string `json:"goarch"`
	// Postgres and Redis are filled by the caller, which holds the connections.
	Postgres         string `json:"postgres"`
	PostgresSettings string `json:"postgresSettings,omitempty"`
	Redis            string `json:"redis"`
}

// DescribeMachine reads what the process can learn by itself (CPUs, CPU model, memory,
// kernel, Go); unknown fields stay empty.
func DescribeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		m.CPUModel = ParseCPUModel(f)
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		m.MemoryBytes = ParseMemTotal(f)
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// ParseCPUModel returns the first "model name" of /proc/cpuinfo.
func ParseCPUModel(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// ParseMemTotal returns MemTotal of /proc/meminfo in bytes, 0 when absent.
func ParseMemTotal(r io.Reader) uint64 {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || key != "MemTotal" {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb * 1024
	}
	return 0
}

// ReadLoadAverage returns the 1, 5 and 15 minute load averages of a /proc/loadavg file, as
// written there ("0.52 0.58 0.59").
func ReadLoadAverage(path string) (string, error) {
	b, err := os.ReadFile(path) //nolint:gosec // a /proc path chosen by the caller
	if err != nil {
		return "", err
	}
	fields := strings.Fields(string(b))
	if len(fields) < 3 {
		return "", fmt.Errorf("%s: unexpected content %q", path, b)
	}
	return strings.Join(fields[:3], " "), nil
}

// SampleMachineBusy measures the share of all cores busy (any process) over d.
func SampleMachineBusy(ctx context.Context, d time.Duration) (float64, error) {
	before, err := readMachineTimes("/proc/stat")
	if err != nil {
		return 0, err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-t.C:
	}
	after, err := readMachineTimes("/proc/stat")
	if err != nil {
		return 0, err
	}
	return after.busySince(before), nil
}
