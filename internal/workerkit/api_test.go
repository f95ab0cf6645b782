package workerkit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workerkit"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
	"github.com/wagateway/gateway/internal/workerkit/workerkittest"
)

func TestHealth_UnauthenticatedWithSessionCounts(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{engine: simengine.Config{ConnectDelay: -1, QRInterval: time.Hour, ReceiptDelay: -1}})
	tw.waitRegistered(t)
	tw.call(t, http.MethodPost, "/api/sessions/start", protocol.StartSessionRequest{SessionID: "q1"})
	if err := tw.Engine.Resume(t.Context(), "c1", "u", "n"); err != nil {
		t.Fatal(err)
	}

	a, err := tw.do(t.Context(), http.MethodGet, "/health", nil, "")
	if err != nil || a.Status != http.StatusOK {
		t.Fatalf("health: %v %d", err, a.Status)
	}
	var h protocol.WorkerHealth
	if err := json.Unmarshal(a.Raw, &h); err != nil {
		t.Fatal(err)
	}
	if h.Status != "healthy" || h.WorkerID != tw.ID || h.Endpoint != tw.URL || h.Version != "1.2.3" || h.Timestamp == nil || h.Uptime < 0 {
		t.Errorf("health = %s", a.Raw)
	}
	want := map[string]float64{"total": 2, "connected": 1, "qr_required": 1, "disconnected": 0, "initializing": 0,
		"reconnecting": 0, "error": 0, "maxSessions": 10}
	for k, v := range want {
		if got, ok := h.Sessions[k]; !ok || got != v {
			t.Errorf("sessions.%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if strings.Contains(string(a.Raw), `"success"`) {
		t.Error("health is wrapped in the envelope")
	}
}

func TestAPI_EveryRoute_NeedsTheSharedToken(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{})
	routes := []struct{ method, path string }{
		{http.MethodPost, "/api/sessions/start"},
		{http.MethodGet, "/api/sessions/s/status"},
		{http.MethodGet, "/api/sessions/s/qr"},
		{http.MethodPost, "/api/sessions/s/pair"},
		{http.MethodPost, "/api/sessions/s/restart"},
		{http.MethodPost, "/api/sessions/s/disconnect"},
		{http.MethodPost, "/api/sessions/s/logout"},
		{http.MethodDelete, "/api/sessions/s"},
		{http.MethodPost, "/api/sessions/s/send"},
		{http.MethodPost, "/api/sessions/s/check-number"},
		{http.MethodPost, "/api/message/s/manage"},
	}
	for _, token := range []string{"", "wrong", "own-worker-token"} {
		for _, r := range routes {
			a := tw.callWith(t, t.Context(), r.method, r.path, nil, token)
			if a.Status != http.StatusUnauthorized || a.Success || a.Error.Code != "UNAUTHORIZED" {
				t.Errorf("%s %s with %q: %d %s", r.method, r.path, token, a.Status, a.Raw)
			}
		}
	}
}

