package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/testenv"
)

// Found by the fault suite (issue 13): while PostgreSQL was down every request answered 500
// internal_error; api.md promises 503 connectivity_error when a dependency is down.
func TestUnavailable_ConnectionFailuresBecomeConnectivityErrors(t *testing.T) {
	t.Parallel()
	unavailable := map[string]error{
		"server shutting down":   fmt.Errorf("insert: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}),
		"server starting up":     &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"},
		"connection exception":   &pgconn.PgError{Code: "08006"},
		"connection reset":       fmt.Errorf("query: %w", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}),
		"unexpected EOF":         fmt.Errorf("commit: %w", io.ErrUnexpectedEOF),
		"closed pool connection": fmt.Errorf("begin: %w", pgconn.ErrConnClosed),
	}
	for name, err := range unavailable {
		got := store.Unavailable(err)
		if model.KindOf(got) != model.KindConnectivity || !errors.Is(got, err) || !errors.Is(got, store.ErrDatabaseUnavailable) {
			t.Errorf("%s: %v → kind %s, want connectivity wrapping the cause", name, got, model.KindOf(got))
		}
	}
	kept := map[string]error{
		"syntax error":      &pgconn.PgError{Code: "42601"},
		"unique violation":  fmt.Errorf("%w: users_email_key", model.ErrConflict),
		"a kind of its own": model.Errorf(model.KindValidation, "bad"),
		"anything else":     errors.New("boom"),
	}
	for name, err := range kept {
		if got := store.Unavailable(err); got != err { //nolint:errorlint // the very same error, unwrapped
			t.Errorf("%s: %v changed to %v", name, err, got)
		}
	}
	if store.Unavailable(nil) != nil {
		t.Error("nil changed")
	}
}

func TestUnavailable_RefusedConnectionOfARealPool(t *testing.T) {
	t.Parallel()
	conn, err := pgconn.Connect(context.Background(), "postgres://nobody@"+testenv.ClosedAddr(t)+"/x?sslmode=disable&connect_timeout=2")
	if err == nil {
		_ = conn.Close(context.Background())
		t.Fatal("connected to a closed port")
	}
	if got := store.Unavailable(err); model.KindOf(got) != model.KindConnectivity {
		t.Fatalf("refused connection: %v → kind %s, want connectivity", got, model.KindOf(got))
	}
}

// A refusal that no wait heals (here: no such database) is a misconfiguration, not an outage:
// it is not answered "try again shortly", and nothing is kept for later on its account.
func TestUnavailable_MissingDatabaseIsNotAnOutage(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(testenv.DatabaseServerURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/no_such_database_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	conn, err := pgconn.Connect(context.Background(), u.String())
	if err == nil {
		_ = conn.Close(context.Background())
		t.Fatal("connected to a database that does not exist")
	}
	if got := store.Unavailable(err); model.KindOf(got) == model.KindConnectivity || store.IsUnavailable(err) {
		t.Fatalf("missing database: %v → kind %s, want it left as it is", got, model.KindOf(got))
	}
}
