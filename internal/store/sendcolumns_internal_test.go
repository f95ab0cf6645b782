package store

import (
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// The IDs of a batch are encoded as a binary uuid[] without a detour: a []uuid.UUID takes
// each ID through its driver.Valuer and back (522 allocations for 26 IDs), a []string a
// failed binary attempt and text.
func TestSendColumns_IDsEncodeAsABinaryUUIDArrayCheaply(t *testing.T) { // not parallel: AllocsPerRun
	c := newSendColumns(26)
	for i := range 26 {
		if err := c.add(i, OutboundMessage{ID: uuid.NewString(), SessionID: "s"}); err != nil {
			t.Fatal(err)
		}
	}
	types := pgtype.NewMap()
	buf := make([]byte, 0, 1024)
	encoded, err := types.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, c.ids, buf)
	if err != nil {
		t.Fatalf("binary uuid[]: %v", err)
	}
	var back []uuid.UUID
	if err := types.Scan(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, encoded, &back); err != nil || len(back) != 26 ||
		back[7].String() != uuid.UUID(c.ids[7].Bytes).String() {
		t.Fatalf("decoded %d IDs (%v), want the 26 encoded", len(back), err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		_, _ = types.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, c.ids, buf[:0])
	})
	if allocs > 2*26 {
		t.Errorf("encoding 26 IDs allocates %.0f times, want at most 2 per ID", allocs)
	}
}
