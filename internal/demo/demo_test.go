package demo_test

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/wagateway/gateway/internal/demo"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/testenv"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
)

// TestWalk_GatewayAndTwoSimworkers_EveryStepSucceeds runs the demo's walk end to end, as
// `make demo` does, with its output captured: every step must succeed and leave what it
// claims in the gateway, so that the demo cannot rot unnoticed.
func TestWalk_GatewayAndTwoSimworkers_EveryStepSucceeds(t *testing.T) {
	t.Parallel()
	logs := &testenv.SyncBuffer{}
	stack, err := demo.Start(t.Context(), demo.Config{DatabaseURL: testenv.NewDatabaseURL(t), RedisURL: testenv.RedisURL(),
		KeyPrefix: testenv.NewKeyPrefix(t), Logs: logs, Env: map[string]string{"BCRYPT_ROUNDS": "4"}})
	if err != nil {
		t.Fatalf("start: %v\nlogs:\n%s", err, logs)
	}
	t.Cleanup(func() {
		if err := stack.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if len(stack.Workers) != 2 {
		t.Fatalf("%d simulated workers, want 2", len(stack.Workers))
	}

	var out bytes.Buffer
	res, err := demo.Walk(t.Context(), stack, &out)
	if err != nil {
		t.Fatalf("walk: %v\noutput:\n%s", err, out.String())
	}
	output := out.String()
	if !slices.Equal(res.Steps, demo.StepTitles()) || len(res.Steps) != 12 {
		t.Fatalf("steps done = %q, want all of %q", res.Steps, demo.StepTitles())
	}
	for i, title := range demo.StepTitles() {
		if !strings.Contains(output, fmt.Sprintf("\n%d. %s\n", i+1, title)) {
			t.Errorf("the output has no heading for step %d %q", i+1, title)
		}
	}
	for _, want := range []string{"✓ All 12 steps succeeded.", "⇠ qr_code_updated", "⇠ session_status_changed: CONNECTED",
		"⇠ message_received: TEXT from " + simengine.FakeContact} {
		if !strings.Contains(output, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if strings.Contains(output, "✗") {
		t.Errorf("the output reports a failure:\n%s", output)
	}
	if qrLines := strings.Count(output, "████"); qrLines < 20 {
		t.Errorf("the QR code is not drawn (%d lines of blocks)", qrLines)
	}

	if !slices.Contains(demo.WorkerIDs, res.WorkerID) || res.PhoneNumber == "" || !strings.HasPrefix(res.APIKey, "wg_") {
		t.Errorf("session on %q as %q with key %q", res.WorkerID, res.PhoneNumber, res.APIKey)
	}
	text, image := res.Text, res.Image
	if text.Type != model.MessageText || deref(text.Content) != "Hello from the wagateway demo!" || text.Status != model.MessageRead {
		t.Errorf("text = %s %q %s, want TEXT READ", text.Type, deref(text.Content), text.Status)
	}
	var history []model.MessageStatus
	for _, c := range text.StatusHistory {
		history = append(history, c.Status)
	}
	if want := []model.MessageStatus{model.MessagePending, model.MessageSent, model.MessageDelivered, model.MessageRead}; !slices.Equal(history, want) {
		t.Errorf("text status history = %v, want %v", history, want)
	}
	if image.Type != model.MessageImage || deref(image.MediaURL) != stack.ImageURL || image.Status != model.MessageRead {
		t.Errorf("image = %s %q %s, want IMAGE of %s READ", image.Type, deref(image.MediaURL), image.Status, stack.ImageURL)
	}
	if in := res.Inbound; in.Direction != model.DirectionInbound || deref(in.From) != simengine.FakeContact || deref(in.Content) == "" {
		t.Errorf("inbound = %+v", in)
	}
	var order []string
	for _, m := range res.History {
		order = append(order, m.ID)
	}
	if want := []string{res.Inbound.ID, image.ID, text.ID}; !slices.Equal(order, want) {
		t.Errorf("history = %v, want newest first %v", order, want)
	}

	// The image the walk sent is really there.
	resp, err := http.Get(stack.ImageURL) //nolint:noctx // a test of the demo's own server
	if err != nil {
		t.Fatalf("get the image: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("image: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
