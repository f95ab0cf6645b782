package service

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// NormalizeID turns a worker or session ID into its slug form: trimmed, lower-case, spaces and
// '_' as '-', characters outside [a-z0-9-] dropped, runs of '-' collapsed, no leading or
// trailing '-' ("Worker_01" → "worker-01").
func NormalizeID(id string) string {
	var b strings.Builder
	b.Grow(len(id))
	lastDash := true // drops leading dashes
	for _, r := range strings.ToLower(strings.TrimSpace(id)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			lastDash = false
		case r == '-' || r == '_' || r == ' ' || r == '\t':
			if !lastDash {
				b.WriteByte('-')
				lastDash = true
			}
		}
	}
	return strings.TrimRight(b.String(), "-")
}

// reservedWorkerIDs would collide with fixed routes under /workers.
var reservedWorkerIDs = map[string]bool{
	"register": true, "unregister": true, "statistics": true, "available": true,
	"test": true, "health": true, "health-check": true,
}

func upper(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// idempotentMessageNamespace is the UUID v5 namespace of the message IDs derived from
// Idempotency-Keys. Changing it would make a retry across the change send its message again.
var idempotentMessageNamespace = uuid.MustParse("c854d8ca-a8a4-475b-b745-b1b5df72f475")

// IdempotentMessageID is the message ID of the send made under an Idempotency-Key: a UUID v5
// of the session, the key and when the key was claimed (its created_at). Any replica derives
// the same ID, so a retry that takes over the claim of a replica that died finds the message
// that replica recorded, and the primary key refuses to record it twice. The claim's time
// tells apart two uses of a key more than a day apart (keys are pruned after 24 h; messages
// are kept longer).
func IdempotentMessageID(sessionID, key string, claimedAt time.Time) string {
	// A key has no control characters (the middleware refuses them), so '\n' separates.
	name := sessionID + "\n" + key + "\n" + strconv.FormatInt(claimedAt.UnixMicro(), 10)
	return uuid.NewSHA1(idempotentMessageNamespace, []byte(name)).String()
}

type messageIDKey struct{}

// WithMessageID returns ctx asking the send made with it to record its message under id.
func WithMessageID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, messageIDKey{}, id)
}

// outboundMessageID is the ID of a send's message: the one ctx asks for (WithMessageID), or a
// new UUID v7, ordered by creation time: the messages table's primary key then grows at its
// right edge rather than at random pages. isNew says it is the latter, which no other send
// has (74 random bits per millisecond), so it is recorded without a conflict check.
func outboundMessageID(ctx context.Context) (id string, isNew bool) {
	if id, ok := ctx.Value(messageIDKey{}).(string); ok && id != "" {
		return id, false
	}
	return uuid.Must(uuid.NewV7()).String(), true
}
