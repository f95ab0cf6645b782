package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/wagateway/gateway/internal/model"
)

const userColumns = `id::text, name, email, password_hash, role, tier, is_active, token_version,
	last_login_at, created_at, updated_at`

func scanUser(row pgx.Row) (model.User, error) {
	var u model.User
	err := row.Scan(&u.ID, &u.Name, &u.Email, &u.PasswordHash, &u.Role, &u.Tier, &u.IsActive,
		&u.TokenVersion, &u.LastLoginAt, &u.CreatedAt, &u.UpdatedAt)
	return u, mapError(err)
}

// CreateUser inserts a user; an email taken in any letter case is ErrConflict.
func CreateUser(ctx context.Context, db DBTX, u model.User) (model.User, error) {
	user, err := scanUser(db.QueryRow(ctx, `
		INSERT INTO users (name, email, password_hash, role, tier)
		VALUES ($1, $2, $3, $4, $5)
		RETURNING `+userColumns, u.Name, u.Email, u.PasswordHash, u.Role, u.Tier))
	if err != nil {
		return user, fmt.Errorf("create user: %w", err)
	}
	return user, nil
}

// GetUser loads a user by ID.
func GetUser(ctx context.Context, db DBTX, id string) (model.User, error) {
	u, err := scanUser(db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return u, fmt.Errorf("get user %s: %w", id, err)
	}
	return u, nil
}

// GetUserByEmail loads a user by email, ignoring letter case.
func GetUserByEmail(ctx context.Context, db DBTX, email string) (model.User, error) {
	u, err := scanUser(db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE lower(email) = lower($1)`, email))
	if err != nil {
		return u, fmt.Errorf("get user by email: %w", err)
	}
	return u, nil
}

// TouchLastLogin records a successful login.
func TouchLastLogin(ctx context.Context, db DBTX, id string) error {
	_, err := db.Exec(ctx, `UPDATE users SET last_login_at = now() WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("record login: %w", err)
	}
	return nil
}

// UserChanges are the fields an update may set; nil leaves a field as it is.
type UserChanges struct {
	Name         *string
	Email        *string
	PasswordHash *string
	Role         *model.UserRole
	Tier         *model.UserTier
	IsActive     *bool
	// RevokeTokens bumps the token version, which invalidates every JWT issued before.
	RevokeTokens bool
}

// UpdateUser applies changes and returns the updated user.
func UpdateUser(ctx context.Context, db DBTX, id string, c UserChanges) (model.User, error) {
	u, err := scanUser(db.QueryRow(ctx, `
		UPDATE users SET
			name          = coalesce($2, name),
			email         = coalesce($3, email),
			password_hash = coalesce($4, password_hash),
			role          = coalesce($5, role),
			tier          = coalesce($6, tier),
			is_active     = coalesce($7, is_active),
			token_version = token_version + CASE WHEN $8 THEN 1 ELSE 0 END,
			updated_at    = now()
		WHERE id = $1
		RETURNING `+userColumns,
		id, c.Name, c.Email, c.PasswordHash, c.Role, c.Tier, c.IsActive, c.RevokeTokens))
	if err != nil {
		return u, fmt.Errorf("update user %s: %w", id, err)
	}
	return u, nil
}

