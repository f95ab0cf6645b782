package httpapi

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
)

// sendCommon are the fields every send takes.
type sendCommon struct {
	To              string   `json:"to" validate:"required,max=128"`
	QuotedMessageID *string  `json:"quotedMessageId" validate:"omitempty,max=128"`
	Mentions        []string `json:"mentions" validate:"omitempty,max=50,dive,max=128"`
	// ScheduledAt delays an async send (RFC 3339, up to 30 days ahead).
	ScheduledAt *string `json:"scheduledAt" validate:"omitempty,max=64"`
}

// maxSchedule is how far ahead a send may be scheduled.
const maxSchedule = 30 * 24 * time.Hour

type sendTextRequest struct {
	sendCommon
	Message string `json:"message" validate:"required,max=4096"`
}

type sendImageRequest struct {
	sendCommon
	ImageURL string  `json:"imageUrl" validate:"required,max=2048"`
	Caption  *string `json:"caption" validate:"omitempty,max=1024"`
}

type sendFileRequest struct {
	sendCommon
	FileURL  string  `json:"fileUrl" validate:"required,max=2048"`
	Filename *string `json:"filename" validate:"omitempty,max=255"`
	Caption  *string `json:"caption" validate:"omitempty,max=1024"`
}

type sendVoiceRequest struct {
	sendCommon
	AudioURL string `json:"audioUrl" validate:"required,max=2048"`
}

type sendVideoRequest struct {
	sendCommon
	VideoURL string  `json:"videoUrl" validate:"required,max=2048"`
	Caption  *string `json:"caption" validate:"omitempty,max=1024"`
}

type sendLocationRequest struct {
	sendCommon
	Latitude  *float64 `json:"latitude" validate:"required,gte=-90,lte=90"`
	Longitude *float64 `json:"longitude" validate:"required,gte=-180,lte=180"`
	Name      *string  `json:"name" validate:"omitempty,max=255"`
	Address   *string  `json:"address" validate:"omitempty,max=500"`
}

type sendContactRequest struct {
	sendCommon
	ContactName         string  `json:"contactName" validate:"required,max=255"`
	ContactPhone        string  `json:"contactPhone" validate:"required,max=32"`
	ContactEmail        *string `json:"contactEmail" validate:"omitempty,max=254,email"`
	ContactOrganization *string `json:"contactOrganization" validate:"omitempty,max=255"`
}

type sendLinkRequest struct {
	sendCommon
	URL         string  `json:"url" validate:"required,max=2048"`
	Title       *string `json:"title" validate:"omitempty,max=255"`
	Description *string `json:"description" validate:"omitempty,max=1024"`
	Thumbnail   *string `json:"thumbnail" validate:"omitempty,max=2048"`
}

type pollBody struct {
	Name            string   `json:"name" validate:"required,max=255"`
	Options         []string `json:"options" validate:"required,min=2,max=12,dive,required,max=100"`
	SelectableCount *int     `json:"selectableCount" validate:"omitempty,gte=1"`
}

type sendPollRequest struct {
	sendCommon
	Poll *pollBody `json:"poll" validate:"required"`
}

// sendValidator collects every bad field of a send: the struct's tags and the checks that
// need code (recipient, URLs, phones).
type sendValidator struct {
	s       *Server
	ctx     context.Context
	async   bool
	details []model.FieldError
	// scheduledAt is the parsed scheduledAt of the send, if any.
	scheduledAt *time.Time
}

func (v *sendValidator) add(field, message string) {
	v.details = append(v.details, model.FieldError{Field: field, Message: message})
}

func (v *sendValidator) recipient(field, to string) string {
	if to == "" {
		return "" // the required tag already reports it
	}
	id, ok := service.NormalizeRecipient(to)
	if !ok {
		v.add(field, "must be a phone number of 8 to 15 digits or a WhatsApp ID (…@s.whatsapp.net, @lid, @g.us, @newsletter)")
	}
	return id
}

func (v *sendValidator) common(c sendCommon) (string, []string) {
	to := v.recipient("to", c.To)
	if c.ScheduledAt != nil && *c.ScheduledAt != "" {
		at, err := time.Parse(time.RFC3339Nano, *c.ScheduledAt)
		switch {
		case !v.async:
			v.add("scheduledAt", "needs an async send (?async=true or Prefer: respond-async)")
		case err != nil:
			v.add("scheduledAt", "must be an RFC 3339 time such as 2026-01-01T09:00:00Z")
		case at.After(time.Now().Add(maxSchedule)):
			v.add("scheduledAt", "must be at most 30 days ahead")
		default:
			at = at.UTC()
			v.scheduledAt = &at
		}
	}
	var mentions []string
	for i, m := range c.Mentions {
		if id, ok := service.NormalizeRecipient(m); ok {
			mentions = append(mentions, id)
		} else {
			v.add("mentions["+strconv.Itoa(i)+"]", "must be a phone number or a WhatsApp ID")
		}
	}
	return to, mentions
}

// notBlank refuses a value of spaces only (the required tag already reports an empty one).
func (v *sendValidator) notBlank(field, value string) {
	if value != "" && strings.TrimSpace(value) == "" {
		v.add(field, "must not be blank")
	}
}

func (v *sendValidator) mediaURL(field, raw string) *string {
	if raw == "" {
		return nil
	}
	u, err := v.s.guard.CheckURL(v.ctx, raw)
	if err != nil {
		v.add(field, err.Error())
		return nil
	}
	s := u.String()
	return &s
}

// decodeSend decodes and validates a send body into dst, then runs check for the rest.
func (s *Server) decodeSend(r *http.Request, dst any, check func(v *sendValidator)) error {
	err := decode(r, dst)
	var base []model.FieldError
	if err != nil {
		e, ok := err.(*model.Error) //nolint:errorlint // decode returns *model.Error itself
		if !ok || e.Kind != model.KindValidation {
			return err
		}
		base = e.Details
	}
	v := &sendValidator{s: s, ctx: r.Context(), async: wantsAsync(r)}
	check(v)
	setScheduled(r, v.scheduledAt)
	all := append(base, v.details...)
	if len(all) > 0 {
		return model.ValidationError(dedupeFields(all)...)
	}
	return nil
}

