package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzWorkerProtocolBodies fuzzes every body a worker sends the gateway (worker-protocol.md):
// registration, heartbeats, recovery, preserved sessions, unregistering and the event intake.
// Workers are trusted with a token but not with their input: never a 500, every error in the
// envelope. Registration checks the worker's /health, so a 503 about that check is an answer.
func FuzzWorkerProtocolBodies(f *testing.F) {
	w := newFuzzWorld(f)
	wk := "/api/v1/workers/" + w.workerID
	routes := []fuzzRoute{
		{method: http.MethodPost, path: "/api/v1/workers/register", auth: w.workerAuth, upstream: true},
		{method: http.MethodPut, path: wk + "/heartbeat", auth: w.workerAuth},
		{method: http.MethodPost, path: wk + "/sessions/recovery-status", auth: w.workerAuth},
		{method: http.MethodPost, path: wk + "/sessions-preserved", auth: w.workerAuth},
		{method: http.MethodDelete, path: "/api/v1/workers/unregister", auth: w.workerAuth},
		{method: http.MethodPost, path: "/api/v1/webhooks/session-status", auth: w.workerAuth},
		{method: http.MethodPost, path: "/api/v1/webhooks/message-status", auth: w.workerAuth},
		{method: http.MethodPost, path: "/api/v1/webhooks/message", auth: w.workerAuth},
		{method: http.MethodPost, path: "/api/v1/webhooks/worker-heartbeat", auth: w.workerAuth},
	}
	addRouteSeeds(f, routes,
		`{"workerId":"fuzz-worker","endpoint":"`+w.worker.URL+`","maxSessions":50,"version":"1.0.0"}`,
		`{"workerId":"Fuzz_Worker","endpoint":"http://127.0.0.1:1"}`, `{"workerId":"x","endpoint":"gopher://x"}`,
		`{"sessions":[{"sessionId":"fuzz-shop","status":"CONNECTED","phoneNumber":"+628111","lastActivity":"2026-01-01T00:00:00Z"}],`+
			`"metrics":{"cpuUsage":12.5,"memoryUsage":1e308,"uptime":-1,"messageCount":1e300,"activeSessions":-5}}`,
		`{"sessions":[{"sessionId":"stranger-shop","status":"BOGUS","displayName":"`+strings.Repeat("d", 300)+`"}],"lastActivity":1767225600000}`,
		`{"sessions":null,"metrics":null,"lastActivity":"yesterday"}`,
		`{"totalSessions":2,"successfulRecoveries":1,"failedRecoveries":1,"recoveryResults":[{"sessionId":"fuzz-shop","success":true}]}`,
		`{"summary":{"totalSessions":-1},"recoveryResults":[{"sessionId":"","success":"maybe","error":null}]}`,
		`{"workerId":"fuzz-worker","preservedSessions":["fuzz-shop",{"sessionId":"stranger-shop"},{"sessionId":7},null],"timestamp":0}`,
		`{"workerId":"fuzz-worker","endpoint":"`+w.worker.URL+`"}`, `{"workerId":"nobody","endpoint":"http://127.0.0.1:1"}`,
		`{"sessionId":"fuzz-shop","status":"QR_REQUIRED","qrCode":"`+strings.Repeat("q", 2500)+`"}`,
		`{"sessionId":"fuzz-shop","status":"CONNECTED","phoneNumber":"+628111","workerId":"fuzz-worker","timestamp":"2026-01-01T00:00:00Z"}`,
		`{"sessionId":"stranger-shop","status":"LOGGED_OUT","reason":"x","loggedOutAt":99999999999999,"loggedOutFromPhone":true}`,
		`{"sessionId":"fuzz-shop","messageId":"3EB0FLOW1","status":"READ","deliveredAt":-62135596800,"errorMessage":"`+"\u0001"+`"}`,
		`{"sessionId":"fuzz-shop","messageId":"3EB0IN","from":"6281234567890@s.whatsapp.net","type":"TEXT","content":"hey","raw":{"a":[1,{"b":null}]}}`,
		`{"sessionId":"fuzz-shop","messageId":"","from":"","type":"STICKER","mediaUrl":"javascript:alert(1)","timestamp":"1e99"}`,
		`{"workerId":"fuzz-worker","status":"online","sessionCount":1e300,"cpuUsage":-1,"memoryUsage":101,"activeConnections":-1e300}`,
		`{"workerId":"fuzz-worker","status":"ONLINE","sessionCount":-1,"timestamp":"not a time"}`,
	)
	f.Fuzz(func(t *testing.T, selector uint8, body []byte) {
		route := pick(routes, selector)
		fuzzDo(t, w, route, body)
		// Unregistering may remove the worker: bring it back so that the next inputs meet it.
		if route.method == http.MethodDelete && sesCount(t, w.g, `SELECT count(*) FROM workers WHERE id = $1`, w.workerID) == 0 {
			if res := w.g.Do(t, http.MethodPost, "/api/v1/workers/register",
				map[string]any{"workerId": w.workerID, "endpoint": w.worker.URL}, w.workerAuth()...); res.Code != http.StatusCreated {
				t.Fatalf("register the worker again: %d %s", res.Code, res.Body)
			}
		}
	})
}
