package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/wagateway/gateway/internal/testenv"
)

func TestReadiness_DependenciesUp_Returns200WithChecks(t *testing.T) {
	t.Parallel()
	g := testenv.NewGateway(t, testenv.Options{})

	res := g.Do(t, http.MethodGet, "/health/detailed", nil)

	if res.Code != http.StatusOK {
		t.Fatalf("status = %d, body %s", res.Code, res.Body)
	}
	data := res.JSON(t)["data"].(map[string]any)
	checks := data["checks"].(map[string]any)
	for _, dep := range []string{"database", "redis"} {
		if got := checks[dep].(map[string]any)["status"]; got != "up" {
			t.Errorf("%s status = %v, want up", dep, got)
		}
	}
}