// dedupeFields keeps the first message per field.
func dedupeFields(in []model.FieldError) []model.FieldError {
	seen := map[string]bool{}
	out := in[:0]
	for _, d := range in {
		if !seen[d.Field] {
			seen[d.Field] = true
			out = append(out, d)
		}
	}
	return out
}

// @Summary Send a text message
// @Description Sends to `to`: a phone number (8–15 digits; +, spaces and dashes are ignored) or a WhatsApp ID (…@s.whatsapp.net, …@lid, a group …@g.us, …@newsletter). Every send takes quotedMessageId (a reply) and mentions; scheduledAt (RFC 3339, up to 30 days ahead) needs an async send. The session must be CONNECTED; each message counts against the user's hourly message quota.
// @Tags Messaging
// @ID sendText
// @Accept json
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Param Idempotency-Key header string false "Makes the send safe to retry: the same key on the same session within 24 h returns the first answer and sends nothing again" maxLength(255)
// @Param Prefer header string false "respond-async queues the send like ?async=true"
// @Param async query bool false "Queue the message and answer 202 once it is stored; delivery happens in order per session, retried while the worker fails"
// @Param body body sendTextRequest true "Recipient and text (1–4096 characters)"
// @Success 200 {object} envelope{data=service.SendResult} "Sent: the worker accepted the message"
// @Success 202 {object} envelope{data=service.SendResult} "Queued (async): status QUEUED"
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 409 {object} errorEnvelope "conflict: the session is not CONNECTED, or the Idempotency-Key was used with another body"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call or message quota; see Retry-After and X-RateLimit-*"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/sendText [post]
func (s *Server) sendText(w http.ResponseWriter, r *http.Request) {
	var req sendTextRequest
	var out service.Outgoing
	err := s.decodeSend(r, &req, func(v *sendValidator) {
		to, mentions := v.common(req.sendCommon)
		v.notBlank("message", req.Message)
		out = outgoing(model.MessageText, protocol.SendText, to, req.sendCommon, mentions)
		out.Request.Message, out.Content = &req.Message, &req.Message
	})
	s.finishSend(w, r, out, err)
}

// @Summary Send an image
// @Description Sends to `to`: a phone number (8–15 digits; +, spaces and dashes are ignored) or a WhatsApp ID (…@s.whatsapp.net, …@lid, a group …@g.us, …@newsletter). Every send takes quotedMessageId (a reply) and mentions; scheduledAt (RFC 3339, up to 30 days ahead) needs an async send. The session must be CONNECTED; each message counts against the user's hourly message quota.
// @Description Media URLs must be http or https and must not point at private or loopback addresses (unless WEBHOOK_ALLOW_PRIVATE is set): the worker downloads them.
// @Tags Messaging
// @ID sendImage
// @Accept json
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Param Idempotency-Key header string false "Makes the send safe to retry: the same key on the same session within 24 h returns the first answer and sends nothing again" maxLength(255)
// @Param Prefer header string false "respond-async queues the send like ?async=true"
// @Param async query bool false "Queue the message and answer 202 once it is stored; delivery happens in order per session, retried while the worker fails"
// @Param body body sendImageRequest true "Recipient, image URL and caption"
// @Success 200 {object} envelope{data=service.SendResult} "Sent: the worker accepted the message"
// @Success 202 {object} envelope{data=service.SendResult} "Queued (async): status QUEUED"
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 409 {object} errorEnvelope "conflict: the session is not CONNECTED, or the Idempotency-Key was used with another body"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call or message quota; see Retry-After and X-RateLimit-*"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/sendImage [post]
func (s *Server) sendImage(w http.ResponseWriter, r *http.Request) {
	var req sendImageRequest
	var out service.Outgoing
	err := s.decodeSend(r, &req, func(v *sendValidator) {
		to, mentions := v.common(req.sendCommon)
		out = outgoing(model.MessageImage, protocol.SendImage, to, req.sendCommon, mentions)
		out.MediaURL = v.mediaURL("imageUrl", req.ImageURL)
		out.Request.MediaURL, out.Request.Caption, out.Caption = out.MediaURL, req.Caption, req.Caption
	})
	s.finishSend(w, r, out, err)
}

// @Summary Send a document
// @Description Sends to `to`: a phone number (8–15 digits; +, spaces and dashes are ignored) or a WhatsApp ID (…@s.whatsapp.net, …@lid, a group …@g.us, …@newsletter). Every send takes quotedMessageId (a reply) and mentions; scheduledAt (RFC 3339, up to 30 days ahead) needs an async send. The session must be CONNECTED; each message counts against the user's hourly message quota.
// @Description Media URLs must be http or https and must not point at private or loopback addresses (unless WEBHOOK_ALLOW_PRIVATE is set): the worker downloads them.
// @Tags Messaging
// @ID sendFile
// @Accept json
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Param Idempotency-Key header string false "Makes the send safe to retry: the same key on the same session within 24 h returns the first answer and sends nothing again" maxLength(255)
// @Param Prefer header string false "respond-async queues the send like ?async=true"
// @Param async query bool false "Queue the message and answer 202 once it is stored; delivery happens in order per session, retried while the worker fails"
// @Param body body sendFileRequest true "Recipient, file URL, file name and caption"
// @Success 200 {object} envelope{data=service.SendResult} "Sent: the worker accepted the message"
// @Success 202 {object} envelope{data=service.SendResult} "Queued (async): status QUEUED"
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 409 {object} errorEnvelope "conflict: the session is not CONNECTED, or the Idempotency-Key was used with another body"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call or message quota; see Retry-After and X-RateLimit-*"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/sendFile [post]
func (s *Server) sendFile(w http.ResponseWriter, r *http.Request) {
	var req sendFileRequest
	var out service.Outgoing
	err := s.decodeSend(r, &req, func(v *sendValidator) {
		to, mentions := v.common(req.sendCommon)
		out = outgoing(model.MessageDocument, protocol.SendDocument, to, req.sendCommon, mentions)
		out.MediaURL = v.mediaURL("fileUrl", req.FileURL)
		out.Request.MediaURL, out.Request.Caption, out.Request.Filename = out.MediaURL, req.Caption, req.Filename
		out.Caption, out.Filename = req.Caption, req.Filename
	})
	s.finishSend(w, r, out, err)
}

