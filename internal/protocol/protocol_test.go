package protocol_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
)

func TestTimestamp_DecodesEveryFormWorkersSendAndNeverFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		json string
		want time.Time // zero: decodes to the zero time
	}{
		{"RFC 3339 UTC", `"2026-01-02T03:04:05Z"`, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"RFC 3339 with offset is converted to UTC", `"2026-01-02T10:04:05+07:00"`, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"RFC 3339 with milliseconds (JavaScript toISOString)", `"2026-01-02T03:04:05.678Z"`, time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)},
		{"RFC 3339 with nanoseconds", `"2026-01-02T03:04:05.123456789Z"`, time.Date(2026, 1, 2, 3, 4, 5, 123_456_789, time.UTC)},
		{"no zone is read as UTC", `"2026-01-02T03:04:05"`, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"unix milliseconds as a number", `1767323045678`, time.UnixMilli(1767323045678).UTC()},
		{"unix milliseconds as a string", `"1767323045678"`, time.UnixMilli(1767323045678).UTC()},
		{"null", `null`, time.Time{}},
		{"empty string", `""`, time.Time{}},
		{"garbage string", `"yesterday-ish"`, time.Time{}},
		{"zero", `0`, time.Time{}},
		{"negative number", `-5`, time.Time{}},
		{"boolean", `true`, time.Time{}},
		{"object", `{"at":1}`, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got struct {
				At protocol.Timestamp `json:"at"`
			}
			if err := json.Unmarshal([]byte(`{"at":`+tt.json+`}`), &got); err != nil {
				t.Fatalf("decode %s: %v (a bad timestamp must never fail the event)", tt.json, err)
			}
			if !got.At.Equal(tt.want) {
				t.Fatalf("decode %s = %v, want %v", tt.json, got.At.Time, tt.want)
			}
			if !tt.want.IsZero() && got.At.Location() != time.UTC {
				t.Fatalf("decode %s: location %v, want UTC", tt.json, got.At.Location())
			}
		})
	}
}

func TestTimestamp_ReplacesAnEarlierValueWhenReused(t *testing.T) {
	t.Parallel()
	ts := protocol.Timestamp{Time: time.Now()}
	if err := json.Unmarshal([]byte(`"not a time"`), &ts); err != nil {
		t.Fatal(err)
	}
	if !ts.IsZero() {
		t.Fatalf("garbage left the old value %v, want zero", ts.Time)
	}
}

func TestTimestamp_PointerFieldAcceptsNullAndAbsence(t *testing.T) {
	t.Parallel()
	var ev protocol.SessionEvent
	if err := json.Unmarshal([]byte(`{"sessionId":"s1","status":"CONNECTED","timestamp":null,"loggedOutAt":"x"}`), &ev); err != nil {
		t.Fatal(err)
	}
	if got := protocol.TimeOrZero(ev.Timestamp); !got.IsZero() {
		t.Fatalf("timestamp null decoded to %v, want zero", got)
	}
	if got := protocol.TimeOrZero(nil); !got.IsZero() {
		t.Fatalf("TimeOrZero(nil) = %v, want zero", got)
	}
}

func TestTimestamp_MarshalsRFC3339UTCOrNull(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 10, 4, 5, 500_000_000, time.FixedZone("WIB", 7*3600))
	raw, err := json.Marshal(protocol.At(at))
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `"2026-01-02T03:04:05.5Z"` {
		t.Fatalf("marshal = %s, want \"2026-01-02T03:04:05.5Z\"", raw)
	}
	raw, err = json.Marshal(protocol.Timestamp{})
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != "null" {
		t.Fatalf("zero marshals to %s, want null", raw)
	}
	var back protocol.Timestamp
	if err := json.Unmarshal([]byte(`"2026-01-02T03:04:05.5Z"`), &back); err != nil || !back.Equal(at) {
		t.Fatalf("round trip = %v (%v), want %v", back.Time, err, at)
	}
}

