package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Status says whether a scenario ran.
type Status string

// Statuses of a scenario.
const (
	StatusOK           Status = "ok"
	StatusNotAvailable Status = "not available"
	StatusFailed       Status = "failed"
)

// Report is a whole benchmark run.
type Report struct {
	Title       string     `json:"title"`
	GeneratedAt time.Time  `json:"generatedAt"`
	Quick       bool       `json:"quick"`
	Command     string     `json:"command"`
	Machine     Machine    `json:"machine"`
	Settings    []Fact     `json:"settings"`
	Summary     []Fact     `json:"summary"`
	Scenarios   []Scenario `json:"scenarios"`
	Notes       []string   `json:"notes,omitempty"`
}

// Scenario is one part of the benchmark with its measurements.
type Scenario struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Status      Status `json:"status"`
	Reason      string `json:"reason,omitempty"`
	Description string `json:"description,omitempty"`
	// Headline is the scenario's result in one line, for the summary.
	Headline string   `json:"headline,omitempty"`
	Rows     []Row    `json:"rows,omitempty"`
	Facts    []Fact   `json:"facts,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

// Errors is the number of failed operations over every row of the scenario.
func (s Scenario) Errors() int64 {
	var n int64
	for _, r := range s.Rows {
		n += r.Errors + r.WarmupErrors
	}
	return n
}

// Row is one measured case: a load against one target, a batch, or a pass of lookups.
type Row struct {
	Name          string   `json:"name"`
	Unit          string   `json:"unit"`
	Ops           int64    `json:"ops"`
	Errors        int64    `json:"errors"`
	WarmupErrors  int64    `json:"warmupErrors,omitempty"`
	WindowSeconds float64  `json:"windowSeconds"`
	Throughput    float64  `json:"throughput"`
	Latency       *Latency `json:"latency,omitempty"`
	Usage         *Usage   `json:"usage,omitempty"`
	ErrorExamples []string `json:"errorExamples,omitempty"`
}

// Latency is a latency digest, in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"meanMs"`
	P50   float64 `json:"p50Ms"`
	P95   float64 `json:"p95Ms"`
	P99   float64 `json:"p99Ms"`
	Max   float64 `json:"maxMs"`
}

// LoadRow makes the row of a closed-loop load.
func LoadRow(name, unit string, r LoadResult) Row {
	row := Row{Name: name, Unit: unit, Ops: r.Ops, Errors: r.Errors, WarmupErrors: r.WarmupErrors,
		WindowSeconds: r.Window.Seconds(), Throughput: r.Throughput(), ErrorExamples: r.ErrorExamples}
	if r.Latency != nil {
		l := r.Latency.Summary()
		row.Latency = &l
	}
	u := r.Usage
	row.Usage = &u
	return row
}

// BatchRow makes the row of a batch.
func BatchRow(name, unit string, r BatchResult) Row {
	row := Row{Name: name, Unit: unit, Ops: r.Jobs, Errors: r.Errors, WindowSeconds: r.Elapsed.Seconds(),
		Throughput: r.Throughput(), ErrorExamples: r.ErrorExamples}
	if r.Latency != nil {
		l := r.Latency.Summary()
		row.Latency = &l
	}
	u := r.Usage
	row.Usage = &u
	return row
}

// Fact is one named figure. Unit picks the formatting: "bytes", "ms", "s", "x" (a ratio),
// "%", "/s" or a free word ("msg/s"); Text, when set, is shown instead of the number.
type Fact struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"`
	Text  string  `json:"text,omitempty"`
}

// TextFact is a fact without a number.
func TextFact(name, text string) Fact { return Fact{Name: name, Text: text} }

// String formats the fact's value.
func (f Fact) String() string {
	if f.Text != "" {
		return f.Text
	}
	switch f.Unit {
	case "bytes":
		return FormatBytes(uint64(math.Max(f.Value, 0)))
	case "ms":
		return FormatMillis(f.Value)
	case "s":
		return strconv.FormatFloat(f.Value, 'f', 2, 64) + " s"
	case "x":
		return strconv.FormatFloat(f.Value, 'f', 2, 64) + "×"
	case "%":
		return strconv.FormatFloat(f.Value, 'f', 1, 64) + " %"
	case "":
		return FormatNumber(f.Value)
	default:
		return FormatNumber(f.Value) + " " + f.Unit
	}
}

