package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wagateway/gateway/internal/model"
)

func TestMapError_TranslatesPgxErrorsToModelSentinels(t *testing.T) {
	t.Parallel()
	other := errors.New("connection reset")

	if err := mapError(nil); err != nil {
		t.Errorf("mapError(nil) = %v", err)
	}
	if err := mapError(fmt.Errorf("scan: %w", pgx.ErrNoRows)); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("no rows → %v, want ErrNotFound", err)
	}
	unique := &pgconn.PgError{Code: "23505", ConstraintName: "users_email_lower_key"}
	err := mapError(fmt.Errorf("insert: %w", unique))
	if !errors.Is(err, model.ErrConflict) || !strings.Contains(err.Error(), "users_email_lower_key") {
		t.Errorf("unique violation → %v, want ErrConflict naming the constraint", err)
	}
	if model.KindOf(err) != model.KindConflict {
		t.Errorf("KindOf(unique violation) = %s, want conflict", model.KindOf(err))
	}
	if err := mapError(&pgconn.PgError{Code: "23503"}); errors.Is(err, model.ErrConflict) || errors.Is(err, model.ErrNotFound) {
		t.Errorf("foreign-key violation mapped to a sentinel: %v", err)
	}
	if err := mapError(other); !errors.Is(err, other) {
		t.Errorf("other error → %v, want it unchanged", err)
	}
}