func TestParseSessionStatus_MapsEverySpellingWorkersUse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in        string
		want      model.SessionStatus
		loggedOut bool
		ok        bool
	}{
		{"INIT", model.SessionInit, false, true},
		{"QR_REQUIRED", model.SessionQRRequired, false, true},
		{"CONNECTED", model.SessionConnected, false, true},
		{"DISCONNECTED", model.SessionDisconnected, false, true},
		{"RECONNECTING", model.SessionReconnecting, false, true},
		{"ERROR", model.SessionError, false, true},
		// The worker's own lower-case statuses.
		{"initializing", model.SessionInit, false, true},
		{"qr_ready", model.SessionQRRequired, false, true},
		{"connecting", model.SessionInit, false, true},
		{"connected", model.SessionConnected, false, true},
		{"disconnected", model.SessionDisconnected, false, true},
		{"reconnecting", model.SessionReconnecting, false, true},
		{"failed", model.SessionError, false, true},
		{"destroyed", model.SessionDisconnected, false, true},
		{"  Connected  ", model.SessionConnected, false, true},
		// LOGGED_OUT is not a backend status: DISCONNECTED with the credentials gone.
		{"LOGGED_OUT", model.SessionDisconnected, true, true},
		{"logged_out", model.SessionDisconnected, true, true},
		{"BANANA", "", false, false},
		{"", "", false, false},
	}
	for _, tt := range tests {
		status, loggedOut, ok := protocol.ParseSessionStatus(tt.in)
		if status != tt.want || loggedOut != tt.loggedOut || ok != tt.ok {
			t.Errorf("ParseSessionStatus(%q) = (%q, %v, %v), want (%q, %v, %v)",
				tt.in, status, loggedOut, ok, tt.want, tt.loggedOut, tt.ok)
		}
	}
}

func TestWorkerStatusString_RoundTripsThroughParseSessionStatus(t *testing.T) {
	t.Parallel()
	for _, s := range model.SessionStatuses {
		wire := protocol.WorkerStatusString(s)
		got, _, ok := protocol.ParseSessionStatus(wire)
		if !ok || got != s {
			t.Errorf("%s → %q → (%s, %v), want %s back", s, wire, got, ok, s)
		}
	}
}

