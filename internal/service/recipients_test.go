package service_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wagateway/gateway/internal/service"
)

func TestNormalizeRecipient_AcceptsPhonesAndWhatsAppIDs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		// Phone numbers: 8 to 15 digits, with an optional +, spaces, dashes and parentheses.
		{"12345678", "12345678@s.whatsapp.net", true},
		{"123456789012345", "123456789012345@s.whatsapp.net", true},
		{"1234567", "", false},
		{"1234567890123456", "", false},
		{"+62 812-3456-7890", "6281234567890@s.whatsapp.net", true},
		{"  +6281234567890  ", "6281234567890@s.whatsapp.net", true},
		{"+1 (415) 555-0100", "14155550100@s.whatsapp.net", true},
		{"++6281234567890", "", false},
		{"62 812 3456 789a", "", false},
		{"+", "", false},
		{"", "", false},
		{"   ", "", false},
		{"６２８１２３４５６７８９", "", false}, // full-width digits are not digits here
		{"62.812.3456.7890", "", false},
		// Full WhatsApp IDs, kept (lower-cased).
		{"6281234567890@s.whatsapp.net", "6281234567890@s.whatsapp.net", true},
		{"6281234567890@S.WhatsApp.Net", "6281234567890@s.whatsapp.net", true},
		{"123456789012345@lid", "123456789012345@lid", true},
		{"120363012345678901@g.us", "120363012345678901@g.us", true},
		{"123456789-1234567890@g.us", "123456789-1234567890@g.us", true},
		{"120363012345678901@newsletter", "120363012345678901@newsletter", true},
		{" 6281234567890@s.whatsapp.net ", "6281234567890@s.whatsapp.net", true},
		{"1234@s.whatsapp.net", "", false},
		{"abc@x.com", "", false},
		{"6281234567890@x.com", "", false},
		{"+6281234567890@s.whatsapp.net", "", false},
		{"123456789-12@g.us", "", false},
		{"123456789-1234567890-1@g.us", "", false},
		{"12345@broadcast", "", false},
		{"status@broadcast", "", false},
		{"@s.whatsapp.net", "", false},
		{"6281234567890@", "", false},
		{"6281234567890@s.whatsapp.net@g.us", "", false},
		{"6281234567890@s.whatsapp.net\n", "6281234567890@s.whatsapp.net", true},
		{"6281234567890@s.whatsapp.net\nx", "", false},
	} {
		got, ok := service.NormalizeRecipient(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("NormalizeRecipient(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNormalizePhone_StripsDecorationAndRequires8To15Digits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"+62 812-3456-7890", "6281234567890", true},
		{"(021) 555-0100", "0215550100", true},
		{"12345678", "12345678", true},
		{"123456789012345", "123456789012345", true},
		{"1234567", "", false},
		{"1234567890123456", "", false},
		{"+62 812 3456 789x", "", false},
		{"62812345678@s.whatsapp.net", "", false},
		{"", "", false},
	} {
		got, ok := service.NormalizePhone(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// recipientForm is every shape NormalizeRecipient may answer.
var recipientForm = regexp.MustCompile(`^(\d{8,15}@s\.whatsapp\.net|\d{5,20}@s\.whatsapp\.net|\d{5,20}@lid|\d{5,25}(-\d{5,15})?@g\.us|\d{5,25}@newsletter)$`)

func FuzzNormalizeRecipient(f *testing.F) {
	for _, seed := range []string{
		"", "+", "12345678", "+62 812-3456-7890", "(021) 555-0100", "6281234567890@s.whatsapp.net",
		"123456789-1234567890@g.us", "120363012345678901@newsletter", "123@lid", "abc@x.com",
		"６２８１２３４５６７８９", "\x00\xff", "62812345678\u200b90", strings.Repeat("9", 40) + "@g.us",
		"6281234567890@S.WHATSAPP.NET", "İ@lid",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := service.NormalizeRecipient(in)
		if !ok {
			return
		}
		if !recipientForm.MatchString(got) {
			t.Fatalf("NormalizeRecipient(%q) accepted %q, which is not a WhatsApp ID form", in, got)
		}
		if !utf8.ValidString(got) || strings.ContainsAny(got, " \t\r\n+") {
			t.Fatalf("NormalizeRecipient(%q) = %q keeps decoration", in, got)
		}
		// Normalising is idempotent: the output is accepted as itself.
		if again, ok2 := service.NormalizeRecipient(got); !ok2 || again != got {
			t.Fatalf("NormalizeRecipient(%q) = %q, but that normalises to %q, %v", in, got, again, ok2)
		}
		// A phone number keeps its digits in order.
		if !strings.Contains(in, "@") {
			digits := strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' {
					return r
				}
				return -1
			}, in)
			if got != digits+"@s.whatsapp.net" {
				t.Fatalf("NormalizeRecipient(%q) = %q, want the digits %s", in, got, digits)
			}
		}
	})
}

// FuzzNormalizePhone: an accepted phone is 8 to 15 ASCII digits, the input's digits in order
// (only '+', spaces, dashes and parentheses are dropped), and normalises to itself.
func FuzzNormalizePhone(f *testing.F) {
	for _, seed := range []string{
		"", "+", "12345678", "+62 812-3456-7890", "(021) 555-0100", "+(62) 812", "１２３４５６７８９",
		"62812345678\u200b90", "6281234567890@s.whatsapp.net", "++6281234567890", "62 81 23\t45 67 890",
		"0x12345678", "-12345678", "1234567890123456", "\x00\xff12345678",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := service.NormalizePhone(in)
		if !ok {
			if got != "" {
				t.Fatalf("NormalizePhone(%q) refused it but returned %q", in, got)
			}
			return
		}
		if len(got) < 8 || len(got) > 15 || strings.Trim(got, "0123456789") != "" {
			t.Fatalf("NormalizePhone(%q) = %q, not 8 to 15 ASCII digits", in, got)
		}
		rest := strings.TrimPrefix(strings.TrimSpace(in), "+")
		if kept := strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(rest); kept != got {
			t.Fatalf("NormalizePhone(%q) = %q, which is not the input without its decoration (%q)", in, got, kept)
		}
		if again, ok := service.NormalizePhone(got); !ok || again != got {
			t.Fatalf("not idempotent: %q → %q → %q, %v", in, got, again, ok)
		}
	})
}
