package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wagateway/gateway/internal/model"
)

func TestCheckBodyText_RefusesWhatJSONWouldQuietlyAccept(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"a":1,"b":[1,2,{"a":1}],"c":{"a":{"a":null}}}`, true},
		{`{"a":"x","b":"a"}`, true}, // a value equal to a name is not a name
		{`[{"a":1},{"a":2}]`, true}, // the same name in two objects
		{`{"a":{},"b":[],"c":""}`, true},
		{`{"a":1,"a":2}`, false},
		{`{"a":1,"\u0061":2}`, false}, // the same name, escaped
		{`{"o":{"k":[1,{"k":1,"k":2}]}}`, false},
		{`{"a":{"x":1},"a":{"y":2}}`, false},
		{strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth), true},
		{strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1), false},
		{strings.Repeat(`{"a":`, 100_000), false},
		{"{\"name\":\"\xff\"}", false},
		{`{"a":`, true},     // malformed: json.Unmarshal says where
		{`{"a":1}{}`, true}, // likewise
	} {
		err := checkBodyText([]byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("checkBodyText(%.60q) = %v, want ok %v", tc.body, err, tc.ok)
		}
		if err != nil && model.KindOf(err) != model.KindBadRequest {
			t.Errorf("checkBodyText(%.60q) is a %s, want bad_request", tc.body, model.KindOf(err))
		}
	}
}

func TestScanBodyText_LeavesEscapedNamesToTheTokens(t *testing.T) {
	t.Parallel()
	if decided, _ := scanBodyText([]byte(`{"a":1,"\u0061":2}`)); decided {
		t.Error("a member name with an escape was decided without decoding it")
	}
	if decided, err := scanBodyText([]byte(`{"a":"\u0061","b":"\"a\""}`)); !decided || err != nil {
		t.Errorf("escapes in values only: decided %v, %v; want decided, no error", decided, err)
	}
	many := `{`
	for i := range 40 {
		many += `"k` + strings.Repeat("x", i) + `":1,`
	}
	if decided, err := scanBodyText([]byte(many + `"kxxx":2}`)); !decided || err == nil {
		t.Errorf("a duplicate among 40 names: decided %v, %v; want the duplicate found", decided, err)
	}
}

// FuzzScanBodyText checks the one-pass scan against the token-based check: on valid JSON they
// decide alike, word for word; on anything else the scan may refuse, but only as bad_request.
func FuzzScanBodyText(f *testing.F) {
	for _, seed := range []string{`{"a":1,"b":[1,2,{"a":1}]}`, `{"a":1,"a":2}`, `[{"a":1},{"a":2}]`, `{"a":"a","a":"b"}`,
		`{"a":{"x":1},"a":{"y":2}}`, `{"a":[{"b":1,"b":2}]}`, `{"a" "a"}`, `{"a":1,,"a":2}`, `"\"{"`, `{"a\"":1,"a\"":2}`,
		strings.Repeat("[", maxJSONDepth+1)} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !utf8.Valid(raw) {
			return
		}
		decided, err := scanBodyText(raw)
		if !decided {
			return
		}
		if !json.Valid(raw) {
			if err != nil && model.KindOf(err) != model.KindBadRequest {
				t.Fatalf("malformed %q: %v is not a bad_request", raw, err)
			}
			return
		}
		want := checkBodyTokens(raw)
		if (err == nil) != (want == nil) || (err != nil && err.Error() != want.Error()) {
			t.Fatalf("%q: scan says %v, tokens say %v", raw, err, want)
		}
	})
}
