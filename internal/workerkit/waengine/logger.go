package waengine

import (
	"context"
	"fmt"
	"log/slog"

	signalLog "go.mau.fi/libsignal/logger"
	waLog "go.mau.fi/whatsmeow/util/log"
)

// libsignal creates its logger on first use without a lock (a data race when sessions
// start together) and prints its debug lines to stdout; it gets a quiet one before anything
// runs.
func init() {
	signalLog.Logger = signalLogger{}
}

// signalLogger keeps libsignal's warnings and errors, in the process's default logger.
type signalLogger struct{}

func (signalLogger) Debug(string, string) {}
func (signalLogger) Info(string, string)  {}
func (signalLogger) Warning(caller, msg string) {
	slog.Warn(msg, slog.String("component", "libsignal"), slog.String("caller", caller))
}
func (signalLogger) Error(caller, msg string) {
	slog.Error(msg, slog.String("component", "libsignal"), slog.String("caller", caller))
}
func (signalLogger) Configure(string) {}

// slogAdapter gives whatsmeow (which logs printf-style through waLog.Logger) the worker's
// structured logger. whatsmeow's info level is chatty per connection, so it goes to debug.
type slogAdapter struct {
	log *slog.Logger
}

func newWALogger(log *slog.Logger) waLog.Logger { return slogAdapter{log: log} }

func (a slogAdapter) emit(level slog.Level, msg string, args []any) {
	if !a.log.Enabled(context.Background(), level) {
		return
	}
	a.log.Log(context.Background(), level, fmt.Sprintf(msg, args...))
}

func (a slogAdapter) Errorf(msg string, args ...any) { a.emit(slog.LevelError, msg, args) }
func (a slogAdapter) Warnf(msg string, args ...any)  { a.emit(slog.LevelWarn, msg, args) }
func (a slogAdapter) Infof(msg string, args ...any)  { a.emit(slog.LevelDebug, msg, args) }
func (a slogAdapter) Debugf(msg string, args ...any) { a.emit(slog.LevelDebug-4, msg, args) }
func (a slogAdapter) Sub(module string) waLog.Logger {
	return slogAdapter{log: a.log.With(slog.String("module", module))}
}
