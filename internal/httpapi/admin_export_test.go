package httpapi_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/testenv"
)

// heapPeak samples the process's heap (live objects and garbage not yet collected) until
// stopped, and returns its highest value.
func heapPeak() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	var (
		peak = read()
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				peak = max(peak, read())
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return max(peak, read())
	}
}

// TestExport_ALargeTable_StreamsInFlatMemory exports 200,000 generated messages over a real
// connection, as CSV and as gzipped JSON, and measures the process's heap meanwhile: it must
// stay far below the size of the report, which a server building the report in memory (or
// buffering the response) would exceed. Not parallel: the heap is the whole test binary's,
// and parallel tests wait while this one runs. The GC runs at GOGC=10 meanwhile, so that
// garbage not yet collected does not hide what the export keeps.
func TestExport_ALargeTable_StreamsInFlatMemory(t *testing.T) {
	const rows = 200_000
	g := testenv.NewGateway(t, testenv.Options{})
	baseURL, _ := g.Serve(t)
	admin := opsAdmin(t, g, "big-export@example.com")
	ctx := context.Background()
	if _, err := g.DB.Exec(ctx, `INSERT INTO sessions (id, user_id, name, status)
		SELECT 'export-1', id, 'Export', 'CONNECTED' FROM users WHERE email = 'big-export@example.com'`); err != nil {
		t.Fatal(err)
	}
	if _, err := g.DB.Exec(ctx, `INSERT INTO messages (session_id, direction, to_number, message_type, content, status,
		wa_message_id, created_at, sent_at)
		SELECT 'export-1', 'OUTBOUND', '6281234567890@s.whatsapp.net', 'TEXT', 'generated message ' || g, 'SENT',
		       '3EB0' || lpad(g::text, 16, '0'), now() - interval '1 day' + g * interval '1 millisecond', now()
		FROM generate_series(1, $1::int) g`, rows); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, format string
		gzipped      bool
	}{
		{"csv", "csv", false},
		{"gzipped json", "json", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer debug.SetGCPercent(debug.SetGCPercent(10))
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			stopSampling := heapPeak()

			req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/api/v1/admin/reports/export?type=messages&format="+tc.format, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set(admin[0], admin[1])
			// Set by hand, the transport leaves the body compressed: the test reads it as a
			// client would, through its own gzip reader.
			req.Header.Set("Accept-Encoding", "identity")
			if tc.gzipped {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("export: %d %s", resp.StatusCode, body)
			}
			if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, `filename="messages-`) {
				t.Errorf("Content-Disposition = %q", cd)
			}
			wire := &countingReader{r: resp.Body}
			var body io.Reader = wire
			if tc.gzipped {
				if resp.Header.Get("Content-Encoding") != "gzip" {
					t.Fatalf("Content-Encoding = %q, want gzip", resp.Header.Get("Content-Encoding"))
				}
				zr, err := gzip.NewReader(wire)
				if err != nil {
					t.Fatal(err)
				}
				body = zr
			}
			report := &countingReader{r: body}
			lines, last := 0, ""
			sc := bufio.NewScanner(report)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				lines++
				last = sc.Text()
			}
			if err := sc.Err(); err != nil {
				t.Fatalf("read the export: %v", err)
			}
			peak := stopSampling()

			switch tc.format {
			case "csv":
				if lines != rows+1 {
					t.Fatalf("%d CSV lines, want a header and %d rows", lines, rows)
				}
			case "json":
				// "[" and an object on the first line, ",{...}" on each next, "]" on the last.
				if lines != rows+1 || last != "]" {
					t.Fatalf("%d JSON lines ending with %q, want %d objects and the closing bracket", lines, last, rows)
				}
			}
			growth := int64(peak) - int64(before.HeapAlloc)
			t.Logf("%s: %.1f MiB of report (%.1f MiB on the wire); heap %.1f MiB before, peak %.1f MiB (+%.1f MiB)", tc.name,
				mib(report.n), mib(wire.n), mib(int64(before.HeapAlloc)), mib(int64(peak)), mib(growth))
			if report.n < 20<<20 {
				t.Fatalf("the report is only %.1f MiB: too small to tell streaming from buffering", mib(report.n))
			}
			if growth > report.n/8 {
				t.Fatalf("the heap grew by %.1f MiB while a %.1f MiB report was sent: the export is held in memory", mib(growth), mib(report.n))
			}
		})
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
