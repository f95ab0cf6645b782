package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image/png"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/testenv"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
)

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// qrCheckPNG fails unless raw is a PNG image/png can decode.
func qrCheckPNG(t *testing.T, what string, raw []byte) {
	t.Helper()
	if !bytes.HasPrefix(raw, pngSignature) {
		t.Fatalf("%s does not start with the PNG signature: % x", what, raw[:min(len(raw), 8)])
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: image/png cannot decode it: %v", what, err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Fatalf("%s is %v, too small to scan", what, b)
	}
}

// qrStored returns the QR the database keeps for a session.
func qrStored(t *testing.T, g *testenv.Gateway, id string) (string, time.Time) {
	t.Helper()
	var code string
	var at time.Time
	if err := g.DB.QueryRow(context.Background(), `SELECT qr_code, qr_updated_at FROM sessions WHERE id = $1`, id).Scan(&code, &at); err != nil {
		t.Fatalf("stored QR of %s: %v", id, err)
	}
	return code, at
}

func TestQR_PendingQR_AnswersTheRawCodeAPNGDataURLAndTheExpiry(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, nil, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	l.waitingSession(t, u, "qr-1")
	workerQR, err := l.Sim.Engine.QR(context.Background(), "qr-1")
	if err != nil {
		t.Fatal(err)
	}
	stored, updatedAt := qrStored(t, l.Gateway, "qr-1")
	if stored != workerQR {
		t.Fatalf("stored QR %q, want the worker's %q", stored, workerQR)
	}

	res := l.Do(t, http.MethodGet, "/api/v1/sessions/qr-1/qr", nil, u.auth()...)
	if res.Code != http.StatusOK {
		t.Fatalf("qr: %d %s", res.Code, res.Body)
	}
	if cc := res.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	data := sesData(t, res)
	if keys := slices.Sorted(maps.Keys(data)); !slices.Equal(keys, []string{"expiresAt", "qrCode", "qrImage"}) {
		t.Errorf("fields = %v, want expiresAt, qrCode, qrImage", keys)
	}
	if data["qrCode"] != workerQR {
		t.Errorf("qrCode = %v, want the raw QR %q", data["qrCode"], workerQR)
	}
	image, _ := data["qrImage"].(string)
	encoded, ok := strings.CutPrefix(image, "data:image/png;base64,")
	if !ok {
		t.Fatalf("qrImage = %.40q…, want a PNG data URL", image)
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatalf("qrImage base64: %v", err)
	}
	qrCheckPNG(t, "qrImage", raw)
	expiresAt, err := time.Parse(time.RFC3339Nano, fmt.Sprint(data["expiresAt"]))
	if err != nil || !expiresAt.Equal(updatedAt.Add(l.Config.QRTTL)) {
		t.Errorf("expiresAt = %v (%v), want the QR's time + QR_TTL_SECONDS = %s", data["expiresAt"], err, updatedAt.Add(l.Config.QRTTL))
	}

	// The list says a QR is available, without the code.
	list := sesData(t, l.Do(t, http.MethodGet, "/api/v1/sessions", nil, u.auth()...))["sessions"].([]any)
	if got := list[0].(map[string]any)["qrCode"]; got != "available" {
		t.Errorf("listed qrCode = %v, want \"available\"", got)
	}
}

func TestQR_FormatPNGOrAcceptImagePNG_AnswersThePNGItself(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, nil, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	l.waitingSession(t, u, "qr-png")

	for _, tc := range []struct {
		name    string
		query   string
		accept  string
		wantPNG bool
	}{
		{"format=png", "?format=png", "", true},
		{"Accept: image/png", "", "image/png", true},
		{"Accept: image/png with a quality", "", "image/png;q=0.9", true},
		{"format=png beats Accept: application/json", "?format=png", "application/json", true},
		{"format=json beats Accept: image/png", "?format=json", "image/png", false},
		{"Accept naming JSON too", "", "image/png, application/json", false},
		{"no preference", "", "", false},
	} {
		headers := u.auth()
		if tc.accept != "" {
			headers = append(headers, "Accept", tc.accept)
		}
		res := l.Do(t, http.MethodGet, "/api/v1/sessions/qr-png/qr"+tc.query, nil, headers...)
		if res.Code != http.StatusOK {
			t.Errorf("%s: %d %s", tc.name, res.Code, res.Body)
			continue
		}
		ct := res.Header().Get("Content-Type")
		if tc.wantPNG {
			if ct != "image/png" {
				t.Errorf("%s: Content-Type %q, want image/png", tc.name, ct)
				continue
			}
			qrCheckPNG(t, tc.name, res.Body.Bytes())
		} else if !strings.HasPrefix(ct, "application/json") || sesData(t, res)["qrImage"] == nil {
			t.Errorf("%s: Content-Type %q, want the JSON answer", tc.name, ct)
		}
	}
	body := sesWantError(t, l.Do(t, http.MethodGet, "/api/v1/sessions/qr-png/qr?format=gif", nil, u.auth()...),
		http.StatusBadRequest, "validation_error")
	if got := sesFields(body); !slices.Equal(got, []string{"format"}) {
		t.Errorf("format=gif: details %v, want [format]", got)
	}
}

