package app

import (
	"runtime/debug"

	"github.com/wagateway/gateway/internal/config"
)

// SetProcessDefaults applies the settings of cfg that belong to the whole process rather than
// to an App: the garbage collector's target (GOGC, config.DefaultGCPercent unless set, also
// from .env, which the Go runtime does not read). The serving process calls it once, before
// New; it returns the previous target.
func SetProcessDefaults(cfg *config.Config) (previousGCPercent int) {
	return debug.SetGCPercent(cfg.GCPercent)
}
