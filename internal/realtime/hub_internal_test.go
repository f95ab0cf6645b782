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
