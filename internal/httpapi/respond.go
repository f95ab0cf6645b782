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
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
)

// envelope is the success body of every route (api.md, "Envelope").
type envelope struct {
	Success   bool   `json:"success"`
	Timestamp string `json:"timestamp"`
	Message   string `json:"message,omitempty"`
	Data      any    `json:"data,omitempty"`
}

// errorEnvelope is the error body of every route.
type errorEnvelope struct {
	Success   bool               `json:"success"`
	Timestamp string             `json:"timestamp"`
	Error     string             `json:"error"`
	Message   string             `json:"message"`
	Type      model.Kind         `json:"type"`
	Details   []model.FieldError `json:"details,omitempty"`
	RequestID string             `json:"requestId,omitempty"`
}

// statusClientClosedRequest is the status logged for a request whose client hung up before
// its answer (nginx's 499); no client ever reads it.
const statusClientClosedRequest = 499

// statusOf is the one place that maps an error kind to its HTTP status.
var statusOf = map[model.Kind]int{
	model.KindValidation:           http.StatusBadRequest,
	model.KindBadRequest:           http.StatusBadRequest,
	model.KindUnauthorized:         http.StatusUnauthorized,
	model.KindForbidden:            http.StatusForbidden,
	model.KindNotFound:             http.StatusNotFound,
	model.KindMethodNotAllowed:     http.StatusMethodNotAllowed,
	model.KindConflict:             http.StatusConflict,
	model.KindPayloadTooLarge:      http.StatusRequestEntityTooLarge,
	model.KindUnsupportedMediaType: http.StatusUnsupportedMediaType,
	model.KindRateLimited:          http.StatusTooManyRequests,
	model.KindWorker:               http.StatusBadGateway,
	model.KindConnectivity:         http.StatusServiceUnavailable,
	model.KindMaintenance:          http.StatusServiceUnavailable,
	model.KindInternal:             http.StatusInternalServerError,
}

// defaultMessages are shown when an error carries no client-safe message of its own.
var defaultMessages = map[model.Kind]string{
	model.KindNotFound:     "Resource not found",
	model.KindConflict:     "Conflict with the current state of the resource",
	model.KindUnauthorized: "Authentication required",
	model.KindForbidden:    "You are not allowed to do this",
	model.KindInternal:     "Internal server error",
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body) // the client may be gone; nothing to do about it
}

// respond writes a success envelope.
func respond(w http.ResponseWriter, status int, message string, data any) {
	writeJSON(w, status, envelope{Success: true, Timestamp: now(), Message: message, Data: data})
}

// respondError writes the error envelope for err. Internal errors are logged with the request
// ID and shown to the client only as a generic message.
func respondError(w http.ResponseWriter, r *http.Request, err error) {
	err = store.Unavailable(err) // a database outage is "try again" (503), not an internal error
	if c, ok := w.(interface{ answeredError(err error) }); ok {
		c.answeredError(err) // the idempotency middleware releases a key after a database outage
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client hung up: nobody reads this answer, and nothing failed on our side. The
		// access log shows 499, as proxies do.
		loggerFrom(r.Context()).InfoContext(r.Context(), "client closed the request before its answer", slog.Any("err", err))
		w.WriteHeader(statusClientClosedRequest)
		return
	}
	kind := model.KindOf(err)
	status, ok := statusOf[kind]
	if !ok {
		kind, status = model.KindInternal, http.StatusInternalServerError
	}
	body := errorEnvelope{Success: false, Timestamp: now(), Type: kind}

	var e *model.Error
	if errors.As(err, &e) && e.Kind == kind && kind != model.KindInternal {
		body.Message, body.Details = e.Message, e.Details
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
		}
		if win := e.Window; win != nil {
			// The window that refused the request, not the one an earlier middleware reported.
			setRateLimitHeaders(w, win.Limit, win.Remaining, win.ResetIn, win.Length)
		}
	}
	if body.Message == "" {
		body.Message = defaultMessages[kind]
		if body.Message == "" {
			body.Message = http.StatusText(status)
		}
	}
	body.Error = body.Message

	logger := loggerFrom(r.Context())
	if status >= 500 {
		body.RequestID = requestIDFrom(r.Context())
		logger.ErrorContext(r.Context(), "request failed", slog.Int("status", status), slog.Any("err", err))
	} else if kind == model.KindInternal {
		logger.WarnContext(r.Context(), "request refused", slog.Int("status", status), slog.Any("err", err))
	}
	writeJSON(w, status, body)
}

// validate checks request structs by their `validate` tags and names fields by their json tags.
var validate = newValidator()

func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		if name == "" && f.Anonymous {
			return embeddedField // its fields are the JSON object's own: see fieldPath
		}
		return name
	})
	registerValidations(v)
	return v
}

