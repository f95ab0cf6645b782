package service

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/netguard"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/webhooks"
)

// maxWebhookURLLength bounds a webhook URL.
const maxWebhookURLLength = 2048

var (
	errWebhookNotFound  = model.Errorf(model.KindNotFound, "Webhook not found")
	errDeliveryNotFound = model.Errorf(model.KindNotFound, "Webhook delivery not found")
)

// Webhooks manages the customer webhook of each session: one per session, owned like the
// session (someone else's is 404), with a URL that must reach a public address.
type Webhooks struct {
	DB       *pgxpool.Pool
	Sessions *Sessions
	Guard    netguard.Guard
	Box      *webhooks.SecretBox
	// Queued, when set, is told that deliveries were queued (to wake the local deliverer).
	Queued func()
}

// WebhookInput is what PUT /sessions/{id}/webhook sets.
type WebhookInput struct {
	URL          string
	Events       []string
	RotateSecret bool
}

// SavedWebhook is a saved webhook, with its secret in clear when it was created or rotated
// (the only times it is shown).
type SavedWebhook struct {
	Webhook store.Webhook
	Secret  string
	Created bool
}

// Get returns the webhook of a session the caller may see.
func (s *Webhooks) Get(ctx context.Context, caller *auth.Principal, sessionID string) (store.Webhook, error) {
	if _, err := s.Sessions.Visible(ctx, caller, sessionID); err != nil {
		return store.Webhook{}, err
	}
	w, err := store.GetWebhook(ctx, s.DB, sessionID)
	if errors.Is(err, model.ErrNotFound) {
		return w, errWebhookNotFound
	}
	return w, err
}

// Put creates the session's webhook, with a new secret, or updates its URL and events
// (rotating the secret when asked). Saving re-enables a webhook disabled after failures. The
// URL must be http(s) and resolve only to public addresses, unless private ones are allowed.
func (s *Webhooks) Put(ctx context.Context, caller *auth.Principal, sessionID string, in WebhookInput) (SavedWebhook, error) {
	if _, err := s.Sessions.Visible(ctx, caller, sessionID); err != nil {
		return SavedWebhook{}, err
	}
	var bad []model.FieldError
	rawURL := strings.TrimSpace(in.URL)
	switch {
	case rawURL == "":
		bad = append(bad, model.FieldError{Field: "url", Message: "is required"})
	case len(rawURL) > maxWebhookURLLength:
		bad = append(bad, model.FieldError{Field: "url", Message: "must be at most 2048 characters"})
	default:
		if _, err := s.Guard.CheckURL(ctx, rawURL); err != nil {
			bad = append(bad, model.FieldError{Field: "url", Message: webhookURLProblem(err)})
		}
	}
	events, badEvents := normalizeWebhookEvents(in.Events)
	if bad = append(bad, badEvents...); len(bad) > 0 {
		return SavedWebhook{}, model.ValidationError(bad...)
	}
	secret := webhooks.NewSecret()
	w, created, err := store.UpsertWebhook(ctx, s.DB, store.WebhookUpsert{SessionID: sessionID, URL: rawURL, Events: events,
		SealedSecret: s.Box.Seal(secret, sessionID), RotateSecret: in.RotateSecret})
	if errors.Is(err, model.ErrNotFound) {
		return SavedWebhook{}, errSessionNotFound
	}
	if err != nil {
		return SavedWebhook{}, err
	}
	saved := SavedWebhook{Webhook: w, Created: created}
	if created || in.RotateSecret {
		saved.Secret = secret
	}
	if s.Queued != nil {
		s.Queued() // a re-enabled webhook may have deliveries waiting
	}
	return saved, nil
}

// webhookURLProblem explains why a URL was refused, without echoing resolver details.
func webhookURLProblem(err error) string {
	if errors.Is(err, netguard.ErrNotPublic) {
		return "must not point at a private, loopback, link-local or metadata address"
	}
	return err.Error()
}

// normalizeWebhookEvents checks the events and returns them deduplicated in a stable order;
// "*" stands alone for every event.
func normalizeWebhookEvents(in []string) ([]string, []model.FieldError) {
	if len(in) == 0 {
		return nil, []model.FieldError{{Field: "events", Message: "must list at least one event"}}
	}
	var bad []model.FieldError
	seen := map[string]bool{}
	for _, e := range in {
		e = strings.TrimSpace(e)
		if e != model.WebhookAllEvents && !slices.Contains(model.WebhookEvents, e) {
			bad = append(bad, model.FieldError{Field: "events",
				Message: "unknown event " + quoteShort(e) + "; use " + strings.Join(model.WebhookEvents, ", ") + " or *"})
			continue
		}
		seen[e] = true
	}
	if len(bad) > 0 {
		return nil, bad
	}
	if seen[model.WebhookAllEvents] {
		return []string{model.WebhookAllEvents}, nil
	}
	out := make([]string, 0, len(seen))
	for _, e := range model.WebhookEvents {
		if seen[e] {
			out = append(out, e)
		}
	}
	return out, nil
}

func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return `"` + s + `"`
}

// Delete deletes the session's webhook and its delivery log.
func (s *Webhooks) Delete(ctx context.Context, caller *auth.Principal, sessionID string) error {
	if _, err := s.Sessions.Visible(ctx, caller, sessionID); err != nil {
		return err
	}
	err := store.DeleteWebhook(ctx, s.DB, sessionID)
	if errors.Is(err, model.ErrNotFound) {
		return errWebhookNotFound
	}
	return err
}

// Deliveries returns a page of the delivery log, newest first; f.SessionID is the session.
func (s *Webhooks) Deliveries(ctx context.Context, caller *auth.Principal, f store.DeliveryFilter) ([]store.WebhookDelivery, error) {
	if _, err := s.Get(ctx, caller, f.SessionID); err != nil {
		return nil, err
	}
	return store.ListWebhookDeliveries(ctx, s.DB, f)
}

// Redeliver queues the payload of one of the session's deliveries again. A disabled webhook
// must be saved again (which re-enables it) first.
func (s *Webhooks) Redeliver(ctx context.Context, caller *auth.Principal, sessionID, deliveryID string) (store.WebhookDelivery, error) {
	w, err := s.Get(ctx, caller, sessionID)
	if err != nil {
		return store.WebhookDelivery{}, err
	}
	// Only the canonical form: uuid.Validate also takes {…} and urn:uuid:…, which PostgreSQL
	// refuses (a 500 instead of a 404).
	if uuid.Validate(deliveryID) != nil || len(deliveryID) != 36 {
		return store.WebhookDelivery{}, errDeliveryNotFound
	}
	if !w.IsActive {
		return store.WebhookDelivery{}, model.Errorf(model.KindConflict, "The webhook is disabled; save it again to enable it")
	}
	d, err := store.RequeueWebhookDelivery(ctx, s.DB, sessionID, deliveryID)
	if errors.Is(err, model.ErrNotFound) {
		return d, errDeliveryNotFound
	}
	if err != nil {
		return d, err
	}
	if s.Queued != nil {
		s.Queued()
	}
	return d, nil
}