// @Summary Send a voice note
// @Description Sends to `to`: a phone number (8–15 digits; +, spaces and dashes are ignored) or a WhatsApp ID (…@s.whatsapp.net, …@lid, a group …@g.us, …@newsletter). Every send takes quotedMessageId (a reply) and mentions; scheduledAt (RFC 3339, up to 30 days ahead) needs an async send. The session must be CONNECTED; each message counts against the user's hourly message quota.
// @Description Media URLs must be http or https and must not point at private or loopback addresses (unless WEBHOOK_ALLOW_PRIVATE is set): the worker downloads them.
// @Tags Messaging
// @ID sendVoice
// @Accept json
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Param Idempotency-Key header string false "Makes the send safe to retry: the same key on the same session within 24 h returns the first answer and sends nothing again" maxLength(255)
// @Param Prefer header string false "respond-async queues the send like ?async=true"
// @Param async query bool false "Queue the message and answer 202 once it is stored; delivery happens in order per session, retried while the worker fails"
// @Param body body sendVoiceRequest true "Recipient and audio URL"
// @Success 200 {object} envelope{data=service.SendResult} "Sent: the worker accepted the message"
// @Success 202 {object} envelope{data=service.SendResult} "Queued (async): status QUEUED"
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 409 {object} errorEnvelope "conflict: the session is not CONNECTED, or the Idempotency-Key was used with another body"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call or message quota; see Retry-After and X-RateLimit-*"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/sendVoice [post]
func (s *Server) sendVoice(w http.ResponseWriter, r *http.Request) {
	var req sendVoiceRequest
	var out service.Outgoing
	err := s.decodeSend(r, &req, func(v *sendValidator) {
		to, mentions := v.common(req.sendCommon)
		out = outgoing(model.MessageAudio, protocol.SendAudio, to, req.sendCommon, mentions)
		out.MediaURL = v.mediaURL("audioUrl", req.AudioURL)
		out.Request.MediaURL = out.MediaURL
	})
	s.finishSend(w, r, out, err)
}

// @Summary Send a video
// @Description Sends to `to`: a phone number (8–15 digits; +, spaces and dashes are ignored) or a WhatsApp ID (…@s.whatsapp.net, …@lid, a group …@g.us, …@newsletter). Every send takes quotedMessageId (a reply) and mentions; scheduledAt (RFC 3339, up to 30 days ahead) needs an async send. The session must be CONNECTED; each message counts against the user's hourly message quota.
// @Description Media URLs must be http or https and must not point at private or loopback addresses (unless WEBHOOK_ALLOW_PRIVATE is set): the worker downloads them.
// @Tags Messaging
// @ID sendVideo
// @Accept json
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Param Idempotency-Key header string false "Makes the send safe to retry: the same key on the same session within 24 h returns the first answer and sends nothing again" maxLength(255)
// @Param Prefer header string false "respond-async queues the send like ?async=true"
// @Param async query bool false "Queue the message and answer 202 once it is stored; delivery happens in order per session, retried while the worker fails"
// @Param body body sendVideoRequest true "Recipient, video URL and caption"
// @Success 200 {object} envelope{data=service.SendResult} "Sent: the worker accepted the message"
// @Success 202 {object} envelope{data=service.SendResult} "Queued (async): status QUEUED"
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 409 {object} errorEnvelope "conflict: the session is not CONNECTED, or the Idempotency-Key was used with another body"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call or message quota; see Retry-After and X-RateLimit-*"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/sendVideo [post]
func (s *Server) sendVideo(w http.ResponseWriter, r *http.Request) {
	var req sendVideoRequest
	var out service.Outgoing
	err := s.decodeSend(r, &req, func(v *sendValidator) {
		to, mentions := v.common(req.sendCommon)
		out = outgoing(model.MessageVideo, protocol.SendVideo, to, req.sendCommon, mentions)
		out.MediaURL = v.mediaURL("videoUrl", req.VideoURL)
		out.Request.MediaURL, out.Request.Caption, out.Caption = out.MediaURL, req.Caption, req.Caption
	})
	s.finishSend(w, r, out, err)
}

// @Summary Send a location
// @Description Sends to `to`: a phone number (8–15 digits; +, spaces and dashes are ignored) or a WhatsApp ID (…@s.whatsapp.net, …@lid, a group …@g.us, …@newsletter). Every send takes quotedMessageId (a reply) and mentions; scheduledAt (RFC 3339, up to 30 days ahead) needs an async send. The session must be CONNECTED; each message counts against the user's hourly message quota.
// @Tags Messaging
// @ID sendLocation
// @Accept json
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Param Idempotency-Key header string false "Makes the send safe to retry: the same key on the same session within 24 h returns the first answer and sends nothing again" maxLength(255)
// @Param Prefer header string false "respond-async queues the send like ?async=true"
// @Param async query bool false "Queue the message and answer 202 once it is stored; delivery happens in order per session, retried while the worker fails"
// @Param body body sendLocationRequest true "Recipient, latitude (−90..90), longitude (−180..180), name and address"
// @Success 200 {object} envelope{data=service.SendResult} "Sent: the worker accepted the message"
// @Success 202 {object} envelope{data=service.SendResult} "Queued (async): status QUEUED"
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 409 {object} errorEnvelope "conflict: the session is not CONNECTED, or the Idempotency-Key was used with another body"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call or message quota; see Retry-After and X-RateLimit-*"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/sendLocation [post]
func (s *Server) sendLocation(w http.ResponseWriter, r *http.Request) {
	var req sendLocationRequest
	var out service.Outgoing
	err := s.decodeSend(r, &req, func(v *sendValidator) {
		to, mentions := v.common(req.sendCommon)
		out = outgoing(model.MessageLocation, protocol.SendLocation, to, req.sendCommon, mentions)
		if req.Latitude != nil && req.Longitude != nil {
			out.Request.Location = &protocol.Location{Latitude: *req.Latitude, Longitude: *req.Longitude,
				Name: req.Name, Address: req.Address}
		}
		out.Content = req.Name
	})
	s.finishSend(w, r, out, err)
}

