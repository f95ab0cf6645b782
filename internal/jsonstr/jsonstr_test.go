package jsonstr_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/jsonstr"
)

// marshalled is the reference of AppendMarshal.
func marshalled(t testing.TB, s string) []byte {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// slogged is the reference of AppendSlog: the value of an attribute as slog's JSON handler
// writes it.
func slogged(t testing.TB, s string) []byte {
	t.Helper()
	var out bytes.Buffer
	record := slog.NewRecord(time.Time{}, slog.LevelInfo, "", 0) // a zero time writes no time member
	record.AddAttrs(slog.String("v", s))
	if err := slog.NewJSONHandler(&out, nil).Handle(context.Background(), record); err != nil {
		t.Fatal(err)
	}
	line := bytes.TrimSuffix(out.Bytes(), []byte("}\n"))
	_, value, ok := bytes.Cut(line, []byte(`"v":`))
	if !ok {
		t.Fatalf("no attribute in %s", out.Bytes())
	}
	return value
}

var samples = []string{
	"", "plain", `quote " and backslash \`, "new\nline, return\r, tab\t, backspace\b, form feed\f",
	"\x00\x01\x1f\x7f", "<script>&amp;</script>", "bad utf-8 \xff\xfe\xc3", "\u2028 and \u2029", "é, ✓ and 😀",
}

func TestAppend_EscapesAsTheirReferences(t *testing.T) {
	t.Parallel()
	for _, s := range samples {
		if got, want := jsonstr.AppendMarshal([]byte("x"), s), append([]byte("x"), marshalled(t, s)...); !bytes.Equal(got, want) {
			t.Errorf("AppendMarshal(%q) = %s, want %s", s, got, want)
		}
		if got, want := jsonstr.AppendSlog(nil, s), slogged(t, s); !bytes.Equal(got, want) {
			t.Errorf("AppendSlog(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppend(f *testing.F) {
	for _, s := range samples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := jsonstr.AppendMarshal(nil, s), marshalled(t, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendMarshal(%q) = %s, want %s", s, got, want)
		}
		if got, want := jsonstr.AppendSlog(nil, s), slogged(t, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendSlog(%q) = %s, want %s", s, got, want)
		}
	})
}