// decode reads a JSON body into dst and validates it. An empty body counts as {} so that a
// request without one lists every missing field. Unknown fields are ignored (the original's
// clients send extra fields).
func decode(r *http.Request, dst any) error {
	raw, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return model.Errorf(model.KindPayloadTooLarge, "Request body is larger than %d bytes", tooLarge.Limit)
	case err != nil:
		return model.Errorf(model.KindBadRequest, "Could not read the request body")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	if err := checkBodyText(raw); err != nil {
		return err
	}
	if hasEscapedNUL(raw) {
		return model.Errorf(model.KindBadRequest, `Text must not contain NUL characters (\u0000)`)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		decodeErr := jsonError(err)
		// A wrong-typed field leaves the rest of dst decoded: validate it too, so that details
		// lists every failing field and not just the mistyped one.
		var typed, others *model.Error
		if errors.As(decodeErr, &typed) && typed.Kind == model.KindValidation {
			typed.Details[0].Field = promotedPath(dst, typed.Details[0].Field)
		}
		if errors.As(decodeErr, &typed) && typed.Kind == model.KindValidation && errors.As(validateStruct(dst), &others) {
			for _, d := range others.Details {
				if d.Field != typed.Details[0].Field {
					typed.Details = append(typed.Details, d)
				}
			}
		}
		return decodeErr
	}
	return validateStruct(dst)
}

// hasEscapedNUL reports whether a JSON text holds a \u0000 escape: PostgreSQL text cannot
// store a NUL character, so such a string could only fail later, as a 500.
func hasEscapedNUL(raw []byte) bool {
	for from := 0; ; {
		i := bytes.Index(raw[from:], []byte(`u0000`))
		if i < 0 {
			return false
		}
		i += from
		backslashes := 0
		for k := i - 1; k >= 0 && raw[k] == '\\'; k-- {
			backslashes++
		}
		if backslashes%2 == 1 {
			return true
		}
		from = i + 1
	}
}

// jsonError turns a decoding error into a client error: a field of the wrong type is a
// validation error naming the field; anything else is malformed JSON.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return model.ValidationError(model.FieldError{
			Field:   typeErr.Field,
			Message: "must be of type " + jsonTypeName(typeErr.Type),
		})
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return model.Errorf(model.KindBadRequest, "Malformed JSON at byte %d", syntaxErr.Offset)
	}
	return model.Errorf(model.KindBadRequest, "Malformed JSON body")
}

// promotedPath drops the leading names of embedded structs from a type error's field path:
// encoding/json names them ("sendCommon.to"), but their fields are the JSON object's own.
func promotedPath(dst any, path string) string {
	t := reflect.TypeOf(dst)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for t != nil && t.Kind() == reflect.Struct {
		head, rest, ok := strings.Cut(path, ".")
		f, found := t.FieldByName(head)
		if !ok || !found || !f.Anonymous {
			break
		}
		path, t = rest, f.Type
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
	}
	return path
}

func jsonTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	default:
		return "object"
	}
}

// validateStruct runs the validator and lists every failing field.
func validateStruct(v any) error {
	err := validate.Struct(v)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return fmt.Errorf("validate request: %w", err)
	}
	details := make([]model.FieldError, 0, len(verrs))
	for _, fe := range verrs {
		details = append(details, model.FieldError{Field: fieldPath(fe), Message: fieldMessage(fe)})
	}
	return model.ValidationError(details...)
}

// embeddedField names an embedded struct in validation namespaces; fieldPath drops it, since
// the embedded struct's fields are those of the enclosing JSON object.
const embeddedField = "~embedded"

// fieldPath is the JSON path of the field without the top-level struct name.
func fieldPath(fe validator.FieldError) string {
	ns := fe.Namespace()
	if _, rest, ok := strings.Cut(ns, "."); ok {
		return strings.ReplaceAll(rest, embeddedField+".", "")
	}
	return fe.Field()
}

func fieldMessage(fe validator.FieldError) string {
	param := fe.Param()
	isString := fe.Kind() == reflect.String
	switch fe.Tag() {
	case "required", "required_without", "required_if":
		return "is required"
	case "email":
		return "must be a valid email"
	case "url", "http_url":
		return "must be a valid http or https URL"
	case "uuid", "uuid4":
		return "must be a UUID"
	case "oneof":
		return "must be one of " + strings.ReplaceAll(param, " ", ", ")
	case "min":
		if isString {
			return "must be at least " + param + " characters"
		}
		if fe.Kind() == reflect.Slice {
			return "must have at least " + param + " items"
		}
		return "must be at least " + param
	case "max":
		if isString {
			return "must be at most " + param + " characters"
		}
		if fe.Kind() == reflect.Slice {
			return "must have at most " + param + " items"
		}
		return "must be at most " + param
	case "len":
		return "must be exactly " + param + " characters"
	case "gte":
		return "must be greater than or equal to " + param
	case "lte":
		return "must be less than or equal to " + param
	case "alphanum":
		return "must contain only letters and digits"
	case "semver":
		return "must be a version such as 1.0.0"
	case "personname":
		return "may contain only letters, spaces, hyphens, apostrophes and dots"
	case "pwchars":
		return "must contain a lower-case letter, an upper-case letter, a digit and a special character"
	case "sessionid":
		return "may contain only letters, digits, '-' and '_'"
	case "notcommon":
		return "is too common; choose another password"
	case "nefield":
		return "must differ from " + param
	default:
		return "is invalid (" + fe.Tag() + ")"
	}
}
