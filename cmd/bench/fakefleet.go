package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// fakeFleet is one local HTTP server that answers GET …/health for any number of fake
// workers, each at its own base URL under it (http://127.0.0.1:PORT/<group>/<n>): the worker
// client appends /health to the endpoint. Registration, placement fixtures and health rounds
// use it, so that every worker the bench invents is reachable and healthy.
type fakeFleet struct {
	srv    *http.Server
	base   string
	served chan error
	checks atomic.Int64
}

var fakeHealthBody = []byte(`{"status":"healthy","workerId":"fake","uptime":1,"sessions":{"total":0,"maxSessions":1000},"version":"1.0.0"}`)

func startFakeFleet(ctx context.Context) (*fakeFleet, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake fleet: %w", err)
	}
	f := &fakeFleet{base: "http://" + ln.Addr().String(), served: make(chan error, 1)}
	f.srv = &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/health") {
				http.NotFound(w, r)
				return
			}
			f.checks.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(fakeHealthBody)
		}),
	}
	go func() { f.served <- f.srv.Serve(ln) }()
	return f, nil
}

// endpointPrefix is the base URL of group's workers without their number.
func (f *fakeFleet) endpointPrefix(group string) string { return f.base + "/" + group + "/" }

// endpoint is the base URL of worker n of group, as endpointPrefix and lpad(n, 4) make it in SQL.
func (f *fakeFleet) endpoint(group string, n int) string {
	return fmt.Sprintf("%s%04d", f.endpointPrefix(group), n)
}

// dropIdleConnections closes the fleet's idle keep-alive connections, so that the gateway's
// worker client lets go of them (and of their goroutines) before a footprint is taken.
func (f *fakeFleet) dropIdleConnections() {
	f.srv.SetKeepAlivesEnabled(false)
	f.srv.SetKeepAlivesEnabled(true)
}

func (f *fakeFleet) close(ctx context.Context) error {
	if err := f.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("stop fake fleet: %w", err)
	}
	if err := <-f.served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("fake fleet: %w", err)
	}
	return nil
}
