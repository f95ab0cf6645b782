package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wagateway/gateway/internal/service"
)

func TestNormalizeID_FollowsTheProtocolRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"Worker_01", "worker-01"},
		{"worker-01", "worker-01"},
		{"  My Worker  ", "my-worker"},
		{"a--b__c", "a-b-c"},
		{"a - b _ c", "a-b-c"},
		{"--x--", "x"},
		{"__x__", "x"},
		{"ÄÖ", ""},
		{"äpfel", "pfel"},
		{"worker.one:8001", "workerone8001"},
		{"W O R K", "w-o-r-k"},
		{"tab\tseparated", "tab-separated"},
		{"UPPER", "upper"},
		{"", ""},
		{"   ", ""},
		{"---", ""},
		{"!@#$%", ""},
		{"a!b", "ab"},
		{"-_- x -_-", "x"},
		{"0123456789", "0123456789"},
	}
	for _, tt := range tests {
		if got := service.NormalizeID(tt.in); got != tt.want {
			t.Errorf("NormalizeID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeID_IsIdempotent(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"Worker_01", "  My Worker  ", "a--b__c", "--x--", "ÄÖ x", "x.y-z"} {
		once := service.NormalizeID(in)
		if twice := service.NormalizeID(once); twice != once {
			t.Errorf("NormalizeID(NormalizeID(%q)) = %q, want %q", in, twice, once)
		}
	}
}

func FuzzNormalizeID(f *testing.F) {
	for _, seed := range []string{"Worker_01", "  My Worker  ", "a--b__c", "--x--", "ÄÖ", "\x00\xff"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := service.NormalizeID(in)
		for i, r := range got {
			isSlug := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-'
			if !isSlug {
				t.Fatalf("NormalizeID(%q) = %q has %q outside [a-z0-9-]", in, got, r)
			}
			if r == '-' && (i == 0 || i == len(got)-1 || got[i-1] == '-') {
				t.Fatalf("NormalizeID(%q) = %q has a leading, trailing or repeated '-'", in, got)
			}
		}
		if again := service.NormalizeID(got); again != got {
			t.Fatalf("not idempotent: %q → %q → %q", in, got, again)
		}
	})
}

func TestIdempotentMessageID_SameClaimSameIDOtherwiseAnother(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	id := service.IdempotentMessageID("ses-1", "order-42", at)
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 5 {
		t.Fatalf("%q: version %v (%v), want a UUID v5", id, u.Version(), err)
	}
	if again := service.IdempotentMessageID("ses-1", "order-42", at.In(time.FixedZone("X", 3600))); again != id {
		t.Fatalf("the same claim gave %s then %s", id, again)
	}
	for name, other := range map[string]string{
		"another session":       service.IdempotentMessageID("ses-2", "order-42", at),
		"another key":           service.IdempotentMessageID("ses-1", "order-43", at),
		"the key claimed again": service.IdempotentMessageID("ses-1", "order-42", at.Add(24*time.Hour)),
		"a microsecond later":   service.IdempotentMessageID("ses-1", "order-42", at.Add(time.Microsecond)),
	} {
		if other == id {
			t.Errorf("%s: same ID %s", name, id)
		}
	}
}

// A send's own message ID is a UUID v7: ordered by creation time, so the messages table's
// primary key grows at its right edge instead of at random pages (fewer page splits and full
// page writes, and a working set that stays small however large the table grows). One asked
// for (an Idempotency-Key's) is kept as it is, and is not new: a retry records under it too.
func TestOutboundMessageID_TimeOrderedUnlessOneIsAskedFor(t *testing.T) {
	t.Parallel()
	first, firstNew := service.OutboundMessageID(context.Background())
	time.Sleep(2 * time.Millisecond)
	second, secondNew := service.OutboundMessageID(context.Background())
	for _, id := range []string{first, second} {
		if u, err := uuid.Parse(id); err != nil || u.Version() != 7 {
			t.Fatalf("%q: version %v (%v), want a UUID v7", id, u.Version(), err)
		}
	}
	if !firstNew || !secondNew {
		t.Errorf("generated IDs new = %v, %v, want true", firstNew, secondNew)
	}
	if first >= second {
		t.Errorf("IDs %s then %s: not in creation order", first, second)
	}
	asked := service.IdempotentMessageID("shop", "key-1", time.Now())
	if got, isNew := service.OutboundMessageID(service.WithMessageID(context.Background(), asked)); got != asked || isNew {
		t.Errorf("asked for %s, got %s (new %v)", asked, got, isNew)
	}
}
