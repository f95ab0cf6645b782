package app

import (
	"io"
	"sync"
	"time"
)

// logBufferSize is how much a batchWriter holds before it writes at once.
const logBufferSize = 64 << 10

// batchWriter gathers log lines and writes them in batches: every interval, when the buffer
// fills, and at Close. The access log writes a line per request; one write per line was a
// system call per request (two with a log file). A crash loses at most interval of lines.
type batchWriter struct {
	mu   sync.Mutex
	out  io.Writer
	buf  []byte
	stop chan struct{}
	done chan struct{}
}

func newBatchWriter(out io.Writer, interval time.Duration) *batchWriter {
	w := &batchWriter{out: out, buf: make([]byte, 0, logBufferSize), stop: make(chan struct{}), done: make(chan struct{})}
	go w.flushEvery(interval)
	return w
}

// Write keeps p (a whole line from the slog handler, which writes each record at once).
func (w *batchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf)+len(p) > cap(w.buf) {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > cap(w.buf) {
			return w.out.Write(p)
		}
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *batchWriter) flushEvery(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			_ = w.flushLocked() // a failed write is retried with the next batch
			w.mu.Unlock()
		}
	}
}

func (w *batchWriter) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// Close writes what is left and stops the flushing.
func (w *batchWriter) Close() error {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}
