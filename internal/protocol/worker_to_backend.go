package protocol

import (
	"encoding/json"
	"strings"
	"time"
)

// RegisterRequest is POST /workers/register.
type RegisterRequest struct {
	WorkerID    string  `json:"workerId"`
	Endpoint    string  `json:"endpoint"`
	MaxSessions *int    `json:"maxSessions,omitempty"`
	Description *string `json:"description,omitempty"`
	Version     *string `json:"version,omitempty"`
	Environment *string `json:"environment,omitempty"`
}

// RegisterResult is the data of the register answer.
type RegisterResult struct {
	WorkerID             string    `json:"workerId"`
	Endpoint             string    `json:"endpoint"`
	Status               string    `json:"status"`
	MaxSessions          int       `json:"maxSessions"`
	Version              *string   `json:"version"`
	Environment          string    `json:"environment"`
	RegisteredAt         time.Time `json:"registeredAt"`
	RecoveryRequired     bool      `json:"recoveryRequired"`
	AssignedSessionCount int       `json:"assignedSessionCount"`
	// WorkerToken is this worker's own credential; shown once per registration.
	WorkerToken string `json:"workerToken,omitempty"`
}

// HeartbeatSession is one session a worker reports in a heartbeat.
type HeartbeatSession struct {
	SessionID    string     `json:"sessionId"`
	Status       string     `json:"status"`
	PhoneNumber  *string    `json:"phoneNumber,omitempty"`
	DisplayName  *string    `json:"displayName,omitempty"`
	LastActivity *Timestamp `json:"lastActivity,omitempty"`
}

// HeartbeatMetrics are a worker's resource figures. Numbers are floats: workers send both.
type HeartbeatMetrics struct {
	CPUUsage       *float64 `json:"cpuUsage,omitempty"`
	MemoryUsage    *float64 `json:"memoryUsage,omitempty"`
	Uptime         *float64 `json:"uptime,omitempty"`
	MessageCount   *float64 `json:"messageCount,omitempty"`
	TotalSessions  *float64 `json:"totalSessions,omitempty"`
	ActiveSessions *float64 `json:"activeSessions,omitempty"`
}

// HeartbeatRequest is PUT /workers/{workerId}/heartbeat.
type HeartbeatRequest struct {
	Sessions     []HeartbeatSession `json:"sessions"`
	Metrics      *HeartbeatMetrics  `json:"metrics,omitempty"`
	LastActivity *Timestamp         `json:"lastActivity,omitempty"`
}

// HeartbeatResult is the data of the heartbeat answer.
type HeartbeatResult struct {
	WorkerID          string           `json:"workerId"`
	Status            string           `json:"status"`
	LastHeartbeat     time.Time        `json:"lastHeartbeat"`
	SessionCount      int              `json:"sessionCount"`
	SessionsProcessed int              `json:"sessionsProcessed"`
	SessionsSynced    int              `json:"sessionsSynced"`
	SessionsToStop    []string         `json:"sessionsToStop"`
	Metrics           HeartbeatMetrics `json:"metrics"`
}

// SessionEvent is POST /webhooks/session-status.
type SessionEvent struct {
	SessionID          string     `json:"sessionId"`
	Status             string     `json:"status"`
	QRCode             *string    `json:"qrCode,omitempty"`
	PhoneNumber        *string    `json:"phoneNumber,omitempty"`
	DisplayName        *string    `json:"displayName,omitempty"`
	WorkerID           *string    `json:"workerId,omitempty"`
	Timestamp          *Timestamp `json:"timestamp,omitempty"`
	Reason             *string    `json:"reason,omitempty"`
	LoggedOutAt        *Timestamp `json:"loggedOutAt,omitempty"`
	LoggedOutFromPhone *bool      `json:"loggedOutFromPhone,omitempty"`
}