// @Summary Send a contact card
// @Description Sends to `to`: a phone number (8–15 digits; +, spaces and dashes are ignored) or a WhatsApp ID (…@s.whatsapp.net, …@lid, a group …@g.us, …@newsletter). Every send takes quotedMessageId (a reply) and mentions; scheduledAt (RFC 3339, up to 30 days ahead) needs an async send. The session must be CONNECTED; each message counts against the user's hourly message quota.
// @Tags Messaging
// @ID sendContactVcard
// @Accept json
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Param Idempotency-Key header string false "Makes the send safe to retry: the same key on the same session within 24 h returns the first answer and sends nothing again" maxLength(255)
// @Param Prefer header string false "respond-async queues the send like ?async=true"
// @Param async query bool false "Queue the message and answer 202 once it is stored; delivery happens in order per session, retried while the worker fails"
// @Param body body sendContactRequest true "Recipient and the contact's name, phone, email and organisation"
// @Success 200 {object} envelope{data=service.SendResult} "Sent: the worker accepted the message"
// @Success 202 {object} envelope{data=service.SendResult} "Queued (async): status QUEUED"
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 409 {object} errorEnvelope "conflict: the session is not CONNECTED, or the Idempotency-Key was used with another body"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call or message quota; see Retry-After and X-RateLimit-*"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/sendContactVcard [post]
func (s *Server) sendContact(w http.ResponseWriter, r *http.Request) {
	var req sendContactRequest
	var out service.Outgoing
	err := s.decodeSend(r, &req, func(v *sendValidator) {
		to, mentions := v.common(req.sendCommon)
		v.notBlank("contactName", req.ContactName)
		out = outgoing(model.MessageContact, protocol.SendContact, to, req.sendCommon, mentions)
		phone, ok := service.NormalizePhone(req.ContactPhone)
		if req.ContactPhone != "" && !ok {
			v.add("contactPhone", "must be a phone number of 8 to 15 digits")
		}
		out.Request.Contact = &protocol.Contact{Name: req.ContactName, Phone: "+" + phone, Email: req.ContactEmail,
			Organization: req.ContactOrganization}
		out.Content = &req.ContactName
	})
	s.finishSend(w, r, out, err)
}

// @Summary Send a link with preview
// @Description Sends to `to`: a phone number (8–15 digits; +, spaces and dashes are ignored) or a WhatsApp ID (…@s.whatsapp.net, …@lid, a group …@g.us, …@newsletter). Every send takes quotedMessageId (a reply) and mentions; scheduledAt (RFC 3339, up to 30 days ahead) needs an async send. The session must be CONNECTED; each message counts against the user's hourly message quota.
// @Tags Messaging
// @ID sendLink
// @Accept json
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Param Idempotency-Key header string false "Makes the send safe to retry: the same key on the same session within 24 h returns the first answer and sends nothing again" maxLength(255)
// @Param Prefer header string false "respond-async queues the send like ?async=true"
// @Param async query bool false "Queue the message and answer 202 once it is stored; delivery happens in order per session, retried while the worker fails"
// @Param body body sendLinkRequest true "Recipient, URL, and the preview's title, description and thumbnail URL"
// @Success 200 {object} envelope{data=service.SendResult} "Sent: the worker accepted the message"
// @Success 202 {object} envelope{data=service.SendResult} "Queued (async): status QUEUED"
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 409 {object} errorEnvelope "conflict: the session is not CONNECTED, or the Idempotency-Key was used with another body"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call or message quota; see Retry-After and X-RateLimit-*"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/sendLink [post]
func (s *Server) sendLink(w http.ResponseWriter, r *http.Request) {
	var req sendLinkRequest
	var out service.Outgoing
	err := s.decodeSend(r, &req, func(v *sendValidator) {
		to, mentions := v.common(req.sendCommon)
		out = outgoing(model.MessageLink, protocol.SendLink, to, req.sendCommon, mentions)
		link := v.mediaURL("url", req.URL)
		if req.Thumbnail != nil {
			req.Thumbnail = v.mediaURL("thumbnail", *req.Thumbnail)
		}
		if link != nil {
			out.Request.Link = &protocol.Link{URL: *link, Title: req.Title, Description: req.Description, Thumbnail: req.Thumbnail}
			out.Content = link
		}
	})
	s.finishSend(w, r, out, err)
}

