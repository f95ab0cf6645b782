package workerkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/wagateway/gateway/internal/protocol"
)

const (
	apiPrefix          = "/api/v1"
	backendCallTimeout = 10 * time.Second
	maxAnswerBytes     = 4 << 20
)

// backendClient makes the worker's calls on the backend. After a registration it speaks as
// the worker the backend knows: under the ID the backend answered with, and with the
// workerToken it returned (the shared token when it returned none).
type backendClient struct {
	base   string
	shared string
	http   *http.Client

	mu       sync.Mutex
	workerID string
	token    string
}

func newBackendClient(base, sharedToken, workerID string) *backendClient {
	return &backendClient{
		base:     base,
		shared:   sharedToken,
		http:     &http.Client{Timeout: backendCallTimeout},
		workerID: workerID,
		token:    sharedToken,
	}
}

// identity returns the worker ID and the bearer to use now.
func (c *backendClient) identity() (workerID, token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.workerID, c.token
}

func (c *backendClient) currentWorkerID() string {
	id, _ := c.identity()
	return id
}

// statusError is an answer of the backend other than 2xx.
type statusError struct {
	call    string
	status  int
	message string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: backend answered %d: %s", e.call, e.status, e.message)
}

// statusOf returns the HTTP status of a backend answer error, 0 when the backend did not
// answer at all.
func statusOf(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	return 0
}

// do sends one request and decodes the envelope's data into out (when not nil).
func (c *backendClient) do(ctx context.Context, call, method, path, token string, body, out any) error {
	var reader io.Reader
	if body != nil {
		payload, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s: encode: %w", call, err)
		}
		reader = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+apiPrefix+path, reader)
	if err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "wagateway-workerkit")
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", call, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var env protocol.Envelope[json.RawMessage]
		message := http.StatusText(resp.StatusCode)
		if json.Unmarshal(raw, &env) == nil && env.ErrorMessage() != "" {
			message = env.ErrorMessage()
		}
		return &statusError{call: call, status: resp.StatusCode, message: message}
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	env := protocol.Envelope[json.RawMessage]{}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s: decode answer: %w", call, err)
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return nil
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("%s: decode answer data: %w", call, err)
	}
	return nil
}

// register registers with the shared token and adopts the ID and token the backend returns.
func (c *backendClient) register(ctx context.Context, req protocol.RegisterRequest) (protocol.RegisterResult, error) {
	var res protocol.RegisterResult
	if err := c.do(ctx, "register", http.MethodPost, "/workers/register", c.shared, req, &res); err != nil {
		return res, err
	}
	c.mu.Lock()
	if res.WorkerID != "" {
		c.workerID = res.WorkerID
	}
	c.token = c.shared
	if res.WorkerToken != "" {
		c.token = res.WorkerToken
	}
	c.mu.Unlock()
	return res, nil
}

func (c *backendClient) heartbeat(ctx context.Context, req protocol.HeartbeatRequest) (protocol.HeartbeatResult, error) {
	var res protocol.HeartbeatResult
	id, token := c.identity()
	err := c.do(ctx, "heartbeat", http.MethodPut, "/workers/"+url.PathEscape(id)+"/heartbeat", token, req, &res)
	return res, err
}

func (c *backendClient) assignedSessions(ctx context.Context) (protocol.AssignedSessions, error) {
	var res protocol.AssignedSessions
	id, token := c.identity()
	err := c.do(ctx, "assigned sessions", http.MethodGet, "/workers/"+url.PathEscape(id)+"/sessions/assigned", token, nil, &res)
	return res, err
}

func (c *backendClient) recoveryStatus(ctx context.Context, req protocol.RecoveryStatusRequest) error {
	id, token := c.identity()
	return c.do(ctx, "recovery status", http.MethodPost, "/workers/"+url.PathEscape(id)+"/sessions/recovery-status", token, req, nil)
}

func (c *backendClient) sessionsPreserved(ctx context.Context, sessionIDs []string) error {
	id, token := c.identity()
	refs := make([]protocol.SessionRef, 0, len(sessionIDs))
	for _, s := range sessionIDs {
		refs = append(refs, protocol.SessionRef(s))
	}
	req := protocol.SessionsPreservedRequest{WorkerID: id, PreservedSessions: refs, Timestamp: protocol.At(time.Now())}
	return c.do(ctx, "sessions preserved", http.MethodPost, "/workers/"+url.PathEscape(id)+"/sessions-preserved", token, req, nil)
}

func (c *backendClient) unregister(ctx context.Context, endpoint string) error {
	id, token := c.identity()
	return c.do(ctx, "unregister", http.MethodDelete, "/workers/unregister", token,
		protocol.UnregisterRequest{WorkerID: id, Endpoint: endpoint}, nil)
}

// postEvent delivers one event to a /webhooks route.
func (c *backendClient) postEvent(ctx context.Context, path string, event any) error {
	_, token := c.identity()
	return c.do(ctx, "event "+path, http.MethodPost, path, token, event, nil)
}
