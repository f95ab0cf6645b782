package waengine

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workerkit"
)

// messengerDouble records what the engine asks of WhatsApp. The Build* methods are
// whatsmeow's own (they only assemble protobufs); everything that would reach the network is
// recorded instead: sending needs a Signal peer the fake server does not have.
type messengerDouble struct {
	*whatsmeow.Client

	mu       sync.Mutex
	sent     []sentMessage
	uploads  []whatsmeow.MediaType
	reads    []types.MessageID
	presence []types.ChatPresence
	patches  []appstate.PatchInfo
	fail     error
}

type sentMessage struct {
	to  types.JID
	msg *waE2E.Message
}

func (m *messengerDouble) SendMessage(_ context.Context, to types.JID, msg *waE2E.Message, _ ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return whatsmeow.SendResponse{}, m.fail
	}
	m.sent = append(m.sent, sentMessage{to: to, msg: msg})
	return whatsmeow.SendResponse{ID: "3EB0" + strings.Repeat("A", len(m.sent)), Timestamp: time.Unix(1700000000, 0)}, nil
}

func (m *messengerDouble) Upload(_ context.Context, data []byte, kind whatsmeow.MediaType) (whatsmeow.UploadResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uploads = append(m.uploads, kind)
	return whatsmeow.UploadResponse{URL: "https://mmg.example/x", DirectPath: "/v/x", MediaKey: []byte{1},
		FileEncSHA256: []byte{2}, FileSHA256: []byte{3}, FileLength: uint64(len(data))}, nil
}

func (m *messengerDouble) MarkRead(_ context.Context, ids []types.MessageID, _ time.Time, _, _ types.JID, _ ...types.ReceiptType) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads = append(m.reads, ids...)
	return nil
}

func (m *messengerDouble) SendChatPresence(_ context.Context, _ types.JID, state types.ChatPresence, _ types.ChatPresenceMedia) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.presence = append(m.presence, state)
	return nil
}

func (m *messengerDouble) SendAppState(_ context.Context, patch appstate.PatchInfo) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.patches = append(m.patches, patch)
	return nil
}

func (m *messengerDouble) IsOnWhatsApp(_ context.Context, phones []string) ([]types.IsOnWhatsAppResponse, error) {
	user := strings.TrimPrefix(phones[0], "+")
	return []types.IsOnWhatsAppResponse{{Query: phones[0], IsIn: !strings.HasSuffix(user, "0000"),
		JID: types.NewJID(user, types.DefaultUserServer)}}, nil
}

func (m *messengerDouble) last() *waE2E.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sent[len(m.sent)-1].msg
}

// connectedDouble puts a connected session s1 whose WhatsApp is a messengerDouble into an
// engine on a fresh database.
func connectedDouble(t *testing.T, pacing Pacing) (*Engine, *messengerDouble) {
	t.Helper()
	e, _ := newTestEngine(t, "", nil)
	e.cfg.Pacing = pacing.withDefaults()
	e.cfg.AllowPrivateMedia = true
	e.cfg.MediaClient = http.DefaultClient
	double := &messengerDouble{Client: whatsmeow.NewClient(e.container.NewDevice(), nil)}
	s := e.newSession("s1", "u", "Shop")
	s.status, s.api = model.SessionConnected, double
	e.mu.Lock()
	e.sessions["s1"] = s
	e.mu.Unlock()
	return e, double
}

func ptr[T any](v T) *T { return &v }

