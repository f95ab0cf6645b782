package waengine

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workerkit"
)

// messenger is what sends and message actions need of a whatsmeow client. Sending needs a
// Signal peer on the other side, which the fake server of the tests does not have, so the
// tests put a double here; *whatsmeow.Client is the real one.
type messenger interface {
	SendMessage(ctx context.Context, to types.JID, message *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error)
	Upload(ctx context.Context, plaintext []byte, appInfo whatsmeow.MediaType) (whatsmeow.UploadResponse, error)
	BuildPollCreation(name string, optionNames []string, selectableOptionCount int) *waE2E.Message
	BuildRevoke(chat, sender types.JID, id types.MessageID) *waE2E.Message
	BuildReaction(chat, sender types.JID, id types.MessageID, reaction string) *waE2E.Message
	BuildEdit(chat types.JID, id types.MessageID, newContent *waE2E.Message) *waE2E.Message
	MarkRead(ctx context.Context, ids []types.MessageID, timestamp time.Time, chat, sender types.JID, receiptTypeExtra ...types.ReceiptType) error
	SendChatPresence(ctx context.Context, jid types.JID, state types.ChatPresence, media types.ChatPresenceMedia) error
	SendAppState(ctx context.Context, patch appstate.PatchInfo) error
	IsOnWhatsApp(ctx context.Context, phones []string) ([]types.IsOnWhatsAppResponse, error)
}

var _ messenger = (*whatsmeow.Client)(nil)

// Send implements workerkit.Engine. A send takes the number's next pacing slot, and a
// content already sent to many recipients is refused (429) before anything goes out.
func (e *Engine) Send(ctx context.Context, sessionID string, req protocol.SendRequest) (protocol.SendResult, error) {
	if req.ClientMessageID != "" {
		if res, ok := e.sent.get(dedupKey(sessionID, req.ClientMessageID)); ok {
			return res, nil
		}
	}
	e.mu.Lock()
	s, err := e.sessionLocked(sessionID, true)
	if err != nil {
		e.mu.Unlock()
		return protocol.SendResult{}, err
	}
	api, pacer, ownIDs := s.api, s.pacer, s.ownIDs
	e.mu.Unlock()

	to, err := parseRecipient(req.To)
	if err != nil {
		return protocol.SendResult{}, err
	}
	res := protocol.SendResult{Status: "sent", Type: req.Type, To: to.String()}
	switch req.Type {
	case protocol.SendSeen:
		if req.MessageID == nil || *req.MessageID == "" {
			return res, fmt.Errorf("%w: seen needs messageId", workerkit.ErrInvalid)
		}
		if err := api.MarkRead(ctx, []types.MessageID{*req.MessageID}, time.Now(), to, to); err != nil {
			return res, fmt.Errorf("mark read: %w", err)
		}
		res.MessageID, res.Timestamp = *req.MessageID, protocol.At(time.Now())
		return res, nil
	case protocol.SendTypingStart, protocol.SendTypingStop:
		state := types.ChatPresenceComposing
		if req.Type == protocol.SendTypingStop {
			state = types.ChatPresencePaused
		}
		if err := api.SendChatPresence(ctx, to, state, types.ChatPresenceMediaText); err != nil {
			return res, fmt.Errorf("send typing state: %w", err)
		}
		res.Timestamp = protocol.At(time.Now())
		return res, nil
	}

	if err := pacer.admit(sendContentKey(req), to.ToNonAD().String()); err != nil {
		return res, err
	}
	msg, err := e.buildMessage(ctx, api, req)
	if err != nil {
		return res, err
	}
	if err := pacer.wait(ctx); err != nil {
		return res, err
	}
	sent, err := api.SendMessage(ctx, to, msg)
	if err != nil {
		return res, fmt.Errorf("send %s message: %w", req.Type, err)
	}
	res.MessageID, res.Timestamp = sent.ID, protocol.At(sent.Timestamp)
	ownIDs.put(sent.ID, struct{}{})
	if req.ClientMessageID != "" {
		e.sent.put(dedupKey(sessionID, req.ClientMessageID), res)
	}
	e.mu.Lock()
	s.lastActivity = time.Now()
	e.mu.Unlock()
	return res, nil
}

