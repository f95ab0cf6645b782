// Package protocol holds the wire types of the worker protocol (worker-protocol.md), shared
// by the backend, its worker client and the worker side (internal/workerkit). Decoding is
// lenient as the protocol demands: optional fields are pointers so that null is accepted,
// timestamps accept several forms, and statuses are plain strings mapped by
// ParseSessionStatus rather than refused.
package protocol

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/wagateway/gateway/internal/model"
)

// Envelope is the success envelope both directions use. Error is kept raw because workers
// send either a string or an object {code, message, details}.
type Envelope[T any] struct {
	Success   bool            `json:"success"`
	Timestamp string          `json:"timestamp,omitempty"`
	Message   string          `json:"message,omitempty"`
	Data      T               `json:"data"`
	Error     json.RawMessage `json:"error,omitempty"`
	Type      string          `json:"type,omitempty"`
}

// ErrorMessage extracts the human message of an error envelope, whatever its shape.
func (e Envelope[T]) ErrorMessage() string {
	raw := bytes.TrimSpace(e.Error)
	if len(raw) > 0 {
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
		var obj struct {
			Message string `json:"message"`
			Code    string `json:"code"`
		}
		if json.Unmarshal(raw, &obj) == nil {
			switch {
			case obj.Message != "":
				return obj.Message
			case obj.Code != "":
				return obj.Code
			}
		}
	}
	return e.Message
}

// Timestamp is a time that decodes from RFC 3339, unix milliseconds, null or "" (zero).
// Anything unparsable is zero too: a bad timestamp must not drop an otherwise good event.
type Timestamp struct {
	time.Time
}

// UnmarshalJSON implements lenient decoding.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	t.Time = time.Time{}
	s := strings.TrimSpace(string(b))
	if s == "null" || s == `""` {
		return nil
	}
	if unquoted, err := strconv.Unquote(s); err == nil {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
			if parsed, err := time.Parse(layout, unquoted); err == nil {
				t.Time = parsed.UTC()
				return nil
			}
		}
		s = unquoted
	}
	if ms, err := strconv.ParseFloat(s, 64); err == nil && ms > 0 {
		t.Time = time.UnixMilli(int64(ms)).UTC()
	}
	return nil
}

// MarshalJSON writes RFC 3339, or null when zero.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339Nano))
}

// TimeOrZero returns the time of a possibly absent timestamp.
func TimeOrZero(t *Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// At returns a timestamp for tm.
func At(tm time.Time) *Timestamp { return &Timestamp{Time: tm.UTC()} }

// ParseSessionStatus maps any status a worker reports (the backend's upper-case enum, the
// worker's lower-case statuses, LOGGED_OUT) to a session status. loggedOut reports that the
// WhatsApp credentials are gone. ok is false for a status nobody defined.
func ParseSessionStatus(s string) (status model.SessionStatus, loggedOut, ok bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "INIT", "INITIALIZING", "CONNECTING", "STARTING":
		return model.SessionInit, false, true
	case "QR_REQUIRED", "QR_READY", "QR", "PAIRING":
		return model.SessionQRRequired, false, true
	case "CONNECTED", "OPEN", "READY":
		return model.SessionConnected, false, true
	case "DISCONNECTED", "DESTROYED", "CLOSED", "STOPPED":
		return model.SessionDisconnected, false, true
	case "RECONNECTING":
		return model.SessionReconnecting, false, true
	case "ERROR", "FAILED":
		return model.SessionError, false, true
	case "LOGGED_OUT", "LOGGEDOUT":
		return model.SessionDisconnected, true, true
	}
	return "", false, false
}

// WorkerStatusString is the worker's lower-case spelling of a session status, as its own API
// reports it.
func WorkerStatusString(s model.SessionStatus) string {
	switch s {
	case model.SessionInit:
		return "initializing"
	case model.SessionQRRequired:
		return "qr_ready"
	case model.SessionConnected:
		return "connected"
	case model.SessionReconnecting:
		return "reconnecting"
	case model.SessionError:
		return "failed"
	default:
		return "disconnected"
	}
}