func TestQR_NoQRPending_Returns404(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, map[string]string{"TIER_LIMITS": `{"BASIC":{"sessions":10}}`}, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	sesCreate(t, l.Gateway, u, map[string]any{"name": "Never connected", "sessionId": "qr-none"})
	l.connectedSession(t, u, "qr-linked")
	for _, id := range []string{"qr-none", "qr-linked"} {
		for _, query := range []string{"", "?format=png"} {
			sesWantError(t, l.Do(t, http.MethodGet, "/api/v1/sessions/"+id+"/qr"+query, nil, u.auth()...), http.StatusNotFound, "not_found")
		}
	}
	if row := sesSession(t, l.Gateway, "qr-linked"); row.QRCode != nil {
		t.Errorf("a CONNECTED session keeps the QR %q", *row.QRCode)
	}
}

func TestQR_OlderThanQRTTL_IsNotServedFromTheDatabase(t *testing.T) {
	t.Parallel()
	t.Run("worker without a QR route: 404", func(t *testing.T) {
		t.Parallel()
		g := sesGateway(t, map[string]string{"QR_TTL_SECONDS": "5"})
		worker := newSesFakeWorker(t)
		sesRegisterWorker(t, g, "noqr-1", worker.URL, 10)
		u := sesNewUser(t, g)
		sesCreate(t, g, u, map[string]any{"name": "Aging", "sessionId": "qr-aging"})
		sesExec(t, g, `UPDATE sessions SET status = 'QR_REQUIRED', worker_id = 'noqr-1', qr_code = '2@fresh-enough',
			qr_updated_at = now() - interval '4 seconds' WHERE id = 'qr-aging'`)
		res := g.Do(t, http.MethodGet, "/api/v1/sessions/qr-aging/qr", nil, u.auth()...)
		if res.Code != http.StatusOK || sesData(t, res)["qrCode"] != "2@fresh-enough" {
			t.Fatalf("a 4-second-old QR with a TTL of 5 s: %d %s", res.Code, res.Body)
		}
		sesExec(t, g, `UPDATE sessions SET qr_updated_at = now() - interval '6 seconds' WHERE id = 'qr-aging'`)
		sesWantError(t, g.Do(t, http.MethodGet, "/api/v1/sessions/qr-aging/qr", nil, u.auth()...), http.StatusNotFound, "not_found")
		if !worker.called(http.MethodGet, "/api/sessions/qr-aging/qr") {
			t.Error("the expired QR was not asked of the worker first")
		}
	})
	t.Run("simworker: its current QR with a new expiry", func(t *testing.T) {
		t.Parallel()
		l := sesStartLive(t, nil, simengine.Config{})
		u := sesNewUser(t, l.Gateway)
		l.waitingSession(t, u, "qr-renew")
		sesExec(t, l.Gateway, `UPDATE sessions SET qr_code = '2@long-gone', qr_updated_at = now() - interval '2 minutes' WHERE id = 'qr-renew'`)
		workerQR, err := l.Sim.Engine.QR(context.Background(), "qr-renew")
		if err != nil {
			t.Fatal(err)
		}
		res := l.Do(t, http.MethodGet, "/api/v1/sessions/qr-renew/qr", nil, u.auth()...)
		if res.Code != http.StatusOK {
			t.Fatalf("qr: %d %s", res.Code, res.Body)
		}
		data := sesData(t, res)
		if data["qrCode"] != workerQR {
			t.Errorf("qrCode = %v, want the worker's current %q, not the expired one", data["qrCode"], workerQR)
		}
		if at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(data["expiresAt"])); err != nil || !at.After(time.Now()) {
			t.Errorf("expiresAt = %v, want in the future", data["expiresAt"])
		}
	})
}