// @Summary Send a poll
// @Description Sends to `to`: a phone number (8–15 digits; +, spaces and dashes are ignored) or a WhatsApp ID (…@s.whatsapp.net, …@lid, a group …@g.us, …@newsletter). Every send takes quotedMessageId (a reply) and mentions; scheduledAt (RFC 3339, up to 30 days ahead) needs an async send. The session must be CONNECTED; each message counts against the user's hourly message quota.
// @Tags Messaging
// @ID sendPoll
// @Accept json
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Param Idempotency-Key header string false "Makes the send safe to retry: the same key on the same session within 24 h returns the first answer and sends nothing again" maxLength(255)
// @Param Prefer header string false "respond-async queues the send like ?async=true"
// @Param async query bool false "Queue the message and answer 202 once it is stored; delivery happens in order per session, retried while the worker fails"
// @Param body body sendPollRequest true "Recipient and the poll: question, 2–12 distinct options, how many may be chosen (default 1)"
// @Success 200 {object} envelope{data=service.SendResult} "Sent: the worker accepted the message"
// @Success 202 {object} envelope{data=service.SendResult} "Queued (async): status QUEUED"
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 409 {object} errorEnvelope "conflict: the session is not CONNECTED, or the Idempotency-Key was used with another body"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call or message quota; see Retry-After and X-RateLimit-*"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/sendPoll [post]
func (s *Server) sendPoll(w http.ResponseWriter, r *http.Request) {
	var req sendPollRequest
	var out service.Outgoing
	err := s.decodeSend(r, &req, func(v *sendValidator) {
		to, mentions := v.common(req.sendCommon)
		out = outgoing(model.MessagePoll, protocol.SendPoll, to, req.sendCommon, mentions)
		if req.Poll == nil {
			return
		}
		v.notBlank("poll.name", req.Poll.Name)
		selectable := 1
		if req.Poll.SelectableCount != nil {
			selectable = *req.Poll.SelectableCount
			if selectable > len(req.Poll.Options) {
				v.add("poll.selectableCount", "must not exceed the number of options")
			}
		}
		seen := map[string]bool{}
		for _, o := range req.Poll.Options {
			if seen[strings.ToLower(strings.TrimSpace(o))] {
				v.add("poll.options", "must not repeat an option")
				break
			}
			seen[strings.ToLower(strings.TrimSpace(o))] = true
		}
		out.Request.Poll = &protocol.Poll{Name: req.Poll.Name, Options: req.Poll.Options, SelectableCount: selectable}
		out.Content = &req.Poll.Name
	})
	s.finishSend(w, r, out, err)
}

func outgoing(kind model.MessageType, wireType, to string, c sendCommon, mentions []string) service.Outgoing {
	return service.Outgoing{Type: kind, Request: protocol.SendRequest{To: to, Type: wireType,
		QuotedMessageID: c.QuotedMessageID, Mentions: mentions}}
}

// finishSend sends a validated message for the caller's session: at once, or, with
// ?async=true or Prefer: respond-async, queued (202) once durably stored.
func (s *Server) finishSend(w http.ResponseWriter, r *http.Request, out service.Outgoing, err error) {
	if err != nil {
		respondError(w, r, err)
		return
	}
	caller := principal(r)
	if wantsAsync(r) {
		res, err := s.messaging.Queue(r.Context(), caller, caller.SessionID, out, scheduledFrom(r))
		if err != nil {
			respondError(w, r, err)
			return
		}
		s.usage.Count(caller.UserID, caller.SessionID, caller.APIKeyID, "message")
		w.Header().Set("Preference-Applied", "respond-async")
		respond(w, http.StatusAccepted, "Message queued", res)
		return
	}
	res, err := s.messaging.Send(r.Context(), caller, caller.SessionID, out)
	if err != nil {
		respondError(w, r, err)
		return
	}
	s.usage.Count(caller.UserID, caller.SessionID, caller.APIKeyID, "message")
	respond(w, http.StatusOK, "Message sent successfully", res)
}

// wantsAsync reports whether the client asked for an async send.
func wantsAsync(r *http.Request) bool {
	if strings.Contains(r.URL.RawQuery, "async") {
		if v := queryValue(r.URL.RawQuery, "async"); v == "true" || v == "1" {
			return true
		}
	}
	return strings.Contains(strings.ToLower(r.Header.Get("Prefer")), "respond-async")
}

// setScheduled keeps the validated scheduledAt for finishSend, in the request's info.
func setScheduled(r *http.Request, at *time.Time) {
	if info := requestInfoFrom(r.Context()); info != nil {
		info.scheduled = at
	}
}

func scheduledFrom(r *http.Request) *time.Time {
	if info := requestInfoFrom(r.Context()); info != nil {
		return info.scheduled
	}
	return nil
}

// cancelMessage cancels a message still QUEUED.
//
// @Summary Cancel a queued message
// @Description Cancels an async or scheduled message that is still QUEUED; it is then never sent.
// @Tags Messaging
// @ID cancelMessage
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Param id path string true "Message ID (ours)" format(uuid)
// @Success 200 {object} envelope{data=cancelledMessageData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 404 {object} errorEnvelope "not_found: no such message in this session"
// @Failure 409 {object} errorEnvelope "conflict: the message is no longer QUEUED"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call quota; see Retry-After and X-RateLimit-*"
// @Failure 503 {object} errorEnvelope "maintenance: maintenance mode is on (administrators are not affected)"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/messages/{id} [delete]
func (s *Server) cancelMessage(w http.ResponseWriter, r *http.Request) {
	id, err := pathUUID(r, "id")
	if err != nil {
		respondError(w, r, model.Errorf(model.KindNotFound, "Message not found"))
		return
	}
	if err := s.messaging.Cancel(r.Context(), principal(r).SessionID, id); err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Message cancelled", map[string]any{"id": id, "status": model.MessageCancelled})
}

