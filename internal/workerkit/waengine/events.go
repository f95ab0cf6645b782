package waengine

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
)

// This file turns whatsmeow's events into the worker protocol's, as plain functions.

// receiptStatus maps a receipt type to a message status. Receipts our own other devices send
// (read-self, sender) and retry requests are not about delivery; ok is false for them.
func receiptStatus(t types.ReceiptType) (status string, ok bool) {
	switch t {
	case types.ReceiptTypeDelivered:
		return "DELIVERED", true
	case types.ReceiptTypeRead:
		return "READ", true
	case types.ReceiptTypePlayed:
		// A voice note or video was played: it was read, the protocol has nothing further.
		return "READ", true
	case types.ReceiptTypeServerError:
		return "FAILED", true
	}
	return "", false
}

// messageStatuses turns a receipt into one message-status event per message it covers.
func messageStatuses(sessionID string, r *events.Receipt) []protocol.MessageStatusEvent {
	status, ok := receiptStatus(r.Type)
	if !ok || r.IsFromMe {
		// IsFromMe: we are the one who read someone else's message, on another device.
		return nil
	}
	at := protocol.At(r.Timestamp)
	out := make([]protocol.MessageStatusEvent, 0, len(r.MessageIDs))
	for _, id := range r.MessageIDs {
		ev := protocol.MessageStatusEvent{SessionID: sessionID, MessageID: id, Status: status, Timestamp: at}
		switch status {
		case "DELIVERED":
			ev.DeliveredAt = at
		case "READ":
			ev.ReadAt = at
		case "FAILED":
			reason := "WhatsApp could not deliver the message (server error receipt)"
			ev.ErrorMessage = &reason
		}
		out = append(out, ev)
	}
	return out
}

// mediaReference is how an incoming attachment can be fetched later: WhatsApp media is
// encrypted on its CDN, so the URL alone is not enough; with these fields
// whatsmeow.DownloadMediaWithPath (or any WhatsApp client) decrypts it.
type mediaReference struct {
	URL           string `json:"url,omitempty"`
	DirectPath    string `json:"directPath"`
	MediaKey      string `json:"mediaKey"`
	FileSHA256    string `json:"fileSha256"`
	FileEncSHA256 string `json:"fileEncSha256"`
	FileLength    uint64 `json:"fileLength"`
	Mimetype      string `json:"mimetype,omitempty"`
	MediaType     string `json:"mediaType"`
	Filename      string `json:"filename,omitempty"`
}

// downloadable is what every WhatsApp media message has.
type downloadable interface {
	GetURL() string
	GetDirectPath() string
	GetMediaKey() []byte
	GetFileSHA256() []byte
	GetFileEncSHA256() []byte
	GetFileLength() uint64
	GetMimetype() string
}

func referenceOf(m downloadable, mediaType string) *mediaReference {
	b64 := base64.StdEncoding.EncodeToString
	return &mediaReference{
		URL: m.GetURL(), DirectPath: m.GetDirectPath(), MediaKey: b64(m.GetMediaKey()),
		FileSHA256: b64(m.GetFileSHA256()), FileEncSHA256: b64(m.GetFileEncSHA256()),
		FileLength: m.GetFileLength(), Mimetype: m.GetMimetype(), MediaType: mediaType,
	}
}

// incomingRaw is the "raw" object of an incoming message: what the flat fields cannot carry.
type incomingRaw struct {
	Chat      string          `json:"chat"`
	Sender    string          `json:"sender"`
	IsGroup   bool            `json:"isGroup"`
	Media     *mediaReference `json:"media,omitempty"`
	Location  *rawLocation    `json:"location,omitempty"`
	Contact   *rawContact     `json:"contact,omitempty"`
	Reaction  *rawReaction    `json:"reaction,omitempty"`
	QuotedID  string          `json:"quotedMessageId,omitempty"`
	Edited    bool            `json:"edited,omitempty"`
	Ephemeral bool            `json:"ephemeral,omitempty"`
	ViewOnce  bool            `json:"viewOnce,omitempty"`
}

type rawLocation struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
}

type rawContact struct {
	DisplayName string `json:"displayName"`
	VCard       string `json:"vcard"`
}

type rawReaction struct {
	MessageID string `json:"messageId"`
	Emoji     string `json:"emoji"` // empty: the reaction was removed
}

