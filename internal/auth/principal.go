package auth

import (
	"context"
	"time"

	"github.com/wagateway/gateway/internal/model"
)

// Principal is who a request acts for: a dashboard user (JWT) or a session's API key.
type Principal struct {
	UserID string
	Email  string
	Role   model.UserRole
	Tier   model.UserTier

	// Set for JWTs.
	TokenID        string
	TokenExpiresAt time.Time

	// Set for API keys: the key and the session it belongs to.
	APIKeyID  string
	SessionID string
}

// IsAdmin reports whether the principal is an ADMINISTRATOR.
func (p *Principal) IsAdmin() bool { return p.Role == model.RoleAdministrator }

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the request's principal, or nil when it is anonymous.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