func TestAPI_SessionLifecycle(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{engine: simengine.Config{ConnectDelay: -1, QRInterval: time.Hour, ReceiptDelay: -1}})

	// start: 201 with the QR, then 200 for the same session.
	a := tw.call(t, http.MethodPost, "/api/sessions/start", protocol.StartSessionRequest{SessionID: "s1", UserID: "u1", SessionName: "Shop"})
	var st protocol.SessionState
	a.decode(t, &st)
	if a.Status != http.StatusCreated || !a.Success || st.SessionID != "s1" || st.Status != "qr_ready" ||
		st.QRCode == nil || !strings.HasPrefix(*st.QRCode, "2@") || st.Message == "" {
		t.Fatalf("start = %d %s", a.Status, a.Raw)
	}
	if !strings.Contains(string(a.Raw), `"timestamp"`) {
		t.Error("no timestamp in the envelope")
	}
	a = tw.call(t, http.MethodPost, "/api/sessions/start", protocol.StartSessionRequest{SessionID: "s1", UserID: "u1", SessionName: "Shop"})
	if a.Status != http.StatusOK {
		t.Fatalf("second start = %d %s", a.Status, a.Raw)
	}

	// qr and pair while waiting for the scan.
	a = tw.call(t, http.MethodGet, "/api/sessions/s1/qr", nil)
	var qr protocol.QRResult
	a.decode(t, &qr)
	if a.Status != http.StatusOK || qr.QRCode != *st.QRCode {
		t.Errorf("qr = %d %s", a.Status, a.Raw)
	}
	a = tw.call(t, http.MethodPost, "/api/sessions/s1/pair", protocol.PairRequest{PhoneNumber: "+62 811-2233-4455"})
	var pair protocol.PairResult
	a.decode(t, &pair)
	if a.Status != http.StatusOK || len(pair.PairingCode) != 9 || pair.PairingCode[4] != '-' {
		t.Errorf("pair = %d %s", a.Status, a.Raw)
	}
	if err := tw.Engine.Connect("s1"); err != nil {
		t.Fatal(err)
	}

	// status once connected: the paired phone.
	a = tw.call(t, http.MethodGet, "/api/sessions/s1/status", nil)
	st = protocol.SessionState{}
	a.decode(t, &st)
	if a.Status != http.StatusOK || st.Status != "connected" || st.PhoneNumber == nil || *st.PhoneNumber != "+6281122334455" || st.QRCode != nil {
		t.Errorf("status = %d %s", a.Status, a.Raw)
	}
	if a = tw.call(t, http.MethodGet, "/api/sessions/s1/qr", nil); a.Status != http.StatusNotFound || a.Error.Code != "QR_NOT_AVAILABLE" {
		t.Errorf("qr when connected = %d %s", a.Status, a.Raw)
	}

	// send, check-number, manage.
	a = tw.call(t, http.MethodPost, "/api/sessions/s1/send", protocol.SendRequest{To: "6281234567890", Type: "TEXT", Message: ptr("hi"), ClientMessageID: "m1"})
	var sent protocol.SendResult
	a.decode(t, &sent)
	if a.Status != http.StatusOK || len(sent.MessageID) != 20 || !strings.HasPrefix(sent.MessageID, "3EB0") ||
		sent.Type != "text" || sent.To != "6281234567890@s.whatsapp.net" || sent.Timestamp == nil {
		t.Errorf("send = %d %s", a.Status, a.Raw)
	}
	a = tw.call(t, http.MethodPost, "/api/sessions/s1/check-number", protocol.CheckNumberRequest{Phone: "+62 812 3456 7890"})
	var check protocol.CheckNumberResult
	a.decode(t, &check)
	if a.Status != http.StatusOK || !check.Exists || check.JID != "6281234567890@s.whatsapp.net" || check.Phone != "6281234567890" {
		t.Errorf("check-number = %d %s", a.Status, a.Raw)
	}
	a = tw.call(t, http.MethodPost, "/api/message/s1/manage", protocol.ManageRequest{Action: "reaction", MessageID: sent.MessageID, Phone: "6281234567890", Emoji: ptr("👍")})
	var managed protocol.ManageResult
	a.decode(t, &managed)
	if a.Status != http.StatusOK || !managed.Success || managed.Action != "reaction" || managed.MessageID != sent.MessageID {
		t.Errorf("manage = %d %s", a.Status, a.Raw)
	}

	// restart, disconnect, logout, delete.
	for _, step := range []struct{ action, status string }{
		{"restart", "initializing"}, {"disconnect", "disconnected"}, {"logout", "disconnected"},
	} {
		a = tw.call(t, http.MethodPost, "/api/sessions/s1/"+step.action, nil)
		st = protocol.SessionState{}
		a.decode(t, &st)
		if a.Status != http.StatusOK || st.SessionID != "s1" || st.Status != step.status {
			t.Errorf("%s = %d %s", step.action, a.Status, a.Raw)
		}
	}
	if st.PhoneNumber != nil {
		t.Errorf("phone still known after logout: %s", a.Raw)
	}
	a = tw.call(t, http.MethodDelete, "/api/sessions/s1", nil)
	a.decode(t, &st)
	if a.Status != http.StatusOK || st.SessionID != "s1" {
		t.Errorf("delete = %d %s", a.Status, a.Raw)
	}
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/api/sessions/s1/status"}, {http.MethodDelete, "/api/sessions/s1"},
		{http.MethodPost, "/api/sessions/s1/restart"},
	} {
		if a = tw.call(t, r.method, r.path, nil); a.Status != http.StatusNotFound || a.Error.Code != "SESSION_NOT_FOUND" {
			t.Errorf("%s %s after delete = %d %s", r.method, r.path, a.Status, a.Raw)
		}
	}
}

