package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
)

// The customer webhook of a session (api.md, "Customer webhooks"): GET, PUT and DELETE
// /sessions/{id}/webhook, its delivery log and manual redelivery.

// putWebhookRequest is the body of PUT /sessions/{id}/webhook.
type putWebhookRequest struct {
	// URL receives the events: http or https, resolving to a public address.
	URL string `json:"url" example:"https://example.com/hooks/whatsapp"`
	// Events are any of message.received, message.status, session.status, session.qr, or "*".
	Events []string `json:"events" example:"message.received,message.status"`
	// RotateSecret replaces the signing secret; the new one is shown in the answer, once.
	RotateSecret bool `json:"rotateSecret"`
}

// webhookView is a session's webhook. Secret is shown only when it was just created or
// rotated.
type webhookView struct {
	URL            string     `json:"url"`
	Events         []string   `json:"events"`
	Secret         *string    `json:"secret,omitempty" example:"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"`
	IsActive       bool       `json:"isActive"`
	FailureCount   int        `json:"failureCount"`
	LastDelivery   *time.Time `json:"lastDelivery"`
	DisabledReason *string    `json:"disabledReason"`
	CreatedAt      time.Time  `json:"createdAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`
}

func viewWebhook(w store.Webhook, secret string) webhookView {
	v := webhookView{URL: w.URL, Events: w.Events, IsActive: w.IsActive, FailureCount: w.FailureCount,
		LastDelivery: w.LastDelivery, DisabledReason: w.DisabledReason, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
	if secret != "" {
		v.Secret = &secret
	}
	return v
}

// deliveryView is one entry of the delivery log.
type deliveryView struct {
	ID           string              `json:"id" format:"uuid"`
	Event        string              `json:"event" example:"message.received"`
	Status       model.WebhookStatus `json:"status" enums:"PENDING,DELIVERED,FAILED,RETRYING"`
	Attempts     int                 `json:"attempts"`
	ResponseCode *int                `json:"responseCode"`
	LastError    *string             `json:"lastError"`
	NextRetry    *time.Time          `json:"nextRetry"`
	CreatedAt    time.Time           `json:"createdAt"`
	DeliveredAt  *time.Time          `json:"deliveredAt"`
	// Payload is the body sent, on the redelivery answer only.
	Payload json.RawMessage `json:"payload,omitempty" swaggertype:"object"`
}

func viewDelivery(d store.WebhookDelivery) deliveryView {
	return deliveryView{ID: d.ID, Event: d.Event, Status: d.Status, Attempts: d.Attempts, ResponseCode: d.ResponseCode,
		LastError: d.LastError, NextRetry: d.NextRetry, CreatedAt: d.CreatedAt, DeliveredAt: d.DeliveredAt}
}

// deliveryListData is the data of GET /sessions/{id}/webhook/deliveries.
type deliveryListData struct {
	Deliveries []deliveryView `json:"deliveries"`
	NextCursor *string        `json:"nextCursor"`
}

// @Summary Show a session's webhook
// @Description The session's customer webhook, without its secret: URL, events, whether it is active, its consecutive failures, the last delivery and why it was disabled.
// @Tags Webhooks
// @ID getSessionWebhook
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID"
// @Success 200 {object} envelope{data=webhookView}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session (or someone else's), or it has no webhook"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/sessions/{id}/webhook [get]
func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	hook, err := s.webhooks.Get(r.Context(), principal(r), id)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "", viewWebhook(hook, ""))
}

