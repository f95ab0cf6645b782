package httpapi_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/events"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
)

// msgRow is what the database holds about a message.
type msgRow struct {
	ID, Direction, Type, Status string
	WAMessageID, To, From       *string
	Content, MediaURL, Filename *string
	Caption, ErrorMessage       *string
	DeliveredAt, ReadAt         *time.Time
}

func msgLoad(t testing.TB, g *testenv.Gateway, id string) msgRow {
	t.Helper()
	var m msgRow
	err := g.DB.QueryRow(context.Background(), `SELECT id::text, direction::text, message_type::text, status::text,
		wa_message_id, to_number, from_number, content, media_url, filename, caption, error_message, delivered_at, read_at
		FROM messages WHERE id = $1`, id).Scan(&m.ID, &m.Direction, &m.Type, &m.Status, &m.WAMessageID, &m.To, &m.From,
		&m.Content, &m.MediaURL, &m.Filename, &m.Caption, &m.ErrorMessage, &m.DeliveredAt, &m.ReadAt)
	if err != nil {
		t.Fatalf("load message %s: %v", id, err)
	}
	return m
}

// msgHistory lists a message's status history, oldest first.
func msgHistory(t testing.TB, g *testenv.Gateway, id string) []string {
	t.Helper()
	history, err := store.ListMessageEvents(context.Background(), g.DB, id)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(history))
	for i, h := range history {
		out[i] = string(h.Status)
	}
	return out
}

func msgSend(t testing.TB, g *testenv.Gateway, key, path string, body any) testenv.Response {
	t.Helper()
	return g.Do(t, http.MethodPost, "/api/v1/"+path, body, "X-API-Key", key)
}

func msgStr(s string) *string { return &s }

func msgDeref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// msgSubset reports the first key of want whose value differs in got ("" when all match).
func msgSubset(got, want map[string]any) string {
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			return fmt.Sprintf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	return ""
}

