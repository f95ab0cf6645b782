package simengine

import (
	"container/heap"
	"sync"
	"time"
)

// scheduler runs every timed action of an engine (QR renewals, connects, receipts, incoming
// messages) on one goroutine the engine owns, in time order. An action that is no longer
// wanted is not removed: it checks the session's generation when it runs and does nothing.
type scheduler struct {
	mu    sync.Mutex
	tasks taskHeap
	seq   uint64
	wake  chan struct{}
}

type task struct {
	at  time.Time
	seq uint64 // keeps tasks due at the same instant in the order they were scheduled
	fn  func()
}

func newScheduler() *scheduler {
	return &scheduler{wake: make(chan struct{}, 1)}
}

// after runs fn after d on the scheduler's goroutine.
func (s *scheduler) after(d time.Duration, fn func()) {
	s.mu.Lock()
	s.seq++
	heap.Push(&s.tasks, task{at: time.Now().Add(d), seq: s.seq, fn: fn})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run runs the due tasks until done is closed.
func (s *scheduler) run(done <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-done:
			return
		default:
		}
		now := time.Now()
		var due []func()
		wait := time.Hour
		s.mu.Lock()
		for len(s.tasks) > 0 && !s.tasks[0].at.After(now) {
			due = append(due, heap.Pop(&s.tasks).(task).fn)
		}
		if len(s.tasks) > 0 {
			wait = s.tasks[0].at.Sub(now)
		}
		s.mu.Unlock()
		if len(due) > 0 {
			for _, fn := range due {
				fn()
			}
			continue // the tasks may have scheduled more, due at once
		}
		timer.Reset(wait)
		select {
		case <-done:
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

type taskHeap []task

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h taskHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *taskHeap) Push(x any)   { *h = append(*h, x.(task)) }
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = task{}
	*h = old[:len(old)-1]
	return t
}
