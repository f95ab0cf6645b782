// Package model holds the plain domain types shared by every layer: enums, sentinel errors
// and the typed error that carries an error kind up to the HTTP layer.
package model

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error. Its value is the stable machine-readable `type` of the API's
// error envelope; httpapi/respond.go maps each kind to its HTTP status.
type Kind string

// The error kinds of the API (api.md, "Envelope").
const (
	KindValidation           Kind = "validation_error"
	KindBadRequest           Kind = "bad_request"
	KindUnauthorized         Kind = "unauthorized"
	KindForbidden            Kind = "forbidden"
	KindNotFound             Kind = "not_found"
	KindMethodNotAllowed     Kind = "method_not_allowed"
	KindConflict             Kind = "conflict"
	KindPayloadTooLarge      Kind = "payload_too_large"
	KindUnsupportedMediaType Kind = "unsupported_media_type"
	KindRateLimited          Kind = "rate_limited"
	KindWorker               Kind = "worker_error"
	KindConnectivity         Kind = "connectivity_error"
	KindMaintenance          Kind = "maintenance"
	KindInternal             Kind = "internal_error"
)

// Sentinel errors returned by the store; wrap them with context, test them with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// FieldError names one failing field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// RateWindow is the state of a rate-limit or quota window.
type RateWindow struct {
	Limit, Remaining int
	ResetIn, Length  time.Duration
}

// Error is an error with a kind and a message safe to show to the client.
type Error struct {
	Kind    Kind
	Message string
	// Details lists every failing field of a validation error.
	Details []FieldError
	// RetryAfter is set on rate-limit errors.
	RetryAfter time.Duration
	// Window is the rate-limit or quota window that refused the request, for the
	// X-RateLimit-* headers of the answer.
	Window *RateWindow
	// Err is the underlying cause; it is logged, never shown.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind with a client-safe formatted message.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// ValidationError returns a validation error listing every failing field.
func ValidationError(details ...FieldError) *Error {
	return &Error{Kind: KindValidation, Message: "Validation failed", Details: details}
}

// KindOf reports the kind of err: the kind of the outermost *Error in its chain, else the
// kind matching a sentinel, else KindInternal.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, ErrNotFound):
		return KindNotFound
	case errors.Is(err, ErrConflict):
		return KindConflict
	default:
		return KindInternal
	}
}