// @Summary Create or update a session's webhook
// @Description Creates the session's webhook (201, with its signing secret shown this once) or updates its URL and events (200); `rotateSecret` replaces the secret and shows the new one. Saving re-enables a webhook disabled after 50 consecutive failed deliveries. The URL must be http or https and resolve to public addresses only (unless WEBHOOK_ALLOW_PRIVATE). Deliveries are signed per the Standard Webhooks specification: headers webhook-id, webhook-timestamp and webhook-signature (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed with the base64-decoded secret after `whsec_`).
// @Tags Webhooks
// @ID putSessionWebhook
// @Accept json
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID"
// @Param body body putWebhookRequest true "URL and events"
// @Success 200 {object} envelope{data=webhookView}
// @Success 201 {object} envelope{data=webhookView}
// @Failure 400 {object} errorEnvelope "validation_error: the URL is missing, malformed or private, or an event is unknown (details lists each)"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session (or someone else's)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/sessions/{id}/webhook [put]
func (s *Server) putWebhook(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	var req putWebhookRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	saved, err := s.webhooks.Put(r.Context(), principal(r), id,
		service.WebhookInput{URL: req.URL, Events: req.Events, RotateSecret: req.RotateSecret})
	if err != nil {
		respondError(w, r, err)
		return
	}
	status, message := http.StatusOK, "Webhook updated"
	if saved.Created {
		status, message = http.StatusCreated, "Webhook created; keep the secret, it is shown only now"
	} else if saved.Secret != "" {
		message = "Webhook updated; keep the new secret, it is shown only now"
	}
	respond(w, status, message, viewWebhook(saved.Webhook, saved.Secret))
}

// @Summary Delete a session's webhook
// @Description Deletes the session's webhook and its delivery log; nothing more is delivered.
// @Tags Webhooks
// @ID deleteSessionWebhook
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID"
// @Success 200 {object} envelope
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session (or someone else's), or it has no webhook"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/sessions/{id}/webhook [delete]
func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	if err := s.webhooks.Delete(r.Context(), principal(r), id); err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Webhook deleted", map[string]any{"sessionId": id})
}

// @Summary List a webhook's deliveries
// @Description The delivery log of the session's webhook, newest first, with keyset paging: pass the answer's nextCursor as cursor for the next page (null on the last).
// @Tags Webhooks
// @ID listWebhookDeliveries
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID"
// @Param limit query int false "Items per page" minimum(1) maximum(100) default(20)
// @Param cursor query string false "nextCursor of the previous page"
// @Success 200 {object} envelope{data=deliveryListData}
// @Failure 400 {object} errorEnvelope "validation_error: limit or cursor is malformed (details lists each)"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session (or someone else's), or it has no webhook"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/sessions/{id}/webhook/deliveries [get]
func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	f := store.DeliveryFilter{SessionID: id, Limit: 20}
	var bad []model.FieldError
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
	list, err := s.webhooks.Deliveries(r.Context(), principal(r), f)
	if err != nil {
		respondError(w, r, err)
		return
	}
	var next *string
	if len(list) == f.Limit {
		list = list[:f.Limit-1]
		c := encodeCursor(list[len(list)-1].CreatedAt, list[len(list)-1].ID)
		next = &c
	}
	views := make([]deliveryView, 0, len(list))
	for _, d := range list {
		views = append(views, viewDelivery(d))
	}
	respond(w, http.StatusOK, "", deliveryListData{Deliveries: views, NextCursor: next})
}

// @Summary Redeliver a webhook delivery
// @Description Queues the payload of a delivery again, as a new delivery due now (with the same webhook-id, so receivers that deduplicate can tell).
// @Tags Webhooks
// @ID redeliverWebhookDelivery
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID"
// @Param deliveryId path string true "Delivery ID" format(uuid)
// @Success 202 {object} envelope{data=object{delivery=deliveryView}}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session (or someone else's), webhook or delivery"
// @Failure 409 {object} errorEnvelope "conflict: the webhook is disabled; save it again first"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/sessions/{id}/webhook/deliveries/{deliveryId}/redeliver [post]
func (s *Server) redeliverWebhook(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	d, err := s.webhooks.Redeliver(r.Context(), principal(r), id, chi.URLParam(r, "deliveryId"))
	if err != nil {
		respondError(w, r, err)
		return
	}
	view := viewDelivery(d)
	view.Payload = d.Payload
	respond(w, http.StatusAccepted, "Delivery queued", map[string]any{"delivery": view})
}
