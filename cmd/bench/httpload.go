package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagateway/gateway/internal/bench"
)

// loadClient is the closed-loop HTTP client: fasthttp's, which reuses its requests, answers
// and buffers instead of allocating them per request. The load generator shares the machine
// with the server it measures, so its cost lowers fast targets more than slow ones: with
// net/http's client it took about 26 µs of CPU per request (a quarter of the process during
// the async acceptance), fasthttp's about 9 µs. One keep-alive
// connection per goroutine at most (MaxConnsPerHost = connections, idle ones kept), and a
// count of the connections it dialled to prove it.
type loadClient struct {
	http  *fasthttp.Client
	dials atomic.Int64
	// reqs and resps are the goroutines' own, reused request after request.
	reqs  []*fasthttp.Request
	resps []*fasthttp.Response
}

// requestTimeout bounds one request, as the gateway's own clients would.
const requestTimeout = 30 * time.Second

func newLoadClient(connections int) *loadClient {
	c := &loadClient{reqs: make([]*fasthttp.Request, connections), resps: make([]*fasthttp.Response, connections)}
	for i := range connections {
		c.reqs[i], c.resps[i] = &fasthttp.Request{}, &fasthttp.Response{}
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	c.http = &fasthttp.Client{
		Dial: func(addr string) (net.Conn, error) {
			c.dials.Add(1)
			return dialer.Dial("tcp", addr)
		},
		MaxConnsPerHost: connections,
		// In a closed loop a connection is idle only between loads; the cleaner that closes
		// idle ones sleeps this long, and outlives close() by as much.
		MaxIdleConnDuration:      time.Second,
		NoDefaultUserAgentHeader: true,
		// A request waits for a free connection rather than failing: there are never more
		// goroutines than connections, but one may be on its way back to the pool.
		MaxConnWaitTimeout: requestTimeout,
	}
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
	httpReq, resp := c.reqs[worker], c.resps[worker]
	httpReq.Reset()
	resp.Reset()
	httpReq.Header.SetMethod(req.method)
	httpReq.SetRequestURI(req.url)
	for k, values := range req.header {
		for _, v := range values {
			httpReq.Header.Add(k, v)
		}
	}
	// Like most API clients (and net/http's), accept gzip unless the request says otherwise.
	if len(httpReq.Header.Peek(fasthttp.HeaderAcceptEncoding)) == 0 {
		httpReq.Header.Set(fasthttp.HeaderAcceptEncoding, "gzip")
	}
	if req.body != nil {
		httpReq.SetBodyRaw(req.body)
	}
	deadline := time.Now().Add(requestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.http.DoDeadline(httpReq, resp, deadline); err != nil {
		return nil, err
	}
	body := resp.Body()
	if bytes.Equal(resp.Header.ContentEncoding(), []byte("gzip")) {
		var err error
		if body, err = resp.BodyGunzip(); err != nil {
			return nil, fmt.Errorf("read answer: %w", err)
		}
	}
	if resp.StatusCode() != req.expect {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode(), truncate(string(body), 200))
	}
	if req.expectBody != nil && !bytes.Contains(body, req.expectBody) {
		return nil, fmt.Errorf("answer lacks %s: %s", req.expectBody, truncate(string(body), 200))
	}
	return body, nil
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
