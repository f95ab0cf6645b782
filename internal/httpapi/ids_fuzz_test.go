package httpapi_test

// Fuzz targets over what a request names besides its body: the IDs in its path, its query
// string and its credentials. Each goes through the real router.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// pathIDRoute is a route with one ID in its path ({} marks it), and the IDs under which it
// may answer 2xx.
type pathIDRoute struct {
	method, pattern string
	auth            func() []string
	exists          func(id string) bool
}

// FuzzPathIDs puts arbitrary text in the ID of the routes that take one (session IDs, UUIDs
// of keys, users and messages, worker IDs, WhatsApp message IDs): never a 5xx, and a 2xx only
// for an ID that exists and belongs to the caller — in whatever case or spelling the route
// normalises (session IDs are case-insensitive; worker IDs normalise like NormalizeID).
func FuzzPathIDs(f *testing.F) {
	w := newFuzzWorld(f)
	// A webhook, so that redelivery gets as far as the delivery ID (no event it listens to
	// happens here, so nothing is ever delivered).
	if res := w.g.Do(f, http.MethodPut, "/api/v1/sessions/"+w.session+"/webhook",
		map[string]any{"url": "https://93.184.216.34/hook", "events": []string{"session.qr"}}, w.ownerAuth()...); res.Code != http.StatusCreated {
		f.Fatalf("set the webhook: %d %s", res.Code, res.Body)
	}
	ownSession := func(id string) bool { return strings.EqualFold(id, w.session) }
	anyID := func(string) bool { return true }
	none := func(string) bool { return false }
	routes := []pathIDRoute{
		{http.MethodGet, "/api/v1/sessions/{}", w.ownerAuth, ownSession},
		{http.MethodGet, "/api/v1/sessions/{}/status", w.ownerAuth, ownSession},
		{http.MethodGet, "/api/v1/sessions/{}/messages", w.ownerAuth, ownSession},
		{http.MethodGet, "/api/v1/sessions/{}/webhook/deliveries", w.ownerAuth, ownSession},
		{http.MethodPost, "/api/v1/sessions/" + w.session + "/webhook/deliveries/{}/redeliver", w.ownerAuth, none},
		{http.MethodDelete, "/api/v1/users/api-keys/{}", w.ownerAuth, none},
		{http.MethodGet, "/api/v1/messages/{}", w.keyAuth, none},
		{http.MethodDelete, "/api/v1/messages/{}", w.keyAuth, none},
		{http.MethodPost, "/api/v1/message/{}/star", w.keyAuth, anyID}, // WhatsApp's IDs: the worker knows them
		{http.MethodGet, "/api/v1/admin/users/{}", w.adminAuth, func(id string) bool { return strings.EqualFold(id, w.owner.ID) || strings.EqualFold(id, w.admin.ID) }},
		{http.MethodGet, "/api/v1/workers/{}", w.adminAuth, anyID},
		{http.MethodGet, "/api/v1/workers/{}/metrics", w.adminAuth, anyID},
		{http.MethodGet, "/api/v1/workers/{}/sessions/assigned", w.workerAuth, anyID},
	}
	for _, id := range []string{
		w.session, strings.ToUpper(w.session), w.other, w.owner.ID, strings.ToUpper(w.owner.ID), "{" + w.owner.ID + "}",
		"urn:uuid:" + w.owner.ID, w.workerID, "Fuzz_Worker", "..", "../admin/users", "%2e%2e%2fadmin", "a/b", "",
		"\x00", "\xff\xfe", "ﬀ", "İ", "x\r\nSet-Cookie: a=b", "' OR '1'='1", strings.Repeat("a", 101),
		"00000000-0000-0000-0000-000000000000",
	} {
		for i := range routes {
			f.Add(uint8(i), id)
		}
	}
	f.Fuzz(func(t *testing.T, selector uint8, id string) {
		route := routes[int(selector)%len(routes)]
		path := strings.Replace(route.pattern, "{}", url.PathEscape(id), 1)
		body := ""
		if route.method == http.MethodPost {
			body = `{"phone":"6281234567890"}`
		}
		res := w.g.Do(t, route.method, path, body, route.auth()...)
		checkAnswer(t, fmt.Sprintf("%s %s", route.method, path), res.Code, res.Header(), res.Body.Bytes(), false)
		if res.Code < 300 && id != "" && !route.exists(id) { // "" names the collection or another route
			t.Fatalf("%s %s → %d for an ID that does not exist or is not the caller's: %s", route.method, path, res.Code, res.Body)
		}
	})
}

