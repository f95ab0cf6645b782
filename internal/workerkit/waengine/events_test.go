package waengine

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wagateway/gateway/internal/model"
)

func TestMessageStatuses_MapReceiptTypes(t *testing.T) {
	t.Parallel()
	at := time.Unix(1700000000, 0)
	cases := []struct {
		typ    types.ReceiptType
		fromMe bool
		want   string
	}{
		{types.ReceiptTypeDelivered, false, "DELIVERED"},
		{types.ReceiptTypeRead, false, "READ"},
		{types.ReceiptTypePlayed, false, "READ"},
		{types.ReceiptTypeServerError, false, "FAILED"},
		{types.ReceiptTypeReadSelf, false, ""},
		{types.ReceiptTypeSender, false, ""},
		{types.ReceiptTypeRetry, false, ""},
		{types.ReceiptTypeRead, true, ""}, // we read their message on another device
	}
	for _, c := range cases {
		r := &events.Receipt{MessageSource: types.MessageSource{IsFromMe: c.fromMe}, MessageIDs: []string{"A", "B"},
			Timestamp: at, Type: c.typ}
		got := messageStatuses("s1", r)
		if c.want == "" {
			if len(got) != 0 {
				t.Errorf("receipt %q (fromMe %v) = %+v, want nothing", c.typ, c.fromMe, got)
			}
			continue
		}
		if len(got) != 2 || got[0].Status != c.want || got[1].MessageID != "B" || got[0].SessionID != "s1" {
			t.Errorf("receipt %q = %+v, want two %s", c.typ, got, c.want)
			continue
		}
		switch c.want {
		case "DELIVERED":
			if got[0].DeliveredAt == nil {
				t.Error("DELIVERED without deliveredAt")
			}
		case "READ":
			if got[0].ReadAt == nil {
				t.Error("READ without readAt")
			}
		case "FAILED":
			if got[0].ErrorMessage == nil {
				t.Error("FAILED without errorMessage")
			}
		}
	}
}

func incoming(msg *waE2E.Message) *events.Message {
	sender := types.NewJID("6281200000009", types.DefaultUserServer)
	return &events.Message{Message: msg, Info: types.MessageInfo{
		MessageSource: types.MessageSource{Chat: sender, Sender: sender},
		ID:            "IN1", PushName: "Budi", Timestamp: time.Unix(1700000000, 0),
	}}
}