// DeleteUser deletes a user; sessions, keys, messages and tokens go with it (cascade).
//
// The user's sessions are locked first, in ID order, the order in which the batches of sends
// lock the sessions they reference: a batch and the deletion wait for each other's sessions
// one way only, never round in a circle. A deletion aborted as a deadlock's victim all the same
// (the cascade's trigger deletes messages whose answers a batch is writing) runs again.
func DeleteUser(ctx context.Context, db DBTX, id string) error {
	err := retryDeadlock(func() error {
		return WithTxOn(ctx, db, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT FROM sessions WHERE user_id = $1 ORDER BY id FOR UPDATE`, id); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
			if err == nil && tag.RowsAffected() == 0 {
				err = model.ErrNotFound
			}
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("delete user %s: %w", id, err)
	}
	return nil
}

// UserFilter selects users for the admin list.
type UserFilter struct {
	Search   string // case-insensitive substring of email or name
	Role     *model.UserRole
	Tier     *model.UserTier
	IsActive *bool
	Limit    int
	Offset   int
}

// ListUsers returns a page of users matching f, newest first, and the total count.
func ListUsers(ctx context.Context, db DBTX, f UserFilter) ([]model.User, int, error) {
	where := []string{"true"}
	args := []any{}
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.Search != "" {
		add("(email ILIKE $%[1]d OR name ILIKE $%[1]d)", "%"+escapeLike(f.Search)+"%")
	}
	if f.Role != nil {
		add("role = $%d", *f.Role)
	}
	if f.Tier != nil {
		add("tier = $%d", *f.Tier)
	}
	if f.IsActive != nil {
		add("is_active = $%d", *f.IsActive)
	}
	cond := strings.Join(where, " AND ")

	var total int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM users WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count users: %w", err)
	}
	args = append(args, f.Limit, f.Offset)
	rows, err := db.Query(ctx, fmt.Sprintf(`SELECT %s FROM users WHERE %s
		ORDER BY created_at DESC, id DESC LIMIT $%d OFFSET $%d`, userColumns, cond, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (model.User, error) { return scanUser(row) })
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	return users, total, nil
}

// escapeLike makes user input literal inside a LIKE pattern.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// UserStats are the counters of a user's profile.
type UserStats struct {
	ActiveSessions int `json:"activeSessions"`
	TotalSessions  int `json:"totalSessions"`
	MessagesSent   int `json:"messagesSent"`
	MessagesToday  int `json:"messagesToday"`
}

// GetUserStats counts a user's sessions and outbound messages.
func GetUserStats(ctx context.Context, db DBTX, userID string) (UserStats, error) {
	var s UserStats
	err := db.QueryRow(ctx, `
		SELECT
			(SELECT count(*) FROM sessions WHERE user_id = $1 AND status = 'CONNECTED'),
			(SELECT count(*) FROM sessions WHERE user_id = $1),
			(SELECT count(*) FROM messages m JOIN sessions s ON s.id = m.session_id
			  WHERE s.user_id = $1 AND m.direction = 'OUTBOUND' AND m.status IN ('SENT', 'DELIVERED', 'READ')),
			(SELECT count(*) FROM messages m JOIN sessions s ON s.id = m.session_id
			  WHERE s.user_id = $1 AND m.direction = 'OUTBOUND' AND m.created_at >= date_trunc('day', now()))`,
		userID).Scan(&s.ActiveSessions, &s.TotalSessions, &s.MessagesSent, &s.MessagesToday)
	if err != nil {
		return s, fmt.Errorf("user stats: %w", err)
	}
	return s, nil
}

// SeedAccount is an account that `gateway seed` makes sure exists.
type SeedAccount struct {
	Name         string
	Email        string
	Password     string
	PasswordHash string
	Admin        bool
}

// SeedUser creates the account when its email is free and reports whether it did. An existing
// account named as an administrator is promoted; its password is left alone.
func SeedUser(ctx context.Context, db DBTX, a SeedAccount) (bool, error) {
	role := model.RoleUser
	if a.Admin {
		role = model.RoleAdministrator
	}
	var created bool
	err := db.QueryRow(ctx, `
		WITH inserted AS (
			INSERT INTO users (name, email, password_hash, role, tier)
			VALUES ($1, lower($2), $3, $4, CASE WHEN $4 = 'ADMINISTRATOR'::user_role THEN 'MAX'::user_tier ELSE 'BASIC'::user_tier END)
			ON CONFLICT ((lower(email))) DO NOTHING
			RETURNING true
		)
		SELECT coalesce((SELECT true FROM inserted), false)`, a.Name, a.Email, a.PasswordHash, role).Scan(&created)
	if err != nil {
		return false, fmt.Errorf("seed user %s: %w", a.Email, err)
	}
	if !created && a.Admin {
		if _, err := db.Exec(ctx, `UPDATE users SET role = 'ADMINISTRATOR', is_active = true, updated_at = now()
			WHERE lower(email) = lower($1)`, a.Email); err != nil {
			return false, fmt.Errorf("promote %s: %w", a.Email, err)
		}
	}
	return created, nil
}
