package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

const (
	callTimeout = 30 * time.Second
	// bodyShown bounds how much of a body the walk prints.
	bodyShown = 160
)

// credential is how a request authenticates: a dashboard JWT or a session's API key.
type credential struct {
	header, value, shown string
}

func withJWT(token string) credential {
	return credential{header: "Authorization", value: "Bearer " + token, shown: "JWT"}
}

func withAPIKey(key string) credential {
	return credential{header: "X-API-Key", value: key, shown: "X-API-Key " + maskKey(key)}
}

// apiClient calls the gateway's public API and prints each request as it goes.
type apiClient struct {
	baseURL string
	http    *http.Client
	out     io.Writer
}

// call prints the request, sends it and decodes the envelope's data into out (when not nil).
// It returns the HTTP status; an answer outside 2xx is an error with the API's own words.
func (c *apiClient) call(ctx context.Context, method, path string, cred credential, in, out any) (int, error) {
	var body io.Reader
	shown := ""
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body, shown = bytes.NewReader(raw), " "+clip(string(raw), bodyShown)
	}
	auth := ""
	if cred.header != "" {
		auth = " (" + cred.shown + ")"
	}
	fmt.Fprintf(c.out, "   → %s %s%s%s\n", method, path, auth, shown)

	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cred.header != "" {
		req.Header.Set(cred.header, cred.value)
	}
	resp, err := c.http.Do(req) //nolint:gosec // the demo's own gateway
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Message == "" {
			e.Message = clip(string(raw), bodyShown)
		}
		return resp.StatusCode, fmt.Errorf("HTTP %d %s: %s", resp.StatusCode, e.Type, e.Message)
	}
	if out == nil {
		return resp.StatusCode, nil
	}
	var envelope struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &envelope); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: the answer is not the JSON envelope: %w", method, path, err)
	}
	if err := json.Unmarshal(envelope.Data, out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: unexpected data: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// event is one Server-Sent Event of a session.
type event struct {
	ID   string
	Type string
	Data json.RawMessage
}

// eventStream reads GET /sessions/{id}/events in the background.
type eventStream struct {
	events <-chan event
	stop   context.CancelFunc
	done   sync.WaitGroup
	errMu  sync.Mutex
	err    error
}

// openEvents opens the session's event stream; it returns once the gateway has subscribed
// it (the answer's headers are written after the subscription), so no later event is missed.
func (c *apiClient) openEvents(ctx context.Context, path string, cred credential) (*eventStream, error) {
	fmt.Fprintf(c.out, "   → GET %s (%s; Server-Sent Events, kept open: its events show as ⇠)\n", path, cred.shown)
	streamCtx, stop := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(streamCtx, http.MethodGet, c.baseURL+path, nil)
	if err != nil {
		stop()
		return nil, err
	}
	req.Header.Set(cred.header, cred.value)
	req.Header.Set("Accept", "text/event-stream")
	// No client timeout: the stream lasts as long as the walk.
	resp, err := (&http.Client{Transport: c.http.Transport}).Do(req) //nolint:gosec // the demo's own gateway
	if err != nil {
		stop()
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		stop()
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", path, resp.StatusCode, clip(string(raw), bodyShown))
	}
	events := make(chan event, 64)
	s := &eventStream{events: events, stop: stop}
	s.done.Go(func() {
		defer close(events)
		defer resp.Body.Close()
		if err := readEvents(streamCtx, resp.Body, events); err != nil && streamCtx.Err() == nil {
			s.errMu.Lock()
			s.err = err
			s.errMu.Unlock()
		}
	})
	return s, nil
}

// readEvents parses the SSE frames of r (id:, event:, data: lines, a blank line ending each
// frame, comments skipped) until r ends or ctx is done.
func readEvents(ctx context.Context, r io.Reader, events chan<- event) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	var cur event
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.Type != "" && len(data) > 0 {
				cur.Data = json.RawMessage(strings.Join(data, "\n"))
				select {
				case events <- cur:
				case <-ctx.Done():
					return nil
				}
			}
			cur, data = event{}, nil
		case strings.HasPrefix(line, ":"):
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				cur.ID = value
			case "event":
				cur.Type = value
			case "data":
				data = append(data, value)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("the gateway ended the event stream")
}

// close ends the stream and waits for its reader.
func (s *eventStream) close() {
	s.stop()
	s.done.Wait()
}

// failure says why the stream ended early, if it did.
func (s *eventStream) failure() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// maskKey shows an API key as the gateway's lists do: wg_AbCd…WxYz.
func maskKey(key string) string {
	if len(key) < 12 {
		return key
	}
	return key[:7] + "…" + key[len(key)-4:]
}

// clip shortens s to n bytes (on a rune boundary) with an ellipsis.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
