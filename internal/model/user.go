package model

import "time"

// User is a dashboard account.
type User struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Email        string     `json:"email"`
	PasswordHash string     `json:"-"`
	Role         UserRole   `json:"role"`
	Tier         UserTier   `json:"tier"`
	IsActive     bool       `json:"isActive"`
	TokenVersion int        `json:"-"`
	LastLoginAt  *time.Time `json:"lastLoginAt"`
	CreatedAt    time.Time  `json:"createdAt"`
	UpdatedAt    time.Time  `json:"updatedAt"`
}

// APIKey is a session's API key as stored: never the key itself.
type APIKey struct {
	ID            string     `json:"id"`
	SessionID     string     `json:"sessionId"`
	Name          *string    `json:"name"`
	KeyHash       string     `json:"-"`
	KeyCiphertext []byte     `json:"-"`
	Prefix        string     `json:"prefix"`
	Masked        string     `json:"masked"`
	IsActive      bool       `json:"isActive"`
	LastUsed      *time.Time `json:"lastUsed"`
	CreatedAt     time.Time  `json:"createdAt"`
	ExpiresAt     *time.Time `json:"expiresAt"`
	RevokedAt     *time.Time `json:"-"`
}
