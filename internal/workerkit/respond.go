package workerkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/wagateway/gateway/internal/protocol"
)

// apiError is an error of the request itself (auth, body, validation), with its answer.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func invalid(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, code: "VALIDATION_ERROR", message: fmt.Sprintf(format, args...)}
}

// errorBody is the worker's error answer, as the Node worker writes it:
// {"success":false,"timestamp":...,"error":{"code":"SESSION_NOT_CONNECTED","message":"..."}}.
type errorBody struct {
	Success   bool        `json:"success"`
	Timestamp string      `json:"timestamp"`
	Error     errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

func now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// respond writes the success envelope.
func respond(w http.ResponseWriter, status int, message string, data any) {
	writeJSON(w, status, protocol.Envelope[any]{Success: true, Timestamp: now(), Message: message, Data: data})
}

// fail writes the error answer that err calls for.
func (wk *worker) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := errorAnswer(err)
	var ae *apiError
	if errors.As(err, &ae) {
		status, code = ae.status, ae.code
	}
	message := err.Error()
	if status >= http.StatusInternalServerError {
		wk.logger.Warn("worker request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.Any("err", err))
	}
	writeJSON(w, status, errorBody{Timestamp: now(), Error: errorDetail{Code: code, Message: message, Details: map[string]any{}}})
}

// decode reads a JSON body of at most 1 MiB into dst. Unknown fields are ignored.
func decode(w http.ResponseWriter, r *http.Request, dst any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := json.NewDecoder(r.Body).Decode(dst); err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return &apiError{status: http.StatusRequestEntityTooLarge, code: "PAYLOAD_TOO_LARGE",
				message: fmt.Sprintf("request body is larger than %d bytes", maxBodyBytes)}
		case errors.Is(err, io.EOF):
			return invalid("request body is required")
		default:
			return invalid("request body is not valid JSON: %v", err)
		}
	}
	return nil
}

// requireJSON refuses a request body that is not JSON (an empty body is fine).
func requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || (mediaType != "application/json" && !strings.HasSuffix(mediaType, "+json")) {
				writeJSON(w, http.StatusUnsupportedMediaType, errorBody{Timestamp: now(), Error: errorDetail{
					Code: "UNSUPPORTED_MEDIA_TYPE", Message: "request body must be application/json", Details: map[string]any{}}})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
