package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"iter"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/cors"
	"github.com/klauspost/compress/gzhttp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagateway/gateway/internal/model"
)

type ctxKey int

const (
	requestKey ctxKey = iota
)

// requestInfo is what requestContext knows of a request, in its context as one value.
type requestInfo struct {
	id, ip string
	base   *slog.Logger
	// principal names who made the request in the access log (setPrincipal).
	principal string
	// scheduled is a send's validated scheduledAt, for finishSend (setScheduled).
	scheduled *time.Time
	// logger is base with the request ID, made on first use: most requests log only the
	// access line, which names the ID itself.
	once   sync.Once
	logger *slog.Logger
}

func requestInfoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestKey).(*requestInfo)
	return info
}

func requestIDFrom(ctx context.Context) string {
	if info := requestInfoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

func loggerFrom(ctx context.Context) *slog.Logger {
	info := requestInfoFrom(ctx)
	if info == nil {
		return slog.Default()
	}
	info.once.Do(func() { info.logger = info.base.With(slog.String("request_id", info.id)) })
	return info.logger
}

func clientIPFrom(ctx context.Context) string {
	if info := requestInfoFrom(ctx); info != nil {
		return info.ip
	}
	return ""
}

// saneRequestID accepts a client's X-Request-ID only when it cannot hurt logs or headers.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	return strings.IndexFunc(id, func(c rune) bool {
		return (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' && c != '.'
	}) < 0
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requestContext gives each request an ID (the client's when sane), its client IP and a
// logger carrying both.
func (s *Server) requestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !saneRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		info := &requestInfo{id: id, ip: clientIP(r, s.cfg.TrustedProxies), base: s.logger}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestKey, info)))
	})
}

// clientIP is the peer address, or, when the peer is a trusted proxy, the right-most address
// of X-Forwarded-For that is not itself a trusted proxy.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !isTrusted(peer, trusted) {
		return host
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !isTrusted(addr.Unmap(), trusted) {
			return addr.Unmap().String()
		}
	}
	return host
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

// recoverPanics answers a panicking handler with a 500 envelope and logs the stack.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler { //nolint:errorlint // the sentinel is compared as net/http does
				panic(rec)
			}
			loggerFrom(r.Context()).ErrorContext(r.Context(), "panic in handler",
				slog.Any("panic", rec), slog.String("stack", string(debug.Stack())))
			respondError(w, r, fmt.Errorf("panic: %v", rec))
		}()
		next.ServeHTTP(w, r)
	})
}

// observe writes the access log line and the HTTP metrics of each request. The route label is
// chi's pattern, so metrics never get one series per session ID.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)

		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		route := routeOf(chi.RouteContext(r.Context()))
		elapsed := time.Since(start)
		series := s.seriesOf(route, r.Method, status)
		series.requests.Inc()
		series.duration.Observe(elapsed.Seconds())

		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelError
		case status >= 400:
			level = slog.LevelWarn
		case route == "/health" || route == "/metrics":
			level = slog.LevelDebug
		}
		h := s.logger.Handler()
		if !h.Enabled(r.Context(), level) {
			return
		}
		info := requestInfoFrom(r.Context())
		line := AccessLine{Method: r.Method, Path: r.URL.Path, // the path only: query strings may carry tokens
			Route: route, Status: status, Duration: elapsed, Bytes: ww.BytesWritten(), UserAgent: r.UserAgent()}
		if info != nil {
			line.RequestID, line.IP, line.Principal = info.id, info.ip, info.principal
		}
		if fast, ok := h.(AccessLogger); ok {
			fast.LogAccess(r.Context(), level, "request", &line)
			return
		}
		// The access line names the request ID itself. It is handed to the handler directly:
		// Logger.LogAttrs would take the caller's program counter, which no line shows.
		record := slog.NewRecord(time.Now(), level, "request", 0)
		record.AddAttrs(line.attrs()...)
		_ = h.Handle(r.Context(), record)
	})
}

// requestSeries are the metric series of one route, method and status.
type requestSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

type seriesKey struct {
	route, method string
	status        int
}

// seriesOf finds the metric series of a request, cached: WithLabelValues hashes and checks
// every label and formats the status on each call. Only the standard methods are cached (the
// cache's size is then bounded by the routes), as a client may send any method.
func (s *Server) seriesOf(route, method string, status int) *requestSeries {
	key := seriesKey{route, method, status}
	if cached, ok := s.series.Load(key); ok {
		return cached.(*requestSeries)
	}
	series := &requestSeries{requests: s.metrics.HTTPRequests.WithLabelValues(route, method, strconv.Itoa(status)),
		duration: s.metrics.HTTPRequestDuration.WithLabelValues(route, method)}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		s.series.Store(key, series)
	}
	return series
}

// routes caches the route patterns of observe by chi's pieces of them (at most four: the
// API's mounts nest three deep): chi's RoutePattern joins and rewrites them on every call.
var routes sync.Map // [4]string → string