func TestSend_EveryType_BuildsTheWhatsAppMessage(t *testing.T) {
	t.Parallel()
	media := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG\r\n\x1a\nfake"))
	}))
	t.Cleanup(media.Close)
	e, wa := connectedDouble(t, Pacing{Interval: -1, IdenticalLimit: -1})

	cases := []struct {
		req   protocol.SendRequest
		check func(*waE2E.Message) bool
	}{
		{textTo("+62 812-0000-0001", "hello"), func(m *waE2E.Message) bool { return m.GetConversation() == "hello" }},
		{protocol.SendRequest{Type: protocol.SendText, Message: ptr("re"), QuotedMessageID: ptr("Q1"), Mentions: []string{"6281200000002"}},
			func(m *waE2E.Message) bool {
				ci := m.GetExtendedTextMessage().GetContextInfo()
				return ci.GetStanzaID() == "Q1" && ci.GetMentionedJID()[0] == "6281200000002@s.whatsapp.net"
			}},
		{protocol.SendRequest{Type: protocol.SendImage, MediaURL: ptr(media.URL + "/a.png"), Caption: ptr("look")},
			func(m *waE2E.Message) bool {
				img := m.GetImageMessage()
				return img.GetCaption() == "look" && img.GetMimetype() == "image/png" && img.GetDirectPath() == "/v/x"
			}},
		{protocol.SendRequest{Type: protocol.SendVideo, MediaURL: ptr(media.URL + "/v.mp4")},
			func(m *waE2E.Message) bool { return m.GetVideoMessage().GetFileLength() > 0 }},
		{protocol.SendRequest{Type: protocol.SendAudio, MediaURL: ptr(media.URL + "/a.ogg")},
			func(m *waE2E.Message) bool { return m.GetAudioMessage() != nil }},
		{protocol.SendRequest{Type: protocol.SendDocument, MediaURL: ptr(media.URL + "/files/report.pdf?x=1")},
			func(m *waE2E.Message) bool { return m.GetDocumentMessage().GetFileName() == "report.pdf" }},
		{protocol.SendRequest{Type: protocol.SendLocation, Location: &protocol.Location{Latitude: -6.2, Longitude: 106.8, Name: ptr("Monas")}},
			func(m *waE2E.Message) bool {
				return m.GetLocationMessage().GetDegreesLatitude() == -6.2 && m.GetLocationMessage().GetName() == "Monas"
			}},
		{protocol.SendRequest{Type: protocol.SendContact, Contact: &protocol.Contact{Name: "Budi; Jr", Phone: "+62 812 1", Email: ptr("b@x.id"), Organization: ptr("Toko")}},
			func(m *waE2E.Message) bool {
				v := m.GetContactMessage().GetVcard()
				return strings.Contains(v, "FN:Budi\\; Jr") && strings.Contains(v, "waid=628121:+628121") &&
					strings.Contains(v, "ORG:Toko") && strings.Contains(v, "EMAIL:b@x.id")
			}},
		{protocol.SendRequest{Type: protocol.SendLink, Message: ptr("see https://example.com/p now")},
			func(m *waE2E.Message) bool {
				return m.GetExtendedTextMessage().GetMatchedText() == "https://example.com/p"
			}},
		{protocol.SendRequest{Type: protocol.SendLink, Link: &protocol.Link{URL: "https://example.com", Title: ptr("Ex")}},
			func(m *waE2E.Message) bool {
				ext := m.GetExtendedTextMessage()
				return ext.GetText() == "https://example.com" && ext.GetTitle() == "Ex"
			}},
		{protocol.SendRequest{Type: protocol.SendPoll, Poll: &protocol.Poll{Name: "Lunch?", Options: []string{"Rice", "Noodles"}, SelectableCount: 5}},
			func(m *waE2E.Message) bool {
				p := m.GetPollCreationMessage()
				return p.GetName() == "Lunch?" && len(p.GetOptions()) == 2 && p.GetSelectableOptionsCount() == 1
			}},
	}
	for i, c := range cases {
		if c.req.To == "" {
			c.req.To = "6281200000001"
		}
		res, err := e.Send(t.Context(), "s1", c.req)
		if err != nil {
			t.Errorf("case %d (%s): %v", i, c.req.Type, err)
			continue
		}
		if res.MessageID == "" || res.To != "6281200000001@s.whatsapp.net" || res.Status != "sent" {
			t.Errorf("case %d (%s): result %+v", i, c.req.Type, res)
		}
		if !c.check(wa.last()) {
			t.Errorf("case %d (%s): message %v", i, c.req.Type, wa.last())
		}
	}
	if len(wa.uploads) != 4 {
		t.Errorf("uploads = %v, want the four media sends", wa.uploads)
	}

	if _, err := e.Send(t.Context(), "s1", protocol.SendRequest{To: "6281200000001", Type: protocol.SendImage,
		MediaURL: ptr(media.URL + "/missing")}); !errors.Is(err, workerkit.ErrInvalid) {
		t.Errorf("send of a missing media = %v, want ErrInvalid", err)
	}
	if _, err := e.Send(t.Context(), "s1", textTo("not-a-number", "x")); !errors.Is(err, workerkit.ErrInvalid) {
		t.Errorf("send to a bad recipient = %v, want ErrInvalid", err)
	}
}

