package store

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wagateway/gateway/internal/model"
)

// errDatabaseUnavailable is what a client is told while PostgreSQL cannot be reached.
const errDatabaseUnavailable = "The database is unavailable; try again shortly"

// ErrDatabaseUnavailable is wrapped by the errors Unavailable returns.
var ErrDatabaseUnavailable = errors.New("database unavailable")

// Unavailable turns an error that says PostgreSQL could not be reached or went away mid-query
// (connection refused or reset, the server shutting down, crashed or still starting up) into
// a connectivity error, so that an outage answers 503 "try again" rather than 500. Any other
// error, and an error that already has a kind, is returned as it is.
func Unavailable(err error) error {
	if err == nil || model.KindOf(err) != model.KindInternal || !isUnavailable(err) {
		return err
	}
	return &model.Error{Kind: model.KindConnectivity, Message: errDatabaseUnavailable,
		Err: fmt.Errorf("%w: %w", ErrDatabaseUnavailable, err)}
}

func isUnavailable(err error) bool {
	var connectErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	var netErr *net.OpError
	switch {
	case errors.As(err, &connectErr):
		// No connection: refused, starting up, out of slots, the database closed to
		// connections. A refusal that no wait heals is not an outage: wrong credentials
		// (class 28), no such database, no right to connect.
		if errors.As(err, &pgErr) {
			return !strings.HasPrefix(pgErr.Code, "28") && pgErr.Code != "3D000" && pgErr.Code != "42501"
		}
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exceptions; 57P01–57P03: shutting down, crashed, starting up.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	case errors.As(err, &netErr), errors.Is(err, pgconn.ErrConnClosed):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}