// sendContentKey is what the identical-message cap compares: the content without the
// recipient.
func sendContentKey(req protocol.SendRequest) [32]byte {
	parts := []string{req.Type, deref(req.Message), deref(req.MediaURL), deref(req.Caption)}
	if req.Location != nil {
		parts = append(parts, fmt.Sprint(req.Location.Latitude, req.Location.Longitude))
	}
	if req.Contact != nil {
		parts = append(parts, req.Contact.Name, req.Contact.Phone)
	}
	if req.Poll != nil {
		parts = append(parts, req.Poll.Name, strings.Join(req.Poll.Options, "\x00"))
	}
	if req.Link != nil {
		parts = append(parts, req.Link.URL)
	}
	return contentKey(parts...)
}

// buildMessage turns a send into a WhatsApp message; media is downloaded from mediaUrl and
// uploaded (encrypted) to WhatsApp first.
func (e *Engine) buildMessage(ctx context.Context, api messenger, req protocol.SendRequest) (*waE2E.Message, error) {
	switch req.Type {
	case protocol.SendText:
		if req.QuotedMessageID == nil && len(req.Mentions) == 0 {
			return &waE2E.Message{Conversation: req.Message}, nil
		}
		return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text: req.Message, ContextInfo: contextInfo(req)}}, nil
	case protocol.SendImage, protocol.SendVideo, protocol.SendAudio, protocol.SendDocument:
		return e.buildMedia(ctx, api, req)
	case protocol.SendLocation:
		loc := req.Location
		return &waE2E.Message{LocationMessage: &waE2E.LocationMessage{
			DegreesLatitude: proto.Float64(loc.Latitude), DegreesLongitude: proto.Float64(loc.Longitude),
			Name: loc.Name, Address: loc.Address}}, nil
	case protocol.SendContact:
		return &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
			DisplayName: proto.String(req.Contact.Name), Vcard: proto.String(vCard(*req.Contact))}}, nil
	case protocol.SendLink:
		link := req.Link
		if link == nil {
			link = &protocol.Link{URL: firstURL(deref(req.Message))}
		}
		text := deref(req.Message)
		if text == "" {
			text = link.URL
		} else if !strings.Contains(text, link.URL) {
			text += "\n" + link.URL
		}
		return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text: proto.String(text), MatchedText: proto.String(link.URL), Title: link.Title,
			Description: link.Description, ContextInfo: contextInfo(req)}}, nil
	case protocol.SendPoll:
		selectable := req.Poll.SelectableCount
		if selectable <= 0 || selectable > len(req.Poll.Options) {
			selectable = 1
		}
		return api.BuildPollCreation(req.Poll.Name, req.Poll.Options, selectable), nil
	}
	return nil, fmt.Errorf("%w: unknown message type %q", workerkit.ErrInvalid, req.Type)
}

func (e *Engine) buildMedia(ctx context.Context, api messenger, req protocol.SendRequest) (*waE2E.Message, error) {
	data, mimetype, err := e.fetchMedia(ctx, *req.MediaURL)
	if err != nil {
		return nil, err
	}
	kind := map[string]whatsmeow.MediaType{
		protocol.SendImage: whatsmeow.MediaImage, protocol.SendVideo: whatsmeow.MediaVideo,
		protocol.SendAudio: whatsmeow.MediaAudio, protocol.SendDocument: whatsmeow.MediaDocument,
	}[req.Type]
	up, err := api.Upload(ctx, data, kind)
	if err != nil {
		return nil, fmt.Errorf("upload %s to WhatsApp: %w", req.Type, err)
	}
	length := proto.Uint64(up.FileLength)
	ci := contextInfo(req)
	switch req.Type {
	case protocol.SendImage:
		return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{URL: &up.URL, DirectPath: &up.DirectPath,
			MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: length,
			Mimetype: proto.String(mimetype), Caption: req.Caption, ContextInfo: ci}}, nil
	case protocol.SendVideo:
		return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{URL: &up.URL, DirectPath: &up.DirectPath,
			MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: length,
			Mimetype: proto.String(mimetype), Caption: req.Caption, ContextInfo: ci}}, nil
	case protocol.SendAudio:
		return &waE2E.Message{AudioMessage: &waE2E.AudioMessage{URL: &up.URL, DirectPath: &up.DirectPath,
			MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: length,
			Mimetype: proto.String(mimetype), ContextInfo: ci}}, nil
	default:
		filename := deref(req.Filename)
		if filename == "" {
			filename = path.Base(strings.SplitN(*req.MediaURL, "?", 2)[0])
		}
		return &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{URL: &up.URL, DirectPath: &up.DirectPath,
			MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: length,
			Mimetype: proto.String(mimetype), FileName: proto.String(filename), Title: proto.String(filename),
			Caption: req.Caption, ContextInfo: ci}}, nil
	}
}