// dashboardSendRequest is POST /sessions/{id}/send from the dashboard.
type dashboardSendRequest struct {
	To       string  `json:"to" validate:"required,max=128"`
	Type     string  `json:"type" validate:"required"`
	Message  *string `json:"message" validate:"omitempty,max=4096"`
	MediaURL *string `json:"mediaUrl" validate:"omitempty,max=2048"`
	Caption  *string `json:"caption" validate:"omitempty,max=1024"`
	Filename *string `json:"filename" validate:"omitempty,max=255"`
	Location *struct {
		Latitude  *float64 `json:"latitude" validate:"required,gte=-90,lte=90"`
		Longitude *float64 `json:"longitude" validate:"required,gte=-180,lte=180"`
		Name      *string  `json:"name" validate:"omitempty,max=255"`
		Address   *string  `json:"address" validate:"omitempty,max=500"`
	} `json:"location"`
	Contact *struct {
		Name         string  `json:"name" validate:"required,max=255"`
		Phone        string  `json:"phone" validate:"required,max=32"`
		Email        *string `json:"email" validate:"omitempty,max=254,email"`
		Organization *string `json:"organization" validate:"omitempty,max=255"`
	} `json:"contact"`
	QuotedMessageID *string  `json:"quotedMessageId" validate:"omitempty,max=128"`
	Mentions        []string `json:"mentions" validate:"omitempty,max=50,dive,max=128"`
}

var dashboardTypes = map[string]struct {
	kind model.MessageType
	wire string
}{
	"TEXT": {model.MessageText, protocol.SendText}, "IMAGE": {model.MessageImage, protocol.SendImage},
	"DOCUMENT": {model.MessageDocument, protocol.SendDocument}, "FILE": {model.MessageDocument, protocol.SendDocument},
	"AUDIO": {model.MessageAudio, protocol.SendAudio}, "VOICE": {model.MessageAudio, protocol.SendAudio},
	"VIDEO": {model.MessageVideo, protocol.SendVideo}, "LOCATION": {model.MessageLocation, protocol.SendLocation},
	"CONTACT": {model.MessageContact, protocol.SendContact},
}

// dashboardSend is the JWT send of the dashboard, for a session the caller may see.
//
// @Summary Send a message from the dashboard
// @Description The dashboard's send, with a JWT instead of an API key, for a session the caller may see. type is one of TEXT (needs message), IMAGE, DOCUMENT (or FILE), AUDIO (or VOICE), VIDEO (these need mediaUrl), LOCATION (needs location) and CONTACT (needs contact). Always synchronous; counts against the owner's message quota.
// @Description Media URLs must be http or https and must not point at private or loopback addresses (unless WEBHOOK_ALLOW_PRIVATE is set): the worker downloads them.
// @Tags Sessions
// @ID dashboardSend
// @Accept json
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID (3–100 characters: letters, digits, - and _; case-insensitive)"
// @Param body body dashboardSendRequest true "The message"
// @Success 200 {object} envelope{data=service.SendResult}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session, or it belongs to another user"
// @Failure 409 {object} errorEnvelope "conflict: the session is not CONNECTED"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the owner's hourly message quota; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Router /api/v1/sessions/{id}/send [post]
func (s *Server) dashboardSend(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	caller := principal(r)
	sess, err := s.sessions.Visible(r.Context(), caller, id)
	if err != nil {
		respondError(w, r, err)
		return
	}
	var req dashboardSendRequest
	var out service.Outgoing
	err = s.decodeSend(r, &req, func(v *sendValidator) {
		t, known := dashboardTypes[strings.ToUpper(req.Type)]
		if req.Type != "" && !known {
			v.add("type", "must be one of TEXT, IMAGE, DOCUMENT, AUDIO, VIDEO, LOCATION, CONTACT")
			return
		}
		to, mentions := v.common(sendCommon{To: req.To, QuotedMessageID: req.QuotedMessageID, Mentions: req.Mentions})
		out = outgoing(t.kind, t.wire, to, sendCommon{QuotedMessageID: req.QuotedMessageID}, mentions)
		switch t.kind {
		case model.MessageText:
			if req.Message == nil || *req.Message == "" {
				v.add("message", "is required")
			}
			out.Request.Message, out.Content = req.Message, req.Message
		case model.MessageLocation:
			if req.Location == nil || req.Location.Latitude == nil || req.Location.Longitude == nil {
				v.add("location", "is required with latitude and longitude")
				return
			}
			out.Request.Location = &protocol.Location{Latitude: *req.Location.Latitude, Longitude: *req.Location.Longitude,
				Name: req.Location.Name, Address: req.Location.Address}
		case model.MessageContact:
			if req.Contact == nil {
				v.add("contact", "is required")
				return
			}
			phone, ok := service.NormalizePhone(req.Contact.Phone)
			if !ok {
				v.add("contact.phone", "must be a phone number of 8 to 15 digits")
			}
			out.Request.Contact = &protocol.Contact{Name: req.Contact.Name, Phone: "+" + phone, Email: req.Contact.Email,
				Organization: req.Contact.Organization}
		default: // media
			if req.MediaURL == nil || *req.MediaURL == "" {
				v.add("mediaUrl", "is required")
				return
			}
			out.MediaURL = v.mediaURL("mediaUrl", *req.MediaURL)
			out.Request.MediaURL, out.Request.Caption, out.Request.Filename = out.MediaURL, req.Caption, req.Filename
			out.Caption, out.Filename = req.Caption, req.Filename
		}
	})
	if err != nil {
		respondError(w, r, err)
		return
	}
	owner := *caller
	owner.UserID = sess.UserID
	res, err := s.messaging.Send(r.Context(), &owner, sess.ID, out)
	if err != nil {
		respondError(w, r, err)
		return
	}
	s.usage.Count(sess.UserID, sess.ID, "", "message")
	respond(w, http.StatusOK, "Message sent successfully", res)
}

type toRequest struct {
	To string `json:"to" validate:"required,max=128"`
}

type seenRequest struct {
	To        string `json:"to" validate:"required,max=128"`
	MessageID string `json:"messageId" validate:"required,max=128"`
}