// FormatNumber writes whole numbers with thousands separators and others with the digits
// that matter: 1,534 · 12.3 · 0.42.
func FormatNumber(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "–"
	case math.Abs(v) >= 100 || v == math.Trunc(v):
		return groupThousands(int64(math.Round(v)))
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func groupThousands(n int64) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return sign + b.String()
}

// FormatMillis writes a latency given in milliseconds: 850 µs · 1.23 ms · 12.3 ms · 123 ms · 1.23 s.
func FormatMillis(ms float64) string {
	switch {
	case ms < 1:
		return strconv.FormatFloat(ms*1000, 'f', 0, 64) + " µs"
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64) + " ms"
	case ms < 100:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	default:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + " s"
	}
}

// FormatBytes writes a size in binary units: 512 B · 12.0 KiB · 85.3 MiB · 1.25 GiB.
func FormatBytes(b uint64) string {
	const unit = 1024
	switch {
	case b < unit:
		return strconv.FormatUint(b, 10) + " B"
	case b < unit*unit:
		return strconv.FormatFloat(float64(b)/unit, 'f', 1, 64) + " KiB"
	case b < unit*unit*unit:
		return strconv.FormatFloat(float64(b)/(unit*unit), 'f', 1, 64) + " MiB"
	default:
		return strconv.FormatFloat(float64(b)/(unit*unit*unit), 'f', 2, 64) + " GiB"
	}
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}