func TestSend_EveryType_ReachesTheWorkerInItsShapeAndAnswersSent(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"}, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	id, key := l.connectedSession(t, u, "all-types")
	const jid = "6281234567890@s.whatsapp.net"

	for _, tc := range []struct {
		path   string
		body   map[string]any
		wire   map[string]any // fields the worker must receive (besides to, type and clientMessageId)
		kind   string         // message_type recorded
		stored msgRow
	}{
		{"sendText", map[string]any{"to": "+62 812-3456-7890", "message": "hello"},
			map[string]any{"type": "text", "message": "hello"}, "TEXT", msgRow{Content: msgStr("hello")}},
		{"sendImage", map[string]any{"to": "6281234567890", "imageUrl": "http://127.0.0.1:9/cat.jpg", "caption": "a cat"},
			map[string]any{"type": "image", "mediaUrl": "http://127.0.0.1:9/cat.jpg", "caption": "a cat"}, "IMAGE",
			msgRow{MediaURL: msgStr("http://127.0.0.1:9/cat.jpg"), Caption: msgStr("a cat")}},
		{"sendFile", map[string]any{"to": jid, "fileUrl": "http://127.0.0.1:9/r.pdf", "filename": "report.pdf", "caption": "Q1"},
			map[string]any{"type": "document", "mediaUrl": "http://127.0.0.1:9/r.pdf", "filename": "report.pdf", "caption": "Q1"}, "DOCUMENT",
			msgRow{MediaURL: msgStr("http://127.0.0.1:9/r.pdf"), Filename: msgStr("report.pdf"), Caption: msgStr("Q1")}},
		{"sendVoice", map[string]any{"to": jid, "audioUrl": "http://127.0.0.1:9/v.ogg"},
			map[string]any{"type": "audio", "mediaUrl": "http://127.0.0.1:9/v.ogg"}, "AUDIO", msgRow{MediaURL: msgStr("http://127.0.0.1:9/v.ogg")}},
		{"sendVideo", map[string]any{"to": jid, "videoUrl": "http://127.0.0.1:9/v.mp4", "caption": "clip"},
			map[string]any{"type": "video", "mediaUrl": "http://127.0.0.1:9/v.mp4", "caption": "clip"}, "VIDEO",
			msgRow{MediaURL: msgStr("http://127.0.0.1:9/v.mp4"), Caption: msgStr("clip")}},
		{"sendLocation", map[string]any{"to": jid, "latitude": -6.2, "longitude": 106.816666, "name": "Monas", "address": "Jakarta"},
			map[string]any{"type": "location", "location": map[string]any{"latitude": -6.2, "longitude": 106.816666, "name": "Monas", "address": "Jakarta"}},
			"LOCATION", msgRow{Content: msgStr("Monas")}},
		{"sendContactVcard", map[string]any{"to": jid, "contactName": "Budi", "contactPhone": "+62 811-1111-1111",
			"contactEmail": "budi@example.com", "contactOrganization": "Toko"},
			map[string]any{"type": "contact", "contact": map[string]any{"name": "Budi", "phone": "+6281111111111",
				"email": "budi@example.com", "organization": "Toko"}}, "CONTACT", msgRow{Content: msgStr("Budi")}},
		{"sendLink", map[string]any{"to": jid, "url": "http://127.0.0.1:9/post", "title": "Post", "description": "Read it"},
			map[string]any{"type": "link", "link": map[string]any{"url": "http://127.0.0.1:9/post", "title": "Post", "description": "Read it"}},
			"LINK", msgRow{Content: msgStr("http://127.0.0.1:9/post")}},
		{"sendPoll", map[string]any{"to": jid, "poll": map[string]any{"name": "Lunch?", "options": []any{"Rice", "Noodles", "Soup"}, "selectableCount": 2}},
			map[string]any{"type": "poll", "poll": map[string]any{"name": "Lunch?", "options": []any{"Rice", "Noodles", "Soup"}, "selectableCount": 2.0}},
			"POLL", msgRow{Content: msgStr("Lunch?")}},
		{"sendText", map[string]any{"to": "123456789-1234567890@g.us", "message": "hi group", "quotedMessageId": "3EB0QUOTED",
			"mentions": []any{"+62 812-3456-7890", "62811111111@lid"}},
			map[string]any{"type": "text", "message": "hi group", "quotedMessageId": "3EB0QUOTED",
				"mentions": []any{jid, "62811111111@lid"}}, "TEXT", msgRow{Content: msgStr("hi group")}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			before := len(l.Sim.Wire("/send"))
			res := msgSend(t, l.Gateway, key, tc.path, tc.body)
			if res.Code != http.StatusOK {
				t.Fatalf("%d %s", res.Code, res.Body)
			}
			data := sesData(t, res)
			if keys := slices.Sorted(maps.Keys(data)); !slices.Equal(keys, []string{"id", "messageId", "status", "timestamp", "to", "type"}) {
				t.Errorf("answer fields = %v, want exactly id, messageId, status, timestamp, to, type", keys)
			}
			wantTo := jid
			if to, _ := tc.body["to"].(string); strings.Contains(to, "@") {
				wantTo = to
			}
			if data["status"] != "SENT" || data["to"] != wantTo || data["type"] != tc.wire["type"] {
				t.Errorf("answer = %v", data)
			}
			if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(data["timestamp"])); err != nil {
				t.Errorf("timestamp = %v: %v", data["timestamp"], err)
			}
			sends := l.Sim.Wire("/api/sessions/" + id + "/send")
			if len(sends) != before+1 {
				t.Fatalf("the worker received %d sends, want %d", len(sends), before+1)
			}
			wire := sends[len(sends)-1].Body
			if wire["clientMessageId"] != data["id"] || wire["to"] != wantTo {
				t.Errorf("wire clientMessageId %v / to %v, want our id %v and %s", wire["clientMessageId"], wire["to"], data["id"], wantTo)
			}
			if diff := msgSubset(wire, tc.wire); diff != "" {
				t.Errorf("wire body %v: %s", wire, diff)
			}

			row := msgLoad(t, l.Gateway, data["id"].(string))
			if row.Direction != "OUTBOUND" || row.Status != "SENT" || row.Type != tc.kind || msgDeref(row.WAMessageID) != data["messageId"] ||
				msgDeref(row.To) != wantTo {
				t.Errorf("stored %+v", row)
			}
			for name, pair := range map[string][2]*string{"content": {row.Content, tc.stored.Content}, "mediaUrl": {row.MediaURL, tc.stored.MediaURL},
				"filename": {row.Filename, tc.stored.Filename}, "caption": {row.Caption, tc.stored.Caption}} {
				if msgDeref(pair[0]) != msgDeref(pair[1]) {
					t.Errorf("stored %s = %s, want %s", name, msgDeref(pair[0]), msgDeref(pair[1]))
				}
			}
			if h := msgHistory(t, l.Gateway, data["id"].(string)); !slices.Equal(h, []string{"PENDING", "SENT"}) {
				t.Errorf("history = %v, want PENDING, SENT", h)
			}
		})
	}
	sent := l.Sim.Engine.Sent(id)
	want := map[string]int{"text": 2, "image": 1, "document": 1, "audio": 1, "video": 1, "location": 1, "contact": 1, "link": 1, "poll": 1}
	if !maps.Equal(sent, want) {
		t.Errorf("the engine sent %v, want %v", sent, want)
	}
}

