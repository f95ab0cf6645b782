// Package jsonstr appends JSON strings without reflection, escaped byte for byte as
// encoding/json's Marshal or log/slog's JSON handler escape them, for the hand-encoded lines of
// hot paths (the real-time fan-out, the access log) that must read exactly as the encoder
// they replace.
package jsonstr

import "unicode/utf8"

// AppendMarshal appends s quoted as json.Marshal quotes it: ", \, \n, \r, \t, \b and \f
// escaped by name, the other control characters and <, > and & as \u00XX, U+2028 and U+2029
// escaped, and each invalid UTF-8 byte as \ufffd.
func AppendMarshal(b []byte, s string) []byte { return appendString(b, s, true) }

// AppendSlog appends s quoted as slog's JSON handler quotes it: like AppendMarshal, except
// that <, > and & stay as they are and \b and \f are written as \u0008 and \u000c.
func AppendSlog(b []byte, s string) []byte { return appendString(b, s, false) }

func appendString(b []byte, s string, marshal bool) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!marshal || (c != '<' && c != '>' && c != '&')) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case marshal && c == '\b':
				b = append(b, '\\', 'b')
			case marshal && c == '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
