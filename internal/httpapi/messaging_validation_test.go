package httpapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// A valid body passes validation and meets the session (not connected: 409); an invalid one
// is 400 listing exactly the failing fields, and is neither recorded nor counted as a message.
func TestSendValidation_EachRuleNamesItsField(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "false", "TIER_LIMITS": `{"BASIC":{"messagesPerHour":100000}}`})
	u := sesNewUser(t, g)
	key := sesCreate(t, g, u, map[string]any{"name": "Validation", "sessionId": "valid"})["apiKey"].(string)
	const to = "6281234567890"
	const public = "https://93.184.216.34/media/cat.jpg" // a public address: no DNS needed
	options := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = fmt.Sprintf("Option %d", i+1)
		}
		return out
	}

	for _, tc := range []struct {
		name string
		path string
		body map[string]any
		want []string // nil: valid
	}{
		// text
		{"message missing", "sendText", map[string]any{"to": to}, []string{"message"}},
		{"message empty", "sendText", map[string]any{"to": to, "message": ""}, []string{"message"}},
		{"message 4096 characters", "sendText", map[string]any{"to": to, "message": strings.Repeat("m", 4096)}, nil},
		{"message 4097 characters", "sendText", map[string]any{"to": to, "message": strings.Repeat("m", 4097)}, []string{"message"}},
		{"message of 4096 multi-byte characters", "sendText", map[string]any{"to": to, "message": strings.Repeat("é", 4096)}, nil},
		// media
		{"caption 1024 characters", "sendImage", map[string]any{"to": to, "imageUrl": public, "caption": strings.Repeat("c", 1024)}, nil},
		{"caption 1025 characters", "sendImage", map[string]any{"to": to, "imageUrl": public, "caption": strings.Repeat("c", 1025)}, []string{"caption"}},
		{"imageUrl missing", "sendImage", map[string]any{"to": to}, []string{"imageUrl"}},
		{"imageUrl ftp://", "sendImage", map[string]any{"to": to, "imageUrl": "ftp://93.184.216.34/cat.jpg"}, []string{"imageUrl"}},
		{"imageUrl without a host", "sendImage", map[string]any{"to": to, "imageUrl": "https:///cat.jpg"}, []string{"imageUrl"}},
		{"imageUrl not a URL", "sendImage", map[string]any{"to": to, "imageUrl": "cat.jpg"}, []string{"imageUrl"}},
		{"imageUrl loopback", "sendImage", map[string]any{"to": to, "imageUrl": "http://127.0.0.1/cat.jpg"}, []string{"imageUrl"}},
		{"imageUrl localhost", "sendImage", map[string]any{"to": to, "imageUrl": "http://localhost:8080/cat.jpg"}, []string{"imageUrl"}},
		{"imageUrl cloud metadata", "sendImage", map[string]any{"to": to, "imageUrl": "http://169.254.169.254/latest/meta-data/"}, []string{"imageUrl"}},
		{"imageUrl private 10/8", "sendImage", map[string]any{"to": to, "imageUrl": "http://10.1.2.3/cat.jpg"}, []string{"imageUrl"}},
		{"imageUrl IPv6 loopback", "sendImage", map[string]any{"to": to, "imageUrl": "http://[::1]/cat.jpg"}, []string{"imageUrl"}},
		{"imageUrl with credentials", "sendImage", map[string]any{"to": to, "imageUrl": "https://user:pw@93.184.216.34/cat.jpg"}, []string{"imageUrl"}},
		{"fileUrl private", "sendFile", map[string]any{"to": to, "fileUrl": "http://192.168.1.10/r.pdf"}, []string{"fileUrl"}},
		{"filename 256 characters", "sendFile", map[string]any{"to": to, "fileUrl": public, "filename": strings.Repeat("f", 256)}, []string{"filename"}},
		{"audioUrl private", "sendVoice", map[string]any{"to": to, "audioUrl": "http://172.16.0.1/a.ogg"}, []string{"audioUrl"}},
		{"videoUrl missing", "sendVideo", map[string]any{"to": to}, []string{"videoUrl"}},
		{"videoUrl caption 1025", "sendVideo", map[string]any{"to": to, "videoUrl": public, "caption": strings.Repeat("c", 1025)}, []string{"caption"}},
		// location
		{"location at the limits", "sendLocation", map[string]any{"to": to, "latitude": -90, "longitude": 180}, nil},
		{"latitude 0 and longitude 0", "sendLocation", map[string]any{"to": to, "latitude": 0, "longitude": 0}, nil},
		{"latitude 91", "sendLocation", map[string]any{"to": to, "latitude": 91, "longitude": 10}, []string{"latitude"}},
		{"longitude -181", "sendLocation", map[string]any{"to": to, "latitude": 10, "longitude": -181}, []string{"longitude"}},
		{"latitude and longitude missing", "sendLocation", map[string]any{"to": to}, []string{"latitude", "longitude"}},
		{"latitude a string", "sendLocation", map[string]any{"to": to, "latitude": "north", "longitude": 10}, []string{"latitude"}},
		{"location address 501", "sendLocation", map[string]any{"to": to, "latitude": 1, "longitude": 1, "address": strings.Repeat("a", 501)}, []string{"address"}},
		// contact
		{"contact ok", "sendContactVcard", map[string]any{"to": to, "contactName": "Budi", "contactPhone": "+62 811-1111-1111"}, nil},
		{"contactPhone letters", "sendContactVcard", map[string]any{"to": to, "contactName": "Budi", "contactPhone": "call me"}, []string{"contactPhone"}},
		{"contactPhone 7 digits", "sendContactVcard", map[string]any{"to": to, "contactName": "Budi", "contactPhone": "1234567"}, []string{"contactPhone"}},
		{"contactName missing", "sendContactVcard", map[string]any{"to": to, "contactPhone": "6281111111111"}, []string{"contactName"}},
		{"contactEmail bad", "sendContactVcard", map[string]any{"to": to, "contactName": "Budi", "contactPhone": "6281111111111", "contactEmail": "budi-at-example"}, []string{"contactEmail"}},
		// link
		{"link url private", "sendLink", map[string]any{"to": to, "url": "http://10.0.0.1/post"}, []string{"url"}},
		{"link thumbnail ftp", "sendLink", map[string]any{"to": to, "url": public, "thumbnail": "ftp://93.184.216.34/t.png"}, []string{"thumbnail"}},
		// poll
		{"poll 2 options", "sendPoll", map[string]any{"to": to, "poll": map[string]any{"name": "Q", "options": options(2)}}, nil},
		{"poll 12 options", "sendPoll", map[string]any{"to": to, "poll": map[string]any{"name": "Q", "options": options(12)}}, nil},
		{"poll 1 option", "sendPoll", map[string]any{"to": to, "poll": map[string]any{"name": "Q", "options": options(1)}}, []string{"poll.options"}},
		{"poll 13 options", "sendPoll", map[string]any{"to": to, "poll": map[string]any{"name": "Q", "options": options(13)}}, []string{"poll.options"}},
		{"poll duplicate options", "sendPoll", map[string]any{"to": to, "poll": map[string]any{"name": "Q", "options": []any{"Yes", " yes ", "No"}}}, []string{"poll.options"}},
		{"poll selectableCount above the options", "sendPoll", map[string]any{"to": to, "poll": map[string]any{"name": "Q", "options": options(2), "selectableCount": 3}}, []string{"poll.selectableCount"}},
		{"poll selectableCount 0", "sendPoll", map[string]any{"to": to, "poll": map[string]any{"name": "Q", "options": options(2), "selectableCount": 0}}, []string{"poll.selectableCount"}},
		{"poll missing", "sendPoll", map[string]any{"to": to}, []string{"poll"}},
		{"poll name missing", "sendPoll", map[string]any{"to": to, "poll": map[string]any{"options": options(2)}}, []string{"poll.name"}},
		// to
		{"to 8 digits", "sendText", map[string]any{"to": "12345678", "message": "m"}, nil},
		{"to 15 digits", "sendText", map[string]any{"to": "123456789012345", "message": "m"}, nil},
		{"to 7 digits", "sendText", map[string]any{"to": "1234567", "message": "m"}, []string{"to"}},
		{"to 16 digits", "sendText", map[string]any{"to": "1234567890123456", "message": "m"}, []string{"to"}},
		{"to with + spaces and dashes", "sendText", map[string]any{"to": "+62 812-3456-7890", "message": "m"}, nil},
		{"to a user JID", "sendText", map[string]any{"to": "6281234567890@s.whatsapp.net", "message": "m"}, nil},
		{"to a legacy group", "sendText", map[string]any{"to": "123456789-1234567890@g.us", "message": "m"}, nil},
		{"to a group", "sendText", map[string]any{"to": "120363012345678901@g.us", "message": "m"}, nil},
		{"to a linked device", "sendText", map[string]any{"to": "123456789012345@lid", "message": "m"}, nil},
		{"to a channel", "sendText", map[string]any{"to": "120363012345678901@newsletter", "message": "m"}, nil},
		{"to an email address", "sendText", map[string]any{"to": "abc@x.com", "message": "m"}, []string{"to"}},
		{"to letters", "sendText", map[string]any{"to": "budi", "message": "m"}, []string{"to"}},
		{"to missing", "sendText", map[string]any{"message": "m"}, []string{"to"}},
		{"to a number as JSON number", "sendText", map[string]any{"to": 6281234567890, "message": "m"}, []string{"to"}},
		// the common fields
		{"mentions ok", "sendText", map[string]any{"to": to, "message": "m", "mentions": []any{"6281111111111", "628221234@lid"}}, nil},
		{"second mention bad", "sendText", map[string]any{"to": to, "message": "m", "mentions": []any{"6281111111111", "12"}}, []string{"mentions[1]"}},
		{"mention not a number", "sendText", map[string]any{"to": to, "message": "m", "mentions": []any{"@budi"}}, []string{"mentions[0]"}},
		{"quotedMessageId 129 characters", "sendText", map[string]any{"to": to, "message": "m", "quotedMessageId": strings.Repeat("q", 129)}, []string{"quotedMessageId"}},
		// several at once
		{"text: every field bad", "sendText", map[string]any{"to": "abc@x.com", "message": "", "mentions": []any{"x"}},
			[]string{"mentions[0]", "message", "to"}},
		{"location: every field bad", "sendLocation", map[string]any{"to": "1", "latitude": 91, "longitude": -181},
			[]string{"latitude", "longitude", "to"}},
		{"image: every field bad", "sendImage", map[string]any{"to": "x", "imageUrl": "http://169.254.169.254/", "caption": strings.Repeat("c", 1025)},
			[]string{"caption", "imageUrl", "to"}},
		{"poll: every field bad", "sendPoll", map[string]any{"to": "x", "poll": map[string]any{"options": []any{"A", "a"}, "selectableCount": 5}},
			[]string{"poll.name", "poll.options", "poll.selectableCount", "to"}},
	} {
		before := sesCount(t, g, `SELECT count(*) FROM messages`)
		res := msgSend(t, g, key, tc.path, tc.body)
		if tc.want == nil {
			if res.Code != http.StatusConflict {
				t.Errorf("%s: %d, want it valid (409: the session is not connected); %s", tc.name, res.Code, res.Body)
			}
			continue
		}
		if res.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400; %s", tc.name, res.Code, res.Body)
			continue
		}
		body := res.JSON(t)
		if body["type"] != "validation_error" {
			t.Errorf("%s: type %v, want validation_error", tc.name, body["type"])
		}
		if got := sesFields(body); !slices.Equal(got, tc.want) {
			t.Errorf("%s: details name %v, want %v", tc.name, got, tc.want)
		}
		if after := sesCount(t, g, `SELECT count(*) FROM messages`); after != before {
			t.Errorf("%s: a refused send was recorded", tc.name)
		}
	}
}