func TestIncomingMessage_MapsEachKind(t *testing.T) {
	t.Parallel()
	media := func() (*string, []byte, []byte) { return proto.String("https://mmg/x"), []byte{1, 2}, []byte{3} }
	url, key, sha := media()
	cases := []struct {
		msg     *waE2E.Message
		kind    model.MessageType
		content string
		caption string
		rawKey  string
	}{
		{&waE2E.Message{Conversation: proto.String("hi")}, model.MessageText, "hi", "", ""},
		{&waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("see x"),
			ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String("Q")}}}, model.MessageText, "see x", "", "quotedMessageId"},
		{&waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("https://a.b"),
			MatchedText: proto.String("https://a.b")}}, model.MessageLink, "https://a.b", "", ""},
		{&waE2E.Message{ImageMessage: &waE2E.ImageMessage{URL: url, MediaKey: key, FileSHA256: sha, Caption: proto.String("pic")}},
			model.MessageImage, "", "pic", "mediaKey"},
		{&waE2E.Message{VideoMessage: &waE2E.VideoMessage{URL: url, Caption: proto.String("vid")}}, model.MessageVideo, "", "vid", "media"},
		{&waE2E.Message{AudioMessage: &waE2E.AudioMessage{URL: url}}, model.MessageAudio, "", "", "media"},
		{&waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{URL: url, FileName: proto.String("a.pdf")}}, model.MessageDocument, "", "", "a.pdf"},
		{&waE2E.Message{StickerMessage: &waE2E.StickerMessage{URL: url}}, model.MessageSticker, "", "", "media"},
		{&waE2E.Message{LocationMessage: &waE2E.LocationMessage{DegreesLatitude: proto.Float64(-6.2), DegreesLongitude: proto.Float64(106.8)}},
			model.MessageLocation, "-6.200000,106.800000", "", "location"},
		{&waE2E.Message{ContactMessage: &waE2E.ContactMessage{DisplayName: proto.String("Ani"), Vcard: proto.String("BEGIN:VCARD")}},
			model.MessageContact, "Ani", "", "BEGIN:VCARD"},
		{&waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{Text: proto.String("❤"), Key: &waCommon.MessageKey{ID: proto.String("OUT1")}}},
			model.MessageReaction, "❤", "", "OUT1"},
		{&waE2E.Message{PollCreationMessageV3: &waE2E.PollCreationMessage{Name: proto.String("Q?"),
			Options: []*waE2E.PollCreationMessage_Option{{OptionName: proto.String("a")}, {OptionName: proto.String("b")}}}},
			model.MessagePoll, "Q?: a / b", "", ""},
	}
	for _, c := range cases {
		got, ok := incomingMessage("s1", incoming(c.msg))
		if !ok || got.Type != string(c.kind) || got.MessageID != "IN1" || got.From != "6281200000009@s.whatsapp.net" ||
			got.FromName == nil || *got.FromName != "Budi" {
			t.Errorf("%s: got %+v, %v", c.kind, got, ok)
			continue
		}
		if deref(got.Content) != c.content || deref(got.Caption) != c.caption {
			t.Errorf("%s: content %q caption %q, want %q %q", c.kind, deref(got.Content), deref(got.Caption), c.content, c.caption)
		}
		if c.rawKey != "" && !strings.Contains(string(got.Raw), c.rawKey) {
			t.Errorf("%s: raw %s lacks %q", c.kind, got.Raw, c.rawKey)
		}
		if !json.Valid(got.Raw) {
			t.Errorf("%s: raw is not JSON", c.kind)
		}
	}
	img, _ := incomingMessage("s1", incoming(&waE2E.Message{ImageMessage: &waE2E.ImageMessage{URL: url}}))
	if img.MediaURL == nil || *img.MediaURL != *url {
		t.Errorf("image mediaUrl = %v", img.MediaURL)
	}
}

func TestIncomingMessage_SkipsWhatIsNotACustomersMessage(t *testing.T) {
	t.Parallel()
	fromMe := incoming(&waE2E.Message{Conversation: proto.String("mine")})
	fromMe.Info.IsFromMe = true
	status := incoming(&waE2E.Message{Conversation: proto.String("story")})
	status.Info.Chat = types.StatusBroadcastJID
	for name, evt := range map[string]*events.Message{
		"from me": fromMe, "status": status, "empty": incoming(nil),
		"protocol": incoming(&waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{}}),
	} {
		if got, ok := incomingMessage("s1", evt); ok {
			t.Errorf("%s: forwarded %+v", name, got)
		}
	}
}

func TestConnectionEvent_MapsStatusesAndReasons(t *testing.T) {
	t.Parallel()
	cases := []struct {
		evt       any
		status    model.SessionStatus
		reason    string
		loggedOut bool
		reconnect bool
	}{
		{&events.Disconnected{}, model.SessionReconnecting, "lost", false, true},
		{&events.LoggedOut{}, model.SessionDisconnected, "removed from the phone", true, false},
		{&events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureLoggedOut}, model.SessionDisconnected, "when connecting", true, false},
		{&events.StreamReplaced{}, model.SessionDisconnected, "stream replaced", false, false},
		{&events.TemporaryBan{Code: events.TempBanSentToTooManyPeople, Expire: time.Hour}, model.SessionError, "banned", false, false},
		{&events.ConnectFailure{Reason: events.ConnectFailureServiceUnavailable, Message: "busy"}, model.SessionError, "busy", false, false},
		{&events.ClientOutdated{}, model.SessionError, "outdated", false, false},
		{&events.CATRefreshError{Error: context.Canceled}, model.SessionError, "token", false, false},
	}
	for _, c := range cases {
		got, ok := connectionEvent(c.evt)
		if !ok || got.status != c.status || !strings.Contains(got.reason, c.reason) || got.loggedOut != c.loggedOut || got.reconnect != c.reconnect {
			t.Errorf("%T = %+v, %v", c.evt, got, ok)
		}
	}
	if _, ok := connectionEvent(&events.Connected{}); ok {
		t.Error("Connected is not a connection change to map here")
	}
}