func TestAPI_SendNotConnected_Returns400SessionNotConnected(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{engine: simengine.Config{ConnectDelay: -1, QRInterval: time.Hour}})
	tw.call(t, http.MethodPost, "/api/sessions/start", protocol.StartSessionRequest{SessionID: "s1"})
	a := tw.call(t, http.MethodPost, "/api/sessions/s1/send", protocol.SendRequest{To: "6281234567890", Type: "text", Message: ptr("hi")})
	if a.Status != http.StatusBadRequest || a.Success || a.Error.Code != "SESSION_NOT_CONNECTED" || !strings.Contains(a.Error.Message, "qr_ready") {
		t.Fatalf("send = %d %s", a.Status, a.Raw)
	}
	// The shape the backend's worker client reads.
	var env protocol.Envelope[json.RawMessage]
	if err := json.Unmarshal(a.Raw, &env); err != nil || env.ErrorMessage() == "" {
		t.Errorf("error answer %s does not parse as the envelope: %v", a.Raw, err)
	}
	for _, path := range []string{"/api/sessions/s1/check-number", "/api/message/s1/manage"} {
		body := map[string]string{"phone": "6281234567890", "action": "star", "messageId": "3EB0X"}
		if a := tw.call(t, http.MethodPost, path, body); a.Status != http.StatusBadRequest || a.Error.Code != "SESSION_NOT_CONNECTED" {
			t.Errorf("%s = %d %s", path, a.Status, a.Raw)
		}
	}
	if a := tw.call(t, http.MethodPost, "/api/sessions/nope/send", protocol.SendRequest{To: "6281234567890", Type: "text", Message: ptr("hi")}); a.Status != http.StatusNotFound {
		t.Errorf("send to an unknown session = %d %s", a.Status, a.Raw)
	}
}

func TestAPI_SendDeduplicatesByClientMessageID(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{})
	tw.startConnected(t, "s1")
	send := func(clientID string) string {
		a := tw.call(t, http.MethodPost, "/api/sessions/s1/send",
			protocol.SendRequest{To: "6281234567890", Type: "text", Message: ptr("hi"), ClientMessageID: clientID})
		var res protocol.SendResult
		a.decode(t, &res)
		if a.Status != http.StatusOK {
			t.Fatalf("send = %d %s", a.Status, a.Raw)
		}
		return res.MessageID
	}
	first, retry, other := send("c-1"), send("c-1"), send("c-2")
	if first != retry {
		t.Errorf("a retry with the same clientMessageId got %s, then %s", first, retry)
	}
	if other == first {
		t.Error("two clientMessageIds got one messageId")
	}
	if got := tw.Engine.Sent("s1")["text"]; got != 2 {
		t.Errorf("engine sent %d texts, want 2", got)
	}
}