func TestSend_SeenTypingCheckNumberAndMessageActions_ReachTheWorker(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, nil, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	id, key := l.connectedSession(t, u, "commands")
	const jid = "6281234567890@s.whatsapp.net"

	for _, tc := range []struct {
		path string
		body map[string]any
		wire map[string]any
	}{
		{"sendSeen", map[string]any{"to": "+6281234567890", "messageId": "3EB0SEEN"}, map[string]any{"type": "seen", "to": jid, "messageId": "3EB0SEEN"}},
		{"startTyping", map[string]any{"to": "6281234567890"}, map[string]any{"type": "typing_start", "to": jid}},
		{"stopTyping", map[string]any{"to": "6281234567890"}, map[string]any{"type": "typing_stop", "to": jid}},
	} {
		before := len(l.Sim.Wire("/send"))
		res := msgSend(t, l.Gateway, key, tc.path, tc.body)
		if res.Code != http.StatusOK {
			t.Errorf("%s: %d %s", tc.path, res.Code, res.Body)
			continue
		}
		sends := l.Sim.Wire("/api/sessions/" + id + "/send")
		if len(sends) != before+1 {
			t.Errorf("%s: the worker received %d sends, want %d", tc.path, len(sends), before+1)
			continue
		}
		if diff := msgSubset(sends[len(sends)-1].Body, tc.wire); diff != "" {
			t.Errorf("%s: wire %v: %s", tc.path, sends[len(sends)-1].Body, diff)
		}
	}
	if sent := l.Sim.Engine.Sent(id); sent["seen"] != 1 || sent["typing_start"] != 1 || sent["typing_stop"] != 1 {
		t.Errorf("the engine counted %v", sent)
	}

	for phone, exists := range map[string]bool{"+62 812-3456-7890": true, "6281234560000": false} {
		res := msgSend(t, l.Gateway, key, "checkNumber", map[string]any{"phone": phone})
		if res.Code != http.StatusOK {
			t.Errorf("checkNumber %s: %d %s", phone, res.Code, res.Body)
			continue
		}
		data := sesData(t, res)
		digits := strings.NewReplacer("+", "", " ", "", "-", "").Replace(phone)
		if data["exists"] != exists || data["phone"] != digits {
			t.Errorf("checkNumber %s = %v, want exists %v", phone, data, exists)
		}
		if exists && data["jid"] != digits+"@s.whatsapp.net" {
			t.Errorf("checkNumber %s: jid %v", phone, data["jid"])
		}
	}
	if checks := l.Sim.Wire("/api/sessions/" + id + "/check-number"); len(checks) != 2 || checks[0].Body["phone"] == nil {
		t.Errorf("check-number requests = %+v", checks)
	}

	for _, tc := range []struct {
		action string
		body   map[string]any
		wire   map[string]any
	}{
		{"delete", map[string]any{"phone": "6281234567890", "forEveryone": true}, map[string]any{"forEveryone": true}},
		{"unsend", map[string]any{"phone": "6281234567890"}, nil},
		{"reaction", map[string]any{"phone": "6281234567890", "emoji": "👍"}, map[string]any{"emoji": "👍"}},
		{"edit", map[string]any{"phone": "6281234567890", "newText": "fixed"}, map[string]any{"newText": "fixed"}},
		{"read", map[string]any{"phone": "6281234567890"}, nil},
		{"star", map[string]any{"phone": "6281234567890"}, nil},
		{"unstar", map[string]any{"phone": "6281234567890"}, nil},
	} {
		msgID := "3EB0ACT" + strings.ToUpper(tc.action)
		res := msgSend(t, l.Gateway, key, "message/"+msgID+"/"+tc.action, tc.body)
		if res.Code != http.StatusOK {
			t.Errorf("%s: %d %s", tc.action, res.Code, res.Body)
			continue
		}
		data := sesData(t, res)
		if data["messageId"] != msgID || data["action"] != tc.action || data["result"].(map[string]any)["success"] != true {
			t.Errorf("%s: answer %v", tc.action, data)
		}
		manages := l.Sim.Wire("/api/message/" + id + "/manage")
		last := manages[len(manages)-1].Body
		want := map[string]any{"action": tc.action, "messageId": msgID, "phone": jid}
		maps.Copy(want, tc.wire)
		if diff := msgSubset(last, want); diff != "" {
			t.Errorf("%s: wire %v: %s", tc.action, last, diff)
		}
	}
	managed := l.Sim.Engine.Stats().Managed
	for _, action := range []string{"delete", "unsend", "reaction", "edit", "read", "star", "unstar"} {
		if managed[action] != 1 {
			t.Errorf("the engine performed %q %d times, want 1 (all: %v)", action, managed[action], managed)
		}
	}
	// Actions with missing parts are refused before the worker.
	for action, field := range map[string]string{"reaction": "emoji", "edit": "newText"} {
		body := sesWantError(t, msgSend(t, l.Gateway, key, "message/3EB0X/"+action, map[string]any{"phone": "6281234567890"}),
			http.StatusBadRequest, "validation_error")
		if got := sesFields(body); !slices.Equal(got, []string{field}) {
			t.Errorf("%s without %s: details %v", action, field, got)
		}
	}
	if n := sesCount(t, l.Gateway, `SELECT count(*) FROM messages`); n != 0 {
		t.Errorf("commands recorded %d messages, want none", n)
	}
}