// FuzzQueryParams puts an arbitrary query string on the routes that read one (filters,
// searches, periods, pagination, cursors): never a 5xx, and errors in the envelope.
func FuzzQueryParams(f *testing.F) {
	w := newFuzzWorld(f)
	routes := []fuzzRoute{
		{method: http.MethodGet, path: "/api/v1/sessions", auth: w.ownerAuth},
		{method: http.MethodGet, path: "/api/v1/users/usage", auth: w.ownerAuth},
		{method: http.MethodGet, path: "/api/v1/sessions/" + w.session + "/messages", auth: w.ownerAuth},
		{method: http.MethodGet, path: "/api/v1/sessions/" + w.session + "/webhook/deliveries", auth: w.ownerAuth},
		{method: http.MethodGet, path: "/api/v1/sessions/" + w.session + "/qr", auth: w.ownerAuth},
		{method: http.MethodGet, path: "/api/v1/workers", auth: w.adminAuth},
		{method: http.MethodGet, path: "/api/v1/workers/" + w.workerID + "/metrics", auth: w.adminAuth},
		{method: http.MethodGet, path: "/api/v1/admin/users", auth: w.adminAuth},
		{method: http.MethodGet, path: "/api/v1/admin/sessions", auth: w.adminAuth},
		{method: http.MethodGet, path: "/api/v1/admin/analytics", auth: w.adminAuth},
		{method: http.MethodGet, path: "/api/v1/admin/system/logs", auth: w.adminAuth},
		{method: http.MethodGet, path: "/api/v1/admin/reports/export", auth: w.adminAuth},
	}
	for i, q := range []string{
		"status=CONNECTED&limit=1&page=2", "limit=0&offset=-1&page=x", "limit=99999999999999999999",
		"period=7d&sessionId=fuzz-shop", "period=1y&sessionId=%00", "sessionId=%FF", "direction=OUTBOUND&type=TEXT&cursor=abc",
		"cursor=" + strings.Repeat("A", 300), "format=png", "format=%0d%0a", "status=ONLINE&limit=100", "period=24h",
		"search=%25&role=ADMINISTRATOR&tier=MAX&isActive=maybe", "search=%00", "search=%FF%FE", "search=' OR 1=1 --",
		"userId=not-a-uuid&workerId=%00&status=BOGUS", "workerId=%E2%80%AE", "period=30d&metric=%00",
		"level=error&service=%00&sessionId=%FF&workerId=x&cursor=%00", "type=users&format=json&from=0000-01-01T00:00:00Z&to=9999-12-31T23:59:59Z",
		"type=messages&format=csv&from=x", "a=1&a=2&limit=1&limit=2", "%", "&&&", ";", "=",
	} {
		f.Add(uint8(i), q)
	}
	f.Fuzz(func(t *testing.T, selector uint8, query string) {
		route := pick(routes, selector)
		route.path += "?" + escapeForURL(query)
		fuzzDo(t, w, route, nil)
	})
}

// escapeForURL percent-encodes the bytes a request target cannot carry, keeping the query's
// own syntax (&, =, %) for the fuzzer to play with.
func escapeForURL(s string) string {
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '#' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// FuzzCredentials puts arbitrary text where a credential goes (X-API-Key, and a Bearer token
// for the Messaging API, the dashboard and the worker routes): never a 5xx, and a 2xx only
// for the right credential.
func FuzzCredentials(f *testing.F) {
	w := newFuzzWorld(f)
	type slot struct {
		header, prefix, path, valid string
	}
	slots := []slot{
		{"X-API-Key", "", "/api/v1/session/status", w.key},
		{"Authorization", "Bearer ", "/api/v1/session/status", w.key},
		{"Authorization", "Bearer ", "/api/v1/auth/me", w.owner.Token},
		{"Authorization", "Bearer ", "/api/v1/workers/" + w.workerID + "/sessions/assigned", w.g.Config.WorkerAuthToken},
	}
	for i, v := range []string{
		w.key, " " + w.key + " ", strings.ToUpper(w.key), w.key[:len(w.key)-1], w.key + "x", "wg_", "wg_" + strings.Repeat("A", 32),
		w.owner.Token, w.owner.Token + ".", strings.Replace(w.owner.Token, ".", "..", 1), "eyJhbGciOiJub25lIn0.e30.",
		w.g.Config.WorkerAuthToken, "", "\x00", "\xff", "Bearer", strings.Repeat("x", 10000), "' OR 1=1 --",
	} {
		f.Add(uint8(i), v)
	}
	f.Fuzz(func(t *testing.T, selector uint8, value string) {
		s := slots[int(selector)%len(slots)]
		res := w.g.Do(t, http.MethodGet, s.path, nil, s.header, s.prefix+value)
		checkAnswer(t, fmt.Sprintf("GET %s with %s %q", s.path, s.header, value), res.Code, res.Header(), res.Body.Bytes(), false)
		if res.Code < 300 && strings.TrimSpace(value) != s.valid {
			t.Fatalf("GET %s with %s %q → %d: a wrong credential was accepted", s.path, s.header, value, res.Code)
		}
	})
}