func TestAPI_RequestValidation(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{})
	tw.startConnected(t, "s1")
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"start without id", http.MethodPost, "/api/sessions/start", map[string]string{"userId": "u"}, 400, "VALIDATION_ERROR"},
		{"start with a slash", http.MethodPost, "/api/sessions/start", map[string]string{"sessionId": "a/b"}, 400, "VALIDATION_ERROR"},
		{"start with a long id", http.MethodPost, "/api/sessions/start", map[string]string{"sessionId": strings.Repeat("x", 256)}, 400, "VALIDATION_ERROR"},
		{"start without body", http.MethodPost, "/api/sessions/start", nil, 400, "VALIDATION_ERROR"},
		{"send without to", http.MethodPost, "/api/sessions/s1/send", map[string]string{"type": "text", "message": "x"}, 400, "VALIDATION_ERROR"},
		{"send without type", http.MethodPost, "/api/sessions/s1/send", map[string]string{"to": "1234567"}, 400, "VALIDATION_ERROR"},
		{"send unknown type", http.MethodPost, "/api/sessions/s1/send", map[string]string{"to": "1234567", "type": "sticker"}, 400, "VALIDATION_ERROR"},
		{"text without message", http.MethodPost, "/api/sessions/s1/send", map[string]string{"to": "1234567", "type": "text"}, 400, "VALIDATION_ERROR"},
		{"image without url", http.MethodPost, "/api/sessions/s1/send", map[string]string{"to": "1234567", "type": "image"}, 400, "VALIDATION_ERROR"},
		{"bad location", http.MethodPost, "/api/sessions/s1/send", map[string]any{"to": "1234567", "type": "location", "location": map[string]float64{"latitude": 91}}, 400, "VALIDATION_ERROR"},
		{"contact without phone", http.MethodPost, "/api/sessions/s1/send", map[string]any{"to": "1234567", "type": "contact", "contact": map[string]string{"name": "A"}}, 400, "VALIDATION_ERROR"},
		{"link without url", http.MethodPost, "/api/sessions/s1/send", map[string]any{"to": "1234567", "type": "link"}, 400, "VALIDATION_ERROR"},
		{"poll with one option", http.MethodPost, "/api/sessions/s1/send", map[string]any{"to": "1234567", "type": "poll", "poll": map[string]any{"name": "Q", "options": []string{"a"}}}, 400, "VALIDATION_ERROR"},
		{"pair with letters", http.MethodPost, "/api/sessions/s1/pair", map[string]string{"phoneNumber": "call me"}, 400, "VALIDATION_ERROR"},
		{"pair when connected", http.MethodPost, "/api/sessions/s1/pair", map[string]string{"phoneNumber": "6281234567890"}, 400, "VALIDATION_ERROR"},
		{"check short number", http.MethodPost, "/api/sessions/s1/check-number", map[string]string{"phone": "123"}, 400, "VALIDATION_ERROR"},
		{"manage unknown action", http.MethodPost, "/api/message/s1/manage", map[string]string{"action": "burn", "messageId": "x"}, 400, "VALIDATION_ERROR"},
		{"manage without message", http.MethodPost, "/api/message/s1/manage", map[string]string{"action": "star"}, 400, "VALIDATION_ERROR"},
		{"reaction without emoji", http.MethodPost, "/api/message/s1/manage", map[string]string{"action": "reaction", "messageId": "x"}, 400, "VALIDATION_ERROR"},
		{"edit without text", http.MethodPost, "/api/message/s1/manage", map[string]string{"action": "edit", "messageId": "x"}, 400, "VALIDATION_ERROR"},
		{"unknown route", http.MethodGet, "/api/nothing", nil, 404, "NOT_FOUND"},
		{"wrong method", http.MethodPut, "/api/sessions/start", nil, 405, "METHOD_NOT_ALLOWED"},
	}
	for _, c := range cases {
		a := tw.call(t, c.method, c.path, c.body)
		if a.Status != c.status || a.Error.Code != c.code || a.Success {
			t.Errorf("%s: %d %s, want %d %s", c.name, a.Status, a.Raw, c.status, c.code)
		}
	}

	// Accepted shapes of the other types.
	for _, body := range []map[string]any{
		{"to": "1234567", "message": "no type is text"},
		{"to": "1234567", "type": "image", "mediaUrl": "https://x/y.png", "caption": "c"},
		{"to": "1234567", "type": "location", "location": map[string]float64{"latitude": -6.2, "longitude": 106.8}},
		{"to": "1234567", "type": "contact", "contact": map[string]string{"name": "A", "phone": "62811"}},
		{"to": "1234567", "type": "link", "link": map[string]string{"url": "https://example.com"}},
		{"to": "1234567", "type": "poll", "poll": map[string]any{"name": "Q", "options": []string{"a", "b"}}},
		{"to": "1234567", "type": "seen", "messageId": "3EB0"},
		{"to": "1234567", "type": "typing_start"},
		{"to": "120363000000000000@g.us", "type": "typing_stop"},
	} {
		if a := tw.call(t, http.MethodPost, "/api/sessions/s1/send", body); a.Status != http.StatusOK {
			t.Errorf("send %v = %d %s", body, a.Status, a.Raw)
		}
	}
	for _, action := range []map[string]any{
		{"action": "delete", "messageId": "x", "forEveryone": true}, {"action": "EDIT", "messageId": "x", "newText": "y"},
		{"action": "read", "messageId": "x"}, {"action": "unstar", "messageId": "x"}, {"action": "unsend", "messageId": "x"},
	} {
		if a := tw.call(t, http.MethodPost, "/api/message/s1/manage", action); a.Status != http.StatusOK {
			t.Errorf("manage %v = %d %s", action, a.Status, a.Raw)
		}
	}
}