// sendSeen marks a chat's message as read on WhatsApp (the original answered a hard-coded
// success without asking the worker).
//
// @Summary Mark a message as read
// @Description Sends a read receipt for a received message (blue ticks) through the worker.
// @Tags Messaging
// @ID sendSeen
// @Accept json
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Param body body seenRequest true "The chat and the WhatsApp message ID"
// @Success 200 {object} envelope{data=seenData}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 409 {object} errorEnvelope "conflict: the session is not CONNECTED"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call quota; see Retry-After and X-RateLimit-*"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/sendSeen [post]
func (s *Server) sendSeen(w http.ResponseWriter, r *http.Request) {
	var req seenRequest
	var to string
	if err := s.decodeSend(r, &req, func(v *sendValidator) { to = v.recipient("to", req.To) }); err != nil {
		respondError(w, r, err)
		return
	}
	caller := principal(r)
	res, err := s.messaging.Forward(r.Context(), caller.SessionID, protocol.SendRequest{To: to, Type: protocol.SendSeen, MessageID: &req.MessageID})
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Message marked as seen", map[string]any{"to": to, "messageId": req.MessageID, "status": res.Status})
}

// @Summary Show typing
// @Description Shows "typing…" in the chat until stopTyping or WhatsApp's own timeout.
// @Tags Messaging
// @ID startTyping
// @Accept json
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Param body body toRequest true "The chat"
// @Success 200 {object} envelope{data=typingData}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 409 {object} errorEnvelope "conflict: the session is not CONNECTED"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call quota; see Retry-After and X-RateLimit-*"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/startTyping [post]
func (s *Server) startTyping(w http.ResponseWriter, r *http.Request) {
	s.typing(w, r, protocol.SendTypingStart)
}

// @Summary Stop showing typing
// @Description Clears the typing indicator of startTyping.
// @Tags Messaging
// @ID stopTyping
// @Accept json
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Param body body toRequest true "The chat"
// @Success 200 {object} envelope{data=typingData}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 409 {object} errorEnvelope "conflict: the session is not CONNECTED"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call quota; see Retry-After and X-RateLimit-*"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/stopTyping [post]
func (s *Server) stopTyping(w http.ResponseWriter, r *http.Request) {
	s.typing(w, r, protocol.SendTypingStop)
}

func (s *Server) typing(w http.ResponseWriter, r *http.Request, kind string) {
	var req toRequest
	var to string
	if err := s.decodeSend(r, &req, func(v *sendValidator) { to = v.recipient("to", req.To) }); err != nil {
		respondError(w, r, err)
		return
	}
	if _, err := s.messaging.Forward(r.Context(), principal(r).SessionID, protocol.SendRequest{To: to, Type: kind}); err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Typing indicator updated", map[string]any{"to": to, "typing": kind == protocol.SendTypingStart})
}

type checkNumberRequest struct {
	Phone string `json:"phone" validate:"required,max=32"`
}

// @Summary Check a number is on WhatsApp
// @Description Asks the worker whether the number has a WhatsApp account; jid is its WhatsApp ID.
// @Tags Messaging
// @ID checkNumber
// @Accept json
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Param body body checkNumberRequest true "The phone number (8–15 digits, international format)"
// @Success 200 {object} envelope{data=protocol.CheckNumberResult}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 409 {object} errorEnvelope "conflict: the session is not CONNECTED"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call quota; see Retry-After and X-RateLimit-*"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/checkNumber [post]
func (s *Server) checkNumber(w http.ResponseWriter, r *http.Request) {
	var req checkNumberRequest
	var phone string
	if err := s.decodeSend(r, &req, func(v *sendValidator) {
		var ok bool
		if phone, ok = service.NormalizePhone(req.Phone); req.Phone != "" && !ok {
			v.add("phone", "must be a phone number of 8 to 15 digits")
		}
	}); err != nil {
		respondError(w, r, err)
		return
	}
	res, err := s.messaging.CheckNumber(r.Context(), principal(r).SessionID, phone)
	if err != nil {
		respondError(w, r, err)
		return
	}
	if res.Phone == "" {
		res.Phone = phone
	}
	respond(w, http.StatusOK, "", res)
}

type manageRequest struct {
	Phone       string  `json:"phone" validate:"required,max=128"`
	ForEveryone *bool   `json:"forEveryone"`
	Emoji       *string `json:"emoji" validate:"omitempty,max=32"`
	NewText     *string `json:"newText" validate:"omitempty,min=1,max=4096"`
}

// manageMessage performs one of the message actions named by the route.
//
// @Summary Act on a sent or received message
// @Description The action is the last path segment: delete (for me, or for everyone with forEveryone), unsend, reaction (needs emoji), edit (needs newText), read, star, unstar. phone is the chat of the message (phone number or WhatsApp ID); messageId is WhatsApp's message ID.
// @Tags Messaging
// @Accept json
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Param messageId path string true "WhatsApp message ID" maxLength(128)
// @Param body body manageRequest true "The chat and the action's fields"
// @Success 200 {object} envelope{data=messageActionData}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 404 {object} errorEnvelope "not_found: messageId is empty or too long"
// @Failure 409 {object} errorEnvelope "conflict: the session is not CONNECTED"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call quota; see Retry-After and X-RateLimit-*"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no worker is available, or the session's worker is unreachable or timed out; maintenance: maintenance mode is on (administrators are not affected)"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/message/{messageId}/delete [post]
// @Router /api/v1/message/{messageId}/unsend [post]
// @Router /api/v1/message/{messageId}/reaction [post]
// @Router /api/v1/message/{messageId}/edit [post]
// @Router /api/v1/message/{messageId}/read [post]
// @Router /api/v1/message/{messageId}/star [post]
// @Router /api/v1/message/{messageId}/unstar [post]
func (s *Server) manageMessage(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		messageID := chi.URLParam(r, "messageId")
		if messageID == "" || len(messageID) > 128 {
			respondError(w, r, model.Errorf(model.KindNotFound, "Message not found"))
			return
		}
		var req manageRequest
		var phone string
		err := s.decodeSend(r, &req, func(v *sendValidator) {
			phone = v.recipient("phone", req.Phone)
			if action == protocol.ActionReaction && req.Emoji == nil {
				v.add("emoji", "is required for a reaction")
			}
			if action == protocol.ActionEdit && req.NewText == nil {
				v.add("newText", "is required to edit a message")
			}
		})
		if err != nil {
			respondError(w, r, err)
			return
		}
		res, err := s.messaging.Manage(r.Context(), principal(r).SessionID, protocol.ManageRequest{Action: action,
			MessageID: messageID, Phone: phone, ForEveryone: req.ForEveryone, Emoji: req.Emoji, NewText: req.NewText})
		if err != nil {
			respondError(w, r, err)
			return
		}
		respond(w, http.StatusOK, "Message action performed", map[string]any{"messageId": messageID, "action": action, "result": res})
	}
}