// fetchMedia downloads a send's mediaUrl, bounded in size.
func (e *Engine) fetchMedia(ctx context.Context, rawURL string) (data []byte, mimetype string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("%w: mediaUrl: %w", workerkit.ErrInvalid, err)
	}
	resp, err := e.cfg.MediaClient.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%w: download mediaUrl: %w", workerkit.ErrInvalid, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("%w: download mediaUrl: answered %s", workerkit.ErrInvalid, resp.Status)
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, e.cfg.MaxMediaSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("download mediaUrl: %w", err)
	}
	if int64(len(data)) > e.cfg.MaxMediaSize {
		return nil, "", fmt.Errorf("%w: media is larger than %d bytes", workerkit.ErrInvalid, e.cfg.MaxMediaSize)
	}
	mimetype = strings.TrimSpace(strings.Split(resp.Header.Get("Content-Type"), ";")[0])
	if mimetype == "" || mimetype == "application/octet-stream" {
		mimetype = http.DetectContentType(data)
	}
	return data, mimetype, nil
}

func contextInfo(req protocol.SendRequest) *waE2E.ContextInfo {
	if req.QuotedMessageID == nil && len(req.Mentions) == 0 {
		return nil
	}
	ci := &waE2E.ContextInfo{StanzaID: req.QuotedMessageID}
	for _, m := range req.Mentions {
		if jid, err := parseRecipient(m); err == nil {
			ci.MentionedJID = append(ci.MentionedJID, jid.String())
		}
	}
	return ci
}

// vCard writes a contact as vCard 3.0 with WhatsApp's waid, which makes the number tappable.
func vCard(c protocol.Contact) string {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, c.Phone)
	var b strings.Builder
	b.WriteString("BEGIN:VCARD\nVERSION:3.0\n")
	fmt.Fprintf(&b, "FN:%s\n", vCardEscape(c.Name))
	if c.Organization != nil && *c.Organization != "" {
		fmt.Fprintf(&b, "ORG:%s\n", vCardEscape(*c.Organization))
	}
	fmt.Fprintf(&b, "TEL;type=CELL;type=VOICE;waid=%s:+%s\n", digits, digits)
	if c.Email != nil && *c.Email != "" {
		fmt.Fprintf(&b, "EMAIL:%s\n", vCardEscape(*c.Email))
	}
	b.WriteString("END:VCARD")
	return b.String()
}

func vCardEscape(s string) string {
	return strings.NewReplacer("\\", "\\\\", "\n", "\\n", ",", "\\,", ";", "\\;").Replace(s)
}

func firstURL(text string) string {
	for _, word := range strings.Fields(text) {
		if strings.HasPrefix(word, "http://") || strings.HasPrefix(word, "https://") {
			return word
		}
	}
	return ""
}

// parseRecipient accepts a phone number in any common spelling or a JID (user, group).
func parseRecipient(to string) (types.JID, error) {
	to = strings.TrimSpace(to)
	if strings.Contains(to, "@") {
		jid, err := types.ParseJID(to)
		if err != nil || jid.User == "" {
			return types.JID{}, fmt.Errorf("%w: recipient %q is not a WhatsApp address", workerkit.ErrInvalid, to)
		}
		return jid, nil
	}
	var digits strings.Builder
	for _, r := range to {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case strings.ContainsRune("+ -().", r):
		default:
			return types.JID{}, fmt.Errorf("%w: recipient %q is not a phone number", workerkit.ErrInvalid, to)
		}
	}
	if n := digits.Len(); n < 7 || n > 15 {
		return types.JID{}, fmt.Errorf("%w: recipient %q must have 7 to 15 digits", workerkit.ErrInvalid, to)
	}
	return types.NewJID(digits.String(), types.DefaultUserServer), nil
}