func TestAPI_BodyMustBeJSONAndAtMost1MiB(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{})
	post := func(contentType string, body []byte) answer {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, tw.URL+"/api/sessions/start", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+sharedToken)
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a answer
		_ = json.NewDecoder(resp.Body).Decode(&a)
		a.Status = resp.StatusCode
		return a
	}
	if a := post("text/plain", []byte(`{"sessionId":"x"}`)); a.Status != http.StatusUnsupportedMediaType || a.Error.Code != "UNSUPPORTED_MEDIA_TYPE" {
		t.Errorf("text/plain = %d %+v", a.Status, a.Error)
	}
	if a := post("application/json", []byte(`{"sessionId":`)); a.Status != http.StatusBadRequest {
		t.Errorf("broken JSON = %d", a.Status)
	}
	big := append([]byte(`{"sessionId":"x","pad":"`), bytes.Repeat([]byte("a"), 1<<20)...)
	big = append(big, `"}`...)
	if a := post("application/json; charset=utf-8", big); a.Status != http.StatusRequestEntityTooLarge || a.Error.Code != "PAYLOAD_TOO_LARGE" {
		t.Errorf("2 MiB body = %d %+v", a.Status, a.Error)
	}
	if a := post("application/json", []byte(`{"sessionId":"ok","unknown":[1,2]}`)); a.Status != http.StatusCreated {
		t.Errorf("unknown fields are refused: %d", a.Status)
	}
}

func TestAPI_MaxSessions_RefusesNewSessions(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{kit: func(c *workerkit.Config) { c.MaxSessions = 2 }})
	for _, id := range []string{"a", "b"} {
		if a := tw.call(t, http.MethodPost, "/api/sessions/start", map[string]string{"sessionId": id}); a.Status != http.StatusCreated {
			t.Fatalf("start %s = %d", id, a.Status)
		}
	}
	if a := tw.call(t, http.MethodPost, "/api/sessions/start", map[string]string{"sessionId": "c"}); a.Status != http.StatusServiceUnavailable || a.Error.Code != "MAX_SESSIONS_REACHED" {
		t.Errorf("third start = %d %s", a.Status, a.Raw)
	}
	if a := tw.call(t, http.MethodPost, "/api/sessions/start", map[string]string{"sessionId": "a"}); a.Status != http.StatusOK {
		t.Errorf("start of a held session at capacity = %d %s", a.Status, a.Raw)
	}
}