// getMessage shows one message of the key's session with its status history.
//
// @Summary Show a message
// @Description A message of the API key's session (id is ours, as answered by the sends) with its status history.
// @Tags Messaging
// @ID getMessage
// @Produce json
// @Security APIKey
// @Security APIKeyBearer
// @Param id path string true "Message ID (ours)" format(uuid)
// @Success 200 {object} envelope{data=messageData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, unknown, revoked or inactive API key"
// @Failure 404 {object} errorEnvelope "not_found: no such message in this session"
// @Failure 429 {object} errorEnvelope "rate_limited: the per-IP limit or the user's hourly API-call quota; see Retry-After and X-RateLimit-*"
// @Failure 503 {object} errorEnvelope "maintenance: maintenance mode is on (administrators are not affected)"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Header all {integer} X-RateLimit-Limit "API calls allowed per hour by the user's tier"
// @Header all {integer} X-RateLimit-Remaining "API calls left in the current hourly window"
// @Header all {integer} X-RateLimit-Reset "Unix time (seconds) at which the window resets"
// @Header 429 {integer} Retry-After "Seconds to wait before retrying"
// @Router /api/v1/messages/{id} [get]
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	id, err := pathUUID(r, "id")
	if err != nil {
		respondError(w, r, model.Errorf(model.KindNotFound, "Message not found"))
		return
	}
	msg, err := s.messaging.Get(r.Context(), principal(r).SessionID, id)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "", map[string]any{"message": msg})
}

// listSessionMessages is the session's history, newest first, with keyset paging.
//
// @Summary A session's message history
// @Description Sent and received messages, newest first, with keyset pagination: pass nextCursor as cursor for the next page (null on the last page).
// @Tags Sessions
// @ID listSessionMessages
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID (3–100 characters: letters, digits, - and _; case-insensitive)"
// @Param direction query string false "Direction" Enums(INBOUND, OUTBOUND)
// @Param status query string false "Status" Enums(QUEUED, PENDING, SENT, DELIVERED, READ, FAILED, CANCELLED)
// @Param type query string false "Type" Enums(TEXT, IMAGE, DOCUMENT, AUDIO, VIDEO, STICKER, LOCATION, CONTACT, LINK, POLL, REACTION)
// @Param limit query int false "Messages per page" minimum(1) maximum(100) default(20)
// @Param cursor query string false "nextCursor of the previous page"
// @Success 200 {object} envelope{data=messageListData}
// @Failure 400 {object} errorEnvelope "validation_error: a query parameter is malformed or out of range (details lists each)"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session, or it belongs to another user"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/sessions/{id}/messages [get]
func (s *Server) listSessionMessages(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	if _, err := s.sessions.Visible(r.Context(), principal(r), id); err != nil {
		respondError(w, r, err)
		return
	}
	var bad []model.FieldError
	f := store.MessageFilter{SessionID: id, Limit: 20,
		Direction: queryEnum(r, "direction", []model.MessageDirection{model.DirectionInbound, model.DirectionOutbound}, &bad),
		Status: queryEnum(r, "status", []model.MessageStatus{model.MessageQueued, model.MessagePending, model.MessageSent,
			model.MessageDelivered, model.MessageRead, model.MessageFailed, model.MessageCancelled}, &bad),
		Type: queryEnum(r, "type", []model.MessageType{model.MessageText, model.MessageImage, model.MessageDocument,
			model.MessageAudio, model.MessageVideo, model.MessageSticker, model.MessageLocation, model.MessageContact,
			model.MessageLink, model.MessagePoll, model.MessageReaction}, &bad),
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, convErr := strconv.Atoi(v)
		if convErr != nil || n < 1 || n > 100 {
			bad = append(bad, model.FieldError{Field: "limit", Message: "must be a whole number from 1 to 100"})
		} else {
			f.Limit = n
		}
	}
	if c := r.URL.Query().Get("cursor"); c != "" {
		at, cursorID, ok := decodeCursor(c)
		if !ok {
			bad = append(bad, model.FieldError{Field: "cursor", Message: "is not a cursor this API returned"})
		} else {
			f.BeforeAt, f.BeforeID = &at, &cursorID
		}
	}
	if len(bad) > 0 {
		respondError(w, r, model.ValidationError(bad...))
		return
	}
	f.Limit++ // one more tells whether there is a next page
	msgs, err := store.ListMessages(r.Context(), s.db, f)
	if err != nil {
		respondError(w, r, err)
		return
	}
	var next *string
	if len(msgs) == f.Limit {
		msgs = msgs[:f.Limit-1]
		last := msgs[len(msgs)-1]
		c := encodeCursor(last.CreatedAt, last.ID)
		next = &c
	}
	if msgs == nil {
		msgs = []model.Message{}
	}
	respond(w, http.StatusOK, "", map[string]any{"messages": msgs, "nextCursor": next})
}

// A cursor is the (created_at, id) of the last message of a page, opaque to clients.
func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + "|" + id))
}

func decodeCursor(c string) (time.Time, string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", false
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	at, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || !isUUID(id) {
		return time.Time{}, "", false
	}
	return at, id, true
}