func TestDashboardSend_TextAndImageWithTheUsersJWT(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"}, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	id, _ := l.connectedSession(t, u, "dash")

	text := l.Do(t, http.MethodPost, "/api/v1/sessions/"+id+"/send", map[string]any{"to": "+62 812-3456-7890", "type": "TEXT", "message": "from the dashboard"}, u.auth()...)
	if text.Code != http.StatusOK || sesData(t, text)["status"] != "SENT" {
		t.Fatalf("TEXT: %d %s", text.Code, text.Body)
	}
	image := l.Do(t, http.MethodPost, "/api/v1/sessions/"+id+"/send", map[string]any{"to": "6281234567890", "type": "image",
		"mediaUrl": "http://127.0.0.1:9/p.png", "caption": "look"}, u.auth()...)
	if image.Code != http.StatusOK {
		t.Fatalf("IMAGE: %d %s", image.Code, image.Body)
	}
	sends := l.Sim.Wire("/api/sessions/" + id + "/send")
	if len(sends) != 2 {
		t.Fatalf("the worker received %d sends", len(sends))
	}
	if diff := msgSubset(sends[0].Body, map[string]any{"type": "text", "message": "from the dashboard", "clientMessageId": sesData(t, text)["id"]}); diff != "" {
		t.Errorf("TEXT wire: %s", diff)
	}
	if diff := msgSubset(sends[1].Body, map[string]any{"type": "image", "mediaUrl": "http://127.0.0.1:9/p.png", "caption": "look"}); diff != "" {
		t.Errorf("IMAGE wire: %s", diff)
	}
	if row := msgLoad(t, l.Gateway, sesData(t, image)["id"].(string)); row.Type != "IMAGE" || row.Status != "SENT" {
		t.Errorf("IMAGE stored %+v", row)
	}
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"to": "6281234567890", "type": "STICKER"}, "type"},
		{map[string]any{"to": "6281234567890", "type": "TEXT"}, "message"},
		{map[string]any{"to": "6281234567890", "type": "IMAGE"}, "mediaUrl"},
		{map[string]any{"to": "nobody", "type": "TEXT", "message": "x"}, "to"},
	} {
		body := sesWantError(t, l.Do(t, http.MethodPost, "/api/v1/sessions/"+id+"/send", tc.body, u.auth()...), http.StatusBadRequest, "validation_error")
		if got := sesFields(body); !slices.Contains(got, tc.field) {
			t.Errorf("%v: details %v, want %s", tc.body, got, tc.field)
		}
	}
}

// msgReceipt posts a delivery receipt as the worker.
func msgReceipt(t testing.TB, g *testenv.Gateway, sessionID, waID, status string, extra map[string]any) testenv.Response {
	t.Helper()
	body := map[string]any{"sessionId": sessionID, "messageId": waID, "status": status}
	maps.Copy(body, extra)
	return g.Do(t, http.MethodPost, "/api/v1/webhooks/message-status", body, sesWorkerAuth(g)...)
}

// msgDrain returns the events received so far of type typ.
func msgDrain(ch <-chan events.Event, typ string) []events.Event {
	var out []events.Event
	for {
		select {
		case e := <-ch:
			if e.Type == typ {
				out = append(out, e)
			}
		default:
			return out
		}
	}
}

