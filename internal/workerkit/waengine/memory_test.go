package waengine

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/workerkit/waengine/fakewa"
)

// TestIdleSessionMemory measures what an idle connected session costs, against the fake
// server in the same process (so the figure includes the fake's side of each connection:
// an upper bound). It runs only when asked, as it links many sessions:
//
//	WA_MEASURE_SESSIONS=200 go test -run TestIdleSessionMemory -v ./internal/workerkit/waengine/
func TestIdleSessionMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("WA_MEASURE_SESSIONS"))
	if n <= 0 {
		t.Skip("set WA_MEASURE_SESSIONS=<sessions> to measure")
	}
	srv := fakewa.Start(t)
	e, rec := newTestEngine(t, "", srv)
	// One session first, so that what every session shares (code, pools, the database
	// connections) is in the baseline.
	link(t, e, rec, srv, "warmup")
	before := measure()

	for i := range n {
		id := fmt.Sprintf("m%04d", i)
		if _, _, err := e.Start(t.Context(), id, "u", "n"); err != nil {
			t.Fatal(err)
		}
		qr := rec.waitStatus(t, id, model.SessionQRRequired, 1)
		if _, err := srv.Scan(*qr.QRCode); err != nil {
			t.Fatal(err)
		}
	}
	rec.waitFor(t, "every session connected", func() bool {
		connected := 0
		for _, s := range e.Sessions() {
			if s.Status == model.SessionConnected {
				connected++
			}
		}
		return connected == n+1
	})
	after := measure()
	per := func(a, b uint64) float64 { return float64(int64(b)-int64(a)) / float64(n) / 1024 }
	t.Logf("%d idle connected sessions (the fake server's side included):", n)
	t.Logf("  heap in use      %7.1f KiB per session", per(before.heap, after.heap))
	t.Logf("  goroutine stacks %7.1f KiB per session", per(before.stacks, after.stacks))
	t.Logf("  process RSS      %7.1f KiB per session (%.1f MiB → %.1f MiB)", per(before.rss, after.rss),
		float64(before.rss)/(1<<20), float64(after.rss)/(1<<20))
	t.Logf("  goroutines       %7.1f per session", float64(after.goroutines-before.goroutines)/float64(n))
}

type memory struct {
	heap, stacks, rss uint64
	goroutines        int
}

func measure() memory {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := memory{heap: ms.HeapInuse, stacks: ms.StackInuse, goroutines: runtime.NumGoroutine()}
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				m.rss = kb * 1024
			}
		}
	}
	return m
}