// SessionEventResult is the data of the session-status answer.
type SessionEventResult struct {
	SessionID   string    `json:"sessionId"`
	Status      string    `json:"status"`
	PhoneNumber *string   `json:"phoneNumber"`
	DisplayName *string   `json:"displayName"`
	Applied     bool      `json:"applied"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// MessageStatusEvent is POST /webhooks/message-status.
type MessageStatusEvent struct {
	SessionID    string     `json:"sessionId"`
	MessageID    string     `json:"messageId"`
	Status       string     `json:"status"`
	Timestamp    *Timestamp `json:"timestamp,omitempty"`
	DeliveredAt  *Timestamp `json:"deliveredAt,omitempty"`
	ReadAt       *Timestamp `json:"readAt,omitempty"`
	ErrorMessage *string    `json:"errorMessage,omitempty"`
}

// IncomingMessage is POST /webhooks/message.
type IncomingMessage struct {
	SessionID string          `json:"sessionId"`
	MessageID string          `json:"messageId"`
	From      string          `json:"from"`
	FromName  *string         `json:"fromName,omitempty"`
	Type      string          `json:"type"`
	Content   *string         `json:"content,omitempty"`
	MediaURL  *string         `json:"mediaUrl,omitempty"`
	Caption   *string         `json:"caption,omitempty"`
	Timestamp *Timestamp      `json:"timestamp,omitempty"`
	Raw       json.RawMessage `json:"raw,omitempty"`
}

// LegacyHeartbeat is POST /webhooks/worker-heartbeat, the original's flat heartbeat.
type LegacyHeartbeat struct {
	WorkerID          string     `json:"workerId"`
	Status            string     `json:"status"`
	SessionCount      *float64   `json:"sessionCount,omitempty"`
	CPUUsage          *float64   `json:"cpuUsage,omitempty"`
	MemoryUsage       *float64   `json:"memoryUsage,omitempty"`
	Uptime            *float64   `json:"uptime,omitempty"`
	ActiveConnections *float64   `json:"activeConnections,omitempty"`
	Timestamp         *Timestamp `json:"timestamp,omitempty"`
}

// AssignedSession is one session placed on a worker, for recovery.
type AssignedSession struct {
	SessionID   string     `json:"sessionId"`
	UserID      string     `json:"userId"`
	SessionName string     `json:"sessionName"`
	PhoneNumber *string    `json:"phoneNumber"`
	Status      string     `json:"status"`
	UserEmail   string     `json:"userEmail"`
	UserTier    string     `json:"userTier"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
	LastSeenAt  *time.Time `json:"lastSeenAt"`
}

// AssignedSessions is the data of GET /workers/{workerId}/sessions/assigned.
type AssignedSessions struct {
	WorkerID     string            `json:"workerId"`
	SessionCount int               `json:"sessionCount"`
	Sessions     []AssignedSession `json:"sessions"`
	RetrievedAt  time.Time         `json:"retrievedAt"`
}

// RecoveryResult is the outcome of restoring one session.
type RecoveryResult struct {
	SessionID   string     `json:"sessionId"`
	Status      string     `json:"status"` // SUCCESS, FAILED or SKIPPED
	Error       *string    `json:"error,omitempty"`
	RecoveredAt *Timestamp `json:"recoveredAt,omitempty"`
}

// RecoverySummary holds the totals, at the top level or under "summary".
type RecoverySummary struct {
	TotalSessions        *float64 `json:"totalSessions,omitempty"`
	SuccessfulRecoveries *float64 `json:"successfulRecoveries,omitempty"`
	FailedRecoveries     *float64 `json:"failedRecoveries,omitempty"`
}

// RecoveryStatusRequest is POST /workers/{workerId}/sessions/recovery-status, in either shape.
type RecoveryStatusRequest struct {
	RecoverySummary
	Summary         *RecoverySummary `json:"summary,omitempty"`
	RecoveryResults []RecoveryResult `json:"recoveryResults"`
}

// Totals returns the summary from whichever shape the worker used.
func (r RecoveryStatusRequest) Totals() RecoverySummary {
	if r.Summary != nil {
		return *r.Summary
	}
	return r.RecoverySummary
}

// SessionRef is a session named either as a string or as an object {sessionId}.
type SessionRef string

// UnmarshalJSON accepts "s1" and {"sessionId": "s1"}.
func (s *SessionRef) UnmarshalJSON(b []byte) error {
	var id string
	if err := json.Unmarshal(b, &id); err == nil {
		*s = SessionRef(strings.TrimSpace(id))
		return nil
	}
	var obj struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	*s = SessionRef(strings.TrimSpace(obj.SessionID))
	return nil
}

// SessionsPreservedRequest is POST /workers/{workerId}/sessions-preserved.
type SessionsPreservedRequest struct {
	WorkerID          string       `json:"workerId"`
	PreservedSessions []SessionRef `json:"preservedSessions"`
	Timestamp         *Timestamp   `json:"timestamp,omitempty"`
}

// UnregisterRequest is DELETE /workers/unregister.
type UnregisterRequest struct {
	WorkerID string `json:"workerId"`
	Endpoint string `json:"endpoint"`
}
