package httpapi

import (
	"net/http"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/service"
)

// Worker event intake — /webhooks/* (worker token).

// @Summary Session status event
// @Description A worker reports a session's status: INIT, QR_REQUIRED (with qrCode), CONNECTED (with phoneNumber and displayName), DISCONNECTED, RECONNECTING, ERROR, or LOGGED_OUT (→ DISCONNECTED, credentials gone). An event older than the last one applied is answered 200 with applied false, so a late retry cannot move a session backwards. Accepted events reach Socket.IO, SSE and the customer's webhook.
// @Description See the worker protocol document (worker-protocol.yaml) for the whole exchange.
// @Tags Worker events
// @ID sessionStatusEvent
// @Accept json
// @Produce json
// @Security WorkerToken
// @Param body body protocol.SessionEvent true "The event"
// @Success 200 {object} envelope{data=protocol.SessionEventResult}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no or wrong worker token"
// @Failure 404 {object} errorEnvelope "not_found: unknown session"
// @Failure 409 {object} errorEnvelope "conflict: the event comes from a worker other than the session's"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/webhooks/session-status [post]
func (s *Server) sessionStatusEvent(w http.ResponseWriter, r *http.Request) {
	var ev protocol.SessionEvent
	if err := decode(r, &ev); err != nil {
		respondError(w, r, err)
		return
	}
	if ev.SessionID == "" {
		respondError(w, r, model.ValidationError(model.FieldError{Field: "sessionId", Message: "is required"}))
		return
	}
	res, err := s.sessionEvents.Apply(r.Context(), eventSource(r, ev.WorkerID), ev)
	if err != nil {
		respondError(w, r, err)
		return
	}
	message := "Session status updated"
	if !res.Applied {
		message = "Stale event ignored: a newer event was already applied"
	}
	respond(w, http.StatusOK, message, res)
}

// @Summary Legacy heartbeat
// @Description The original backend's flat heartbeat: records a metrics sample and the worker's liveness. New workers use PUT /workers/{workerId}/heartbeat.
// @Description See the worker protocol document (worker-protocol.yaml) for the whole exchange.
// @Tags Worker events
// @ID legacyWorkerHeartbeat
// @Accept json
// @Produce json
// @Security WorkerToken
// @Param body body protocol.LegacyHeartbeat true "The heartbeat"
// @Success 200 {object} envelope{data=legacyHeartbeatData}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no or wrong worker token"
// @Failure 403 {object} errorEnvelope "forbidden: a worker's own token used for another worker (or the shared token when WORKER_REQUIRE_OWN_TOKEN is on)"
// @Failure 404 {object} errorEnvelope "not_found: unknown worker: register again"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/webhooks/worker-heartbeat [post]
func (s *Server) legacyWorkerHeartbeat(w http.ResponseWriter, r *http.Request) {
	var hb protocol.LegacyHeartbeat
	if err := decode(r, &hb); err != nil {
		respondError(w, r, err)
		return
	}
	wk, err := s.workers.LegacyHeartbeat(r.Context(), workerCaller(r), hb)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Heartbeat recorded", map[string]any{
		"workerId": wk.ID, "status": wk.Status, "lastHeartbeat": wk.LastHeartbeat, "sessionCount": wk.SessionCount,
	})
}

func eventSource(r *http.Request, bodyWorkerID *string) service.EventSource {
	src := service.EventSource{WorkerID: workerCaller(r).ID}
	if src.WorkerID == "" && bodyWorkerID != nil {
		src.WorkerID = service.NormalizeID(*bodyWorkerID)
	}
	return src
}

// messageStatusEvent takes a delivery receipt. An unknown message is 202 recorded=false: the
// receipt may have overtaken the send's answer.
//
// @Summary Message status event
// @Description A delivery receipt for a sent message, matched by WhatsApp messageId within the session. Status only moves forward (PENDING < SENT < DELIVERED < READ; FAILED from PENDING or SENT). An unknown message is answered 202 with recorded false: the receipt may have overtaken the send's answer.
// @Description See the worker protocol document (worker-protocol.yaml) for the whole exchange.
// @Tags Worker events
// @ID messageStatusEvent
// @Accept json
// @Produce json
// @Security WorkerToken
// @Param body body protocol.MessageStatusEvent true "The receipt"
// @Success 200 {object} envelope{data=receiptData} "Recorded"
// @Success 202 {object} envelope{data=receiptData} "Unknown message; not recorded"
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no or wrong worker token"
// @Failure 404 {object} errorEnvelope "not_found: unknown session"
// @Failure 409 {object} errorEnvelope "conflict: the event comes from a worker other than the session's"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/webhooks/message-status [post]
func (s *Server) messageStatusEvent(w http.ResponseWriter, r *http.Request) {
	var ev protocol.MessageStatusEvent
	if err := decode(r, &ev); err != nil {
		respondError(w, r, err)
		return
	}
	recorded, err := s.messaging.Receipt(r.Context(), eventSource(r, nil), ev)
	if err != nil {
		respondError(w, r, err)
		return
	}
	if !recorded {
		respond(w, http.StatusAccepted, "Unknown message; receipt not recorded", map[string]any{
			"sessionId": ev.SessionID, "messageId": ev.MessageID, "recorded": false})
		return
	}
	respond(w, http.StatusOK, "Message status recorded", map[string]any{
		"sessionId": ev.SessionID, "messageId": ev.MessageID, "status": ev.Status, "recorded": true})
}

// incomingMessage stores a received message once per (session, WhatsApp ID).
//
// @Summary Incoming message
// @Description A message received by a session: stored once per (session, messageId) as INBOUND, then published to Socket.IO, SSE and the customer's message.received webhook. A repeat is answered 200 with duplicate true.
// @Description See the worker protocol document (worker-protocol.yaml) for the whole exchange.
// @Tags Worker events
// @ID incomingMessage
// @Accept json
// @Produce json
// @Security WorkerToken
// @Param body body protocol.IncomingMessage true "The message"
// @Success 200 {object} envelope{data=incomingMessageData}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no or wrong worker token"
// @Failure 404 {object} errorEnvelope "not_found: unknown session"
// @Failure 409 {object} errorEnvelope "conflict: the event comes from a worker other than the session's"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/webhooks/message [post]
func (s *Server) incomingMessage(w http.ResponseWriter, r *http.Request) {
	var in protocol.IncomingMessage
	if err := decode(r, &in); err != nil {
		respondError(w, r, err)
		return
	}
	msg, created, err := s.messaging.Inbound(r.Context(), eventSource(r, nil), in)
	if err != nil {
		respondError(w, r, err)
		return
	}
	message := "Message received"
	if !created {
		message = "Duplicate message ignored"
	}
	respond(w, http.StatusOK, message, map[string]any{"id": msg.ID, "messageId": in.MessageID, "duplicate": !created})
}
