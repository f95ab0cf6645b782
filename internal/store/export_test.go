package store

// ClaimIdempotencyKeyAt lets tests claim with this replica's clock set anywhere.
var ClaimIdempotencyKeyAt = claimIdempotencyKeyAt

// BatchStatements are the statements the batch writer's pool runs, for tests of their plans.
var BatchStatements = map[string]string{
	"record sends":              recordSendsSQL,
	"record sends with new IDs": recordNewSendsSQL,
	"record send outcomes":      recordSendOutcomesSQL,
	"queue sends":               queueSendsSQL,
	"queue sends with new IDs":  queueNewSendsSQL,
}

// LockQueueHeadsSQL is LockQueueHeads' statement, for a test of its plan.
const LockQueueHeadsSQL = lockQueueHeadsSQL
