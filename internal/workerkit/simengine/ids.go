package simengine

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strings"
)

// newQR returns a string shaped like a WhatsApp Web QR: "2@<ref>,<noise key>,<identity
// key>,<adv secret>", all base64. It encodes fine as a QR code and says nothing.
func newQR() string {
	parts := []string{"2@" + randomBase64(36), randomBase64(32), randomBase64(32), randomBase64(32)}
	return strings.Join(parts, ",")
}

// newMessageID returns a WhatsApp-like message ID: 3EB0 and 16 upper-case hex digits.
func newMessageID() string {
	return "3EB0" + strings.ToUpper(hex.EncodeToString(randomBytes(8)))
}

// pairingAlphabet is the one WhatsApp pairing codes use (no 0, O, I, U).
const pairingAlphabet = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"

// newPairingCode returns a code like "ABCD-EFGH".
func newPairingCode() string {
	b := randomBytes(8)
	code := make([]byte, 0, 9)
	for i, v := range b {
		if i == 4 {
			code = append(code, '-')
		}
		code = append(code, pairingAlphabet[int(v)%len(pairingAlphabet)])
	}
	return string(code)
}

// phoneFor derives a stable Indonesian mobile number (+62812 and 8 digits) from a session ID.
func phoneFor(sessionID string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(sessionID))
	return fmt.Sprintf("+62812%08d", h.Sum64()%100_000_000)
}

// jidFor turns a phone number or JID into a JID.
func jidFor(to string) string {
	if strings.Contains(to, "@") {
		return to
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, to)
	return digits + "@s.whatsapp.net"
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

func randomBase64(n int) string {
	return base64.StdEncoding.EncodeToString(randomBytes(n))
}
