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
	s := strings.TrimSpace(raw)
	s = strings.TrimPrefix(s, "+")
	s = strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(s)
	if len(s) < 8 || len(s) > 15 {
		return "", false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return s, true
}