func TestReceipts_OnlyMoveAMessageForward(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, nil, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	id, key := l.connectedSession(t, u, "receipts")
	sendText := func() (string, string) {
		t.Helper()
		res := msgSend(t, l.Gateway, key, "sendText", map[string]any{"to": "6281234567890", "message": "hi"})
		if res.Code != http.StatusOK {
			t.Fatalf("send: %d %s", res.Code, res.Body)
		}
		d := sesData(t, res)
		return d["id"].(string), d["messageId"].(string)
	}
	ch, unsubscribe := l.Bus.Subscribe(100)
	defer unsubscribe()

	readFirst, readFirstWA := sendText()
	failed, failedWA := sendText()
	msgDrain(ch, events.MessageStatusUpdated) // the sends' own SENT events

	for _, step := range []struct {
		waID, status string
		wantCode     int
		want         string
	}{
		{readFirstWA, "READ", http.StatusOK, "READ"},
		{readFirstWA, "DELIVERED", http.StatusOK, "READ"},
		{readFirstWA, "SENT", http.StatusOK, "READ"},
		{readFirstWA, "FAILED", http.StatusOK, "READ"},
		{readFirstWA, "PENDING", http.StatusOK, "READ"},
		{failedWA, "FAILED", http.StatusOK, "FAILED"},
		{failedWA, "DELIVERED", http.StatusOK, "FAILED"},
		{failedWA, "READ", http.StatusOK, "FAILED"},
	} {
		res := msgReceipt(t, l.Gateway, id, step.waID, step.status, map[string]any{"errorMessage": "phone unreachable"})
		if res.Code != step.wantCode || sesData(t, res)["recorded"] != true {
			t.Errorf("%s %s: %d %s", step.waID, step.status, res.Code, res.Body)
		}
		msg := readFirst
		if step.waID == failedWA {
			msg = failed
		}
		if got := msgLoad(t, l.Gateway, msg).Status; got != step.want {
			t.Errorf("after %s on %s: status %s, want %s", step.status, step.waID, got, step.want)
		}
	}
	if h := msgHistory(t, l.Gateway, readFirst); !slices.Equal(h, []string{"PENDING", "SENT", "READ"}) {
		t.Errorf("history = %v, want PENDING, SENT, READ", h)
	}
	row := msgLoad(t, l.Gateway, readFirst)
	if row.ReadAt == nil || row.DeliveredAt == nil || row.ErrorMessage != nil {
		t.Errorf("read message: %+v, want readAt and deliveredAt set and no error", row)
	}
	if f := msgLoad(t, l.Gateway, failed); msgDeref(f.ErrorMessage) != "phone unreachable" {
		t.Errorf("failed message error = %s", msgDeref(f.ErrorMessage))
	}
	published := msgDrain(ch, events.MessageStatusUpdated)
	if len(published) != 2 {
		t.Fatalf("%d message_status_updated events, want 2 (the applied READ and FAILED): %+v", len(published), published)
	}
	for i, want := range []string{"READ", "FAILED"} {
		p := published[i].Payload.(events.MessageStatus)
		if p.Status != want || published[i].SessionID != id || published[i].UserID != u.ID {
			t.Errorf("event %d = %+v, want %s for session %s", i, published[i], want, id)
		}
	}

	// Forward steps from SENT: DELIVERED then READ.
	forward, forwardWA := sendText()
	for _, status := range []string{"DELIVERED", "READ"} {
		msgReceipt(t, l.Gateway, id, forwardWA, status, nil)
		if got := msgLoad(t, l.Gateway, forward).Status; got != status {
			t.Errorf("forward %s: status %s", status, got)
		}
	}

	// A receipt for an unknown message is accepted but not recorded.
	res := msgReceipt(t, l.Gateway, id, "3EB0NOBODY", "READ", nil)
	if res.Code != http.StatusAccepted || sesData(t, res)["recorded"] != false {
		t.Errorf("unknown message: %d %s, want 202 recorded false", res.Code, res.Body)
	}
	// A status nobody defined, or missing IDs, is refused.
	sesWantError(t, msgReceipt(t, l.Gateway, id, forwardWA, "SEEN", nil), http.StatusBadRequest, "validation_error")
	body := sesWantError(t, l.Do(t, http.MethodPost, "/api/v1/webhooks/message-status", map[string]any{"status": "READ"}, sesWorkerAuth(l.Gateway)...),
		http.StatusBadRequest, "validation_error")
	if got := sesFields(body); !slices.Equal(got, []string{"messageId", "sessionId"}) {
		t.Errorf("missing IDs: details %v", got)
	}
}

func TestReceipts_FromTheSimworker_ArriveInOrder(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, nil, simengine.Config{ReceiptDelay: 20 * time.Millisecond})
	u := sesNewUser(t, l.Gateway)
	_, key := l.connectedSession(t, u, "sim-receipts")
	res := msgSend(t, l.Gateway, key, "sendText", map[string]any{"to": "6281234567890", "message": "hi"})
	if res.Code != http.StatusOK {
		t.Fatalf("send: %d %s", res.Code, res.Body)
	}
	id := sesData(t, res)["id"].(string)
	sesEventually(t, 5*time.Second, "the message is READ", func() bool { return msgLoad(t, l.Gateway, id).Status == "READ" })
	if h := msgHistory(t, l.Gateway, id); h[0] != "PENDING" || h[len(h)-1] != "READ" || !slices.Contains(h, "DELIVERED") {
		t.Errorf("history = %v", h)
	}
}