func TestReconnectPolicy_DoublesWithJitterUpToACapThenGivesUp(t *testing.T) {
	t.Parallel()
	p := ReconnectPolicy{Min: time.Second, Max: 10 * time.Second, MaxAttempts: 6}.withDefaults()
	for _, jitter := range []float64{0, 0.999} {
		p.jitter = func() float64 { return jitter }
		prevHigh := time.Duration(0)
		for attempt := range 6 {
			d, ok := p.Delay(attempt)
			step := min(time.Second<<attempt, 10*time.Second)
			if !ok || d < step/2 || d > step {
				t.Errorf("jitter %v attempt %d: %v, %v; want within [%v, %v]", jitter, attempt, d, ok, step/2, step)
			}
			if jitter > 0 && d < prevHigh {
				t.Errorf("attempt %d waits less (%v) than the one before (%v)", attempt, d, prevHigh)
			}
			prevHigh = d
		}
	}
	if _, ok := p.Delay(6); ok {
		t.Error("the policy did not give up after MaxAttempts")
	}
	forever := ReconnectPolicy{MaxAttempts: -1}.withDefaults()
	if d, ok := forever.Delay(1000); !ok || d > DefaultReconnectMax {
		t.Errorf("unbounded policy at attempt 1000 = %v, %v", d, ok)
	}
}

func TestPacer_IdenticalCapForgetsAfterTheWindow(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 0)
	p := newPacer(Pacing{IdenticalLimit: 2, IdenticalWindow: time.Minute}.withDefaults())
	p.now = func() time.Time { return now }
	key := contentKey("text", "promo")
	for _, r := range []string{"a", "b", "a"} {
		if err := p.admit(key, r); err != nil {
			t.Fatalf("admit %s: %v", r, err)
		}
	}
	if err := p.admit(key, "c"); err == nil {
		t.Fatal("third recipient admitted")
	}
	if err := p.admit(contentKey("text", "promo2"), "c"); err != nil {
		t.Errorf("other content refused: %v", err)
	}
	now = now.Add(2 * time.Minute)
	if err := p.admit(key, "c"); err != nil {
		t.Errorf("after the window: %v", err)
	}
	if contentKey("ab", "c") == contentKey("a", "bc") {
		t.Error("content keys collide across part boundaries")
	}
}

// TestStart_RealWhatsAppOffline_FailsFastAndClearly checks what a worker without network
// does: the session fails within seconds with the cause, instead of hanging.
func TestStart_RealWhatsAppOffline_FailsFastAndClearly(t *testing.T) {
	t.Parallel()
	resolveCtx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if addrs, err := net.DefaultResolver.LookupHost(resolveCtx, "web.whatsapp.com"); err == nil && len(addrs) > 0 {
		t.Skip("web.whatsapp.com resolves: this machine is online, and tests never talk to WhatsApp")
	}
	e, rec := newTestEngine(t, "", nil)
	start := time.Now()
	if _, _, err := e.Start(t.Context(), "s1", "u", "n"); err != nil {
		t.Fatal(err)
	}
	ev := rec.waitStatus(t, "s1", model.SessionError, 1)
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("offline failure took %s", elapsed)
	}
	if ev.Reason == nil || !strings.Contains(*ev.Reason, "could not reach WhatsApp") || !strings.Contains(*ev.Reason, "web.whatsapp.com") {
		t.Errorf("offline reason = %v, want the cause named", ev.Reason)
	}
	if st, _ := e.Status(t.Context(), "s1"); st.Status != "failed" {
		t.Errorf("Status = %+v, want failed", st)
	}
}
