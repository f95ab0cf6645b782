package service

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/store"
)

func TestNotice_WakesOnlyForWorkDueBeforeTheNextLook(t *testing.T) {
	t.Parallel()
	woken := func(d *Dispatcher, due time.Time) bool {
		wake := make(chan struct{}, 1)
		d.notice(due, wake)
		select {
		case <-wake:
			return true
		default:
			return false
		}
	}
	now := time.Now()
	d := &Dispatcher{}
	d.planned.Store(now.Add(time.Second).UnixMilli())

	if !woken(d, now) {
		t.Error("work due now did not wake the dispatcher")
	}
	if !woken(d, now.Add(300*time.Millisecond)) {
		t.Error("work due before the next planned look did not wake the dispatcher")
	}
	if woken(d, now.Add(time.Hour)) {
		t.Error("work scheduled an hour ahead woke the dispatcher")
	}
	// What did not wake it is kept for its next plan: the earliest announced time.
	if got := d.notified.Load(); got != now.UnixMilli() {
		t.Errorf("notified = %d, want the earliest announced %d", got, now.UnixMilli())
	}
	d.notified.Store(0)
	woken(d, now.Add(time.Hour))
	woken(d, now.Add(2*time.Hour))
	if got := d.notified.Load(); got != now.Add(time.Hour).UnixMilli() {
		t.Errorf("notified = %d, want the earlier of two future announcements", got)
	}
}

func TestQueueDue_ReadsTheAnnouncedTimeAndTreatsAnythingElseAsNow(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, payload := range []string{"", "0", "-5", "soon"} {
		if got := store.QueueDue(payload, now); !got.Equal(now) {
			t.Errorf("QueueDue(%q) = %v, want now", payload, got)
		}
	}
	at := now.Add(time.Hour).Truncate(time.Millisecond)
	if got := store.QueueDue(strconv.FormatInt(at.UnixMilli(), 10), now); !got.Equal(at) {
		t.Errorf("QueueDue of %v = %v", at, got)
	}
}

// The due sessions are sent in batches of one worker each, in the order the workers first
// appear, none larger than the batch size.
func TestBatchByWorker_GroupsEachWorkersSessionsUpToTheSize(t *testing.T) {
	t.Parallel()
	var due []store.DueSession
	for _, s := range []string{"a1 w-a", "b1 w-b", "a2 w-a", "n1 ", "a3 w-a", "b2 w-b", "n2 "} {
		id, worker, _ := strings.Cut(s, " ")
		due = append(due, store.DueSession{ID: id, WorkerID: worker})
	}
	got := batchByWorker(due, 2)
	want := [][]string{{"a1", "a2"}, {"b1", "b2"}, {"n1", "n2"}, {"a3"}}
	if len(got) != len(want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	for i := range want {
		if strings.Join(got[i], ",") != strings.Join(want[i], ",") {
			t.Fatalf("batches %v, want %v", got, want)
		}
	}
	if got := batchByWorker(nil, 2); len(got) != 0 {
		t.Fatalf("no due session: batches %v, want none", got)
	}
}