func TestInbound_DuplicateIsStoredOnceAndRaisesOneMessageReceived(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, nil, simengine.Config{})
	u := sesNewUser(t, l.Gateway)
	id, _ := l.connectedSession(t, u, "inbox")
	ch, unsubscribe := l.Bus.Subscribe(100)
	defer unsubscribe()

	in := map[string]any{"sessionId": id, "messageId": "3EB0IN1", "from": "6281234567890@s.whatsapp.net", "fromName": "Budi",
		"type": "image", "content": nil, "mediaUrl": "https://example.com/p.jpg", "caption": "pic", "raw": map[string]any{"k": 1}}
	var first string
	for i := range 3 {
		res := l.Do(t, http.MethodPost, "/api/v1/webhooks/message", in, sesWorkerAuth(l.Gateway)...)
		if res.Code != http.StatusOK {
			t.Fatalf("inbound %d: %d %s", i, res.Code, res.Body)
		}
		data := sesData(t, res)
		if i == 0 {
			first = data["id"].(string)
		}
		if data["id"] != first || data["duplicate"] != (i > 0) {
			t.Errorf("delivery %d: %v, want the same id and duplicate %v", i, data, i > 0)
		}
	}
	if n := sesCount(t, l.Gateway, `SELECT count(*) FROM messages WHERE session_id = $1 AND direction = 'INBOUND'`, id); n != 1 {
		t.Errorf("%d inbound messages stored, want 1", n)
	}
	row := msgLoad(t, l.Gateway, first)
	if row.Type != "IMAGE" || row.Status != "DELIVERED" || msgDeref(row.From) != "6281234567890@s.whatsapp.net" || msgDeref(row.Caption) != "pic" {
		t.Errorf("stored %+v", row)
	}
	received := msgDrain(ch, events.MessageReceived)
	if len(received) != 1 {
		t.Fatalf("%d message_received events, want 1", len(received))
	}
	msg := received[0].Payload.(map[string]any)["message"].(map[string]any)
	if msg["id"] != first || msg["messageId"] != "3EB0IN1" || received[0].UserID != u.ID {
		t.Errorf("event = %+v", received[0])
	}

	// A message the simworker receives arrives through the worker's own event delivery.
	if err := l.Sim.Engine.Receive(id, "6281111111111", "hello from the phone"); err != nil {
		t.Fatal(err)
	}
	sesEventually(t, 5*time.Second, "the simworker's incoming message is stored", func() bool {
		return sesCount(t, l.Gateway, `SELECT count(*) FROM messages WHERE session_id = $1 AND direction = 'INBOUND'
			AND content = 'hello from the phone' AND from_number = '6281111111111@s.whatsapp.net'`, id) == 1
	})

	body := sesWantError(t, l.Do(t, http.MethodPost, "/api/v1/webhooks/message", map[string]any{"type": "TEXT"}, sesWorkerAuth(l.Gateway)...),
		http.StatusBadRequest, "validation_error")
	if got := sesFields(body); !slices.Equal(got, []string{"from", "messageId", "sessionId"}) {
		t.Errorf("empty inbound: details %v", got)
	}
	sesWantError(t, l.Do(t, http.MethodPost, "/api/v1/webhooks/message", map[string]any{"sessionId": "nobody-here", "messageId": "x",
		"from": "1@s.whatsapp.net"}, sesWorkerAuth(l.Gateway)...), http.StatusNotFound, "not_found")
}

func TestSend_RefusedOrFailed_Answers409502503AndKeepsAFailedRecord(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		kind   string
		fault  func(t *testing.T, l *sesLive, sessionID string)
	}{
		{"session not connected", http.StatusConflict, "conflict", func(t *testing.T, l *sesLive, sessionID string) {
			sesExec(t, l.Gateway, `UPDATE sessions SET status = 'RECONNECTING' WHERE id = $1`, sessionID)
		}},
		{"worker answers 500", http.StatusBadGateway, "worker_error", func(_ *testing.T, l *sesLive, _ string) {
			l.Sim.Engine.SetFaults(simengine.Faults{FailSends: true})
		}},
		{"worker unreachable", http.StatusServiceUnavailable, "connectivity_error", func(_ *testing.T, l *sesLive, _ string) {
			l.Sim.Kill()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := sesStartLive(t, nil, simengine.Config{})
			u := sesNewUser(t, l.Gateway)
			id, key := l.connectedSession(t, u, "fragile")
			tc.fault(t, l, id)

			res := msgSend(t, l.Gateway, key, "sendText", map[string]any{"to": "6281234567890", "message": "will it go?"})
			body := sesWantError(t, res, tc.status, tc.kind)
			var msgID, reason string
			var errMsg *string
			if err := l.DB.QueryRow(context.Background(), `SELECT id::text, status::text, error_message FROM messages WHERE session_id = $1`, id).
				Scan(&msgID, &reason, &errMsg); err != nil {
				t.Fatalf("the refused send left no record: %v", err)
			}
			if reason != "FAILED" || errMsg == nil || *errMsg == "" {
				t.Fatalf("record = %s (%v), want FAILED with the reason", reason, errMsg)
			}
			if h := msgHistory(t, l.Gateway, msgID); h[len(h)-1] != "FAILED" {
				t.Errorf("history = %v, want it to end FAILED", h)
			}
			switch tc.status {
			case http.StatusConflict:
				if !strings.Contains(fmt.Sprint(body["message"]), "RECONNECTING") || !strings.Contains(*errMsg, "RECONNECTING") {
					t.Errorf("409 message %q / reason %q should name the status", body["message"], *errMsg)
				}
			case http.StatusBadGateway:
				if !strings.Contains(fmt.Sprint(body["message"]), "simulated send failure") {
					t.Errorf("502 message %q should pass the worker's message on", body["message"])
				}
			}
			if got := l.Sim.Engine.Sent(id); len(got) != 0 {
				t.Errorf("the engine sent %v", got)
			}
		})
	}
}

