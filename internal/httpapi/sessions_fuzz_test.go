package httpapi_test

// Fuzz targets over the bodies of the session routes (create, pair, dashboard send, webhook)
// through the real router, against a session that is CONNECTED on a worker. `go test` runs
// the seeds; `make fuzz` explores.

import (
	"context"
	"net/http"
	"regexp"
	"testing"
)

// sessionSlug is every ID a created session may get: NormalizeID's output.
var sessionSlug = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func FuzzSessionBodies(f *testing.F) {
	w := newFuzzWorld(f)
	base := "/api/v1/sessions/" + w.session
	routes := []fuzzRoute{
		{method: http.MethodPost, path: "/api/v1/sessions", auth: w.ownerAuth},
		{method: http.MethodPost, path: base + "/pair", auth: w.ownerAuth, upstream: true},
		{method: http.MethodPost, path: base + "/send", auth: w.ownerAuth, upstream: true},
		{method: http.MethodPut, path: base + "/webhook", auth: w.ownerAuth},
	}
	addRouteSeeds(f, routes,
		`{"name":"Shop","sessionId":"My_Shop 01"}`, `{"name":"Shop","sessionId":"--"}`, `{"name":"Shop","sessionId":"ÄÖÜ-x"}`,
		`{"name":"   ","displayName":"`+"\u202e"+`evil"}`, `{"name":"`+"'; DROP TABLE sessions; --"+`"}`,
		`{"name":"Shop","sessionId":"fuzz-shop"}`, `{"name":"Shop","sessionId":"stranger-shop"}`,
		`{"phoneNumber":"+62 812-3456-7890"}`, `{"phoneNumber":"12"}`,
		`{"to":"6281234567890","type":"text","message":"hi"}`,
		`{"to":"6281234567890","type":"LOCATION","location":{"latitude":91,"longitude":"x"}}`,
		`{"to":"6281234567890","type":"contact","contact":{"name":"A","phone":"+62 811"}}`,
		`{"to":"6281234567890","type":"IMAGE","mediaUrl":"http://169.254.169.254/"}`,
		`{"url":"https://93.184.216.34/hook","events":["*"]}`,
		`{"url":"http://[::ffff:127.0.0.1]/hook","events":["message.received","message.received"]}`,
		`{"url":"http://[fec0::1%25eth0]/","events":["session.qr"],"rotateSecret":true}`,
		`{"url":"https://93.184.216.34/hook","events":["nope",""," *"]}`,
	)
	f.Fuzz(func(t *testing.T, selector uint8, body []byte) {
		route := pick(routes, selector)
		res := fuzzDo(t, w, route, body)
		if route.path != "/api/v1/sessions" || res.Code != http.StatusCreated {
			return
		}
		// A created session has a slug for an ID and is reachable under it.
		id, _ := res.JSON(t)["data"].(map[string]any)["sessionId"].(string)
		if len(id) < 3 || len(id) > 100 || !sessionSlug.MatchString(id) {
			t.Fatalf("body %q created session ID %q, not a 3–100 character slug", body, id)
		}
		if got := w.g.Do(t, http.MethodGet, "/api/v1/sessions/"+id, nil, w.ownerAuth()...); got.Code != http.StatusOK {
			t.Fatalf("session %q was created but GET answers %d %s", id, got.Code, got.Body)
		}
		// The fuzzer may create many: delete it so that the next inputs meet the same world.
		if _, err := w.g.DB.Exec(context.Background(), `DELETE FROM sessions WHERE id = $1`, id); err != nil {
			t.Fatalf("delete session %s: %v", id, err)
		}
	})
}
