package model

// UserRole is a user's role.
type UserRole string

// User roles.
const (
	RoleUser          UserRole = "USER"
	RoleAdministrator UserRole = "ADMINISTRATOR"
)

// UserTier is a user's plan; it sets the session and hourly limits.
type UserTier string

// User tiers.
const (
	TierBasic UserTier = "BASIC"
	TierPro   UserTier = "PRO"
	TierMax   UserTier = "MAX"
)

// Tiers lists every tier, lowest first.
var Tiers = []UserTier{TierBasic, TierPro, TierMax}

// TierLimits are the limits of one tier.
type TierLimits struct {
	Sessions        int `json:"sessions"`
	MessagesPerHour int `json:"messagesPerHour"`
	APICallsPerHour int `json:"apiCallsPerHour"`
}

// DefaultTierLimits are the limits of api.md's tier table.
func DefaultTierLimits() map[UserTier]TierLimits {
	return map[UserTier]TierLimits{
		TierBasic: {Sessions: 1, MessagesPerHour: 100, APICallsPerHour: 1000},
		TierPro:   {Sessions: 5, MessagesPerHour: 1000, APICallsPerHour: 10000},
		TierMax:   {Sessions: 20, MessagesPerHour: 10000, APICallsPerHour: 100000},
	}
}

// SessionStatus is the state of a WhatsApp session.
type SessionStatus string

// Session statuses.
const (
	SessionInit         SessionStatus = "INIT"
	SessionQRRequired   SessionStatus = "QR_REQUIRED"
	SessionConnected    SessionStatus = "CONNECTED"
	SessionDisconnected SessionStatus = "DISCONNECTED"
	SessionReconnecting SessionStatus = "RECONNECTING"
	SessionError        SessionStatus = "ERROR"
)

// WorkerStatus is the state of a worker.
type WorkerStatus string

// Worker statuses.
const (
	WorkerOnline      WorkerStatus = "ONLINE"
	WorkerOffline     WorkerStatus = "OFFLINE"
	WorkerMaintenance WorkerStatus = "MAINTENANCE"
)

// WorkerEnvironment is the deployment environment a worker reports.
type WorkerEnvironment string

// Worker environments.
const (
	EnvDevelopment WorkerEnvironment = "DEVELOPMENT"
	EnvStaging     WorkerEnvironment = "STAGING"
	EnvTesting     WorkerEnvironment = "TESTING"
	EnvProduction  WorkerEnvironment = "PRODUCTION"
)

// MessageDirection tells whether a message was sent or received.
type MessageDirection string

// Message directions.
const (
	DirectionInbound  MessageDirection = "INBOUND"
	DirectionOutbound MessageDirection = "OUTBOUND"
)

// MessageType is the kind of content of a message.
type MessageType string

// Message types.
const (
	MessageText     MessageType = "TEXT"
	MessageImage    MessageType = "IMAGE"
	MessageDocument MessageType = "DOCUMENT"
	MessageAudio    MessageType = "AUDIO"
	MessageVideo    MessageType = "VIDEO"
	MessageSticker  MessageType = "STICKER"
	MessageLocation MessageType = "LOCATION"
	MessageContact  MessageType = "CONTACT"
	MessageLink     MessageType = "LINK"
	MessagePoll     MessageType = "POLL"
	MessageReaction MessageType = "REACTION"
)

// MessageStatus is the delivery state of a message.
type MessageStatus string

// Message statuses.
const (
	MessageQueued    MessageStatus = "QUEUED"
	MessagePending   MessageStatus = "PENDING"
	MessageSent      MessageStatus = "SENT"
	MessageDelivered MessageStatus = "DELIVERED"
	MessageRead      MessageStatus = "READ"
	MessageFailed    MessageStatus = "FAILED"
	MessageCancelled MessageStatus = "CANCELLED"
)

// LogLevel is the level of a system log entry.
type LogLevel string

// Log levels.
const (
	LevelError LogLevel = "ERROR"
	LevelWarn  LogLevel = "WARN"
	LevelInfo  LogLevel = "INFO"
	LevelDebug LogLevel = "DEBUG"
)

// SessionStatuses lists every session status.
var SessionStatuses = []SessionStatus{SessionInit, SessionQRRequired, SessionConnected, SessionDisconnected, SessionReconnecting, SessionError}

// UserRoles lists every role.
var UserRoles = []UserRole{RoleUser, RoleAdministrator}
