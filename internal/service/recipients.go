package service

import (
	"regexp"
	"strings"
)

// whatsappID matches the full WhatsApp IDs a send may name: a user (@s.whatsapp.net), a
// linked-device ID (@lid), a group (@g.us, also the legacy <creator>-<timestamp>@g.us) or a
// channel (@newsletter).
var whatsappID = regexp.MustCompile(`^(\d{5,20}@s\.whatsapp\.net|\d{5,20}@lid|\d{5,25}(-\d{5,15})?@g\.us|\d{5,25}@newsletter)$`)

// NormalizeRecipient turns a send's `to` into a WhatsApp ID: a phone number of 8 to 15 digits
// (a leading '+', spaces and dashes are dropped) becomes <digits>@s.whatsapp.net; a full
// WhatsApp ID is kept (lower-cased). ok is false for anything else.
func NormalizeRecipient(to string) (string, bool) {
	to = strings.TrimSpace(to)
	if strings.Contains(to, "@") {
		id := strings.ToLower(to)
		return id, whatsappID.MatchString(id)
	}
	digits, ok := NormalizePhone(to)
	if !ok {
		return "", false
	}
	return digits + "@s.whatsapp.net", true
}

// NormalizePhone strips a leading '+', spaces, dashes and parentheses and requires 8 to 15
// digits.
func NormalizePhone(raw string) (string, bool) {
	s := strings.TrimPrefix(strings.TrimSpace(raw), "+")
	// One pass over the bytes, no allocation unless separators were dropped: this runs for
	// every send.
	var digits [15]byte
	n := 0
	for i := range len(s) {
		switch c := s[i]; {
		case c == ' ' || c == '-' || c == '(' || c == ')':
		case c >= '0' && c <= '9':
			if n == len(digits) {
				return "", false
			}
			digits[n] = c
			n++
		default:
			return "", false
		}
	}
	switch {
	case n < 8:
		return "", false
	case n == len(s):
		return s, true
	}
	return string(digits[:n]), true
}