func TestAPI_Admin_MountedBehindTheToken(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	admin := http.NewServeMux()
	admin.HandleFunc("GET /ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"success":true,"data":"pong"}`))
	})
	admin.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	tw := startWorker(t, backend, workerOptions{kit: func(c *workerkit.Config) { c.Admin = admin }})
	if a := tw.call(t, http.MethodGet, "/admin/ping", nil); a.Status != http.StatusOK || string(a.Data) != `"pong"` {
		t.Errorf("admin ping = %d %s", a.Status, a.Raw)
	}
	if a := tw.callWith(t, t.Context(), http.MethodGet, "/admin/ping", nil, ""); a.Status != http.StatusUnauthorized {
		t.Errorf("admin without token = %d", a.Status)
	}
	if a := tw.call(t, http.MethodGet, "/admin/boom", nil); a.Status != http.StatusInternalServerError || a.Error.Code != "INTERNAL_ERROR" {
		t.Errorf("panic = %d %s", a.Status, a.Raw)
	}
}

func TestFaults_LatencyFailSendsAndHang(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	tw := startWorker(t, backend, workerOptions{})
	tw.startConnected(t, "s1")
	text := protocol.SendRequest{To: "6281234567890", Type: "text", Message: ptr("hi")}

	tw.Engine.SetFaults(simengine.Faults{Latency: 150 * time.Millisecond})
	start := time.Now()
	if a := tw.call(t, http.MethodGet, "/api/sessions/s1/status", nil); a.Status != http.StatusOK {
		t.Fatalf("status with latency = %d", a.Status)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("latency 150ms, the call took %s", d)
	}

	tw.Engine.SetFaults(simengine.Faults{FailSends: true})
	if a := tw.call(t, http.MethodPost, "/api/sessions/s1/send", text); a.Status != http.StatusInternalServerError || a.Error.Code != "INTERNAL_ERROR" {
		t.Errorf("send with failSends = %d %s", a.Status, a.Raw)
	}
	if a := tw.call(t, http.MethodGet, "/api/sessions/s1/status", nil); a.Status != http.StatusOK {
		t.Errorf("status with failSends = %d", a.Status)
	}

	tw.Engine.SetFaults(simengine.Faults{Hang: true})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := tw.do(ctx, http.MethodPost, "/api/sessions/s1/send", text, sharedToken)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("send with hang: %v, want the caller's timeout", err)
	}
	if a, err := tw.do(t.Context(), http.MethodGet, "/health", nil, ""); err != nil || a.Status != http.StatusOK {
		t.Errorf("health while hanging: %v", err)
	}

	tw.Engine.SetFaults(simengine.Faults{})
	if a := tw.call(t, http.MethodPost, "/api/sessions/s1/send", text); a.Status != http.StatusOK {
		t.Errorf("send after the faults = %d", a.Status)
	}
	if got := tw.Engine.Sent("s1")["text"]; got != 1 {
		t.Errorf("engine sent %d, want 1 (the failed and hung sends sent nothing)", got)
	}
}

func TestShutdown_HungRequest_IsCut(t *testing.T) {
	t.Parallel()
	backend := workerkittest.NewBackend(t, sharedToken)
	entered := make(chan struct{})
	admin := http.NewServeMux()
	admin.HandleFunc("GET /hang", func(_ http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})
	tw := startWorker(t, backend, workerOptions{kit: func(c *workerkit.Config) {
		c.ShutdownTimeout = 200 * time.Millisecond
		c.Admin = admin
	}})
	errs := make(chan error, 1)
	go func() {
		_, err := tw.do(context.WithoutCancel(t.Context()), http.MethodGet, "/admin/hang", nil, sharedToken)
		errs <- err
	}()
	select {
	case <-entered:
	case <-time.After(waitLong):
		t.Fatal("the request did not reach the handler")
	}
	start := time.Now()
	if err := tw.Stop(t); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %s with a hung request and a 200ms timeout", d)
	}
	select {
	case err := <-errs:
		if err == nil {
			t.Error("the hung request got an answer")
		}
	case <-time.After(waitLong):
		t.Fatal("the hung request was not cut at shutdown")
	}
}
