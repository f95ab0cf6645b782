package httpapi

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/wagateway/gateway/internal/model"
)

// maxJSONDepth bounds how deeply a body may nest. No request needs more than a few levels,
// and a worker's raw event is stored as jsonb, which PostgreSQL parses recursively.
const maxJSONDepth = 64

// checkBodyText refuses bodies that encoding/json would quietly accept although they are not
// the JSON the API takes (RFC 8259 with I-JSON's rules): text that is not UTF-8 (json would
// store U+FFFD in its place), a key twice in one object (json keeps the last, where a proxy
// or a worker may read the first), and nesting deeper than maxJSONDepth. Malformed JSON is
// left to json.Unmarshal, which names the byte where it goes wrong.
func checkBodyText(raw []byte) error {
	if !utf8.Valid(raw) {
		return model.Errorf(model.KindBadRequest, "The body is not valid UTF-8")
	}
	// One frame per open object or array; keys is nil for an array.
	type frame struct {
		keys      map[string]bool
		wantsName bool // in an object, the next string is a member name
	}
	var stack []frame
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	// The loop ends at the end of the body, or at malformed JSON, which json.Unmarshal reports.
	for tok, err := dec.Token(); err == nil; tok, err = dec.Token() {
		top := len(stack) - 1
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == maxJSONDepth {
				return model.Errorf(model.KindBadRequest, "The body nests deeper than %d levels", maxJSONDepth)
			}
			f := frame{}
			if tok == json.Delim('{') {
				f = frame{keys: map[string]bool{}, wantsName: true}
			}
			stack = append(stack, f)
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:top]
		default:
			if name, ok := tok.(string); ok && top >= 0 && stack[top].wantsName {
				if stack[top].keys[name] {
					return model.Errorf(model.KindBadRequest, "The key %q appears twice in one object", name)
				}
				stack[top].keys[name] = true
				stack[top].wantsName = false
				continue
			}
		}
		// A value is complete: in an object, a name comes next.
		if top := len(stack) - 1; top >= 0 && stack[top].keys != nil {
			stack[top].wantsName = true
		}
	}
	return nil
}
