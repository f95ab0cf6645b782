package realtime

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func fanoutEvent(s string) *Event {
	return &Event{ID: "1733-0a1b-" + s, Origin: "0a1b2c3d", Type: "message_status_updated", SessionID: s,
		UserID: s + "u", WorkerID: s, At: time.Date(2026, 11, 27, 17, 30, 0, 123456789, time.FixedZone("x", 5*3600)),
		Data: json.RawMessage(`{"status":"SENT","text":"` + "a\\u003cb" + `"}`)}
}

// appendFanout writes exactly what encoding/json writes for the batch.
func TestAppendFanout_IsWhatEncodingJSONWrites(t *testing.T) {
	t.Parallel()
	strs := []string{"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "line\nbreak\r\ttab\b\f\x00\x1f\x7f",
		"ünïcödé ✓ 😀", "bad \xff\xfe utf-8", "sep \u2028 \u2029", "\xed\xa0\x80 surrogate"}
	var batch []*Event
	for _, s := range strs {
		batch = append(batch, fanoutEvent(s))
	}
	batch = append(batch, &Event{ID: "x", Origin: "o", Type: "t", At: time.Unix(0, 0).UTC()}) // no Data, no optional IDs
	want, err := json.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendFanout(nil, batch); !bytes.Equal(got, want) {
		t.Errorf("appendFanout:\n got %s\nwant %s", got, want)
	}
	back, err := decodeFanout(string(appendFanout(nil, batch[:1])))
	if err != nil || len(back) != 1 || back[0].SessionID != batch[0].SessionID || !back[0].At.Equal(batch[0].At) {
		t.Errorf("decodeFanout of one event: %+v, %v", back, err)
	}
}

func FuzzAppendFanout(f *testing.F) {
	f.Add("plain", "s1")
	f.Add("<&>\u2028\xff", "\x00")
	f.Fuzz(func(t *testing.T, a, b string) {
		batch := []*Event{fanoutEvent(a), fanoutEvent(b)}
		batch[1].Type = a + b
		want, err := json.Marshal(batch)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendFanout(nil, batch); !bytes.Equal(got, want) {
			t.Fatalf("appendFanout(%q, %q):\n got %s\nwant %s", a, b, got, want)
		}
	})
}
