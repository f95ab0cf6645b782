package webhooks

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// RetryPolicy spaces the attempts of a delivery: exponential backoff with jitter from Base,
// for Window after the delivery was stored. The last retry is placed at the end of the
// window, so a receiver that comes back within a day still gets every event.
type RetryPolicy struct {
	Base   time.Duration
	Window time.Duration
}

// DefaultRetryWindow is how long a delivery is retried: about a day.
const DefaultRetryWindow = 24 * time.Hour

// Next returns when to retry after the attempt-th attempt failed at now, for a delivery
// stored at first; ok is false when the window is spent. retryAfter is the receiver's
// Retry-After (zero when none), honoured within the window.
func (p RetryPolicy) Next(attempt int, first, now time.Time, retryAfter time.Duration) (next time.Time, ok bool) {
	window := p.Window
	if window <= 0 {
		window = DefaultRetryWindow
	}
	deadline := first.Add(window)
	if !now.Before(deadline) {
		return time.Time{}, false
	}
	delay := p.Base
	for i := 1; i < attempt && delay < window; i++ {
		delay *= 2
	}
	delay = min(delay, window)
	// Equal jitter: at least half the backoff, so retries keep their spacing, and a random
	// rest, so receivers coming back are not hit by every delivery at the same instant.
	delay = delay/2 + time.Duration(rand.Int64N(int64(delay/2)+1)) //nolint:gosec // jitter, not a secret
	delay = max(delay, retryAfter)
	next = now.Add(delay)
	if next.After(deadline) {
		next = deadline
	}
	return next, true
}

// retryable reports whether a receiver's answer is worth retrying: timeouts (408), rate
// limits (429) and server errors. Other answers, redirects included, will not change.
func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// parseRetryAfter reads a Retry-After of whole seconds (the HTTP-date form is ignored), at
// most an hour.
func parseRetryAfter(v string) time.Duration {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, time.Hour)
}