func TestSendValidation_AllowPrivateAcceptsLoopbackMedia(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"})
	u := sesNewUser(t, g)
	key := sesCreate(t, g, u, map[string]any{"name": "Private", "sessionId": "private-ok"})["apiKey"].(string)
	for _, media := range []string{"http://127.0.0.1/cat.jpg", "http://localhost/cat.jpg", "http://10.0.0.1/cat.jpg"} {
		if code := msgSend(t, g, key, "sendImage", map[string]any{"to": "6281234567890", "imageUrl": media}).Code; code != http.StatusConflict {
			t.Errorf("%s with WEBHOOK_ALLOW_PRIVATE=true: %d, want it valid (409)", media, code)
		}
	}
	// Only http and https, even then.
	body := sesWantError(t, msgSend(t, g, key, "sendImage", map[string]any{"to": "6281234567890", "imageUrl": "file:///etc/passwd"}),
		http.StatusBadRequest, "validation_error")
	if got := sesFields(body); !slices.Equal(got, []string{"imageUrl"}) {
		t.Errorf("file:// details %v", got)
	}
}

// fuzzSendRoutes are the Messaging API routes FuzzSendBodies aims at: every send, then the
// chat actions that take a recipient.
var fuzzSendRoutes = []string{"sendText", "sendImage", "sendLocation", "sendPoll", "sendFile", "sendVoice", "sendVideo",
	"sendContactVcard", "sendLink", "sendSeen", "startTyping", "stopTyping", "checkNumber"}

