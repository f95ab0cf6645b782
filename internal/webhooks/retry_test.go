package webhooks

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryPolicy_BacksOffExponentiallyWithJitterAndEndsAboutADayAfterTheFirst(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{Base: 10 * time.Second, Window: 24 * time.Hour}
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := first
	var last time.Time
	for attempt := 1; ; attempt++ {
		next, ok := p.Next(attempt, first, now, 0)
		if !ok {
			if attempt < 10 || attempt > 30 {
				t.Fatalf("gave up after %d attempts", attempt)
			}
			break
		}
		delay := next.Sub(now)
		backoff := p.Base << (attempt - 1)
		if next.Before(first.Add(p.Window)) && (delay < backoff/2 || delay > backoff) {
			t.Fatalf("attempt %d: delay %s, want between %s and %s", attempt, delay, backoff/2, backoff)
		}
		now, last = next, next
	}
	if want := first.Add(24 * time.Hour); !last.Equal(want) {
		t.Fatalf("last retry at %s, want the end of the window %s", last, want)
	}
}

func TestRetryPolicy_HonoursRetryAfterWithinTheWindow(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{Base: 50 * time.Millisecond, Window: time.Hour}
	now := time.Now()
	next, ok := p.Next(1, now, now, 30*time.Second)
	if !ok || next.Sub(now) < 30*time.Second {
		t.Fatalf("next %s after now, want at least the 30 s of Retry-After", next.Sub(now))
	}
	next, _ = p.Next(1, now, now, 2*time.Hour)
	if next.After(now.Add(time.Hour)) {
		t.Fatal("Retry-After moved the retry past the window")
	}
}

func TestRetryable_ByStatusClass(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]bool{
		http.StatusRequestTimeout: true, http.StatusTooManyRequests: true, 500: true, 502: true, 503: true, 504: true,
		400: false, 401: false, 403: false, 404: false, 410: false, 422: false, 301: false, 302: false,
	} {
		if got := retryable(status); got != want {
			t.Errorf("retryable(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"": 0, "5": 5 * time.Second, "-1": 0, "soon": 0, "Wed, 21 Oct 2015 07:28:00 GMT": 0, "999999": time.Hour,
	} {
		if got := parseRetryAfter(in); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestStorableText_IsValidUTF8WithoutNUL(t *testing.T) {
	t.Parallel()
	if got := storableText([]byte("ok\x00\xff!")); got != "ok\uFFFD!" {
		t.Fatalf("storableText = %q", got)
	}
}
