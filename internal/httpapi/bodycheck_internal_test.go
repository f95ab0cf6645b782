package httpapi

import (
	"strings"
	"testing"

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
