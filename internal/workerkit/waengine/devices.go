package waengine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"go.mau.fi/whatsmeow/types"
)

// deviceTableSchema maps the gateway's session IDs to WhatsApp device JIDs. whatsmeow keys
// its credentials by JID, which a device only gets when pairing succeeds, so this row is
// what lets any worker sharing the database resume a session after failover without a QR.
const deviceTableSchema = `
CREATE TABLE IF NOT EXISTS wagateway_session_devices (
	session_id   TEXT PRIMARY KEY,
	device_jid   TEXT,
	user_id      TEXT NOT NULL DEFAULT '',
	session_name TEXT NOT NULL DEFAULT '',
	created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
	updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
)`

// deviceTableLock serialises the creation of the table by workers starting together
// (CREATE TABLE IF NOT EXISTS is not safe against itself).
const deviceTableLock = 7208214631

// deviceTable is the session → device JID table.
type deviceTable struct {
	db *sql.DB
}

func (d deviceTable) ensure(ctx context.Context) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create session device table: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, deviceTableLock); err != nil {
		return fmt.Errorf("create session device table: %w", err)
	}
	if _, err := tx.ExecContext(ctx, deviceTableSchema); err != nil {
		return fmt.Errorf("create session device table: %w", err)
	}
	return tx.Commit()
}

// lookup returns the device JID of a session; ok is false when the session was never
// paired (or was logged out).
func (d deviceTable) lookup(ctx context.Context, sessionID string) (jid types.JID, ok bool, err error) {
	var raw sql.NullString
	err = d.db.QueryRowContext(ctx,
		`SELECT device_jid FROM wagateway_session_devices WHERE session_id = $1`, sessionID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !raw.Valid) {
		return types.JID{}, false, nil
	}
	if err != nil {
		return types.JID{}, false, fmt.Errorf("look up the device of session %s: %w", sessionID, err)
	}
	jid, err = types.ParseJID(raw.String)
	if err != nil {
		return types.JID{}, false, fmt.Errorf("device of session %s: %w", sessionID, err)
	}
	return jid, true, nil
}

// remember records a session (without a device yet).
func (d deviceTable) remember(ctx context.Context, sessionID, userID, name string) error {
	_, err := d.db.ExecContext(ctx, `
		INSERT INTO wagateway_session_devices (session_id, user_id, session_name) VALUES ($1, $2, $3)
		ON CONFLICT (session_id) DO UPDATE SET
			user_id = COALESCE(NULLIF(EXCLUDED.user_id, ''), wagateway_session_devices.user_id),
			session_name = COALESCE(NULLIF(EXCLUDED.session_name, ''), wagateway_session_devices.session_name),
			updated_at = now()`, sessionID, userID, name)
	if err != nil {
		return fmt.Errorf("remember session %s: %w", sessionID, err)
	}
	return nil
}

// link records the device a session paired as.
func (d deviceTable) link(ctx context.Context, sessionID string, jid types.JID) error {
	_, err := d.db.ExecContext(ctx, `
		INSERT INTO wagateway_session_devices (session_id, device_jid) VALUES ($1, $2)
		ON CONFLICT (session_id) DO UPDATE SET device_jid = EXCLUDED.device_jid, updated_at = now()`,
		sessionID, jid.String())
	if err != nil {
		return fmt.Errorf("link session %s to device %s: %w", sessionID, jid, err)
	}
	return nil
}

// unlink forgets the device of a session whose credentials are gone (logged out).
func (d deviceTable) unlink(ctx context.Context, sessionID string) error {
	_, err := d.db.ExecContext(ctx,
		`UPDATE wagateway_session_devices SET device_jid = NULL, updated_at = now() WHERE session_id = $1`, sessionID)
	if err != nil {
		return fmt.Errorf("unlink the device of session %s: %w", sessionID, err)
	}
	return nil
}

// forget deletes a session's row.
func (d deviceTable) forget(ctx context.Context, sessionID string) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM wagateway_session_devices WHERE session_id = $1`, sessionID)
	if err != nil {
		return fmt.Errorf("forget session %s: %w", sessionID, err)
	}
	return nil
}