func TestQR_ScanConnectsAndAStaleEventCannotMoveTheSessionBack(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, nil, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	id, _ := l.connectedSession(t, u, "qr-scan")
	row := sesSession(t, l.Gateway, id)
	if row.Phone == nil || *row.Phone == "" || row.QRCode != nil || row.LastSeenAt == nil {
		t.Fatalf("after the scan: %+v, want the phone stored and the QR cleared", row)
	}
	var lastEvent time.Time
	if err := l.DB.QueryRow(context.Background(), `SELECT last_event_at FROM sessions WHERE id = $1`, id).Scan(&lastEvent); err != nil {
		t.Fatal(err)
	}

	post := func(status string, at time.Time) map[string]any {
		t.Helper()
		res := l.Do(t, http.MethodPost, "/api/v1/webhooks/session-status", map[string]any{
			"sessionId": id, "status": status, "workerId": "sim-1", "timestamp": at.UTC().Format(time.RFC3339Nano),
		}, sesWorkerAuth(l.Gateway)...)
		if res.Code != http.StatusOK {
			t.Fatalf("event %s: %d %s", status, res.Code, res.Body)
		}
		return sesData(t, res)
	}
	if data := post("DISCONNECTED", lastEvent.Add(-time.Second)); data["applied"] != false || data["status"] != "CONNECTED" {
		t.Errorf("a late DISCONNECTED: %v, want applied false and status CONNECTED", data)
	}
	if got := sesSession(t, l.Gateway, id).Status; got != "CONNECTED" {
		t.Fatalf("status = %s after a stale event, want CONNECTED", got)
	}
	if data := post("RECONNECTING", lastEvent); data["applied"] != true || data["status"] != "RECONNECTING" {
		t.Errorf("an event with the same timestamp: %v, want it applied", data)
	}
	if got := sesSession(t, l.Gateway, id).Status; got != "RECONNECTING" {
		t.Errorf("status = %s, want RECONNECTING", got)
	}
}

func TestPair_AsksTheWorkerForAPairingCode(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, nil, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	l.waitingSession(t, u, "pair-1")

	res := l.Do(t, http.MethodPost, "/api/v1/sessions/pair-1/pair", map[string]any{"phoneNumber": "+62 812-3456-7890"}, u.auth()...)
	if res.Code != http.StatusOK {
		t.Fatalf("pair: %d %s", res.Code, res.Body)
	}
	data := sesData(t, res)
	if code, _ := data["pairingCode"].(string); !regexp.MustCompile(`^[1-9A-Z]{4}-[1-9A-Z]{4}$`).MatchString(code) {
		t.Errorf("pairingCode = %v, want ABCD-EFGH", data["pairingCode"])
	}
	wire := l.Sim.Wire("/api/sessions/pair-1/pair")
	if len(wire) != 1 || wire[0].Body["phoneNumber"] != "6281234567890" {
		t.Fatalf("the worker received %+v, want phoneNumber 6281234567890", wire)
	}
	// Linking with the code gives the session that phone number.
	if err := l.Sim.Engine.Connect("pair-1"); err != nil {
		t.Fatal(err)
	}
	sesWaitStatus(t, l.Gateway, "pair-1", "CONNECTED")
	if row := sesSession(t, l.Gateway, "pair-1"); row.Phone == nil || *row.Phone != "+6281234567890" {
		t.Errorf("phone = %v, want the paired +6281234567890", row.Phone)
	}
}

func TestPair_BadPhoneIs400AndASessionNotWaitingIs409(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, map[string]string{"TIER_LIMITS": `{"BASIC":{"sessions":10}}`}, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	l.waitingSession(t, u, "pair-wait")
	for _, phone := range []any{"", "1234567", "1234567890123456", "+62 abc 3456", "62812345678@s.whatsapp.net", 628123456789.0} {
		res := l.Do(t, http.MethodPost, "/api/v1/sessions/pair-wait/pair", map[string]any{"phoneNumber": phone}, u.auth()...)
		if res.Code != http.StatusBadRequest {
			t.Errorf("phoneNumber %v: %d, want 400; %s", phone, res.Code, res.Body)
			continue
		}
		if body := res.JSON(t); body["type"] == "validation_error" && !slices.Equal(sesFields(body), []string{"phoneNumber"}) {
			t.Errorf("phoneNumber %v: details %v, want [phoneNumber]", phone, sesFields(body))
		}
	}
	if wire := l.Sim.Wire("/pair"); len(wire) != 0 {
		t.Errorf("bad phone numbers reached the worker: %+v", wire)
	}

	sesCreate(t, l.Gateway, u, map[string]any{"name": "Idle", "sessionId": "pair-idle"})
	sesWantError(t, l.Do(t, http.MethodPost, "/api/v1/sessions/pair-idle/pair", map[string]any{"phoneNumber": "+6281234567890"}, u.auth()...),
		http.StatusConflict, "conflict")
	l.connectedSession(t, u, "pair-done")
	sesWantError(t, l.Do(t, http.MethodPost, "/api/v1/sessions/pair-done/pair", map[string]any{"phoneNumber": "+6281234567890"}, u.auth()...),
		http.StatusConflict, "conflict")
}