// FuzzSendBodies feeds arbitrary bytes as the body of the Messaging API routes through the
// real router with the API key of a CONNECTED session (the selector's high bit asks for an
// async send): whatever the body, the answer is never a 5xx, an error is a well-formed
// envelope, and a refused send records no message.
func FuzzSendBodies(f *testing.F) {
	w := newFuzzWorld(f)
	for _, seed := range []string{
		``, `{}`, `null`, `[]`, `"text"`, `{"to":"6281234567890","message":"hi"}`,
		`{"to":"+62 812-3456-7890","message":"` + strings.Repeat("x", 5000) + `"}`,
		`{"to":"123456789-1234567890@g.us","message":"hi","mentions":["6281234567890","x"],"quotedMessageId":"3EB0"}`,
		`{"to":"6281234567890","imageUrl":"http://169.254.169.254/","caption":null}`,
		`{"to":"6281234567890","imageUrl":"https://93.184.216.34/a.jpg"}`,
		`{"to":"6281234567890","latitude":1e309,"longitude":-1e309}`,
		`{"to":"6281234567890","latitude":"NaN","longitude":null}`,
		`{"to":"6281234567890","poll":{"name":"Q","options":["a","A"],"selectableCount":-1}}`,
		`{"to":"6281234567890","poll":{"name":"Q","options":null}}`,
		`{"to":"6281234567890","poll":[1,2]}`,
		`{"to":{"nested":true},"message":["a"]}`,
		`{"to":"6281234567890","message":"\u0000\ud800"}`,
		`{"to":"6281234567890","message":"hi"`, `{"to":"6281234567890",,}`, "\xff\xfe{}",
		`{"to":"` + strings.Repeat("9", 200) + `@g.us","message":"x"}`,
		`{"to":"6281234567890","mentions":` + strings.Repeat(`["1",`, 60) + `]}`,
		`{"to":"6281234567890","message":"hi","scheduledAt":"2999-01-01T00:00:00Z"}`,
		`{"to":"6281234567890","message":"hi","scheduledAt":"0001-01-01T00:00:00Z"}`,
		`{"to":"6281234567890","fileUrl":"https://93.184.216.34/r.pdf","filename":"../../etc/passwd"}`,
		`{"to":"6281234567890","contactName":"Budi","contactPhone":"+62 811-1111-1111","contactEmail":"a@b.co"}`,
		`{"to":"6281234567890","url":"https://93.184.216.34/","thumbnail":"http://[::1]/t.png","title":"'; --"}`,
		`{"to":"6281234567890","messageId":"3EB0ABC"}`, `{"phone":"+62 812-3456-7890"}`, `{"phone":"0x1234567"}`,
	} {
		for i := range fuzzSendRoutes {
			f.Add(uint8(i), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, selector uint8, body []byte) {
		route := fuzzRoute{method: http.MethodPost, path: "/api/v1/" + fuzzSendRoutes[int(selector&0x7f)%len(fuzzSendRoutes)],
			auth: w.keyAuth}
		if selector&0x80 != 0 {
			route.path += "?async=true"
		}
		before := sesCount(t, w.g, `SELECT count(*) FROM messages`)
		res := fuzzDo(t, w, route, body)
		if after := sesCount(t, w.g, `SELECT count(*) FROM messages`); res.Code >= 400 && after != before {
			t.Fatalf("%s %q → %d, yet %d message(s) were recorded", route.path, body, res.Code, after-before)
		}
	})
}

// PostgreSQL text cannot hold NUL: a body with \u0000 in a string is refused up front rather
// than failing as a 500 when it is stored.
func TestSendValidation_NULCharacterInText_Is400NotA500(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, nil)
	u := sesNewUser(t, g)
	key := sesCreate(t, g, u, map[string]any{"name": "NUL", "sessionId": "nul"})["apiKey"].(string)
	for _, body := range []string{
		`{"to":"6281234567890","message":"a\u0000b"}`,
		`{"to":"6281234567890","message":"ok","quotedMessageId":"\u0000"}`,
	} {
		sesWantError(t, msgSend(t, g, key, "sendText", body), http.StatusBadRequest, "bad_request")
	}
	sesWantError(t, g.Do(t, http.MethodPost, "/api/v1/sessions", `{"name":"Shop\u0000"}`, u.auth()...), http.StatusBadRequest, "bad_request")
	// An escaped backslash followed by u0000 is ordinary text.
	if res := msgSend(t, g, key, "sendText", `{"to":"6281234567890","message":"C:\\u0000"}`); res.Code != http.StatusConflict {
		t.Errorf(`a literal \u0000 in text: %d %s, want it valid (409: not connected)`, res.Code, res.Body)
	}
	if n := sesCount(t, g, `SELECT count(*) FROM messages`); n != 1 {
		t.Errorf("%d messages recorded, want only the valid one", n)
	}
}
