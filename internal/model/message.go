package model

import (
	"encoding/json"
	"time"
)

// Message is one WhatsApp message, sent or received.
type Message struct {
	ID           string           `json:"id"`
	SessionID    string           `json:"sessionId"`
	Direction    MessageDirection `json:"direction"`
	WAMessageID  *string          `json:"messageId"`
	From         *string          `json:"from"`
	To           *string          `json:"to"`
	Type         MessageType      `json:"type"`
	Content      *string          `json:"content"`
	MediaURL     *string          `json:"mediaUrl"`
	Filename     *string          `json:"filename"`
	Caption      *string          `json:"caption"`
	Payload      json.RawMessage  `json:"-"`
	Status       MessageStatus    `json:"status"`
	ErrorMessage *string          `json:"errorMessage"`
	Attempts     int              `json:"attempts"`
	ScheduledAt  *time.Time       `json:"scheduledAt"`
	SentAt       *time.Time       `json:"sentAt"`
	DeliveredAt  *time.Time       `json:"deliveredAt"`
	ReadAt       *time.Time       `json:"readAt"`
	CreatedAt    time.Time        `json:"createdAt"`
}

// StatusRank orders delivery statuses; receipts only move a message forward.
func StatusRank(s MessageStatus) int {
	switch s {
	case MessageQueued:
		return 0
	case MessagePending:
		return 1
	case MessageSent:
		return 2
	case MessageDelivered:
		return 3
	case MessageRead:
		return 4
	default:
		return -1
	}
}