// incomingMessage turns a received message into the protocol's. ok is false for what is not
// a customer's message: our own sends echoed from other devices, status updates, protocol
// messages (revokes, key shares) and anything without content.
func incomingMessage(sessionID string, evt *events.Message) (protocol.IncomingMessage, bool) {
	info := evt.Info
	if info.IsFromMe || info.Chat.Server == types.BroadcastServer || evt.Message == nil {
		return protocol.IncomingMessage{}, false
	}
	raw := incomingRaw{
		Chat: info.Chat.String(), Sender: info.Sender.ToNonAD().String(), IsGroup: info.IsGroup,
		Edited: evt.IsEdit, Ephemeral: evt.IsEphemeral, ViewOnce: evt.IsViewOnce,
	}
	msg := protocol.IncomingMessage{
		SessionID: sessionID,
		MessageID: info.ID,
		From:      info.Sender.ToNonAD().String(),
		Timestamp: protocol.At(info.Timestamp),
	}
	if info.PushName != "" {
		name := info.PushName
		msg.FromName = &name
	}
	text := func(s string) *string { return &s }
	m := evt.Message
	var kind model.MessageType
	switch {
	case m.GetConversation() != "":
		kind, msg.Content = model.MessageText, text(m.GetConversation())
	case m.GetExtendedTextMessage() != nil:
		ext := m.GetExtendedTextMessage()
		kind, msg.Content = model.MessageText, text(ext.GetText())
		if ext.GetMatchedText() != "" {
			kind = model.MessageLink
		}
		raw.QuotedID = ext.GetContextInfo().GetStanzaID()
	case m.GetImageMessage() != nil:
		img := m.GetImageMessage()
		kind, raw.Media = model.MessageImage, referenceOf(img, "image")
		msg.Caption = optional(img.GetCaption())
	case m.GetVideoMessage() != nil:
		vid := m.GetVideoMessage()
		kind, raw.Media = model.MessageVideo, referenceOf(vid, "video")
		msg.Caption = optional(vid.GetCaption())
	case m.GetAudioMessage() != nil:
		kind, raw.Media = model.MessageAudio, referenceOf(m.GetAudioMessage(), "audio")
	case m.GetDocumentMessage() != nil:
		doc := m.GetDocumentMessage()
		kind, raw.Media = model.MessageDocument, referenceOf(doc, "document")
		raw.Media.Filename = doc.GetFileName()
		msg.Caption = optional(doc.GetCaption())
	case m.GetStickerMessage() != nil:
		kind, raw.Media = model.MessageSticker, referenceOf(m.GetStickerMessage(), "image")
	case m.GetLocationMessage() != nil:
		loc := m.GetLocationMessage()
		kind = model.MessageLocation
		raw.Location = &rawLocation{Latitude: loc.GetDegreesLatitude(), Longitude: loc.GetDegreesLongitude(),
			Name: loc.GetName(), Address: loc.GetAddress()}
		msg.Content = text(fmt.Sprintf("%.6f,%.6f", loc.GetDegreesLatitude(), loc.GetDegreesLongitude()))
	case m.GetContactMessage() != nil:
		c := m.GetContactMessage()
		kind = model.MessageContact
		raw.Contact = &rawContact{DisplayName: c.GetDisplayName(), VCard: c.GetVcard()}
		msg.Content = text(c.GetDisplayName())
	case m.GetReactionMessage() != nil:
		r := m.GetReactionMessage()
		kind = model.MessageReaction
		raw.Reaction = &rawReaction{MessageID: r.GetKey().GetID(), Emoji: r.GetText()}
		msg.Content = text(r.GetText())
	case m.GetPollCreationMessage() != nil || m.GetPollCreationMessageV3() != nil:
		kind = model.MessagePoll
		poll := m.GetPollCreationMessage()
		if poll == nil {
			poll = m.GetPollCreationMessageV3()
		}
		msg.Content = text(pollText(poll))
	default:
		return protocol.IncomingMessage{}, false
	}
	msg.Type = string(kind)
	if raw.Media != nil && raw.Media.URL != "" {
		msg.MediaURL = &raw.Media.URL
	}
	if b, err := json.Marshal(raw); err == nil {
		msg.Raw = b
	}
	return msg, true
}

func pollText(poll *waE2E.PollCreationMessage) string {
	options := make([]string, 0, len(poll.GetOptions()))
	for _, o := range poll.GetOptions() {
		options = append(options, o.GetOptionName())
	}
	return poll.GetName() + ": " + strings.Join(options, " / ")
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// connectionChange is what a whatsmeow connection event means for a session.
type connectionChange struct {
	status    model.SessionStatus
	reason    string
	loggedOut bool // the credentials are gone
	fromPhone bool // the user removed the device on the phone
	reconnect bool // our reconnect policy should try again
}

// connectionEvent maps whatsmeow's connection events. ok is false for other events.
func connectionEvent(evt any) (change connectionChange, ok bool) {
	switch e := evt.(type) {
	case *events.Disconnected:
		return connectionChange{status: model.SessionReconnecting, reason: "connection to WhatsApp lost", reconnect: true}, true
	case *events.LoggedOut:
		reason := "logged out: the device was removed from the phone"
		if e.OnConnect {
			reason = "logged out by WhatsApp when connecting (" + e.Reason.String() + ")"
		}
		return connectionChange{status: model.SessionDisconnected, reason: reason, loggedOut: true,
			fromPhone: !e.OnConnect || e.Reason == events.ConnectFailureLoggedOut}, true
	case *events.StreamReplaced:
		return connectionChange{status: model.SessionDisconnected,
			reason: "stream replaced: the same credentials connected from somewhere else"}, true
	case *events.TemporaryBan:
		return connectionChange{status: model.SessionError, reason: "temporarily banned by WhatsApp: " + e.String()}, true
	case *events.ConnectFailure:
		return connectionChange{status: model.SessionError,
			reason: strings.TrimSpace("WhatsApp refused the connection (" + e.Reason.String() + ") " + e.Message)}, true
	case *events.ClientOutdated:
		return connectionChange{status: model.SessionError,
			reason: "WhatsApp says this client version is outdated: update the worker"}, true
	case *events.CATRefreshError:
		return connectionChange{status: model.SessionError, reason: "could not refresh the connection token: " + e.Error.Error()}, true
	}
	return connectionChange{}, false
}
