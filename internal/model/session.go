package model

import "time"

// Session is a WhatsApp session of a user, placed on at most one worker.
type Session struct {
	ID           string        `json:"id"`
	UserID       string        `json:"userId"`
	WorkerID     *string       `json:"workerId"`
	Name         string        `json:"name"`
	DisplayName  *string       `json:"displayName"`
	PhoneNumber  *string       `json:"phoneNumber"`
	Status       SessionStatus `json:"status"`
	QRCode       *string       `json:"-"`
	QRUpdatedAt  *time.Time    `json:"-"`
	LastSeenAt   *time.Time    `json:"lastSeenAt"`
	LastEventAt  *time.Time    `json:"-"`
	StatusReason *string       `json:"statusReason"`
	CreatedAt    time.Time     `json:"createdAt"`
	UpdatedAt    time.Time     `json:"updatedAt"`
}