// WriteMarkdown renders the report for people.
func (r *Report) WriteMarkdown(w io.Writer) error {
	p := &printer{w: w}
	p.f("# %s\n\n", r.Title)
	mode := "full run"
	if r.Quick {
		mode = "quick run (brief scenarios: a smoke test, not a measurement)"
	}
	p.f("Generated %s, %s: `%s`\n\n", r.GeneratedAt.UTC().Format("2006-01-02 15:04 MST"), mode, r.Command)
	p.f("How to read it: [README.md, Benchmark](../../README.md#benchmark).\n\n")

	p.f("## Machine\n\n| | |\n| --- | --- |\n")
	m := r.Machine
	p.f("| CPUs | %d (GOMAXPROCS %d) |\n", m.CPUs, m.GOMAXPROCS)
	p.f("| CPU model | %s |\n", cell(orUnknown(m.CPUModel)))
	p.f("| Memory | %s |\n", FormatBytes(m.MemoryBytes))
	p.f("| Kernel | %s |\n", cell(orUnknown(m.Kernel)))
	p.f("| Go | %s %s/%s |\n", m.GoVersion, m.GOOS, m.GOARCH)
	p.f("| PostgreSQL | %s |\n", cell(orUnknown(m.Postgres)))
	if m.PostgresSettings != "" {
		p.f("| PostgreSQL settings | %s |\n", cell(m.PostgresSettings))
	}
	p.f("| Redis | %s |\n\n", cell(orUnknown(m.Redis)))

	if len(r.Settings) > 0 {
		p.f("## Settings\n\n")
		p.facts(r.Settings)
	}
	if len(r.Summary) > 0 {
		p.f("## Summary\n\n")
		p.facts(r.Summary)
	}
	for i, s := range r.Scenarios {
		p.scenario(i+1, s)
	}
	if len(r.Notes) > 0 {
		p.f("## Notes\n\n")
		for _, n := range r.Notes {
			p.f("%s\n\n", n)
		}
	}
	return p.err
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func (p *printer) facts(facts []Fact) {
	p.f("| | |\n| --- | --- |\n")
	for _, f := range facts {
		p.f("| %s | %s |\n", cell(f.Name), cell(f.String()))
	}
	p.f("\n")
}

func (p *printer) scenario(n int, s Scenario) {
	p.f("## %d. %s\n\n", n, s.Title)
	switch s.Status {
	case StatusNotAvailable:
		p.f("**Not available:** %s.\n\n", s.Reason)
	case StatusFailed:
		p.f("**Failed:** %s\n\n", s.Reason)
	}
	if s.Description != "" {
		p.f("%s\n\n", s.Description)
	}
	if len(s.Rows) > 0 {
		p.f("| Case | Throughput | p50 | p95 | p99 | max | Errors | CPU cores: process / Postgres / Redis / others | CPU/op: process / machine | Machine busy | Peak RSS | Peak heap | Goroutines (peak) |\n")
		p.f("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, r := range s.Rows {
			p.row(r)
		}
		p.f("\n")
		for _, r := range s.Rows {
			for _, e := range r.ErrorExamples {
				p.f("- error in %s: `%s`\n", r.Name, strings.ReplaceAll(e, "`", "'"))
			}
		}
	}
	if len(s.Facts) > 0 {
		p.facts(s.Facts)
	}
	for _, n := range s.Notes {
		p.f("%s\n\n", n)
	}
}

func (p *printer) row(r Row) {
	lat := [4]string{"–", "–", "–", "–"}
	if r.Latency != nil && r.Latency.Count > 0 {
		lat = [4]string{FormatMillis(r.Latency.P50), FormatMillis(r.Latency.P95), FormatMillis(r.Latency.P99), FormatMillis(r.Latency.Max)}
	}
	errs := groupThousands(r.Errors)
	if r.Errors > 0 && r.Ops > 0 {
		errs += fmt.Sprintf(" (%.2f %%)", 100*float64(r.Errors)/float64(r.Ops))
	}
	if r.WarmupErrors > 0 {
		errs += fmt.Sprintf(" + %d in warm-up", r.WarmupErrors)
	}
	use := [6]string{"–", "–", "–", "–", "–", "–"}
	if u := r.Usage; u != nil {
		use[0] = cores(u.ProcessCores) + " / " + cores(u.PostgresCores) + " / " + cores(u.RedisCores) + " / " + cores(u.OtherCores)
		if u.CPUPerOpMicros > 0 {
			use[1] = FormatNumber(u.CPUPerOpMicros) + " µs / "
			if u.MachineCPUPerOpMicros > 0 {
				use[1] += FormatNumber(u.MachineCPUPerOpMicros) + " µs"
			} else {
				use[1] += "–"
			}
		}
		if u.MachineBusy >= 0 {
			use[2] = strconv.FormatFloat(100*u.MachineBusy, 'f', 0, 64) + " %"
		}
		use[3] = FormatBytes(u.PeakRSSBytes)
		if u.PeakRSSSinceStart {
			use[3] += " (since start)"
		}
		use[4] = FormatBytes(u.PeakHeapBytes)
		use[5] = strconv.Itoa(u.PeakGoroutines)
	}
	p.f("| %s | %s %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
		cell(r.Name), FormatNumber(r.Throughput), r.Unit, lat[0], lat[1], lat[2], lat[3], errs,
		use[0], use[1], use[2], use[3], use[4], use[5])
}

// cores writes a CPU figure in cores, "–" when unknown (negative).
func cores(v float64) string {
	if v < 0 {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// WriteJSON renders the report for programs.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteFiles writes REPORT.md and report.json into dir, creating it when needed, and returns
// their paths.
func (r *Report) WriteFiles(dir string) (markdown, jsonPath string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // a documentation directory
		return "", "", fmt.Errorf("create report directory: %w", err)
	}
	markdown, jsonPath = filepath.Join(dir, "REPORT.md"), filepath.Join(dir, "report.json")
	var md strings.Builder
	if err := r.WriteMarkdown(&md); err != nil {
		return "", "", err
	}
	var js strings.Builder
	if err := r.WriteJSON(&js); err != nil {
		return "", "", err
	}
	// The report is documentation, meant to be read by anyone and committed.
	for path, content := range map[string]string{markdown: md.String(), jsonPath: js.String()} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil { //nolint:gosec // see above
			return "", "", fmt.Errorf("write %s: %w", path, err)
		}
	}
	return markdown, jsonPath, nil
}
