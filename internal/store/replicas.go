package store

import (
	"context"
	"fmt"
	"time"
)

const (
	// ReplicaBeat is how often a running gateway says it is alive (BeatReplica).
	ReplicaBeat = 2 * time.Second
	// ReplicaGoneAfter is how long a replica may go unseen before it is taken for dead: an
	// Idempotency-Key claim it holds is then taken over by a retry at once. Four beats, so
	// that a replica slow to write one is not taken for dead; and less than the 10 s a retry
	// waits for a claim, so that a client retrying at once after the kill gets its answer
	// instead of 409.
	ReplicaGoneAfter = 4 * ReplicaBeat
)

// BeatReplica records that the gateway replica id is alive now.
func BeatReplica(ctx context.Context, db DBTX, id string) error {
	if _, err := db.Exec(ctx, `INSERT INTO gateway_replicas (id) VALUES ($1)
		ON CONFLICT (id) DO UPDATE SET seen_at = now()`, id); err != nil {
		return fmt.Errorf("replica heartbeat: %w", mapError(err))
	}
	return nil
}

// RemoveReplica forgets a replica that stopped cleanly (its requests are over): its claims
// left without answer are taken over at once.
func RemoveReplica(ctx context.Context, db DBTX, id string) error {
	if _, err := db.Exec(ctx, `DELETE FROM gateway_replicas WHERE id = $1`, id); err != nil {
		return fmt.Errorf("remove replica: %w", mapError(err))
	}
	return nil
}

// PruneReplicas deletes replicas not seen for an hour (killed ones).
func PruneReplicas(ctx context.Context, db DBTX) (int64, error) {
	tag, err := db.Exec(ctx, `DELETE FROM gateway_replicas WHERE seen_at < now() - interval '1 hour'`)
	if err != nil {
		return 0, fmt.Errorf("prune replicas: %w", mapError(err))
	}
	return tag.RowsAffected(), nil
}
