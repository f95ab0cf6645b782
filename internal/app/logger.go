package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/wagateway/gateway/internal/config"
	"github.com/wagateway/gateway/internal/httpapi"
	"github.com/wagateway/gateway/internal/jsonstr"
)

// NewLogger returns the JSON logger of the gateway: stdout, plus size-rotated files when
// LOG_FILE_PATH is set, written in batches every LOG_FLUSH_INTERVAL_MS (0: each line at
// once). The returned closer writes what is left and closes the file.
func NewLogger(cfg *config.Config, stdout io.Writer) (*slog.Logger, io.Closer) {
	var closer io.Closer = io.NopCloser(nil)
	out := stdout
	if cfg.LogFilePath != "" {
		file := &lumberjack.Logger{
			Filename:   logFileName(cfg.LogFilePath),
			MaxSize:    50, // megabytes
			MaxBackups: 10,
			MaxAge:     30, // days
			Compress:   true,
		}
		out, closer = io.MultiWriter(stdout, file), file
	}
	if cfg.LogFlushInterval > 0 {
		batches := newBatchWriter(out, cfg.LogFlushInterval)
		out, closer = batches, closers{batches, closer}
	}
	if cfg.LogFlushInterval <= 0 {
		out = &lockedWriter{out: out} // the access lines are written beside the handler (LogAccess)
	}
	const service = "gateway"
	jsonHandler := slog.NewJSONHandler(out, &slog.HandlerOptions{Level: cfg.LogLevel, ReplaceAttr: redactSecrets})
	return slog.New(&logHandler{Handler: jsonHandler.WithAttrs([]slog.Attr{slog.String("service", service)}), out: out,
		preformatted: jsonstr.AppendSlog([]byte(`,"service":`), service)}), closer
}

// logHandler is the gateway's JSON handler with a fast path for the access log's lines
// (httpapi.AccessLogger), which it writes byte for byte as the JSON handler would.
type logHandler struct {
	slog.Handler
	out io.Writer // safe for concurrent writes: the JSON handler writes to it too
	// preformatted are the logger's own attributes as the JSON handler writes them.
	preformatted []byte
}

var accessLineBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (h *logHandler) LogAccess(_ context.Context, level slog.Level, msg string, line *httpapi.AccessLine) {
	buf := accessLineBuffers.Get().(*[]byte)
	*buf = line.AppendJSON((*buf)[:0], time.Now(), level, msg, h.preformatted)
	_, _ = h.out.Write(*buf)
	if cap(*buf) <= 4<<10 {
		accessLineBuffers.Put(buf)
	}
}

// lockedWriter serializes writes: the JSON handler and LogAccess write lines to one writer.
type lockedWriter struct {
	mu  sync.Mutex
	out io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(p)
}

// closers closes each in order and returns the first error.
type closers []io.Closer

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// logFileName accepts a directory (gateway.log inside it) or a file path.
func logFileName(path string) string {
	if strings.HasSuffix(path, ".log") {
		return path
	}
	if info, err := os.Stat(path); err == nil && !info.IsDir() {
		return path
	}
	return filepath.Join(path, "gateway.log")
}

// redactSecrets is a last line of defence: an attribute whose name says it holds a secret is
// never written, whoever logged it.
func redactSecrets(_ []string, a slog.Attr) slog.Attr {
	key := strings.ToLower(a.Key)
	for _, word := range []string{"password", "secret", "authorization", "apikey", "api_key", "api-key", "token", "cookie"} {
		if strings.Contains(key, word) {
			return slog.String(a.Key, "[REDACTED]")
		}
	}
	return a
}
