package workerkit

import (
	"context"
	"errors"
	"net/http"
)

// Errors an engine wraps to choose the answer the backend gets, e.g.
// fmt.Errorf("%w: status %s", workerkit.ErrNotConnected, status).
var (
	// ErrSessionNotFound: the worker does not hold the session (404 SESSION_NOT_FOUND).
	ErrSessionNotFound = errors.New("session not found")
	// ErrNotConnected: the session exists but is not connected (400 SESSION_NOT_CONNECTED,
	// as the Node worker answers).
	ErrNotConnected = errors.New("session not connected")
	// ErrInvalid: the request cannot be carried out as asked (400 VALIDATION_ERROR).
	ErrInvalid = errors.New("invalid request")
	// ErrQRNotAvailable: the session shows no QR now (404 QR_NOT_AVAILABLE).
	ErrQRNotAvailable = errors.New("qr code not available")
	// ErrNotSupported: the engine cannot do this at all (501 NOT_SUPPORTED).
	ErrNotSupported = errors.New("not supported by this worker")
	// ErrAtCapacity: the worker holds maxSessions sessions already (503 MAX_SESSIONS_REACHED).
	ErrAtCapacity = errors.New("worker is at its maximum number of sessions")
	// ErrRateLimited: the engine holds a send back to protect the number from a ban
	// (429 RATE_LIMITED); the backend may try again later.
	ErrRateLimited = errors.New("rate limited to protect the number")
)

// errorAnswer is the one place that maps an error to the worker's HTTP status and code.
func errorAnswer(err error) (status int, code string) {
	switch {
	case errors.Is(err, ErrSessionNotFound):
		return http.StatusNotFound, "SESSION_NOT_FOUND"
	case errors.Is(err, ErrNotConnected):
		return http.StatusBadRequest, "SESSION_NOT_CONNECTED"
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest, "VALIDATION_ERROR"
	case errors.Is(err, ErrQRNotAvailable):
		return http.StatusNotFound, "QR_NOT_AVAILABLE"
	case errors.Is(err, ErrNotSupported):
		return http.StatusNotImplemented, "NOT_SUPPORTED"
	case errors.Is(err, ErrAtCapacity):
		return http.StatusServiceUnavailable, "MAX_SESSIONS_REACHED"
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests, "RATE_LIMITED"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "TIMEOUT"
	default:
		return http.StatusInternalServerError, "INTERNAL_ERROR"
	}
}
