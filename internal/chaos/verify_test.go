//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"
)

// verdict is what became of the messages of a scenario.
type verdict struct {
	Accepted, AcceptedSync, AcceptedAsync int
	// Stored counts accepted messages found in Postgres; Delivered those a worker sent.
	Stored, Delivered int
	// Lost counts accepted messages not stored, or not sent by the deadline.
	Lost int
	// Duplicates counts extra sends of any message by the workers.
	Duplicates int
	// OutOfOrder counts async messages sent before one accepted earlier on their session.
	OutOfOrder int
	// Deduplicated counts retries a worker answered from its memory of clientMessageIds.
	Deduplicated int
	// Unanswered counts sends whose answer never came; of those, UnansweredStored were stored
	// anyway (the server died after storing), and UnansweredSent were sent by a worker.
	Unanswered, UnansweredStored, UnansweredSent int
	// Sends is the total of sends the workers performed.
	Sends int
}

// summary is the verdict in one line.
func (v verdict) summary() string {
	return fmt.Sprintf("accepted %d (sync %d, async %d), stored %d, delivered %d, lost %d, duplicates %d, out of order %d, "+
		"retries deduplicated by the worker %d, unanswered %d (stored %d, sent %d)",
		v.Accepted, v.AcceptedSync, v.AcceptedAsync, v.Stored, v.Delivered, v.Lost, v.Duplicates, v.OutOfOrder,
		v.Deduplicated, v.Unanswered, v.UnansweredStored, v.UnansweredSent)
}

// verify waits (at most within) until every accepted message was sent by a worker and is
// recorded as sent, then counts. It fails the test on a lost, duplicated or reordered message
// and adds the counts to the report.
func (sc *scenario) verify(t *testing.T, within time.Duration) verdict {
	t.Helper()
	ctx := context.Background()
	msgs := sc.accepted.all()
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	var v verdict
	settled := func() bool {
		for _, m := range msgs {
			if len(sc.ledger.get(m.ID)) == 0 {
				return false
			}
		}
		// Nothing of the scenario may stay queued: what was stored without an answer (the
		// server died under the request) must go out too.
		var pending int
		err := sc.db.QueryRow(ctx, `SELECT count(*) FROM messages WHERE status IN ('QUEUED', 'PENDING')`).Scan(&pending)
		return err == nil && pending == 0
	}
	start := time.Now()
	if !waitFor(ctx, within, settled) {
		t.Errorf("not every accepted message was sent and recorded within %s", within)
	}
	sc.fact(t, "Time for the backlog to drain after the fault", "%s", time.Since(start).Round(100*time.Millisecond))

	stored := map[string]bool{}
	rows, err := sc.db.Query(ctx, `SELECT id::text FROM messages WHERE id::text = ANY($1)`, ids)
	if err != nil {
		t.Fatalf("load accepted messages: %v", err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored[id] = true
	}
	rows.Close()

	firstSend := map[string]int64{}
	for _, m := range msgs {
		v.Accepted++
		if m.Async {
			v.AcceptedAsync++
		} else {
			v.AcceptedSync++
		}
		sends := sc.ledger.get(m.ID)
		if stored[m.ID] {
			v.Stored++
		}
		if len(sends) > 0 {
			v.Delivered++
			firstSend[m.ID] = sends[0].seq
		}
		if !stored[m.ID] || len(sends) == 0 {
			v.Lost++
		}
	}

	// Order: per session, async messages must go out in the order they were accepted.
	bySession := map[string][]accepted{}
	for _, m := range msgs {
		if m.Async {
			bySession[m.Session] = append(bySession[m.Session], m)
		}
	}
	for _, list := range bySession {
		sort.Slice(list, func(i, j int) bool { return list[i].Seq < list[j].Seq })
		var last int64
		for _, m := range list {
			s, ok := firstSend[m.ID]
			if !ok {
				continue
			}
			if s < last {
				v.OutOfOrder++
			}
			last = max(last, s)
		}
	}

	sc.ledger.mu.Lock()
	for _, sends := range sc.ledger.sends {
		v.Sends += len(sends)
		if len(sends) > 1 {
			v.Duplicates += len(sends) - 1
		}
	}
	v.Deduplicated = sc.ledger.dedups
	sc.ledger.mu.Unlock()

	sc.accepted.mu.Lock()
	unanswered := append([]string(nil), sc.accepted.unanswered...)
	sc.accepted.mu.Unlock()
	v.Unanswered = len(unanswered)
	if len(unanswered) > 0 {
		rows, err := sc.db.Query(ctx, `SELECT id::text FROM messages WHERE content = ANY($1)`, unanswered)
		if err != nil {
			t.Fatalf("look up unanswered sends: %v", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			v.UnansweredStored++
			if len(sc.ledger.get(id)) > 0 {
				v.UnansweredSent++
			}
		}
		rows.Close()
	}

	// Every verification covers all the scenario's messages so far.
	sc.Report.Accepted, sc.Report.Lost, sc.Report.Duplicates = v.Accepted, v.Lost, v.Duplicates
	sc.fact(t, "Messages", "%s", v.summary())
	if v.UnansweredSent < v.UnansweredStored {
		t.Errorf("%d sends stored without an answer were never sent", v.UnansweredStored-v.UnansweredSent)
	}
	if v.Lost > 0 || v.Duplicates > 0 || v.OutOfOrder > 0 {
		t.Errorf("messages lost %d, duplicated %d, out of order %d", v.Lost, v.Duplicates, v.OutOfOrder)
	}
	return v
}

// countRequests adds a load's requests to the report.
func (sc *scenario) countRequests(tl *tally) {
	tl.mu.Lock()
	sc.Report.Requests += tl.requests
	tl.mu.Unlock()
}