// ----------------------------------------------------------------------------------------
// History

func TestMessageHistory_KeysetPagesNewestFirstWithFilters(t *testing.T) {
	t.Parallel()
	g := sesGateway(t, nil)
	u := sesNewUser(t, g)
	sesCreate(t, g, u, map[string]any{"name": "History", "sessionId": "hist"})
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	// 12 messages: i minutes after base, with four sharing one instant to test ties.
	type spec struct{ direction, status, kind string }
	specs := []spec{
		{"OUTBOUND", "SENT", "TEXT"}, {"INBOUND", "DELIVERED", "TEXT"}, {"OUTBOUND", "FAILED", "IMAGE"},
		{"OUTBOUND", "READ", "TEXT"}, {"INBOUND", "DELIVERED", "IMAGE"}, {"OUTBOUND", "SENT", "POLL"},
		{"OUTBOUND", "FAILED", "TEXT"}, {"INBOUND", "DELIVERED", "TEXT"}, {"OUTBOUND", "DELIVERED", "TEXT"},
		{"OUTBOUND", "SENT", "TEXT"}, {"INBOUND", "DELIVERED", "LOCATION"}, {"OUTBOUND", "PENDING", "TEXT"},
	}
	for i, s := range specs {
		at := base.Add(time.Duration(i) * time.Minute)
		if i >= 4 && i <= 7 {
			at = base.Add(4 * time.Minute)
		}
		sesExec(t, g, `INSERT INTO messages (session_id, direction, message_type, status, content, created_at)
			VALUES ('hist', $1, $2, $3, $4, $5)`, s.direction, s.kind, s.status, fmt.Sprint(i), at)
	}
	// Another session's messages never show.
	sesExec(t, g, `INSERT INTO users (name, email, password_hash) VALUES ('Other', 'other-hist@example.com', 'x')`)
	sesExec(t, g, `INSERT INTO sessions (id, user_id, name) SELECT 'other-hist', id, 'Other' FROM users WHERE email = 'other-hist@example.com'`)
	sesExec(t, g, `INSERT INTO messages (session_id, direction, message_type, status, created_at) VALUES ('other-hist', 'OUTBOUND', 'TEXT', 'SENT', $1)`, base.Add(time.Hour))

	// walk pages through query with limit and returns the contents in order.
	walk := func(query string, limit int) []string {
		t.Helper()
		var got []string
		cursor := ""
		for page := 0; page < 20; page++ {
			path := fmt.Sprintf("/api/v1/sessions/hist/messages?limit=%d%s", limit, query)
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			res := g.Do(t, http.MethodGet, path, nil, u.auth()...)
			if res.Code != http.StatusOK {
				t.Fatalf("%s: %d %s", path, res.Code, res.Body)
			}
			data := sesData(t, res)
			msgs := data["messages"].([]any)
			if len(msgs) > limit {
				t.Fatalf("%s: %d messages on a page of %d", path, len(msgs), limit)
			}
			for _, m := range msgs {
				got = append(got, m.(map[string]any)["content"].(string))
			}
			next, _ := data["nextCursor"].(string)
			if next == "" {
				return got
			}
			cursor = next
		}
		t.Fatalf("%s: more than 20 pages", query)
		return nil
	}
	// pick lists the indexes of specs matching keep, newest first (ties: the database's
	// order, which the unfiltered walk fixes).
	all := walk("", 100)
	if len(all) != len(specs) {
		t.Fatalf("all = %v, want %d messages", all, len(specs))
	}
	pick := func(keep func(spec) bool) []string {
		var out []string
		for _, c := range all {
			var i int
			_, _ = fmt.Sscan(c, &i)
			if keep(specs[i]) {
				out = append(out, c)
			}
		}
		return out
	}
	// Newest first: 11, 10, 9, 8, then the four tied at minute 4, then 3, 2, 1, 0.
	if all[0] != "11" || all[1] != "10" || all[len(all)-1] != "0" || all[len(all)-2] != "1" {
		t.Errorf("order = %v, want newest first", all)
	}
	for _, limit := range []int{1, 3, 5} {
		if got := walk("", limit); !slices.Equal(got, all) {
			t.Errorf("pages of %d = %v, want %v (no message lost or repeated, ties included)", limit, got, all)
		}
	}
	for _, tc := range []struct {
		query string
		keep  func(spec) bool
	}{
		{"&direction=INBOUND", func(s spec) bool { return s.direction == "INBOUND" }},
		{"&status=FAILED", func(s spec) bool { return s.status == "FAILED" }},
		{"&type=TEXT", func(s spec) bool { return s.kind == "TEXT" }},
		{"&direction=OUTBOUND&type=TEXT&status=SENT", func(s spec) bool { return s.direction == "OUTBOUND" && s.kind == "TEXT" && s.status == "SENT" }},
		{"&type=STICKER", func(spec) bool { return false }},
	} {
		if got, want := walk(tc.query, 2), pick(tc.keep); !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", tc.query, got, want)
		}
	}
	empty := sesData(t, g.Do(t, http.MethodGet, "/api/v1/sessions/hist/messages?type=STICKER", nil, u.auth()...))
	if msgs, ok := empty["messages"].([]any); !ok || len(msgs) != 0 || empty["nextCursor"] != nil {
		t.Errorf("an empty page = %v, want messages [] and nextCursor null", empty)
	}

	for _, tc := range []struct{ query, field string }{
		{"limit=0", "limit"}, {"limit=101", "limit"}, {"limit=ten", "limit"},
		{"cursor=not-a-cursor", "cursor"},
		{"cursor=" + base64.RawURLEncoding.EncodeToString([]byte("yesterday|x")), "cursor"},
		{"cursor=" + base64.RawURLEncoding.EncodeToString([]byte(base.Format(time.RFC3339Nano)+"|not-a-uuid")), "cursor"},
		{"direction=SIDEWAYS", "direction"}, {"status=LOST", "status"}, {"type=GIF", "type"},
	} {
		body := sesWantError(t, g.Do(t, http.MethodGet, "/api/v1/sessions/hist/messages?"+tc.query, nil, u.auth()...), http.StatusBadRequest, "validation_error")
		if got := sesFields(body); !slices.Equal(got, []string{tc.field}) {
			t.Errorf("%s: details %v, want [%s]", tc.query, got, tc.field)
		}
	}
	body := sesWantError(t, g.Do(t, http.MethodGet, "/api/v1/sessions/hist/messages?limit=0&cursor=x&type=GIF", nil, u.auth()...), http.StatusBadRequest, "validation_error")
	if got := sesFields(body); !slices.Equal(got, []string{"cursor", "limit", "type"}) {
		t.Errorf("several bad parameters: details %v, want all three", got)
	}
}

