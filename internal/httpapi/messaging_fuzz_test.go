package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"
)

// messageActions are the actions of POST /message/{messageId}/{action}.
var messageActions = []string{"delete", "unsend", "reaction", "edit", "read", "star", "unstar"}

// FuzzMessageActions fuzzes the message ID in the path and the body of the message actions,
// with the API key of a CONNECTED session: never a 5xx, and an error in the envelope.
func FuzzMessageActions(f *testing.F) {
	w := newFuzzWorld(f)
	for _, id := range []string{"3EB0ABCDEF", "", "..", "../../admin", "a/b", "%2e%2e", "\x00", "\xff", " ", "x?y#z",
		"'; DELETE FROM messages; --"} {
		for _, body := range []string{
			`{"phone":"6281234567890"}`, `{"phone":"6281234567890","forEveryone":true}`,
			`{"phone":"6281234567890","emoji":"👍"}`, `{"phone":"6281234567890","newText":""}`,
			`{"phone":"6281234567890","newText":"fixed","emoji":"` + "\u200d" + `"}`,
			`{"phone":"123"}`, `{"phone":["6281234567890"],"forEveryone":"yes"}`, `{}`, ``, `[`,
		} {
			f.Add(uint8(len(body)), id, []byte(body))
		}
	}
	f.Fuzz(func(t *testing.T, action uint8, messageID string, body []byte) {
		route := fuzzRoute{method: http.MethodPost, auth: w.keyAuth,
			path: "/api/v1/message/" + url.PathEscape(messageID) + "/" + messageActions[int(action)%len(messageActions)]}
		res := fuzzDo(t, w, route, body)
		if res.Code < 300 && (messageID == "" || len(messageID) > 128) {
			t.Fatalf("%s %q → %d for a message ID that cannot exist", route.path, body, res.Code)
		}
	})
}
