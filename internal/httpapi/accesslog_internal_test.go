package httpapi

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"
)

// slogLine is what slog's JSON handler writes for the access line: the reference AppendJSON
// must match byte for byte.
func slogLine(t testing.TB, at time.Time, level slog.Level, line *AccessLine) []byte {
	t.Helper()
	var out bytes.Buffer
	h := slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}).
		WithAttrs([]slog.Attr{slog.String("service", "gateway")})
	record := slog.NewRecord(at, level, "request", 0)
	record.AddAttrs(line.attrs()...)
	if err := h.Handle(context.Background(), record); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestAccessLine_AppendJSONWritesWhatSlogsJSONHandlerWrites(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 19, 4, 5, 120_000_000, time.FixedZone("WIB", 7*3600))
	tests := []struct {
		name  string
		level slog.Level
		line  AccessLine
	}{
		{"an API-key send", slog.LevelInfo, AccessLine{RequestID: "4f1c2a9e0b7d6c5a4f3e2d1c", Method: "POST",
			Path: "/api/v1/sendText", Route: "/api/v1/sendText", Status: 202, Duration: 3*time.Millisecond + 900*time.Microsecond,
			Bytes: 231, IP: "127.0.0.1", UserAgent: "curl/8.5.0", Principal: "apikey:0b3e8f6a-52c4-4d84-9a37-2d1c7f0e9b55"}},
		{"no principal, debug", slog.LevelDebug, AccessLine{RequestID: "r", Method: "GET", Path: "/health", Route: "/health",
			Status: 200, IP: "::1"}},
		{"a server error", slog.LevelError, AccessLine{Method: "DELETE", Path: "/api/v1/messages/x", Route: "unmatched",
			Status: 500, Duration: 30 * time.Second, Bytes: -1}},
		{"hostile text is escaped", slog.LevelWarn, AccessLine{Method: "GET", Path: "/a\"b\\c\n\r\t\x00\x1f\x7f<&>",
			Route: "unmatched", Status: 404, UserAgent: "ua \xff\xfe bad utf-8, \u2028\u2029 separators, ✓ and 😀",
			IP: "203.0.113.9", Principal: "user:\u00e9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := slogLine(t, at, tt.level, &tt.line)
			got := tt.line.AppendJSON(nil, at, tt.level, "request", []byte(`,"service":"gateway"`))
			if !bytes.Equal(got, want) {
				t.Errorf("AppendJSON:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func FuzzAccessLine_AppendJSON(f *testing.F) {
	f.Add("/api/v1/sendText", "Mozilla/5.0 (X11) <script>", "user:1", 200, int64(1500))
	f.Add("/a\"b\\c\n\x00", "\xff\xfe\u2028", "", 599, int64(-1))
	f.Fuzz(func(t *testing.T, path, userAgent, principal string, status int, micros int64) {
		at := time.Unix(1_790_000_000, micros*1000).UTC()
		line := AccessLine{RequestID: principal, Method: userAgent, Path: path, Route: path, Status: status,
			Duration: time.Duration(micros) * time.Microsecond, Bytes: status * 3, IP: path, UserAgent: userAgent, Principal: principal}
		want := slogLine(t, at, slog.LevelInfo, &line)
		if got := line.AppendJSON(nil, at, slog.LevelInfo, "request", []byte(`,"service":"gateway"`)); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON:\n got %q\nwant %q", got, want)
		}
	})
}
