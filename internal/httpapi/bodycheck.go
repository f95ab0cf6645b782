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
	if decided, err := scanBodyText(raw); decided {
		return err
	}
	return checkBodyTokens(raw)
}

// errDuplicateName and errTooDeep are checkBodyText's answers.
func errDuplicateName(name string) error {
	return model.Errorf(model.KindBadRequest, "The key %q appears twice in one object", name)
}

func errTooDeep() error {
	return model.Errorf(model.KindBadRequest, "The body nests deeper than %d levels", maxJSONDepth)
}

// scanBodyText is checkBodyText in one pass over the bytes, without tokens. It leaves to
// checkBodyTokens (decided false) a body with a member name holding an escape, which only
// decoding can compare. On valid JSON it decides as checkBodyTokens does; malformed JSON may
// get another bad_request than json.Unmarshal's, never a pass that should not be.
func scanBodyText(raw []byte) (decided bool, err error) {
	type frame struct {
		object, wantsName bool
		names             [][]byte            // the first few member names
		more              map[string]struct{} // and the others, once there are many
	}
	var inline [8]frame
	stack := inline[:0]
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '{', '[':
			if len(stack) == maxJSONDepth {
				return true, errTooDeep()
			}
			stack = append(stack, frame{object: c == '{', wantsName: c == '{'})
		case '}', ']':
			if len(stack) == 0 {
				return true, nil // malformed: json.Unmarshal says where
			}
			stack = stack[:len(stack)-1]
		case ',':
			if top := len(stack) - 1; top >= 0 && stack[top].object {
				stack[top].wantsName = true
			}
		case '"':
			end, escaped := i+1, false
			for ; end < len(raw) && raw[end] != '"'; end++ {
				if raw[end] == '\\' {
					escaped = true
					end++
				}
			}
			if end >= len(raw) {
				return true, nil // unterminated string: malformed
			}
			if top := len(stack) - 1; top >= 0 && stack[top].wantsName {
				if escaped {
					return false, nil
				}
				f := &stack[top]
				f.wantsName = false
				name := raw[i+1 : end]
				if f.more != nil {
					if _, dup := f.more[string(name)]; dup {
						return true, errDuplicateName(string(name))
					}
					f.more[string(name)] = struct{}{}
				} else {
					for _, seen := range f.names {
						if bytes.Equal(seen, name) {
							return true, errDuplicateName(string(name))
						}
					}
					f.names = append(f.names, name)
					if len(f.names) > 16 { // a large object: look names up in a map
						f.more = make(map[string]struct{}, 32)
						for _, n := range f.names {
							f.more[string(n)] = struct{}{}
						}
					}
				}
			}
			i = end
		}
	}
	return true, nil
}

// checkBodyTokens is checkBodyText on encoding/json's tokens, which decode escapes.
func checkBodyTokens(raw []byte) error {
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
				return errTooDeep()
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
					return errDuplicateName(name)
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
