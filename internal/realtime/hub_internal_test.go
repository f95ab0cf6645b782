package realtime

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/events"
)

func TestRaisedHere_TellsOwnEventsWithoutDecoding(t *testing.T) {
	t.Parallel()
	here := &Hub{origin: "0a1b2c3d4e5f"}
	here.originField = `"origin":"` + here.origin + `"`
	other := &Hub{origin: "f5e4d3c2b1a0"}
	encode := func(h *Hub, sessionID string, payload map[string]any) string {
		raw, err := json.Marshal(h.stamp(events.Event{Type: events.MessageStatusUpdated, SessionID: sessionID,
			UserID: "5f0c6f0e-3d5b-4c7e-9a43-1f2d3c4b5a69", At: time.Now(), Payload: payload}))
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	long := strings.Repeat("s", 100)
	if !here.raisedHere(encode(here, long, map[string]any{"status": "SENT"})) {
		t.Error("an event raised here, with a 100-character session ID, was not recognised")
	}
	// Another replica's event that quotes this origin in its data is still theirs.
	if here.raisedHere(encode(other, "s", map[string]any{"origin": here.origin, "a": here.originField})) {
		t.Error("another replica's event was taken for this one's")
	}
	// An origin that merely starts like this one is another replica's.
	if here.raisedHere(strings.Replace(encode(here, "s", nil), here.origin+`"`, here.origin+`ff"`, 1)) {
		t.Error("a longer origin with this one as prefix was taken for this one's")
	}
	if here.raisedHere(`{"id":"x"}`) || here.raisedHere("") {
		t.Error("a payload without this origin was taken for this replica's")
	}
}

// A fan-out message is a batch of one replica's events; a single event (a replica of an
// earlier version) is read too. A batch of this replica's events is told without decoding.
func TestFanoutMessages_BatchesAndSingleEvents(t *testing.T) {
	t.Parallel()
	here := &Hub{origin: "0a1b2c3d4e5f"}
	here.originField = `"origin":"` + here.origin + `"`
	other := &Hub{origin: "f5e4d3c2b1a0"}
	raise := func(h *Hub, status string) *Event {
		return h.stamp(events.Event{Type: events.MessageStatusUpdated, SessionID: "shop", At: time.Now(),
			Payload: events.MessageStatus{SessionID: "shop", ID: "m-" + status, Status: status}})
	}
	encode := func(v any) string {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}

	theirs := []*Event{raise(other, "SENT"), raise(other, "DELIVERED"), raise(other, "READ")}
	batch, err := decodeFanout(encode(theirs))
	if err != nil || len(batch) != 3 {
		t.Fatalf("batch: %d events, %v; want 3", len(batch), err)
	}
	for i, ev := range batch {
		if ev.ID != theirs[i].ID || ev.Origin != other.origin || !strings.Contains(string(ev.Data), `"status":"`) {
			t.Errorf("event %d = %+v, want %+v", i, ev, theirs[i])
		}
	}
	single, err := decodeFanout(encode(theirs[0]))
	if err != nil || len(single) != 1 || single[0].ID != theirs[0].ID {
		t.Errorf("single event: %+v, %v", single, err)
	}
	if _, err := decodeFanout("[{"); err == nil {
		t.Error("a broken batch was read")
	}
	if !here.raisedHere(encode([]*Event{raise(here, "SENT"), raise(here, "READ")})) {
		t.Error("a batch of this replica's events was not recognised")
	}
	if here.raisedHere(encode(theirs)) {
		t.Error("another replica's batch was taken for this one's")
	}
}
