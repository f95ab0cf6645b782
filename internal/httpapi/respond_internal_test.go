package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wagateway/gateway/internal/config"
	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/model"
)

// respondTestLogs is a goroutine-safe log sink.
type respondTestLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *respondTestLogs) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *respondTestLogs) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newRespondTestServer builds a Server from a minimal configuration (BODY_LIMIT_BYTES=1024)
// and a router with the gateway's middleware chain; mount adds the routes under test.
func newRespondTestServer(t *testing.T, mount func(s *Server, r chi.Router)) (http.Handler, *Server, *respondTestLogs) {
	t.Helper()
	vars := map[string]string{"APP_ENV": "test", "BODY_LIMIT_BYTES": "1024", "LOG_LEVEL": "debug"}
	cfg, err := config.Load(func(name string) string { return vars[name] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &respondTestLogs{}
	s := NewServer(Deps{
		Config:  cfg,
		Logger:  slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: metrics.New(),
	})
	r := chi.NewRouter()
	r.NotFound(notFound)
	r.MethodNotAllowed(methodNotAllowed(r))
	r.Use(s.requestContext, s.observe, s.recoverPanics, securityHeaders)
	mount(s, r)
	return r, s, logs
}

// respondEchoRequest exercises decode and validateStruct.
type respondEchoRequest struct {
	Name  string   `json:"name" validate:"required,min=2"`
	Email string   `json:"email" validate:"required,email"`
	Age   int      `json:"age" validate:"omitempty,gte=18"`
	Tags  []string `json:"tags" validate:"max=2"`
	Inner struct {
		Count int `json:"count" validate:"lte=5"`
	} `json:"inner"`
}

// respondOptionalRequest has no required field, so an empty body is valid.
type respondOptionalRequest struct {
	Note string `json:"note" validate:"omitempty,max=10"`
}

func respondMountEcho(s *Server, r chi.Router) {
	body := r.With(s.limitBody, requireJSON)
	body.Post("/echo", func(w http.ResponseWriter, r *http.Request) {
		var req respondEchoRequest
		if err := decode(r, &req); err != nil {
			respondError(w, r, err)
			return
		}
		respond(w, http.StatusOK, "echoed", req)
	})
	body.Post("/optional", func(w http.ResponseWriter, r *http.Request) {
		var req respondOptionalRequest
		if err := decode(r, &req); err != nil {
			respondError(w, r, err)
			return
		}
		respond(w, http.StatusCreated, "", req)
	})
}

type respondErrorBody struct {
	Success   bool               `json:"success"`
	Timestamp string             `json:"timestamp"`
	Error     string             `json:"error"`
	Message   string             `json:"message"`
	Type      string             `json:"type"`
	Details   []model.FieldError `json:"details"`
	RequestID string             `json:"requestId"`
}

func respondDecodeError(t *testing.T, rec *httptest.ResponseRecorder) respondErrorBody {
	t.Helper()
	var b respondErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body is not JSON (%v): %s", err, rec.Body)
	}
	if b.Success {
		t.Errorf("success = true in an error body: %s", rec.Body)
	}
	if b.Error == "" || b.Error != b.Message {
		t.Errorf("error %q and message %q differ or are empty", b.Error, b.Message)
	}
	if _, err := time.Parse(time.RFC3339Nano, b.Timestamp); err != nil {
		t.Errorf("timestamp %q is not RFC 3339: %v", b.Timestamp, err)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	return b
}

// respondQuietRequest is a request whose context carries a discarding logger, for calling
// respondError without the middleware chain.
func respondQuietRequest(ctx context.Context) *http.Request {
	info := requestInfoFrom(ctx)
	if info == nil {
		info = &requestInfo{}
		ctx = context.WithValue(ctx, requestKey, info)
	}
	info.base = slog.New(slog.DiscardHandler)
	return httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
}

func respondPost(h http.Handler, path, contentType, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func respondFields(details []model.FieldError) []string {
	var fields []string
	for _, d := range details {
		fields = append(fields, d.Field)
	}
	slices.Sort(fields)
	return fields
}

func TestDecode_ValidBody_IsDecoded(t *testing.T) {
	t.Parallel()
	h, _, _ := newRespondTestServer(t, respondMountEcho)

	rec := respondPost(h, "/echo", "application/json; charset=utf-8",
		`{"name":"Ada","email":"ada@example.com","age":36,"tags":["x"],"unknown":"ignored"}`)

	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, body %s", rec.Code, rec.Body)
	}
	var got struct {
		Success bool               `json:"success"`
		Message string             `json:"message"`
		Data    respondEchoRequest `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if !got.Success || got.Message != "echoed" || got.Data.Name != "Ada" || got.Data.Age != 36 {
		t.Errorf("body = %+v", got)
	}
}

func TestDecode_BadBodies_AnswerTheRightError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		status      int
		kind        model.Kind
		fields      []string // details, sorted; nil when none are expected
	}{
		{name: "malformed JSON", path: "/echo", contentType: "application/json", body: `{"name":`,
			status: 400, kind: model.KindBadRequest},
		{name: "not an object", path: "/echo", contentType: "application/json", body: `["a"]`,
			status: 400, kind: model.KindBadRequest},
		{name: "trailing garbage", path: "/echo", contentType: "application/json", body: `{"name":"Ada"} x`,
			status: 400, kind: model.KindBadRequest},
		{name: "wrong-typed field", path: "/echo", contentType: "application/json",
			body: `{"name":5,"email":"ada@example.com"}`, status: 400, kind: model.KindValidation, fields: []string{"name"}},
		{name: "wrong-typed nested field", path: "/echo", contentType: "application/json",
			body: `{"name":"Ada","email":"ada@example.com","inner":{"count":"many"}}`, status: 400, kind: model.KindValidation, fields: []string{"inner.count"}},
		{name: "several invalid fields", path: "/echo", contentType: "application/json",
			body:   `{"name":"A","email":"nope","age":3,"tags":["a","b","c"],"inner":{"count":9}}`,
			status: 400, kind: model.KindValidation, fields: []string{"age", "email", "inner.count", "name", "tags"}},
		{name: "wrong-typed field and a missing one", path: "/echo", contentType: "application/json",
			body: `{"name":5}`, status: 400, kind: model.KindValidation, fields: []string{"email", "name"}},
		{name: "empty body counts as {}", path: "/echo", contentType: "application/json", body: ``,
			status: 400, kind: model.KindValidation, fields: []string{"email", "name"}},
		{name: "blank body counts as {}", path: "/echo", contentType: "application/json", body: " \n ",
			status: 400, kind: model.KindValidation, fields: []string{"email", "name"}},
		{name: "text/plain", path: "/echo", contentType: "text/plain", body: `{"name":"Ada"}`,
			status: 415, kind: model.KindUnsupportedMediaType},
		{name: "form", path: "/echo", contentType: "application/x-www-form-urlencoded", body: `name=Ada`,
			status: 415, kind: model.KindUnsupportedMediaType},
		{name: "no content type", path: "/echo", body: `{"name":"Ada"}`,
			status: 415, kind: model.KindUnsupportedMediaType},
		{name: "over the limit with Content-Length", path: "/echo", contentType: "application/json",
			body: `{"name":"` + strings.Repeat("a", 2000) + `"}`, status: 413, kind: model.KindPayloadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, _, _ := newRespondTestServer(t, respondMountEcho)
			rec := respondPost(h, tt.path, tt.contentType, tt.body)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			b := respondDecodeError(t, rec)
			if b.Type != string(tt.kind) {
				t.Errorf("type = %q, want %q", b.Type, tt.kind)
			}
			if got := respondFields(b.Details); !slices.Equal(got, tt.fields) {
				t.Errorf("detail fields = %v, want %v (body %s)", got, tt.fields, rec.Body)
			}
			for _, d := range b.Details {
				if d.Message == "" {
					t.Errorf("detail %q has no message", d.Field)
				}
			}
		})
	}
}

func TestDecode_WrongTypedField_NamesTheExpectedType(t *testing.T) {
	t.Parallel()
	h, _, _ := newRespondTestServer(t, respondMountEcho)
	rec := respondPost(h, "/echo", "application/json", `{"name":true,"email":"ada@example.com"}`)
	b := respondDecodeError(t, rec)
	if len(b.Details) != 1 || b.Details[0].Message != "must be of type string" {
		t.Errorf("details = %+v, want name: must be of type string", b.Details)
	}
}

func TestDecode_EmptyBodyWithoutRequiredFields_IsValid(t *testing.T) {
	t.Parallel()
	h, _, _ := newRespondTestServer(t, respondMountEcho)
	for _, contentType := range []string{"", "application/json"} {
		if rec := respondPost(h, "/optional", contentType, ""); rec.Code != http.StatusCreated {
			t.Errorf("Content-Type %q, empty body: status = %d, body %s", contentType, rec.Code, rec.Body)
		}
	}
	if rec := respondPost(h, "/optional", "application/merge-patch+json", `{"note":"hi"}`); rec.Code != http.StatusCreated {
		t.Errorf("a +json media type: status = %d, body %s", rec.Code, rec.Body)
	}
}

func TestDecode_ChunkedBodyOverTheLimit_Returns413(t *testing.T) {
	t.Parallel()
	h, _, _ := newRespondTestServer(t, respondMountEcho)
	var seenLength atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenLength.Store(r.ContentLength)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	// An io.Reader of unknown length is sent chunked, without Content-Length, so only the
	// reading side can notice the size.
	body := io.MultiReader(strings.NewReader(`{"name":"`), strings.NewReader(strings.Repeat("a", 4096)), strings.NewReader(`"}`))
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/echo", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if n := seenLength.Load(); n != -1 {
		t.Fatalf("the server saw Content-Length %d, want a chunked body (-1)", n)
	}
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413; body %s", res.StatusCode, raw)
	}
	var b respondErrorBody
	if err := json.Unmarshal(raw, &b); err != nil || b.Type != string(model.KindPayloadTooLarge) {
		t.Errorf("body = %s (%v), want type payload_too_large", raw, err)
	}
}

func TestDecode_ChunkedNonJSON_Returns415(t *testing.T) {
	t.Parallel()
	h, _, _ := newRespondTestServer(t, respondMountEcho)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/echo",
		io.MultiReader(strings.NewReader("name=Ada")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("status = %d, want 415", res.StatusCode)
	}
}

func TestRecoverPanics_PanickingHandler_Returns500WithoutLeakingAndLogsTheStack(t *testing.T) {
	t.Parallel()
	h, _, logs := newRespondTestServer(t, func(_ *Server, r chi.Router) {
		r.Get("/panic", func(http.ResponseWriter, *http.Request) {
			panic("secret-panic-text at db-primary.internal")
		})
	})
	req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/panic", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, body %s", rec.Code, rec.Body)
	}
	b := respondDecodeError(t, rec)
	if b.Type != string(model.KindInternal) || b.Message != "Internal server error" {
		t.Errorf("body = %+v, want internal_error with the generic message", b)
	}
	if b.RequestID == "" || b.RequestID != rec.Header().Get("X-Request-ID") {
		t.Errorf("requestId = %q, X-Request-ID = %q; want the same non-empty ID", b.RequestID, rec.Header().Get("X-Request-ID"))
	}
	if strings.Contains(rec.Body.String(), "secret-panic-text") || strings.Contains(rec.Body.String(), "db-primary") {
		t.Errorf("the panic leaked into the response: %s", rec.Body)
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Error("security headers missing on the 500")
	}
	out := logs.String()
	for _, want := range []string{"panic in handler", "secret-panic-text", "goroutine", b.RequestID} {
		if !strings.Contains(out, want) {
			t.Errorf("logs do not contain %q:\n%s", want, out)
		}
	}
}

func TestRecoverPanics_ErrAbortHandler_IsNotTurnedInto500(t *testing.T) {
	t.Parallel()
	h, _, logs := newRespondTestServer(t, func(_ *Server, r chi.Router) {
		r.Get("/abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	})
	srv := httptest.NewUnstartedServer(h)
	// net/http logs the aborted connection; keep it out of the test output.
	srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	srv.Start()
	t.Cleanup(srv.Close)

	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/abort", nil)
	res, err := srv.Client().Do(req)
	if err == nil {
		res.Body.Close()
		t.Fatalf("an aborted handler answered %d, want the connection dropped", res.StatusCode)
	}
	if strings.Contains(logs.String(), "panic in handler") {
		t.Error("http.ErrAbortHandler was logged as a panic")
	}
}

func TestRespondError_InternalError_NeverLeaksItsTextButLogsIt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
	}{
		{"plain error", fmt.Errorf("list users: %w",
			errors.New(`ERROR: relation "users" does not exist: SELECT id FROM users (host db-primary.internal:5432)`))},
		{"internal model error", &model.Error{Kind: model.KindInternal,
			Message: "SELECT id FROM users on db-primary.internal", Err: errors.New("boom")}},
		{"unknown kind", &model.Error{Kind: model.Kind("surprise"), Message: "SELECT 1 on db-primary.internal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, _, logs := newRespondTestServer(t, func(_ *Server, r chi.Router) {
				r.Get("/fail", func(w http.ResponseWriter, r *http.Request) { respondError(w, r, tt.err) })
			})
			req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/fail", nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if rec.Code != http.StatusInternalServerError {
				t.Fatalf("status = %d", rec.Code)
			}
			b := respondDecodeError(t, rec)
			if b.Type != string(model.KindInternal) || b.Message != "Internal server error" {
				t.Errorf("body = %+v, want internal_error with the generic message", b)
			}
			for _, secret := range []string{"SELECT", "db-primary", "relation"} {
				if strings.Contains(rec.Body.String(), secret) {
					t.Errorf("response leaks %q: %s", secret, rec.Body)
				}
			}
			if !strings.Contains(logs.String(), "db-primary.internal") || !strings.Contains(logs.String(), b.RequestID) {
				t.Errorf("the error and request ID were not logged:\n%s", logs)
			}
		})
	}
}

func TestRespondError_MapsEveryKindToItsStatus(t *testing.T) {
	t.Parallel()
	// api.md, "Envelope": the status of every error type.
	tests := []struct {
		kind   model.Kind
		status int
	}{
		{model.KindValidation, 400},
		{model.KindBadRequest, 400},
		{model.KindUnauthorized, 401},
		{model.KindForbidden, 403},
		{model.KindNotFound, 404},
		{model.KindMethodNotAllowed, 405},
		{model.KindConflict, 409},
		{model.KindPayloadTooLarge, 413},
		{model.KindUnsupportedMediaType, 415},
		{model.KindRateLimited, 429},
		{model.KindWorker, 502},
		{model.KindConnectivity, 503},
		{model.KindMaintenance, 503},
		{model.KindInternal, 500},
	}
	if len(tests) != len(statusOf) {
		t.Errorf("the table has %d kinds, statusOf %d: a kind is untested or unmapped", len(tests), len(statusOf))
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			err := fmt.Errorf("wrapped: %w", model.Errorf(tt.kind, "human text for %s", tt.kind))
			req := respondQuietRequest(context.WithValue(context.Background(), requestKey, &requestInfo{id: "req-1"}))
			rec := httptest.NewRecorder()
			respondError(rec, req, err)

			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			b := respondDecodeError(t, rec)
			if b.Type != string(tt.kind) {
				t.Errorf("type = %q, want %q", b.Type, tt.kind)
			}
			wantMessage := "human text for " + string(tt.kind)
			if tt.kind == model.KindInternal {
				wantMessage = "Internal server error"
			}
			if b.Message != wantMessage {
				t.Errorf("message = %q, want %q", b.Message, wantMessage)
			}
			if wantID := tt.status >= 500; (b.RequestID == "req-1") != wantID {
				t.Errorf("requestId = %q; want it exactly on 5xx", b.RequestID)
			}
		})
	}
}

func TestRespondError_SentinelsAndDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		status  int
		kind    model.Kind
		message string
	}{
		{"not found sentinel", fmt.Errorf("get session s1: %w", model.ErrNotFound), 404, model.KindNotFound, "Resource not found"},
		{"conflict sentinel", fmt.Errorf("insert: %w: users_email_lower_key", model.ErrConflict), 409, model.KindConflict,
			"Conflict with the current state of the resource"},
		{"kind without message", &model.Error{Kind: model.KindUnauthorized}, 401, model.KindUnauthorized, "Authentication required"},
		{"kind without message or default", &model.Error{Kind: model.KindMaintenance}, 503, model.KindMaintenance, "Service Unavailable"},
		{"worker message passed on", model.Errorf(model.KindWorker, "Session is not connected"), 502, model.KindWorker, "Session is not connected"},
	}
	for _, tt := range tests {
		req := respondQuietRequest(context.Background())
		rec := httptest.NewRecorder()
		respondError(rec, req, tt.err)
		b := respondDecodeError(t, rec)
		if rec.Code != tt.status || b.Type != string(tt.kind) || b.Message != tt.message {
			t.Errorf("%s: %d %q %q, want %d %q %q", tt.name, rec.Code, b.Type, b.Message, tt.status, tt.kind, tt.message)
		}
		if strings.Contains(rec.Body.String(), "users_email_lower_key") {
			t.Errorf("%s: the constraint name leaked: %s", tt.name, rec.Body)
		}
	}
}

func TestRespondError_RateLimited_SetsRetryAfterInWholeSeconds(t *testing.T) {
	t.Parallel()
	req := respondQuietRequest(context.Background())
	rec := httptest.NewRecorder()
	respondError(rec, req, &model.Error{Kind: model.KindRateLimited, Message: "slow down", RetryAfter: 1500 * time.Millisecond})
	if got := rec.Header().Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2 (rounded up)", got)
	}
}

func TestRespondError_ValidationDetails_AreListed(t *testing.T) {
	t.Parallel()
	req := respondQuietRequest(context.Background())
	rec := httptest.NewRecorder()
	respondError(rec, req, model.ValidationError(
		model.FieldError{Field: "email", Message: "must be a valid email"},
		model.FieldError{Field: "password", Message: "is required"},
	))
	b := respondDecodeError(t, rec)
	if rec.Code != 400 || b.Type != "validation_error" || !slices.Equal(respondFields(b.Details), []string{"email", "password"}) {
		t.Errorf("got %d %+v", rec.Code, b)
	}
}

func TestValidateStruct_MessagesPerTag(t *testing.T) {
	t.Parallel()
	type request struct {
		Email   string   `json:"email" validate:"required,email"`
		URL     string   `json:"url" validate:"omitempty,url"`
		ID      string   `json:"id" validate:"omitempty,uuid"`
		Tier    string   `json:"tier" validate:"omitempty,oneof=BASIC PRO MAX"`
		Name    string   `json:"name" validate:"min=2,max=3"`
		Items   []int    `json:"items" validate:"min=1"`
		Limit   int      `json:"limit" validate:"min=1"`
		Code    string   `json:"code" validate:"len=4"`
		Slug    string   `json:"slug" validate:"omitempty,alphanum"`
		Version string   `json:"version" validate:"omitempty,semver"`
		Ignored string   `json:"-" validate:"omitempty,min=100"`
		Many    []string `json:"many" validate:"max=1"`
		Big     int      `json:"big" validate:"lte=3"`
		Small   int      `json:"small" validate:"gte=3"`
		Other   string   `json:"other" validate:"omitempty,hexadecimal"`
	}
	err := validateStruct(&request{
		URL: "notaurl", ID: "x", Tier: "GOLD", Name: "a", Code: "12345", Slug: "a-b",
		Version: "one", Many: []string{"a", "b"}, Big: 4, Other: "zz",
	})
	var e *model.Error
	if !errors.As(err, &e) || e.Kind != model.KindValidation {
		t.Fatalf("validateStruct = %v, want a validation error", err)
	}
	want := map[string]string{
		"email":   "is required",
		"url":     "must be a valid http or https URL",
		"id":      "must be a UUID",
		"tier":    "must be one of BASIC, PRO, MAX",
		"name":    "must be at least 2 characters",
		"items":   "must have at least 1 items",
		"limit":   "must be at least 1",
		"code":    "must be exactly 4 characters",
		"slug":    "must contain only letters and digits",
		"version": "must be a version such as 1.0.0",
		"many":    "must have at most 1 items",
		"big":     "must be less than or equal to 3",
		"small":   "must be greater than or equal to 3",
		"other":   "is invalid (hexadecimal)",
	}
	got := map[string]string{}
	for _, d := range e.Details {
		got[d.Field] = d.Message
	}
	for field, msg := range want {
		if got[field] != msg {
			t.Errorf("%s: %q, want %q", field, got[field], msg)
		}
	}
	if len(got) != len(want) {
		t.Errorf("details = %v, want exactly the fields %v", got, want)
	}
	if err := validateStruct(&respondOptionalRequest{}); err != nil {
		t.Errorf("a valid struct: %v", err)
	}
}

func TestObserve_MetricsUseTheRoutePatternNotThePath(t *testing.T) {
	t.Parallel()
	h, s, logs := newRespondTestServer(t, func(_ *Server, r chi.Router) {
		r.Get("/items/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	})
	for _, id := range []string{"item-8f3a1c", "item-77b0d2"} {
		req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/items/"+id+"?token=querysecret", nil)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}

	rec := httptest.NewRecorder()
	s.metricsHandler().ServeHTTP(rec, httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/metrics", nil))
	out := rec.Body.String()
	if want := `gateway_http_requests_total{method="GET",route="/items/{id}",status="204"} 2`; !strings.Contains(out, want) {
		t.Errorf("metrics do not contain %s", want)
	}
	if strings.Contains(out, "item-8f3a1c") {
		t.Error("metrics contain the raw path")
	}
	if !strings.Contains(out, `gateway_http_request_duration_seconds_count{method="GET",route="/items/{id}"} 2`) {
		t.Error("latency histogram missing for the route pattern")
	}
	// The access log names the path, never the query string.
	if !strings.Contains(logs.String(), `"path":"/items/item-8f3a1c"`) || !strings.Contains(logs.String(), `"route":"/items/{id}"`) ||
		!strings.Contains(logs.String(), `"msg":"request"`) || strings.Contains(logs.String(), "querysecret") {
		t.Errorf("access log = %s", logs)
	}
}

// TestRespondError_ClientHungUp_Logs499NotAFailure: a request whose client went away ends
// with context canceled; that is logged as 499 at info level, never as a 500 "request
// failed". The same error while the client still waits is an internal error.
func TestRespondError_ClientHungUp_Logs499NotAFailure(t *testing.T) {
	t.Parallel()
	h, _, logs := newRespondTestServer(t, func(_ *Server, r chi.Router) {
		r.Get("/slow", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
			respondError(w, r, fmt.Errorf("record send: %w", r.Context().Err()))
		})
		r.Get("/canceled-inside", func(w http.ResponseWriter, r *http.Request) {
			respondError(w, r, fmt.Errorf("worker call: %w", context.Canceled))
		})
	})
	ctx, cancel := context.WithCancel(context.Background())
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/slow", nil))
		close(done)
	}()
	cancel()
	<-done
	if rec.Code != statusClientClosedRequest {
		t.Errorf("client gone: status %d, want 499", rec.Code)
	}
	out := logs.String()
	if strings.Contains(out, `"level":"ERROR"`) || !strings.Contains(out, "client closed the request") ||
		!strings.Contains(out, `"status":499`) {
		t.Errorf("logs for a client that hung up:\n%s", out)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/canceled-inside", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("canceled inside while the client waits: status %d, want 500", rec.Code)
	}
}
