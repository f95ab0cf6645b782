package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFormatNumber(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 7: "7", 0.421: "0.42", 12.34: "12.3", 99.96: "100.0", 100: "100", 1534.4: "1,534", 1234567: "1,234,567",
		-2500: "-2,500", math.NaN(): "–", math.Inf(1): "–",
	} {
		if got := FormatNumber(v); got != want {
			t.Errorf("FormatNumber(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestFormatMillis(t *testing.T) {
	for ms, want := range map[float64]string{
		0.85: "850 µs", 1.234: "1.23 ms", 12.34: "12.3 ms", 123.4: "123 ms", 1234: "1.23 s",
	} {
		if got := FormatMillis(ms); got != want {
			t.Errorf("FormatMillis(%v) = %q, want %q", ms, got, want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for b, want := range map[uint64]string{
		512: "512 B", 12 << 10: "12.0 KiB", 85<<20 + 300<<10: "85.3 MiB", 5 << 29: "2.50 GiB",
	} {
		if got := FormatBytes(b); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", b, got, want)
		}
	}
}

func TestFact_String_FollowsTheUnit(t *testing.T) {
	for _, c := range []struct {
		fact Fact
		want string
	}{
		{Fact{Value: 3 << 20, Unit: "bytes"}, "3.0 MiB"},
		{Fact{Value: -1, Unit: "bytes"}, "0 B"},
		{Fact{Value: 2.5, Unit: "ms"}, "2.50 ms"},
		{Fact{Value: 1.234, Unit: "s"}, "1.23 s"},
		{Fact{Value: 1.834, Unit: "x"}, "1.83×"},
		{Fact{Value: 42.25, Unit: "%"}, "42.2 %"},
		{Fact{Value: 64}, "64"},
		{Fact{Value: 5536.2, Unit: "/s"}, "5,536 /s"},
		{Fact{Value: 9, Text: "nine"}, "nine"},
		{TextFact("n", "text"), "text"},
	} {
		if got := c.fact.String(); got != c.want {
			t.Errorf("%+v = %q, want %q", c.fact, got, c.want)
		}
	}
}

func sampleReport() *Report {
	h := NewHistogram()
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	load := LoadResult{Ops: 100, Errors: 2, WarmupErrors: 1, Window: 2 * time.Second, Latency: h,
		ErrorExamples: []string{"HTTP 503: `busy` | try later"},
		Usage: Usage{ProcessCores: 1.5, CPUPerOpMicros: 250, MachineCPUPerOpMicros: 610, MachineBusy: 0.9, PostgresCores: 0.25,
			RedisCores: -1, OtherCores: 0.05, PeakRSSBytes: 80 << 20, PeakHeapBytes: 20 << 20, PeakGoroutines: 300}}
	batch := BatchResult{Jobs: 10, Elapsed: time.Second, Latency: h, Usage: Usage{MachineBusy: -1, PeakRSSSinceStart: true,
		CPUPerOpMicros: 10, PostgresCores: -1, RedisCores: -1, OtherCores: -1}}
	return &Report{
		Title: "Gateway benchmark", GeneratedAt: time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC), Command: "go run ./cmd/bench",
		Machine:  Machine{CPUs: 2, GOMAXPROCS: 2, CPUModel: "AMD EPYC", MemoryBytes: 24 << 30, GoVersion: "go1.26", GOOS: "linux", GOARCH: "amd64", Postgres: "PostgreSQL 15", PostgresSettings: "fsync=on"},
		Settings: []Fact{TextFact("Connections", "64")},
		Summary:  []Fact{{Name: "gateway / naive", Value: 1.8, Unit: "x"}},
		Notes:    []string{"A note."},
		Scenarios: []Scenario{
			{ID: "send", Title: "Sync sendText", Status: StatusOK, Description: "What it does.", Headline: "fast",
				Rows: []Row{LoadRow("gateway", "msg/s", load), BatchRow("placement", "placements/s", batch)}, Facts: []Fact{{Name: "dials", Value: 64}},
				Notes: []string{"Scenario note."}},
			{ID: "async", Title: "Async sendText", Status: StatusNotAvailable, Reason: "async sends not implemented"},
			{ID: "broken", Title: "Broken", Status: StatusFailed, Reason: "boom", Rows: []Row{{Name: "empty", Unit: "ops/s"}}},
		},
	}
}

func TestReport_WriteMarkdown_ShowsEveryPart(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"# Gateway benchmark", "2025-01-02 03:04 UTC, full run", "| CPUs | 2 (GOMAXPROCS 2) |", "| CPU model | AMD EPYC |",
		"| Memory | 24.00 GiB |", "| Kernel | unknown |", "| PostgreSQL settings | fsync=on |", "| Redis | unknown |",
		"## Settings", "| Connections | 64 |", "## Summary", "| gateway / naive | 1.80× |", "## Notes\n\nA note.",
		"## 1. Sync sendText", "What it does.",
		"| gateway | 49 msg/s | 50.1 ms | 95.4 ms | 99.1 ms | 100 ms | 2 (2.00 %) + 1 in warm-up | 1.50 / 0.25 / – / 0.05 | 250 µs / 610 µs | 90 % | 80.0 MiB | 20.0 MiB | 300 |",
		"| placement | 10 placements/s |", "| 0 | 0.00 / – / – / – | 10 µs / – | – | 0 B (since start) |",
		"- error in gateway: `HTTP 503: 'busy' | try later`", "| dials | 64 |", "Scenario note.",
		"## 2. Async sendText", "**Not available:** async sends not implemented.",
		"## 3. Broken", "**Failed:** boom", "| empty | 0 ops/s | – | – | – | – | 0 | – | – | – | – | – | – |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	r.Quick = true
	b.Reset()
	if err := r.WriteMarkdown(&b); err != nil || !strings.Contains(b.String(), "quick run") {
		t.Errorf("quick report: %v", err)
	}
}

func TestReport_Cell_EscapesPipesAndNewlines(t *testing.T) {
	if got := cell("a | b\n c"); got != `a \| b c` {
		t.Errorf("cell = %q", got)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestReport_WriteMarkdown_ReportsWriteErrors(t *testing.T) {
	if err := sampleReport().WriteMarkdown(failingWriter{}); err == nil {
		t.Error("a failed write went unnoticed")
	}
}

func TestReport_WriteFiles_WritesMarkdownAndJSON(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "docs", "bench")
	md, js, err := sampleReport().WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(md) != "REPORT.md" || filepath.Base(js) != "report.json" {
		t.Errorf("paths %s %s", md, js)
	}
	raw, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Scenarios) != 3 || back.Scenarios[0].Rows[0].Latency.Max != 100 || back.Scenarios[1].Status != StatusNotAvailable {
		t.Errorf("round trip %+v", back.Scenarios)
	}
	if back.Scenarios[0].Rows[0].Usage.CPUPerOpMicros != 250 {
		t.Errorf("usage %+v", back.Scenarios[0].Rows[0].Usage)
	}
	if _, _, err := sampleReport().WriteFiles(filepath.Join(md, "not-a-dir")); err == nil {
		t.Error("wrote under a file")
	}
}

func TestScenario_Errors_SumsEveryRow(t *testing.T) {
	s := Scenario{Rows: []Row{{Errors: 2, WarmupErrors: 1}, {Errors: 3}}}
	if s.Errors() != 6 {
		t.Errorf("errors = %d", s.Errors())
	}
}
