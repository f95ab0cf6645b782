package redisdb

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// autoPipelineMax bounds the calls sent in one pipeline.
const autoPipelineMax = 256

// autoPipelineTimeout bounds one pipeline's round trip; the client's own read and write
// timeouts apply too.
const autoPipelineTimeout = 5 * time.Second

// AutoPipeline sends the commands of concurrent callers to Redis together, in one pipeline
// and one round trip, instead of one round trip each: on the hot paths (rate limits, quotas,
// routing) 64 requests in flight then cost a few writes and reads instead of 64 of each.
//
// There is no background goroutine: a caller that finds no pipeline in flight sends the
// pending calls (its own among them) and, if more queued meanwhile, hands the next batch to
// the first of those callers; the others wait for their answers. Alone, a call goes out at
// once.
type AutoPipeline struct {
	rdb redis.UniversalClient

	mu       sync.Mutex
	pending  []*pipelinedCall // never empty while no one is flushing
	flushing bool
}

type pipelinedCall struct {
	queue func(p redis.Pipeliner)
	// done receives false once the call is answered, or true when its caller is to send the
	// next batch (its own call first).
	done chan bool
}

// NewAutoPipeline returns an auto-pipeline over rdb.
func NewAutoPipeline(rdb redis.UniversalClient) *AutoPipeline { return &AutoPipeline{rdb: rdb} }

// Do runs queue, which adds commands to a pipeline shared with other callers, and returns
// once they are answered: the caller reads its results from the commands queue added (each
// command carries its own error). Do does not return early when ctx ends, so that results
// are never read while Redis is still answering them; the pipeline has its own timeout.
func (a *AutoPipeline) Do(ctx context.Context, queue func(p redis.Pipeliner)) {
	c := &pipelinedCall{queue: queue, done: make(chan bool, 1)}
	a.mu.Lock()
	a.pending = append(a.pending, c)
	lead := !a.flushing
	a.flushing = true
	a.mu.Unlock()
	if !lead && !<-c.done {
		return
	}
	a.flushNext(context.WithoutCancel(ctx))
}

// flushNext sends the pending calls, the caller's own first, then hands the role on.
func (a *AutoPipeline) flushNext(ctx context.Context) {
	a.mu.Lock()
	n := min(len(a.pending), autoPipelineMax)
	batch := a.pending[:n:n]
	a.pending = a.pending[n:]
	a.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, autoPipelineTimeout)
	pipe := a.rdb.Pipeline()
	for _, c := range batch {
		c.queue(pipe)
	}
	// Errors are per command; the callers read them from their own commands.
	_, _ = pipe.Exec(ctx)
	cancel()

	a.mu.Lock()
	var next *pipelinedCall
	if len(a.pending) > 0 {
		next = a.pending[0]
	} else {
		a.flushing = false
		a.pending = nil
	}
	a.mu.Unlock()
	for _, c := range batch {
		c.done <- false
	}
	if next != nil {
		next.done <- true
	}
}
