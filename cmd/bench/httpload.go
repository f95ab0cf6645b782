package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/wagateway/gateway/internal/bench"
)

// loadClient is the closed-loop HTTP client: one keep-alive connection per goroutine at
// most (MaxIdleConnsPerHost = connections, so no connection is closed between requests), and
// a count of the connections it dialled to prove it.
type loadClient struct {
	http  *http.Client
	dials atomic.Int64
	// bufs are the goroutines' answer buffers, reused request after request.
	bufs []*bytes.Buffer
}

func newLoadClient(connections int) *loadClient {
	c := &loadClient{bufs: make([]*bytes.Buffer, connections)}
	for i := range c.bufs {
		c.bufs[i] = &bytes.Buffer{}
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c.dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        2 * connections,
		MaxIdleConnsPerHost: connections,
		// No more connections than goroutines, not even while they ramp up.
		MaxConnsPerHost: connections,
		IdleConnTimeout: 90 * time.Second,
		// Like most API clients, accept gzip (Go's default): the gateway compresses JSON.
		DisableCompression: false,
		ForceAttemptHTTP2:  false,
	}
	c.http = &http.Client{Transport: transport, Timeout: 30 * time.Second}
	return c
}

func (c *loadClient) close() { c.http.CloseIdleConnections() }

// request is one request a load repeats; expectBody, when set, must appear in the answer.
type request struct {
	method     string
	url        string
	header     http.Header
	body       []byte
	expect     int
	expectBody []byte
}

// do sends req for goroutine worker and checks the answer.
func (c *loadClient) do(ctx context.Context, worker int, req request) error {
	_, err := c.doBody(ctx, worker, req)
	return err
}

// doBody is do returning the answer's body, valid until the goroutine's next request.
func (c *loadClient) doBody(ctx context.Context, worker int, req request) ([]byte, error) {
	var body io.Reader = http.NoBody
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	httpReq, err := http.NewRequestWithContext(ctx, req.method, req.url, body)
	if err != nil {
		return nil, err
	}
	for k, v := range req.header {
		httpReq.Header[k] = v
	}
	resp, err := c.http.Do(httpReq)
	if err != nil {
		return nil, err
	}
	buf := c.bufs[worker]
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != req.expect {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, truncate(buf.String(), 200))
	}
	if req.expectBody != nil && !bytes.Contains(buf.Bytes(), req.expectBody) {
		return nil, fmt.Errorf("answer lacks %s: %s", req.expectBody, truncate(buf.String(), 200))
	}
	return buf.Bytes(), nil
}

// runHTTPLoad runs a closed-loop load of pick(worker) requests on its own client and reports
// the connections it opened.
func (e *env) runHTTPLoad(ctx context.Context, workers int, duration time.Duration, pick func(worker int) request) (bench.LoadResult, int64, error) {
	client := newLoadClient(workers)
	defer client.close()
	res, err := bench.RunLoad(ctx, bench.LoadConfig{Workers: workers, Warmup: e.opts.warmup, Duration: duration,
		Meter: e.meter(0)},
		func(ctx context.Context, worker int) error { return client.do(ctx, worker, pick(worker)) })
	return res, client.dials.Load(), err
}

func jsonHeader(pairs ...string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	for i := 0; i+1 < len(pairs); i += 2 {
		h.Set(pairs[i], pairs[i+1])
	}
	return h
}
