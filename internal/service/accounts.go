package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/mailer"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/router"
	"github.com/wagateway/gateway/internal/store"
)

const (
	refreshTokenTTL  = 30 * 24 * time.Hour
	passwordResetTTL = time.Hour
)

// Accounts registers users, signs them in and out, and guards their credentials.
type Accounts struct {
	DB        *pgxpool.Pool
	Passwords *auth.Passwords
	JWTs      *auth.JWTs
	Mailer    mailer.Mailer
	Logger    *slog.Logger
	// ResetURL is where a reset link points; the token is appended.
	ResetURL string
	// Router forgets the routes of sessions released with their account.
	Router *router.Router
}

// AuthResult is what a successful register, login, refresh or password change returns.
type AuthResult struct {
	User         model.User `json:"user"`
	Token        string     `json:"token"`
	ExpiresIn    string     `json:"expiresIn"`
	RefreshToken string     `json:"refreshToken"`
}

var (
	errBadCredentials = model.Errorf(model.KindUnauthorized, "Invalid email or password")
	errAccountOff     = model.Errorf(model.KindForbidden, "This account is deactivated")
	errTokenInvalid   = model.Errorf(model.KindUnauthorized, "Invalid or expired token")
)

// NormalizeEmail trims and lower-cases an email; emails are unique case-insensitively.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Register creates a USER on the BASIC tier and signs it in.
func (a *Accounts) Register(ctx context.Context, name, email, password string) (AuthResult, error) {
	hash, err := a.Passwords.Hash(password)
	if err != nil {
		return AuthResult{}, err
	}
	user, err := store.CreateUser(ctx, a.DB, model.User{
		Name: strings.TrimSpace(name), Email: NormalizeEmail(email), PasswordHash: hash,
		Role: model.RoleUser, Tier: model.TierBasic,
	})
	if errors.Is(err, model.ErrConflict) {
		return AuthResult{}, &model.Error{Kind: model.KindConflict, Message: "A user with this email already exists",
			Details: []model.FieldError{{Field: "email", Message: "is already registered"}}}
	}
	if err != nil {
		return AuthResult{}, err
	}
	return a.signIn(ctx, a.DB, user, uuid.NewString())
}

// Login checks an email and password. Unknown email and wrong password get the same answer
// after the same work; a deactivated account is 403 only once the password is right.
func (a *Accounts) Login(ctx context.Context, email, password string) (AuthResult, error) {
	user, err := store.GetUserByEmail(ctx, a.DB, NormalizeEmail(email))
	if err != nil && !errors.Is(err, model.ErrNotFound) {
		return AuthResult{}, err
	}
	if !a.Passwords.Matches(user.PasswordHash, password) {
		return AuthResult{}, errBadCredentials
	}
	if !user.IsActive {
		return AuthResult{}, errAccountOff
	}
	if err := store.TouchLastLogin(ctx, a.DB, user.ID); err != nil {
		return AuthResult{}, err
	}
	if user.Role == model.RoleAdministrator {
		a.systemLog(ctx, model.LevelInfo, "Administrator logged in", user.ID)
	}
	return a.signIn(ctx, a.DB, user, uuid.NewString())
}

// signIn issues a JWT and a refresh token of the login family familyID.
func (a *Accounts) signIn(ctx context.Context, db store.DBTX, user model.User, familyID string) (AuthResult, error) {
	issued, err := a.JWTs.Issue(user, time.Now())
	if err != nil {
		return AuthResult{}, err
	}
	refresh := auth.NewOpaqueToken()
	if err := store.CreateRefreshToken(ctx, db, user.ID, auth.HashToken(refresh), familyID, issued.JTI,
		time.Now().Add(refreshTokenTTL)); err != nil {
		return AuthResult{}, err
	}
	return AuthResult{User: user, Token: issued.Token, ExpiresIn: FormatDuration(a.JWTs.TTL()), RefreshToken: refresh}, nil
}

