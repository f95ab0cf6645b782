package app_test

import (
	"runtime/debug"
	"testing"

	"github.com/wagateway/gateway/internal/app"
	"github.com/wagateway/gateway/internal/config"
)

// Not parallel: the collector's target belongs to the whole test process.
func TestSetProcessDefaults_SetsTheCollectorsTarget(t *testing.T) {
	for _, want := range []int{config.DefaultGCPercent, 50, -1} {
		previous := app.SetProcessDefaults(&config.Config{GCPercent: want})
		got := debug.SetGCPercent(previous)
		if got != want {
			t.Errorf("GCPercent %d: the collector's target is %d", want, got)
		}
	}
}
