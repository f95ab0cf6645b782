package httpapi_test

import (
	"net/http"
	"testing"
)

// FuzzAdminBodies fuzzes the bodies administrators send: a user's role and tier, maintenance
// mode, a session's migration, and adding, changing and testing workers. Migration and the
// worker routes call a worker, so a 502 or 503 about that worker is an answer, not a failure;
// a 500 never is.
func FuzzAdminBodies(f *testing.F) {
	w := newFuzzWorld(f)
	w.startWorker(f, "fuzz-worker-2")
	routes := []fuzzRoute{
		{method: http.MethodPut, path: "/api/v1/admin/users/" + w.owner.ID, auth: w.adminAuth},
		{method: http.MethodPost, path: "/api/v1/admin/system/maintenance", auth: w.adminAuth},
		{method: http.MethodPost, path: "/api/v1/admin/sessions/" + w.session + "/migrate", auth: w.adminAuth, upstream: true},
		{method: http.MethodPost, path: "/api/v1/workers", auth: w.adminAuth, upstream: true},
		{method: http.MethodPut, path: "/api/v1/workers/" + w.workerID, auth: w.adminAuth},
		{method: http.MethodPost, path: "/api/v1/workers/test", auth: w.adminAuth, upstream: true},
	}
	addRouteSeeds(f, routes,
		`{"name":"Ada Lovelace","role":"ADMINISTRATOR","tier":"MAX","isActive":false}`,
		`{"role":"root","tier":"GOLD","isActive":"no"}`, `{"name":"'; UPDATE users SET role='ADMINISTRATOR'; --"}`,
		`{"enabled":true,"message":"Back soon"}`, `{"enabled":"true"}`, `{"enabled":false,"message":null}`,
		`{"targetWorkerId":"fuzz-worker-2"}`, `{"targetWorkerId":"Fuzz_Worker_2"}`, `{"targetWorkerId":"../fuzz-worker"}`,
		`{"targetWorkerId":"nobody"}`, `{"targetWorkerId":""}`,
		`{"workerId":"added","endpoint":"http://127.0.0.1:1","maxSessions":5}`,
		`{"endpoint":"ftp://127.0.0.1/","maxSessions":-1,"version":"x","environment":"moon"}`,
		`{"endpoint":"http://user:pw@127.0.0.1:1/?q#f"}`, `{"workerId":"register","endpoint":"http://127.0.0.1:1"}`,
		`{"maxSessions":1001,"description":"d","version":"1.2.3","environment":"STAGING","status":"OFFLINE"}`,
		`{"maxSessions":9223372036854775808}`, `{"maxSessions":1e3}`, `{"maxSessions":2.5}`, `{"status":"MAINTENANCE"}`,
		`{"endpoint":"http://127.0.0.1:1"}`,
	)
	f.Fuzz(func(t *testing.T, selector uint8, body []byte) {
		fuzzDo(t, w, pick(routes, selector), body)
	})
}