func TestSend_SeenAndTyping_SendNoMessage(t *testing.T) {
	t.Parallel()
	e, wa := connectedDouble(t, Pacing{})
	if _, err := e.Send(t.Context(), "s1", protocol.SendRequest{To: "6281200000001", Type: protocol.SendSeen, MessageID: ptr("M1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Send(t.Context(), "s1", protocol.SendRequest{To: "6281200000001", Type: protocol.SendSeen}); !errors.Is(err, workerkit.ErrInvalid) {
		t.Errorf("seen without messageId = %v, want ErrInvalid", err)
	}
	for _, typ := range []string{protocol.SendTypingStart, protocol.SendTypingStop} {
		if _, err := e.Send(t.Context(), "s1", protocol.SendRequest{To: "6281200000001", Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	if len(wa.sent) != 0 || len(wa.reads) != 1 || len(wa.presence) != 2 || wa.presence[1] != types.ChatPresencePaused {
		t.Errorf("sent %d, reads %v, presence %v", len(wa.sent), wa.reads, wa.presence)
	}
}

func TestSend_SameClientMessageID_SendsOnce(t *testing.T) {
	t.Parallel()
	e, wa := connectedDouble(t, Pacing{Interval: -1})
	req := textTo("6281200000001", "once")
	req.ClientMessageID = "client-1"
	first, err := e.Send(t.Context(), "s1", req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.Send(t.Context(), "s1", req)
	if err != nil || again.MessageID != first.MessageID || len(wa.sent) != 1 {
		t.Errorf("retry = %+v, %v with %d sends; want the first answer and one send", again, err, len(wa.sent))
	}
}

func TestSend_IdenticalContentToManyRecipients_IsCapped(t *testing.T) {
	t.Parallel()
	e, wa := connectedDouble(t, Pacing{Interval: -1, IdenticalLimit: 3})
	for i, to := range []string{"6281200000001", "6281200000002", "6281200000003", "6281200000001"} {
		if _, err := e.Send(t.Context(), "s1", textTo(to, "promo")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if _, err := e.Send(t.Context(), "s1", textTo("6281200000004", "promo")); !errors.Is(err, workerkit.ErrRateLimited) {
		t.Errorf("fourth recipient of the same text = %v, want ErrRateLimited", err)
	}
	if _, err := e.Send(t.Context(), "s1", textTo("6281200000004", "a personal note")); err != nil {
		t.Errorf("other content = %v, want sent", err)
	}
	if len(wa.sent) != 5 {
		t.Errorf("%d messages went out, want 5", len(wa.sent))
	}
}

func TestSend_Pacing_SpacesSendsOfOneNumber(t *testing.T) {
	t.Parallel()
	e, _ := connectedDouble(t, Pacing{Interval: 40 * time.Millisecond, Jitter: 1, MaxWait: 100 * time.Millisecond})
	start := time.Now()
	for i := range 3 {
		if _, err := e.Send(t.Context(), "s1", textTo("6281200000001", "n"+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	if elapsed := time.Since(start); elapsed < 80*time.Millisecond {
		t.Errorf("three sends took %s, want at least two intervals", elapsed)
	}
	// Slots further out than MaxWait are refused, not queued.
	var refused error
	for i := range 10 {
		if _, err := e.Send(t.Context(), "s1", textTo("6281200000001", "m"+string(rune('a'+i)))); err != nil {
			refused = err
			break
		}
	}
	if !errors.Is(refused, workerkit.ErrRateLimited) {
		t.Skipf("no send was refused (the machine was slow enough to drain the queue): %v", refused)
	}
}

func TestManage_Actions(t *testing.T) {
	t.Parallel()
	e, wa := connectedDouble(t, Pacing{Interval: -1})
	own, err := e.Send(t.Context(), "s1", textTo("6281200000001", "typo"))
	if err != nil {
		t.Fatal(err)
	}
	manage := func(action, id string, mutate func(*protocol.ManageRequest)) error {
		req := protocol.ManageRequest{Action: action, MessageID: id, Phone: "6281200000001"}
		if mutate != nil {
			mutate(&req)
		}
		res, err := e.Manage(t.Context(), "s1", req)
		if err == nil && (!res.Success || res.Action != action) {
			t.Errorf("%s answered %+v", action, res)
		}
		return err
	}
	if err := manage(protocol.ActionEdit, own.MessageID, func(r *protocol.ManageRequest) { r.NewText = ptr("fixed") }); err != nil {
		t.Fatal(err)
	}
	if got := wa.last().GetEditedMessage().GetMessage().GetProtocolMessage().GetEditedMessage().GetConversation(); got != "fixed" {
		t.Errorf("edit sent %v", wa.last())
	}
	if err := manage(protocol.ActionEdit, "THEIRS", func(r *protocol.ManageRequest) { r.NewText = ptr("x") }); !errors.Is(err, workerkit.ErrInvalid) {
		t.Errorf("edit of a received message = %v, want ErrInvalid", err)
	}
	if err := manage(protocol.ActionReaction, "THEIRS", func(r *protocol.ManageRequest) { r.Emoji = ptr("👍") }); err != nil {
		t.Fatal(err)
	}
	if r := wa.last().GetReactionMessage(); r.GetText() != "👍" || r.GetKey().GetFromMe() {
		t.Errorf("reaction sent %v, want 👍 on their message", wa.last())
	}
	if err := manage(protocol.ActionUnsend, own.MessageID, nil); err != nil {
		t.Fatal(err)
	}
	if k := wa.last().GetProtocolMessage().GetKey(); k.GetID() != own.MessageID || !k.GetFromMe() {
		t.Errorf("revoke sent %v", wa.last())
	}
	if err := manage(protocol.ActionDelete, own.MessageID, func(r *protocol.ManageRequest) { r.ForEveryone = ptr(false) }); !errors.Is(err, workerkit.ErrNotSupported) {
		t.Errorf("delete for me = %v, want ErrNotSupported", err)
	}
	if err := manage(protocol.ActionRead, "THEIRS", nil); err != nil || len(wa.reads) != 1 {
		t.Errorf("read = %v, reads %v", err, wa.reads)
	}
	for _, action := range []string{protocol.ActionStar, protocol.ActionUnstar} {
		if err := manage(action, own.MessageID, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(wa.patches) != 2 {
		t.Errorf("app state patches = %d, want 2", len(wa.patches))
	}
	if err := manage("archive", own.MessageID, nil); !errors.Is(err, workerkit.ErrInvalid) {
		t.Errorf("unknown action = %v", err)
	}
	wa.fail = errors.New("boom")
	if err := manage(protocol.ActionUnsend, own.MessageID, nil); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("failing revoke = %v", err)
	}
	if _, err := e.Manage(t.Context(), "nope", protocol.ManageRequest{Action: protocol.ActionRead}); !errors.Is(err, workerkit.ErrSessionNotFound) {
		t.Errorf("unknown session = %v", err)
	}
}

func TestCheckNumber(t *testing.T) {
	t.Parallel()
	e, _ := connectedDouble(t, Pacing{})
	res, err := e.CheckNumber(t.Context(), "s1", "6281200000001")
	if err != nil || !res.Exists || res.JID != "6281200000001@s.whatsapp.net" {
		t.Errorf("CheckNumber = %+v, %v", res, err)
	}
	if res, _ := e.CheckNumber(t.Context(), "s1", "6281200000000"); res.Exists || res.JID != "" {
		t.Errorf("CheckNumber of an unknown number = %+v", res)
	}
}

func TestParseRecipient(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"6281234567890":                "6281234567890@s.whatsapp.net",
		"+62 (812) 3456-7890":          "6281234567890@s.whatsapp.net",
		"6281234567890@s.whatsapp.net": "6281234567890@s.whatsapp.net",
		"120363025246125486@g.us":      "120363025246125486@g.us",
	}
	for in, want := range cases {
		if got, err := parseRecipient(in); err != nil || got.String() != want {
			t.Errorf("parseRecipient(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "12345", "6281x", "@g.us", "1234567890123456"} {
		if _, err := parseRecipient(bad); !errors.Is(err, workerkit.ErrInvalid) {
			t.Errorf("parseRecipient(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestFetchMedia_TooLarge_IsRefused(t *testing.T) {
	t.Parallel()
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(make([]byte, 2048))
	}))
	t.Cleanup(big.Close)
	e := &Engine{cfg: Config{MediaClient: http.DefaultClient, MaxMediaSize: 1024}}
	if _, _, err := e.fetchMedia(t.Context(), big.URL); !errors.Is(err, workerkit.ErrInvalid) {
		t.Errorf("fetch of 2 KiB with a 1 KiB cap = %v, want ErrInvalid", err)
	}
	e.cfg.MaxMediaSize = 4096
	data, mimetype, err := e.fetchMedia(t.Context(), big.URL)
	if err != nil || len(data) != 2048 || mimetype != "application/octet-stream" {
		t.Errorf("fetch = %d bytes %q, %v", len(data), mimetype, err)
	}
}
