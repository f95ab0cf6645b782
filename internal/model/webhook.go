package model

// WebhookStatus is the state of one customer webhook delivery.
type WebhookStatus string

// Webhook delivery statuses.
const (
	WebhookPending   WebhookStatus = "PENDING"
	WebhookDelivered WebhookStatus = "DELIVERED"
	WebhookFailed    WebhookStatus = "FAILED"
	WebhookRetrying  WebhookStatus = "RETRYING"
)

// Customer webhook event names (api.md, "Customer webhooks"); WebhookAllEvents subscribes to
// every one.
const (
	WebhookMessageReceived = "message.received"
	WebhookMessageStatus   = "message.status"
	WebhookSessionStatus   = "session.status"
	WebhookSessionQR       = "session.qr"
	WebhookAllEvents       = "*"
)

// WebhookEvents lists the events a webhook can subscribe to, in the order the API shows them.
var WebhookEvents = []string{WebhookMessageReceived, WebhookMessageStatus, WebhookSessionStatus, WebhookSessionQR}
