package workerkit_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/workerkit/simengine"
	"github.com/wagateway/gateway/internal/workerkit/workerkittest"
)

// recorded is one exchange of testdata/02-backend-to-worker.jsonl (a copy of the spec's
// fixture): what the original backend asked the Node worker and what the Node worker said.
type recorded struct {
	Seq     int `json:"seq"`
	Request struct {
		Method string          `json:"method"`
		Path   string          `json:"path"`
		Body   json.RawMessage `json:"body"`
	} `json:"request"`
	Response struct {
		Status int             `json:"status"`
		Body   json.RawMessage `json:"body"`
	} `json:"response"`
}

// nodeOnly are fields of the Node worker's answers that no backend reads: process details
// of /health and the Baileys diagnostics of the status answer.
var nodeOnly = map[string]bool{
	"resources": true, "services": true, "nodeVersion": true, "platform": true, "arch": true,
	"lastSeen": true, "lastDisconnect": true, "messageCount": true,
}

// TestFixtures_ReplayedBackendCalls_AnsweredInTheNodeWorkersShape replays the backend's
// recorded calls on the Node worker against this worker, in order, and checks that each
// answer has the recorded status and carries every field the recorded answer had.
func TestFixtures_ReplayedBackendCalls_AnsweredInTheNodeWorkersShape(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/02-backend-to-worker.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var exchanges []recorded
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			var ex recorded
			if err := json.Unmarshal(line, &ex); err != nil {
				t.Fatal(err)
			}
			exchanges = append(exchanges, ex)
		}
	}
	if len(exchanges) != 7 {
		t.Fatalf("%d exchanges in the fixture", len(exchanges))
	}

	backend := workerkittest.NewBackend(t, sharedToken)
	// The Node worker could not reach WhatsApp: its session never connected. Ours waits for a
	// scan that never comes.
	tw := startWorker(t, backend, workerOptions{engine: simengine.Config{ConnectDelay: -1, QRInterval: time.Hour}})
	for _, ex := range exchanges {
		var body any
		if len(ex.Request.Body) > 0 && string(ex.Request.Body) != "null" {
			body = ex.Request.Body
		}
		a := tw.call(t, ex.Request.Method, ex.Request.Path, body)
		if a.Status != ex.Response.Status {
			t.Errorf("seq %d %s %s: %d, recorded %d\n%s", ex.Seq, ex.Request.Method, ex.Request.Path, a.Status, ex.Response.Status, a.Raw)
			continue
		}
		var want, got map[string]any
		if err := json.Unmarshal(ex.Response.Body, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(a.Raw, &got); err != nil {
			t.Fatal(err)
		}
		missingFields(t, ex.Seq, "", want, got)
	}
}

// missingFields reports every field of want (two levels deep) that got lacks.
func missingFields(t *testing.T, seq int, prefix string, want, got map[string]any) {
	t.Helper()
	for key, value := range want {
		if nodeOnly[key] {
			continue
		}
		sub, present := got[key]
		if !present {
			t.Errorf("seq %d: the answer lacks %s%s", seq, prefix, key)
			continue
		}
		if wantObj, ok := value.(map[string]any); ok && prefix == "" {
			gotObj, _ := sub.(map[string]any)
			missingFields(t, seq, key+".", wantObj, gotObj)
		}
	}
}