func TestEnvelopeErrorMessage_ReadsStringAndObjectErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string
	}{
		{"string error", `{"success":false,"error":"Session not found"}`, "Session not found"},
		{"object error with message", `{"success":false,"error":{"code":"SESSION_NOT_FOUND","message":"No such session"}}`, "No such session"},
		{"object error with only a code", `{"success":false,"error":{"code":"SESSION_NOT_FOUND"}}`, "SESSION_NOT_FOUND"},
		{"no error, message only", `{"success":false,"message":"Try later"}`, "Try later"},
		{"empty string error falls back to message", `{"success":false,"error":"","message":"Try later"}`, "Try later"},
		{"null error falls back to message", `{"success":false,"error":null,"message":"Try later"}`, "Try later"},
		{"nothing at all", `{"success":false}`, ""},
	}
	for _, tt := range tests {
		var env protocol.Envelope[json.RawMessage]
		if err := json.Unmarshal([]byte(tt.body), &env); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := env.ErrorMessage(); got != tt.want {
			t.Errorf("%s: ErrorMessage() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestSessionRef_AcceptsStringsAndObjects(t *testing.T) {
	t.Parallel()
	var req protocol.SessionsPreservedRequest
	body := `{"workerId":"w1","preservedSessions":["s1"," s2 ",{"sessionId":"s3"},{"sessionId":" s4","status":"CONNECTED"}],"timestamp":null}`
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	want := []protocol.SessionRef{"s1", "s2", "s3", "s4"}
	if len(req.PreservedSessions) != len(want) {
		t.Fatalf("decoded %v, want %v", req.PreservedSessions, want)
	}
	for i := range want {
		if req.PreservedSessions[i] != want[i] {
			t.Fatalf("decoded %v, want %v", req.PreservedSessions, want)
		}
	}
	var bad protocol.SessionRef
	if err := json.Unmarshal([]byte(`42`), &bad); err == nil {
		t.Fatalf("a number decoded as %q, want an error", bad)
	}
}

func TestRecoveryStatusRequest_TotalsFromEitherShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                       string
		body                       string
		total, succeeded, failedTo float64
	}{
		{"top level", `{"totalSessions":3,"successfulRecoveries":2,"failedRecoveries":1,"recoveryResults":[]}`, 3, 2, 1},
		{"inside summary", `{"summary":{"totalSessions":5,"successfulRecoveries":4,"failedRecoveries":1},"recoveryResults":[]}`, 5, 4, 1},
		{"summary wins over the top level", `{"totalSessions":9,"summary":{"totalSessions":2,"successfulRecoveries":2,"failedRecoveries":0}}`, 2, 2, 0},
	}
	for _, tt := range tests {
		var req protocol.RecoveryStatusRequest
		if err := json.Unmarshal([]byte(tt.body), &req); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := req.Totals()
		if got.TotalSessions == nil || got.SuccessfulRecoveries == nil || got.FailedRecoveries == nil {
			t.Fatalf("%s: totals missing: %+v", tt.name, got)
		}
		if *got.TotalSessions != tt.total || *got.SuccessfulRecoveries != tt.succeeded || *got.FailedRecoveries != tt.failedTo {
			t.Errorf("%s: totals = %v/%v/%v, want %v/%v/%v", tt.name, *got.TotalSessions, *got.SuccessfulRecoveries,
				*got.FailedRecoveries, tt.total, tt.succeeded, tt.failedTo)
		}
	}
	var none protocol.RecoveryStatusRequest
	if err := json.Unmarshal([]byte(`{"recoveryResults":[{"sessionId":"s1","status":"SUCCESS","error":null,"recoveredAt":null}]}`), &none); err != nil {
		t.Fatal(err)
	}
	if got := none.Totals(); got.TotalSessions != nil {
		t.Errorf("no totals sent, got %v", *got.TotalSessions)
	}
	if len(none.RecoveryResults) != 1 || none.RecoveryResults[0].Status != "SUCCESS" {
		t.Errorf("results = %+v", none.RecoveryResults)
	}
}

func TestHeartbeatRequest_DecodesTheLenientShapes(t *testing.T) {
	t.Parallel()
	body := `{"sessions":[{"sessionId":"s1","status":"connected","phoneNumber":null,"displayName":null,
		"lastActivity":1767323045678,"extra":{"x":1}}],"metrics":{"cpuUsage":12.5,"memoryUsage":40,"uptime":3600},
		"lastActivity":"garbage","unknown":true}`
	var hb protocol.HeartbeatRequest
	if err := json.Unmarshal([]byte(body), &hb); err != nil {
		t.Fatal(err)
	}
	if len(hb.Sessions) != 1 || hb.Sessions[0].PhoneNumber != nil || hb.Sessions[0].DisplayName != nil {
		t.Fatalf("sessions = %+v", hb.Sessions)
	}
	if got := protocol.TimeOrZero(hb.Sessions[0].LastActivity); !got.Equal(time.UnixMilli(1767323045678)) {
		t.Fatalf("lastActivity = %v", got)
	}
	if got := protocol.TimeOrZero(hb.LastActivity); !got.IsZero() {
		t.Fatalf("garbage lastActivity = %v, want zero", got)
	}
	if hb.Metrics == nil || hb.Metrics.CPUUsage == nil || *hb.Metrics.CPUUsage != 12.5 || hb.Metrics.MessageCount != nil {
		t.Fatalf("metrics = %+v", hb.Metrics)
	}
}
