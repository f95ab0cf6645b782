package workerkit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestBackoff_DoublesUpToTheMaximum(t *testing.T) {
	t.Parallel()
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for attempt, w := range want {
		if got := b.delay(attempt); got != w*time.Millisecond {
			t.Errorf("delay(%d) = %s, want %s", attempt, got, w*time.Millisecond)
		}
	}
	if got := b.delay(1 << 20); got != time.Second {
		t.Errorf("delay(huge) = %s", got)
	}
}

func TestRetryableEvent(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]bool{
		0: true, 500: true, 502: true, 503: true, 401: true, 408: true, 429: true,
		400: false, 403: false, 404: false, 409: false, 413: false, 422: false,
	} {
		if got := retryableEvent(status); got != want {
			t.Errorf("retryableEvent(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestErrorAnswer_MapsEngineErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("%w: s1", ErrSessionNotFound), http.StatusNotFound, "SESSION_NOT_FOUND"},
		{fmt.Errorf("%w: status qr_ready", ErrNotConnected), http.StatusBadRequest, "SESSION_NOT_CONNECTED"},
		{fmt.Errorf("%w: no", ErrInvalid), http.StatusBadRequest, "VALIDATION_ERROR"},
		{ErrQRNotAvailable, http.StatusNotFound, "QR_NOT_AVAILABLE"},
		{ErrNotSupported, http.StatusNotImplemented, "NOT_SUPPORTED"},
		{ErrAtCapacity, http.StatusServiceUnavailable, "MAX_SESSIONS_REACHED"},
		{fmt.Errorf("%w: slow down", ErrRateLimited), http.StatusTooManyRequests, "RATE_LIMITED"},
		{context.DeadlineExceeded, http.StatusServiceUnavailable, "TIMEOUT"},
		{errors.New("boom"), http.StatusInternalServerError, "INTERNAL_ERROR"},
	}
	for _, c := range cases {
		if status, code := errorAnswer(c.err); status != c.status || code != c.code {
			t.Errorf("errorAnswer(%v) = %d %s, want %d %s", c.err, status, code, c.status, c.code)
		}
	}
}

func TestPhoneDigits(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"+62 812-3456-7890": "6281234567890", "6281234567890@s.whatsapp.net": "6281234567890", "(021) 555.1234": "0215551234",
		"123": "", "1234567890123456": "", "62abc": "",
	} {
		got, err := phoneDigits(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("phoneDigits(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestClampPercent(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]float64{-3: 0, 0: 0, 42.04: 42, 42.06: 42.1, 180: 100} {
		if got := clampPercent(in); got != want {
			t.Errorf("clampPercent(%v) = %v, want %v", in, got, want)
		}
	}
}