// routeOf is the request's route pattern, "unmatched" when it has none.
func routeOf(rctx *chi.Context) string {
	if rctx == nil {
		return "unmatched"
	}
	var key [4]string
	if len(rctx.RoutePatterns) > len(key) {
		return patternOr(rctx.RoutePattern(), "unmatched")
	}
	copy(key[:], rctx.RoutePatterns)
	if route, ok := routes.Load(key); ok {
		return route.(string)
	}
	route := patternOr(rctx.RoutePattern(), "unmatched")
	routes.Store(key, route)
	return route
}

func patternOr(pattern, none string) string {
	if pattern == "" {
		return none
	}
	return pattern
}

// setPrincipal names who made the request ("user:<id>", "worker:<id>") in the access log.
func setPrincipal(ctx context.Context, who string) {
	if info := requestInfoFrom(ctx); info != nil {
		info.principal = who
	}
}

// securityHeaders sets the helmet set of the original on every response.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// The keys are canonical and the values never change: no Set, no allocation.
		for k, v := range helmetHeaders {
			h[k] = v
		}
		next.ServeHTTP(w, r)
	})
}

// helmetHeaders are the headers securityHeaders sets, by canonical key. Handlers never append
// to them (they Set, which replaces the slice), so every response may share these slices.
var helmetHeaders = func() http.Header {
	h := http.Header{}
	h.Set("Content-Security-Policy", "default-src 'self';style-src 'self' 'unsafe-inline';script-src 'self';"+
		"img-src 'self' data: https:;connect-src 'self';font-src 'self' data:;object-src 'none';media-src 'self';"+
		"frame-src 'none';base-uri 'self';form-action 'self';frame-ancestors 'self';script-src-attr 'none';"+
		"upgrade-insecure-requests")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("Origin-Agent-Cluster", "?1")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains; preload")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-DNS-Prefetch-Control", "off")
	h.Set("X-Download-Options", "noopen")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("X-Permitted-Cross-Domain-Policies", "none")
	h.Set("X-XSS-Protection", "0")
	return h
}()

func (s *Server) corsHandler() func(http.Handler) http.Handler {
	return cors.Handler(cors.Options{
		AllowedOrigins:   s.cfg.CORSOrigins,
		AllowedMethods:   []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"},
		AllowedHeaders:   []string{"Content-Type", "Authorization", "X-API-Key", "Idempotency-Key", "X-Request-ID", "Prefer", "Last-Event-ID"},
		ExposedHeaders:   []string{"X-Request-ID", "X-Total-Count", "X-Page-Count", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"},
		AllowCredentials: true,
		MaxAge:           600,
	})
}

// limitBody caps request bodies; decode answers 413 when a body goes over.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.BodyLimitBytes {
			respondError(w, r, model.Errorf(model.KindPayloadTooLarge, "Request body is larger than %d bytes", s.cfg.BodyLimitBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.BodyLimitBytes)
		next.ServeHTTP(w, r)
	})
}

