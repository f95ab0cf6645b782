package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestClientIP_XForwardedForOnlyBehindTrustedProxies(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name       string
		remoteAddr string
		xff        string
		want       string
	}{
		{"untrusted peer ignores the header", "203.0.113.5:4000", "198.51.100.1", "203.0.113.5"},
		{"trusted peer without the header", "10.0.0.2:4000", "", "10.0.0.2"},
		{"trusted peer, one client", "10.0.0.2:4000", "198.51.100.1", "198.51.100.1"},
		{"right-most untrusted hop wins over a spoofed left", "10.0.0.2:4000", "1.1.1.1, 198.51.100.1", "198.51.100.1"},
		{"trusted hops are skipped", "10.0.0.2:4000", "198.51.100.1, 10.0.0.9, 10.0.0.3", "198.51.100.1"},
		{"only trusted hops", "10.0.0.2:4000", "10.0.0.9", "10.0.0.2"},
		{"garbage hop stops the walk", "10.0.0.2:4000", "198.51.100.1, not-an-ip", "10.0.0.2"},
		{"IPv6 trusted peer", "[::1]:4000", "2001:db8::7", "2001:db8::7"},
		{"IPv4-mapped client", "10.0.0.2:4000", "::ffff:198.51.100.1", "198.51.100.1"},
		{"peer without a port", "203.0.113.5", "198.51.100.1", "203.0.113.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remoteAddr
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := clientIP(r, trusted); got != tt.want {
				t.Errorf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSaneRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   string
		want bool
	}{
		{"abc-123_DEF.4", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"has space", false},
		{"line\nbreak", false},
		{"quote\"", false},
		{"ünïcode", false},
		{"semi;colon", false},
	}
	for _, tt := range tests {
		if got := saneRequestID(tt.id); got != tt.want {
			t.Errorf("saneRequestID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
	if a, b := newRequestID(), newRequestID(); a == b || !saneRequestID(a) || len(a) != 24 {
		t.Errorf("newRequestID gave %q and %q, want distinct sane 24-character IDs", a, b)
	}
}

// queryIsText is requireTextQuery's rule read off url.ParseQuery's map: every name and value
// it keeps is valid UTF-8 without NUL.
func queryIsText(raw string) bool {
	values, _ := url.ParseQuery(raw)
	for name, vs := range values {
		for _, v := range append(vs, name) {
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				return false
			}
		}
	}
	return true
}

// FuzzRequireTextQuery holds requireTextQuery, which walks the raw query without building
// url.ParseQuery's map, to the same verdict as that map.
func FuzzRequireTextQuery(f *testing.F) {
	for _, seed := range []string{"", "async=true", "a=%00", "%FF=1", "a=1;b=%00", "a=%zz&b=%ff", "a&&b=", "x=%C3%A9+y",
		"=%00", "a=1&a=%fe", "%00;=1"} {
		f.Add(seed)
	}
	handler := requireTextQuery(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.RawQuery = raw
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		if got, want := w.Code == http.StatusOK, queryIsText(raw); got != want {
			t.Fatalf("query %q: passed %v, url.ParseQuery's values are text: %v", raw, got, want)
		}
	})
}

func TestSetRateLimitHeaders_WritesEveryValueFromOneString(t *testing.T) {
	w := httptest.NewRecorder()
	before := time.Now()
	setRateLimitHeaders(w, 1000, 998, 90*time.Second+time.Millisecond, 15*time.Minute)
	h := w.Header()
	want := map[string]string{"X-Ratelimit-Limit": "1000", "X-Ratelimit-Remaining": "998", "Ratelimit-Policy": "1000;w=900",
		"Ratelimit-Limit": "1000", "Ratelimit-Remaining": "998", "Ratelimit-Reset": "91"}
	for key, value := range want {
		if got := h.Values(key); len(got) != 1 || got[0] != value {
			t.Errorf("%s = %q, want %q", key, got, value)
		}
	}
	reset, err := strconv.ParseInt(h.Get("X-Ratelimit-Reset"), 10, 64)
	if err != nil || reset < before.Add(90*time.Second).Unix() || reset > time.Now().Add(91*time.Second).Unix() {
		t.Errorf("X-RateLimit-Reset = %q, want the unix time 90 s from now", h.Get("X-Ratelimit-Reset"))
	}
	// A later Add to one header leaves the others alone.
	h.Add("X-Ratelimit-Limit", "5")
	if got := h.Values("X-Ratelimit-Remaining"); len(got) != 1 || got[0] != "998" {
		t.Errorf("after an Add to X-RateLimit-Limit, X-RateLimit-Remaining = %q", got)
	}
	// Written twice (the per-IP limit, then the API-call quota), the second set wins.
	setRateLimitHeaders(w, 50, 0, time.Hour, time.Hour)
	if got := h.Values("Ratelimit-Policy"); len(got) != 1 || got[0] != "50;w=3600" {
		t.Errorf("RateLimit-Policy after the second set = %q", got)
	}
	allocs := testing.AllocsPerRun(100, func() { setRateLimitHeaders(w, 100000, 99999, time.Hour, time.Hour) })
	if allocs > 2 {
		t.Errorf("setRateLimitHeaders allocates %.0f times, want at most 2 (one string, one array)", allocs)
	}
}

func FuzzQueryValue_IsParseQueryGet(f *testing.F) {
	for _, raw := range []string{"", "async=true", "a=1&async=1&async=true", "async", "async=", "x;y=1&async=%74rue",
		"async=%zz&async=true", "%61sync=true", "&&async=true&", "async=tr+ue", "a%=1&async=1"} {
		f.Add(raw, "async")
	}
	f.Fuzz(func(t *testing.T, raw, name string) {
		want := ""
		if values, _ := url.ParseQuery(raw); values != nil {
			want = values.Get(name)
		}
		if got := queryValue(raw, name); got != want {
			t.Fatalf("queryValue(%q, %q) = %q, url.ParseQuery says %q", raw, name, got, want)
		}
	})
}
