package store

// ClaimIdempotencyKeyAt lets tests claim with this replica's clock set anywhere.
var ClaimIdempotencyKeyAt = claimIdempotencyKeyAt
