package service

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
)

// apiKeyCacheTTL bounds how long a replica trusts what it read about a key: revocation takes
// effect on every replica within this time, while a busy key costs one query a second.
const apiKeyCacheTTL = time.Second

// apiKeyCacheMax bounds the cache; past it, the cache is emptied rather than grown.
const apiKeyCacheMax = 100_000

// APIKeys issues session API keys and authenticates requests that carry one.
type APIKeys struct {
	DB *pgxpool.Pool
	// Sealer keeps keys encrypted for their owner's eyes; nil when API_KEY_REVEAL=false.
	Sealer *auth.KeySealer
	Logger *slog.Logger

	mu      sync.Mutex
	cache   map[string]cachedKey // by key hash
	touched map[string]time.Time // by key ID: when this replica last wrote last_used
}

type cachedKey struct {
	holder  store.KeyHolder
	found   bool
	fetched time.Time
}

var errBadAPIKey = model.Errorf(model.KindUnauthorized, "Invalid or inactive API key")

// IssuedKey is a freshly issued key: the full key is only ever in memory here.
type IssuedKey struct {
	Key    string
	Stored model.APIKey
}

// Issue creates (or replaces) the API key of a session inside the caller's transaction.
func (k *APIKeys) Issue(ctx context.Context, db store.DBTX, sessionID string) (IssuedKey, error) {
	full := auth.NewAPIKey()
	row := model.APIKey{
		SessionID: sessionID,
		KeyHash:   auth.HashToken(full),
		Prefix:    auth.APIKeyDisplayPrefix(full),
		Masked:    auth.MaskAPIKey(full),
	}
	if k.Sealer != nil {
		row.KeyCiphertext = k.Sealer.Seal(full, sessionID)
	}
	stored, err := store.PutAPIKey(ctx, db, row)
	if err != nil {
		return IssuedKey{}, err
	}
	return IssuedKey{Key: full, Stored: stored}, nil
}

// Reveal decrypts a stored key for its owner; "" when keys are not kept (API_KEY_REVEAL=false)
// or cannot be decrypted (the encryption key changed).
func (k *APIKeys) Reveal(ctx context.Context, key model.APIKey) string {
	if k.Sealer == nil || len(key.KeyCiphertext) == 0 {
		return ""
	}
	full, err := k.Sealer.Open(key.KeyCiphertext, key.SessionID)
	if err != nil {
		k.Logger.WarnContext(ctx, "cannot decrypt an api key; was API_KEY_ENCRYPTION_KEY changed?",
			slog.String("session_id", key.SessionID))
		return ""
	}
	return full
}

// Authenticate resolves a raw API key to its principal. Unknown, inactive, revoked and
// expired keys, and keys of inactive users, are all the same 401.
func (k *APIKeys) Authenticate(ctx context.Context, raw string) (*auth.Principal, error) {
	if !auth.LooksLikeAPIKey(raw) {
		return nil, errBadAPIKey
	}
	hash := auth.HashToken(raw)
	entry, err := k.lookup(ctx, hash)
	if err != nil {
		return nil, err
	}
	h := entry.holder
	now := time.Now()
	if !entry.found || !h.KeyActive || !h.UserActive || (h.KeyExpiresAt != nil && !h.KeyExpiresAt.After(now)) {
		return nil, errBadAPIKey
	}
	k.touch(ctx, h, now)
	return &auth.Principal{UserID: h.UserID, Email: h.UserEmail, Role: h.Role, Tier: h.Tier,
		APIKeyID: h.KeyID, SessionID: h.SessionID}, nil
}

func (k *APIKeys) lookup(ctx context.Context, hash string) (cachedKey, error) {
	now := time.Now()
	k.mu.Lock()
	entry, ok := k.cache[hash]
	k.mu.Unlock()
	if ok && now.Sub(entry.fetched) < apiKeyCacheTTL {
		return entry, nil
	}
	holder, err := store.GetKeyHolder(ctx, k.DB, hash)
	if err != nil && !errors.Is(err, model.ErrNotFound) {
		return cachedKey{}, err
	}
	entry = cachedKey{holder: holder, found: err == nil, fetched: now}
	k.mu.Lock()
	if k.cache == nil || len(k.cache) >= apiKeyCacheMax {
		k.cache = make(map[string]cachedKey)
	}
	k.cache[hash] = entry
	k.mu.Unlock()
	return entry, nil
}

// touch records the key's use at most once a minute per replica (and the database's
// conditional update keeps it to once a minute across replicas).
func (k *APIKeys) touch(ctx context.Context, h store.KeyHolder, now time.Time) {
	if h.LastUsed != nil && now.Sub(*h.LastUsed) < time.Minute {
		return
	}
	k.mu.Lock()
	if k.touched == nil || len(k.touched) >= apiKeyCacheMax {
		k.touched = make(map[string]time.Time)
	}
	last, seen := k.touched[h.KeyID]
	if seen && now.Sub(last) < time.Minute {
		k.mu.Unlock()
		return
	}
	k.touched[h.KeyID] = now
	k.mu.Unlock()
	if err := store.TouchAPIKey(ctx, k.DB, h.KeyID); err != nil {
		k.Logger.WarnContext(ctx, "record api key use", slog.Any("err", err))
	}
}