// Manage implements workerkit.Engine.
func (e *Engine) Manage(ctx context.Context, sessionID string, req protocol.ManageRequest) (protocol.ManageResult, error) {
	e.mu.Lock()
	s, err := e.sessionLocked(sessionID, true)
	if err != nil {
		e.mu.Unlock()
		return protocol.ManageResult{}, err
	}
	api, ownIDs := s.api, s.ownIDs
	e.mu.Unlock()

	res := protocol.ManageResult{MessageID: req.MessageID, Action: req.Action}
	chat, err := parseRecipient(req.Phone)
	if err != nil {
		return res, err
	}
	_, fromMe := ownIDs.get(req.MessageID)
	// The sender of a message in a direct chat: us, or the contact.
	sender := chat
	if fromMe {
		sender = types.EmptyJID
	}
	switch req.Action {
	case protocol.ActionDelete, protocol.ActionUnsend:
		if req.Action == protocol.ActionDelete && req.ForEveryone != nil && !*req.ForEveryone {
			return res, fmt.Errorf("%w: deleting only for this device is not supported; use forEveryone", workerkit.ErrNotSupported)
		}
		_, err = api.SendMessage(ctx, chat, api.BuildRevoke(chat, sender, req.MessageID))
	case protocol.ActionReaction:
		_, err = api.SendMessage(ctx, chat, api.BuildReaction(chat, sender, req.MessageID, deref(req.Emoji)))
	case protocol.ActionEdit:
		if !fromMe {
			return res, fmt.Errorf("%w: only messages this session sent (since the worker started) can be edited", workerkit.ErrInvalid)
		}
		_, err = api.SendMessage(ctx, chat, api.BuildEdit(chat, req.MessageID, &waE2E.Message{Conversation: req.NewText}))
	case protocol.ActionRead:
		err = api.MarkRead(ctx, []types.MessageID{req.MessageID}, time.Now(), chat, chat)
	case protocol.ActionStar, protocol.ActionUnstar:
		err = api.SendAppState(ctx, appstate.BuildStar(chat, sender, req.MessageID, fromMe, req.Action == protocol.ActionStar))
	default:
		return res, fmt.Errorf("%w: unknown action %q", workerkit.ErrInvalid, req.Action)
	}
	if err != nil {
		return res, fmt.Errorf("%s message %s: %w", req.Action, req.MessageID, err)
	}
	res.Success = true
	return res, nil
}

// CheckNumber implements workerkit.Engine.
func (e *Engine) CheckNumber(ctx context.Context, sessionID, phone string) (protocol.CheckNumberResult, error) {
	e.mu.Lock()
	s, err := e.sessionLocked(sessionID, true)
	if err != nil {
		e.mu.Unlock()
		return protocol.CheckNumberResult{}, err
	}
	api := s.api
	e.mu.Unlock()
	found, err := api.IsOnWhatsApp(ctx, []string{"+" + strings.TrimPrefix(phone, "+")})
	if err != nil {
		return protocol.CheckNumberResult{}, fmt.Errorf("check number: %w", err)
	}
	res := protocol.CheckNumberResult{Phone: phone}
	if len(found) > 0 && found[0].IsIn {
		res.Exists, res.JID = true, found[0].JID.String()
	}
	return res, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// recent is a map that forgets its oldest keys past size.
type recent[V any] struct {
	mu    sync.Mutex
	size  int
	items map[string]V
	order []string
}

func newRecent[V any](size int) *recent[V] { return &recent[V]{size: size, items: map[string]V{}} }

func (r *recent[V]) get(key string) (V, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.items[key]
	return v, ok
}

func (r *recent[V]) put(key string, v V) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.items[key]; !ok {
		if len(r.order) >= r.size {
			delete(r.items, r.order[0])
			r.order = r.order[1:]
		}
		r.order = append(r.order, key)
	}
	r.items[key] = v
}

// dedupKey identifies a send by the backend's clientMessageId: a retried send answers the
// same and sends nothing.
func dedupKey(sessionID, clientMessageID string) string { return sessionID + "\x00" + clientMessageID }