// Refresh trades a refresh token for a new JWT and refresh token. Each refresh token works
// once; presenting a used one again revokes its whole login family, since one of the two
// presenters must be a thief.
func (a *Accounts) Refresh(ctx context.Context, refreshToken string) (AuthResult, error) {
	hash := auth.HashToken(refreshToken)
	var result AuthResult
	err := store.WithTx(ctx, a.DB, func(tx pgx.Tx) error {
		t, err := store.UseRefreshToken(ctx, tx, hash)
		if errors.Is(err, model.ErrNotFound) {
			return errTokenInvalid
		}
		if err != nil {
			return err
		}
		user, err := store.GetUser(ctx, tx, t.UserID)
		if err != nil {
			return err
		}
		if !user.IsActive {
			return errTokenInvalid
		}
		result, err = a.signIn(ctx, tx, user, t.FamilyID)
		return err
	})
	if errors.Is(err, errTokenInvalid) {
		a.revokeReusedFamily(ctx, hash)
	}
	return result, err
}

func (a *Accounts) revokeReusedFamily(ctx context.Context, hash string) {
	familyID, userID, err := store.UsedRefreshTokenFamily(ctx, a.DB, hash)
	if err != nil {
		return // unknown, expired or revoked: nothing more to do
	}
	err = store.WithTx(ctx, a.DB, func(tx pgx.Tx) error {
		jtis, err := store.RevokeRefreshFamily(ctx, tx, familyID)
		if err != nil {
			return err
		}
		for _, jti := range jtis {
			if err := store.RevokeJWT(ctx, tx, jti, userID, time.Now().Add(a.JWTs.TTL())); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		a.Logger.ErrorContext(ctx, "revoke reused refresh token family", slog.Any("err", err))
		return
	}
	a.Logger.WarnContext(ctx, "refresh token reused; its login family was revoked", slog.String("user_id", userID))
	a.systemLog(ctx, model.LevelWarn, "Refresh token reused; the login was revoked", userID)
}

// Authenticate verifies a dashboard JWT and checks, in one query, that its user still exists,
// is active, has not revoked all tokens since, and that this token was not logged out.
func (a *Accounts) Authenticate(ctx context.Context, token string) (*auth.Principal, error) {
	claims, err := a.JWTs.Verify(token)
	if err != nil {
		return nil, errTokenInvalid
	}
	holder, err := store.CheckTokenHolder(ctx, a.DB, claims.UserID, claims.ID)
	if err != nil {
		return nil, err
	}
	if !holder.Exists || !holder.IsActive || holder.Revoked || holder.TokenVersion != claims.TokenVersion {
		return nil, errTokenInvalid
	}
	// Role and tier come from the database, so that a demotion takes effect at once.
	p := &auth.Principal{UserID: claims.UserID, Email: claims.Email, Role: holder.Role, Tier: holder.Tier, TokenID: claims.ID}
	if claims.ExpiresAt != nil {
		p.TokenExpiresAt = claims.ExpiresAt.Time
	}
	return p, nil
}

// Logout revokes the caller's JWT and the refresh token issued with it.
func (a *Accounts) Logout(ctx context.Context, p *auth.Principal) error {
	return store.WithTx(ctx, a.DB, func(tx pgx.Tx) error {
		if err := store.RevokeJWT(ctx, tx, p.TokenID, p.UserID, p.TokenExpiresAt); err != nil {
			return err
		}
		return store.RevokeRefreshTokensOfAccess(ctx, tx, p.TokenID)
	})
}

// Me returns the caller's account with the number of connected sessions.
func (a *Accounts) Me(ctx context.Context, userID string) (model.User, store.UserStats, error) {
	user, err := store.GetUser(ctx, a.DB, userID)
	if err != nil {
		return user, store.UserStats{}, err
	}
	stats, err := store.GetUserStats(ctx, a.DB, userID)
	return user, stats, err
}

// ChangePassword replaces the password after checking the current one, revokes every token
// of the user, and signs the caller in again so that only this device stays logged in.
func (a *Accounts) ChangePassword(ctx context.Context, userID, current, next string) (AuthResult, error) {
	user, err := a.checkPassword(ctx, userID, current, "currentPassword")
	if err != nil {
		return AuthResult{}, err
	}
	hash, err := a.Passwords.Hash(next)
	if err != nil {
		return AuthResult{}, err
	}
	var result AuthResult
	err = store.WithTx(ctx, a.DB, func(tx pgx.Tx) error {
		user, err = store.UpdateUser(ctx, tx, user.ID, store.UserChanges{PasswordHash: &hash, RevokeTokens: true})
		if err != nil {
			return err
		}
		if err := store.RevokeUserRefreshTokens(ctx, tx, user.ID); err != nil {
			return err
		}
		result, err = a.signIn(ctx, tx, user, uuid.NewString())
		return err
	})
	return result, err
}

// checkPassword loads the user and refuses a wrong password as a validation error of field.
func (a *Accounts) checkPassword(ctx context.Context, userID, password, field string) (model.User, error) {
	user, err := store.GetUser(ctx, a.DB, userID)
	if err != nil {
		return user, err
	}
	if !a.Passwords.Matches(user.PasswordHash, password) {
		return user, &model.Error{Kind: model.KindValidation, Message: "The password is incorrect",
			Details: []model.FieldError{{Field: field, Message: "is incorrect"}}}
	}
	return user, nil
}

// Deactivate switches the account off after checking its password: every token and key stops
// working and its sessions are disconnected.
func (a *Accounts) Deactivate(ctx context.Context, userID, password string) error {
	if _, err := a.checkPassword(ctx, userID, password, "password"); err != nil {
		return err
	}
	off := false
	var released []string
	err := store.WithTx(ctx, a.DB, func(tx pgx.Tx) error {
		if _, err := store.UpdateUser(ctx, tx, userID, store.UserChanges{IsActive: &off, RevokeTokens: true}); err != nil {
			return err
		}
		if err := store.RevokeUserRefreshTokens(ctx, tx, userID); err != nil {
			return err
		}
		var err error
		released, err = store.ReleaseUserSessions(ctx, tx, userID, "account deactivated")
		return err
	})
	a.forgetRoutes(ctx, released)
	return err
}

// forgetRoutes drops the routes of released sessions; their workers learn to drop them from
// the next heartbeat's sessionsToStop.
func (a *Accounts) forgetRoutes(ctx context.Context, sessionIDs []string) {
	if a.Router != nil && len(sessionIDs) > 0 {
		a.Router.Clear(ctx, sessionIDs...)
	}
}

// ProfileChanges are the fields a user may change on their own profile.
type ProfileChanges struct {
	Name            *string
	Email           *string
	CurrentPassword string
	NewPassword     *string
}

// UpdateProfile changes the caller's name, email or password; a new email or password needs
// the current password. A new password revokes every JWT and refresh token of the user and,
// as ChangePassword does, signs the caller in again: signedIn carries the new tokens then.
func (a *Accounts) UpdateProfile(ctx context.Context, userID string, c ProfileChanges) (user model.User, signedIn *AuthResult, err error) {
	changes := store.UserChanges{Name: c.Name}
	if c.Email != nil || c.NewPassword != nil {
		if c.CurrentPassword == "" {
			return model.User{}, nil, model.ValidationError(model.FieldError{Field: "currentPassword",
				Message: "is required to change the email or password"})
		}
		if _, err := a.checkPassword(ctx, userID, c.CurrentPassword, "currentPassword"); err != nil {
			return model.User{}, nil, err
		}
	}
	if c.Email != nil {
		email := NormalizeEmail(*c.Email)
		changes.Email = &email
	}
	if c.NewPassword != nil {
		hash, err := a.Passwords.Hash(*c.NewPassword)
		if err != nil {
			return model.User{}, nil, err
		}
		changes.PasswordHash, changes.RevokeTokens = &hash, true
	}
	err = store.WithTx(ctx, a.DB, func(tx pgx.Tx) error {
		var err error
		if user, err = store.UpdateUser(ctx, tx, userID, changes); err != nil {
			return err
		}
		if !changes.RevokeTokens {
			return nil
		}
		// Refresh tokens too, or a stolen one would outlive the password change.
		if err := store.RevokeUserRefreshTokens(ctx, tx, userID); err != nil {
			return err
		}
		res, err := a.signIn(ctx, tx, user, uuid.NewString())
		signedIn = &res
		return err
	})
	if errors.Is(err, model.ErrConflict) {
		return user, nil, &model.Error{Kind: model.KindConflict, Message: "A user with this email already exists",
			Details: []model.FieldError{{Field: "email", Message: "is already registered"}}}
	}
	if err != nil {
		return user, nil, err
	}
	return user, signedIn, nil
}

// ForgotPassword sends a single-use reset link valid for an hour to an active account. It
// reports nothing about whether the email is registered.
func (a *Accounts) ForgotPassword(ctx context.Context, email string) error {
	user, err := store.GetUserByEmail(ctx, a.DB, NormalizeEmail(email))
	if errors.Is(err, model.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !user.IsActive {
		return nil
	}
	token := auth.NewOpaqueToken()
	if err := store.CreatePasswordReset(ctx, a.DB, user.ID, auth.HashToken(token), time.Now().Add(passwordResetTTL)); err != nil {
		return err
	}
	err = a.Mailer.Send(ctx, mailer.Message{
		To:      user.Email,
		Subject: "Reset your WhatsApp Gateway password",
		Body: fmt.Sprintf("Hello %s,\n\nUse this link within one hour to choose a new password:\n%s%s\n\n"+
			"If you did not ask for it, ignore this email.\n", user.Name, a.ResetURL, token),
	})
	if err != nil {
		// The answer stays 200 either way; the failure is for operators.
		a.Logger.ErrorContext(ctx, "send password reset email", slog.Any("err", err))
	}
	return nil
}

// ResetPassword sets a new password with a reset token, once, and revokes every token.
func (a *Accounts) ResetPassword(ctx context.Context, token, newPassword string) error {
	hash, err := a.Passwords.Hash(newPassword)
	if err != nil {
		return err
	}
	return store.WithTx(ctx, a.DB, func(tx pgx.Tx) error {
		userID, err := store.UsePasswordReset(ctx, tx, auth.HashToken(token))
		if errors.Is(err, model.ErrNotFound) {
			return &model.Error{Kind: model.KindValidation, Message: "The reset token is invalid or expired",
				Details: []model.FieldError{{Field: "token", Message: "is invalid or expired"}}}
		}
		if err != nil {
			return err
		}
		if _, err := store.UpdateUser(ctx, tx, userID, store.UserChanges{PasswordHash: &hash, RevokeTokens: true}); err != nil {
			return err
		}
		return store.RevokeUserRefreshTokens(ctx, tx, userID)
	})
}

// AdminUpdateUser changes a user's name, role, tier or active flag. Deactivating revokes the
// user's tokens and disconnects their sessions. Administrators cannot demote or deactivate
// themselves, so that the last one cannot lock everyone out by mistake.
func (a *Accounts) AdminUpdateUser(ctx context.Context, adminID, userID string, c store.UserChanges) (model.User, error) {
	if adminID == userID && ((c.Role != nil && *c.Role != model.RoleAdministrator) || (c.IsActive != nil && !*c.IsActive)) {
		return model.User{}, model.Errorf(model.KindConflict, "You cannot demote or deactivate your own account")
	}
	deactivating := c.IsActive != nil && !*c.IsActive
	c.RevokeTokens = deactivating
	var user model.User
	err := store.WithTx(ctx, a.DB, func(tx pgx.Tx) error {
		var err error
		if user, err = store.UpdateUser(ctx, tx, userID, c); err != nil {
			return err
		}
		if !deactivating {
			return nil
		}
		if err := store.RevokeUserRefreshTokens(ctx, tx, userID); err != nil {
			return err
		}
		released, err := store.ReleaseUserSessions(ctx, tx, userID, "account deactivated by an administrator")
		a.forgetRoutes(ctx, released)
		return err
	})
	if err == nil {
		a.systemLog(ctx, model.LevelInfo, fmt.Sprintf("User %s updated by administrator %s", userID, adminID), userID)
	}
	return user, err
}

// AdminDeleteUser deletes a user and everything that hangs off it.
func (a *Accounts) AdminDeleteUser(ctx context.Context, adminID, userID string) error {
	if adminID == userID {
		return model.Errorf(model.KindConflict, "You cannot delete your own account")
	}
	sessionIDs, err := store.ListUserSessionIDs(ctx, a.DB, userID)
	if err != nil {
		return err
	}
	if err := store.DeleteUser(ctx, a.DB, userID); err != nil {
		return err
	}
	a.forgetRoutes(ctx, sessionIDs)
	a.systemLog(ctx, model.LevelWarn, fmt.Sprintf("User %s deleted by administrator %s", userID, adminID), adminID)
	return nil
}

func (a *Accounts) systemLog(ctx context.Context, level model.LogLevel, message, userID string) {
	err := store.InsertSystemLog(ctx, a.DB, store.SystemLogEntry{Level: level, Service: "auth", Message: message, UserID: &userID})
	if err != nil {
		a.Logger.WarnContext(ctx, "write system log", slog.Any("err", err))
	}
}

// FormatDuration writes a duration the way JWT_EXPIRES_IN is usually given: 7d, 12h, 30m, 45s.
func FormatDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	default:
		return fmt.Sprintf("%ds", d/time.Second)
	}
}