// requireJSON refuses a request body that is not application/json.
func requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hasBody := r.ContentLength > 0 || (r.ContentLength == -1 && r.Body != nil && r.Body != http.NoBody)
		if hasBody && r.Method != http.MethodGet && r.Method != http.MethodHead {
			mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || (mediaType != "application/json" && !strings.HasSuffix(mediaType, "+json")) {
				respondError(w, r, model.Errorf(model.KindUnsupportedMediaType, "Content-Type must be application/json"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// requireTextQuery refuses a query string whose names or values, decoded, are not valid UTF-8
// or hold a NUL: no parameter of the API means anything in that form, and PostgreSQL text can
// store neither (?search=%FF reached the database and failed as a 500).
func requireTextQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for name, value := range queryPairs(r.URL.RawQuery) {
			for _, v := range [2]string{name, value} {
				if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
					respondError(w, r, model.Errorf(model.KindBadRequest, "Query parameter %q is not valid UTF-8 text", name))
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// queryPairs yields the decoded name and value of each pair of a raw query that
// url.ParseQuery keeps, in order, without building its map: every request reads the query.
func queryPairs(raw string) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for rest := raw; rest != ""; {
			var pair string
			pair, rest, _ = strings.Cut(rest, "&")
			if pair == "" || strings.Contains(pair, ";") {
				continue // url.ParseQuery refuses a pair with a semicolon and skips it
			}
			rawName, rawValue, _ := strings.Cut(pair, "=")
			name, err := url.QueryUnescape(rawName)
			if err != nil {
				continue // url.ParseQuery skips it too
			}
			value, err := url.QueryUnescape(rawValue)
			if err != nil {
				continue
			}
			if !yield(name, value) {
				return
			}
		}
	}
}

// queryValue is url.ParseQuery(raw).Get(name): the first value of name, "" when none.
func queryValue(raw, name string) string {
	for n, v := range queryPairs(raw) {
		if n == name {
			return v
		}
	}
	return ""
}

// globalRateLimit is the per-IP limit of RATE_LIMIT_MAX_REQUESTS per RATE_LIMIT_WINDOW_MS,
// shared by every replica through Redis. When Redis is down requests are let through: the
// limit protects the service, it must not take it down.
func (s *Server) globalRateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := s.keys.Key("ratelimit", "global", clientIPFrom(r.Context()))
		res, err := s.limiter.Allow(r.Context(), key, s.cfg.RateLimitMaxRequests, s.cfg.RateLimitWindow)
		if err != nil {
			loggerFrom(r.Context()).WarnContext(r.Context(), "rate limit unavailable; request let through", slog.Any("err", err))
			next.ServeHTTP(w, r)
			return
		}
		setRateLimitHeaders(w, res.Limit, res.Remaining, res.ResetIn, s.cfg.RateLimitWindow)
		if !res.Allowed {
			s.metrics.RateLimitRejections.WithLabelValues("global").Inc()
			respondError(w, r, &model.Error{Kind: model.KindRateLimited,
				Message: "Too many requests from this IP, please try again later", RetryAfter: res.ResetIn})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// setRateLimitHeaders writes X-RateLimit-* (Reset as a unix time) and the IETF draft
// RateLimit-* headers the original sent (Reset in seconds).
func setRateLimitHeaders(w http.ResponseWriter, limit, remaining int, resetIn, window time.Duration) {
	h := w.Header()
	// The values are formatted into one string, the policy ("<limit>;w=<seconds>") first so
	// that the limit is its prefix, and each header gets a full slice of its own of one array
	// (an Add to one of them copies it rather than writing into the next): two allocations.
	var buf [128]byte
	b := strconv.AppendInt(buf[:0], int64(limit), 10)
	limitEnd := len(b)
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, int64(window/time.Second), 10)
	policyEnd := len(b)
	b = strconv.AppendInt(b, int64(remaining), 10)
	remainingEnd := len(b)
	b = strconv.AppendInt(b, time.Now().Add(resetIn).Unix(), 10)
	resetEnd := len(b)
	b = strconv.AppendInt(b, int64((resetIn+time.Second-1)/time.Second), 10)
	text := string(b)
	limitText, remainingText := text[:limitEnd], text[policyEnd:remainingEnd]
	v := [...]string{limitText, remainingText, text[remainingEnd:resetEnd], text[:policyEnd], limitText, remainingText, text[resetEnd:]}
	vals := v[:]
	// Canonical keys (as Set would make them), assigned without Set's canonicalization.
	h["X-Ratelimit-Limit"] = vals[0:1:1]
	h["X-Ratelimit-Remaining"] = vals[1:2:2]
	h["X-Ratelimit-Reset"] = vals[2:3:3]
	h["Ratelimit-Policy"] = vals[3:4:4]
	h["Ratelimit-Limit"] = vals[4:5:5]
	h["Ratelimit-Remaining"] = vals[5:6:6]
	h["Ratelimit-Reset"] = vals[6:7:7]
}

func notFound(w http.ResponseWriter, r *http.Request) {
	respondError(w, r, model.Errorf(model.KindNotFound, "Route %s %s not found", r.Method, r.URL.Path))
}

// allowableMethods are the methods a 405's Allow header may name (HEAD wherever GET is: the
// GetHead middleware serves it).
var allowableMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// methodNotAllowed answers 405 with the Allow header RFC 9110 requires, listing the methods
// routes has for the path.
func methodNotAllowed(routes chi.Routes) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.RawPath // chi routes on the escaped path when there is one
		if path == "" {
			path = r.URL.Path
		}
		var allowed []string
		for _, m := range allowableMethods {
			if routes.Match(chi.NewRouteContext(), m, path) {
				allowed = append(allowed, m)
				if m == http.MethodGet {
					allowed = append(allowed, http.MethodHead)
				}
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		respondError(w, r, model.Errorf(model.KindMethodNotAllowed, "Method %s is not allowed on %s", r.Method, r.URL.Path))
	}
}

// compressMinSize is the smallest response worth compressing: below it gzip costs more CPU
// (and a compressor's state per response) than the bytes it saves. Most API answers are
// smaller; lists, exports, the OpenAPI document and the Swagger UI are not.
const compressMinSize = 1024

// compress gzips responses of at least compressMinSize bytes of the text types the API and
// its documentation serve, for clients that accept it; streams (SSE) are never compressed.
// Only reads (GET, HEAD) go through it: lists, exports and documents are read, while every
// change answers with one small record, for which the wrapper cost CPU and saved nothing.
var compress = func() func(http.Handler) http.Handler {
	wrap, err := gzhttp.NewWrapper(gzhttp.MinSize(compressMinSize), gzhttp.CompressionLevel(5),
		gzhttp.ContentTypes([]string{"application/json", "text/csv", "text/plain", "text/html", "text/css",
			"text/javascript", "application/javascript", "application/yaml"}))
	if err != nil {
		panic(err) // the options above are constants
	}
	return func(next http.Handler) http.Handler {
		wrapped := wrap(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				wrapped.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}()