func TestGetMessage_ShowsStatusHistoryAndAnotherSessionsMessageIs404(t *testing.T) {
	t.Parallel()
	l := sesStartLive(t, nil, simengine.Config{})
	a, b := sesNewUser(t, l.Gateway), sesNewUser(t, l.Gateway)
	id, key := l.connectedSession(t, a, "msg-a")
	otherKey := sesCreate(t, l.Gateway, b, map[string]any{"name": "B", "sessionId": "msg-b"})["apiKey"].(string)

	sent := sesData(t, msgSend(t, l.Gateway, key, "sendText", map[string]any{"to": "6281234567890", "message": "track me"}))
	msgReceipt(t, l.Gateway, id, sent["messageId"].(string), "DELIVERED", nil)
	res := l.Do(t, http.MethodGet, "/api/v1/messages/"+sent["id"].(string), nil, "X-API-Key", key)
	if res.Code != http.StatusOK {
		t.Fatalf("get: %d %s", res.Code, res.Body)
	}
	msg := sesData(t, res)["message"].(map[string]any)
	if msg["id"] != sent["id"] || msg["messageId"] != sent["messageId"] || msg["direction"] != "OUTBOUND" || msg["status"] != "DELIVERED" ||
		msg["content"] != "track me" || msg["to"] != "6281234567890@s.whatsapp.net" || msg["deliveredAt"] == nil || msg["sentAt"] == nil {
		t.Errorf("message = %v", msg)
	}
	var history []string
	for _, h := range msg["statusHistory"].([]any) {
		entry := h.(map[string]any)
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(entry["at"])); err != nil {
			t.Errorf("history entry %v: %v", entry, err)
		}
		history = append(history, entry["status"].(string))
	}
	if !slices.Equal(history, []string{"PENDING", "SENT", "DELIVERED"}) {
		t.Errorf("statusHistory = %v", history)
	}

	// The other session's key, a made-up ID and a malformed one are all 404.
	for _, k := range []struct{ key, id string }{
		{otherKey, sent["id"].(string)},
		{key, "7a3f9a2e-0000-4000-8000-000000000000"},
		{key, "not-a-uuid"},
	} {
		sesWantError(t, l.Do(t, http.MethodGet, "/api/v1/messages/"+k.id, nil, "X-API-Key", k.key), http.StatusNotFound, "not_found")
	}
}
