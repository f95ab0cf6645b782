package protocol

// WorkerHealth is a worker's GET /health answer (no envelope).
type WorkerHealth struct {
	Status    string             `json:"status"`
	WorkerID  string             `json:"workerId"`
	Endpoint  string             `json:"endpoint,omitempty"`
	Uptime    float64            `json:"uptime"`
	Timestamp *Timestamp         `json:"timestamp,omitempty"`
	Sessions  map[string]float64 `json:"sessions,omitempty"`
	Version   string             `json:"version,omitempty"`
}

// StartSessionRequest is POST /api/sessions/start.
type StartSessionRequest struct {
	SessionID   string `json:"sessionId"`
	UserID      string `json:"userId"`
	SessionName string `json:"sessionName"`
}

// SessionState is a worker's answer about one session (start, status, restart, disconnect,
// logout, delete). Status is the worker's lower-case spelling.
type SessionState struct {
	SessionID   string  `json:"sessionId"`
	Status      string  `json:"status"`
	QRCode      *string `json:"qrCode,omitempty"`
	PhoneNumber *string `json:"phoneNumber,omitempty"`
	DisplayName *string `json:"displayName,omitempty"`
	Message     string  `json:"message,omitempty"`
}

// QRResult is GET /api/sessions/{id}/qr.
type QRResult struct {
	QRCode string `json:"qrCode"`
}

// PairRequest is POST /api/sessions/{id}/pair.
type PairRequest struct {
	PhoneNumber string `json:"phoneNumber"`
}

// PairResult is the pairing code a worker returns.
type PairResult struct {
	PairingCode string `json:"pairingCode"`
}

// Location is the location of a location message.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      *string `json:"name,omitempty"`
	Address   *string `json:"address,omitempty"`
}

// Contact is the vCard of a contact message.
type Contact struct {
	Name         string  `json:"name"`
	Phone        string  `json:"phone"`
	Email        *string `json:"email,omitempty"`
	Organization *string `json:"organization,omitempty"`
}

// Poll is the question and options of a poll message.
type Poll struct {
	Name            string   `json:"name"`
	Options         []string `json:"options"`
	SelectableCount int      `json:"selectableCount,omitempty"`
}

// Link is the preview of a link message.
type Link struct {
	URL         string  `json:"url"`
	Title       *string `json:"title,omitempty"`
	Description *string `json:"description,omitempty"`
	Thumbnail   *string `json:"thumbnail,omitempty"`
}

// Send types, lower-case on the wire.
const (
	SendText        = "text"
	SendImage       = "image"
	SendDocument    = "document"
	SendAudio       = "audio"
	SendVideo       = "video"
	SendLocation    = "location"
	SendContact     = "contact"
	SendLink        = "link"
	SendPoll        = "poll"
	SendSeen        = "seen"
	SendTypingStart = "typing_start"
	SendTypingStop  = "typing_stop"
)

// SendRequest is POST /api/sessions/{id}/send.
type SendRequest struct {
	To              string    `json:"to"`
	Type            string    `json:"type"`
	Message         *string   `json:"message,omitempty"`
	MediaURL        *string   `json:"mediaUrl,omitempty"`
	Caption         *string   `json:"caption,omitempty"`
	Filename        *string   `json:"filename,omitempty"`
	Location        *Location `json:"location,omitempty"`
	Contact         *Contact  `json:"contact,omitempty"`
	Poll            *Poll     `json:"poll,omitempty"`
	Link            *Link     `json:"link,omitempty"`
	MessageID       *string   `json:"messageId,omitempty"` // the message to mark seen
	QuotedMessageID *string   `json:"quotedMessageId,omitempty"`
	Mentions        []string  `json:"mentions,omitempty"`
	// ClientMessageID is the backend's message ID, so a worker can deduplicate a retry.
	ClientMessageID string `json:"clientMessageId"`
}

// SendResult is a worker's answer to a send.
type SendResult struct {
	MessageID string     `json:"messageId"`
	Status    string     `json:"status"`
	Type      string     `json:"type"`
	To        string     `json:"to"`
	Timestamp *Timestamp `json:"timestamp,omitempty"`
}

// Message actions of POST /api/message/{sessionId}/manage.
const (
	ActionDelete   = "delete"
	ActionUnsend   = "unsend"
	ActionReaction = "reaction"
	ActionEdit     = "edit"
	ActionRead     = "read"
	ActionStar     = "star"
	ActionUnstar   = "unstar"
)

// ManageRequest is POST /api/message/{sessionId}/manage.
type ManageRequest struct {
	Action      string  `json:"action"`
	MessageID   string  `json:"messageId"`
	Phone       string  `json:"phone"`
	ForEveryone *bool   `json:"forEveryone,omitempty"`
	Emoji       *string `json:"emoji,omitempty"`
	NewText     *string `json:"newText,omitempty"`
}

// ManageResult is a worker's answer to a message action.
type ManageResult struct {
	MessageID string `json:"messageId"`
	Action    string `json:"action"`
	Success   bool   `json:"success"`
}

// CheckNumberRequest is POST /api/sessions/{id}/check-number.
type CheckNumberRequest struct {
	Phone string `json:"phone"`
}

// CheckNumberResult tells whether a number is on WhatsApp.
type CheckNumberResult struct {
	Phone  string `json:"phone"`
	Exists bool   `json:"exists"`
	JID    string `json:"jid"`
}
