package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
)

// What the walk sends and receives.
const (
	sessionID     = "demo-shop"
	sessionName   = "Demo shop"
	recipient     = "+62 812-3456-7890"
	textMessage   = "Hello from the wagateway demo!"
	imageCaption  = "Our menu for today"
	incomingText  = "Hi! Is the shop open today?"
	eventTimeout  = 30 * time.Second
	historyShown  = 60
	timeOfDayForm = "15:04:05.000"
)

// Result is what the walk did, for the keep-running summary and for the test.
type Result struct {
	// Steps are the titles of the steps that succeeded, in order.
	Steps []string

	Email, Password, Token string
	SessionID, WorkerID    string
	PhoneNumber            string
	APIKey                 string
	// Text and Image are the two sends as the gateway showed them after their receipts.
	Text, Image service.MessageView
	// Inbound is the message the contact sent, as the gateway recorded it.
	Inbound model.Message
	// History is the session's message history, newest first.
	History []model.Message
}

type step struct {
	title string
	run   func(w *walker, ctx context.Context) error
}

// steps are the walk, in order; each prints its requests and the answers that matter.
var steps = []step{
	{"Register a user", (*walker).register},
	{"Log in", (*walker).login},
	{"Create a session", (*walker).createSession},
	{"Connect it: the gateway places it on a worker", (*walker).connect},
	{"Fetch the QR code", (*walker).fetchQR},
	{"Scan it with the simulated phone", (*walker).scan},
	{"Copy the session's API key", (*walker).copyAPIKey},
	{"Send a text with the API key", (*walker).sendText},
	{"Send an image", (*walker).sendImage},
	{"Receipts arrive", (*walker).receipts},
	{"A contact writes in", (*walker).incoming},
	{"The history", (*walker).history},
}

// StepTitles are the titles of the walk's steps, in order.
func StepTitles() []string {
	titles := make([]string, len(steps))
	for i, s := range steps {
		titles[i] = s.title
	}
	return titles
}

// walker is one walk through the API, with what earlier steps learned.
type walker struct {
	stack  *Stack
	api    *apiClient
	out    io.Writer
	events *eventStream
	res    *Result
	// sent maps WhatsApp message IDs of the sends to their status as the events told it.
	sent map[string]model.MessageStatus
}

// Walk takes a customer's path through the stack's public API, printing each request and
// the interesting part of its answer to out. It stops at the first step that fails and
// returns an error naming it; Result.Steps says how far it got.
func Walk(ctx context.Context, stack *Stack, out io.Writer) (*Result, error) {
	client := &http.Client{Timeout: callTimeout, Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer client.CloseIdleConnections()
	w := &walker{stack: stack, out: out, res: &Result{}, sent: map[string]model.MessageStatus{},
		api: &apiClient{baseURL: stack.BaseURL, http: client, out: out}}
	defer func() {
		if w.events != nil {
			w.events.close()
		}
	}()
	for i, s := range steps {
		fmt.Fprintf(out, "\n%d. %s\n", i+1, s.title)
		if err := s.run(w, ctx); err != nil {
			fmt.Fprintf(out, "   ✗ %v\n", err)
			return w.res, fmt.Errorf("step %d (%s): %w", i+1, s.title, err)
		}
		w.res.Steps = append(w.res.Steps, s.title)
	}
	fmt.Fprintf(out, "\n✓ All %d steps succeeded.\n", len(steps))
	return w.res, nil
}

// answer prints the interesting part of an answer.
func (w *walker) answer(status int, format string, args ...any) {
	fmt.Fprintf(w.out, "   ← %d %s: %s\n", status, http.StatusText(status), fmt.Sprintf(format, args...))
}

// note prints what the demo itself does, outside the API.
func (w *walker) note(format string, args ...any) {
	fmt.Fprintf(w.out, "   · %s\n", fmt.Sprintf(format, args...))
}

type authAnswer struct {
	Token     string `json:"token"`
	ExpiresIn string `json:"expiresIn"`
	User      struct {
		ID    string `json:"id"`
		Email string `json:"email"`
		Role  string `json:"role"`
		Tier  string `json:"tier"`
	} `json:"user"`
}

func (w *walker) register(ctx context.Context) error {
	suffix := randomHex(3)
	w.res.Email, w.res.Password = "demo-"+suffix+"@example.com", "Demo-"+suffix+"-2026!"
	var a authAnswer
	status, err := w.api.call(ctx, http.MethodPost, "/api/v1/auth/register", credential{}, struct {
		Name     string `json:"name"`
		Email    string `json:"email"`
		Password string `json:"password"`
	}{"Demo User", w.res.Email, w.res.Password}, &a)
	if err != nil {
		return err
	}
	w.answer(status, "user %s <%s>, role %s, tier %s", a.User.ID, a.User.Email, a.User.Role, a.User.Tier)
	return nil
}

func (w *walker) login(ctx context.Context) error {
	var a authAnswer
	status, err := w.api.call(ctx, http.MethodPost, "/api/v1/auth/login", credential{},
		map[string]string{"email": w.res.Email, "password": w.res.Password}, &a)
	if err != nil {
		return err
	}
	if a.Token == "" {
		return fmt.Errorf("no token in the answer")
	}
	w.res.Token = a.Token
	w.answer(status, "JWT %s (valid %s); the dashboard routes take it as Authorization: Bearer", clip(a.Token, 24), a.ExpiresIn)
	return nil
}

func (w *walker) jwt() credential { return withJWT(w.res.Token) }

func (w *walker) createSession(ctx context.Context) error {
	var created struct {
		SessionID string              `json:"sessionId"`
		Status    model.SessionStatus `json:"status"`
		APIKey    string              `json:"apiKey"`
	}
	status, err := w.api.call(ctx, http.MethodPost, "/api/v1/sessions", w.jwt(),
		map[string]string{"name": sessionName, "sessionId": sessionID}, &created)
	if err != nil {
		return err
	}
	w.res.SessionID = created.SessionID
	w.answer(status, "session %s, status %s, API key %s (in full here, and later to its owner only)",
		created.SessionID, created.Status, maskKey(created.APIKey))
	return nil
}

func (w *walker) sessionPath(suffix string) string {
	return "/api/v1/sessions/" + w.res.SessionID + suffix
}

func (w *walker) connect(ctx context.Context) error {
	var err error
	if w.events, err = w.api.openEvents(ctx, w.sessionPath("/events"), w.jwt()); err != nil {
		return err
	}
	var res service.ConnectResult
	status, err := w.api.call(ctx, http.MethodPost, w.sessionPath("/connect"), w.jwt(), nil, &res)
	if err != nil {
		return err
	}
	w.res.WorkerID = res.WorkerID
	w.answer(status, "status %s on worker %s (of %s)", res.Status, res.WorkerID, strings.Join(WorkerIDs, ", "))
	if w.stack.Worker(res.WorkerID) == nil {
		return fmt.Errorf("placed on %q, which is not one of the demo's workers", res.WorkerID)
	}
	return w.await(ctx, "a QR code", func(ev event, p payload) bool {
		return ev.Type == "qr_code_updated" && p.QRCode != ""
	})
}

func (w *walker) fetchQR(ctx context.Context) error {
	var qr struct {
		QRCode    string     `json:"qrCode"`
		ExpiresAt *time.Time `json:"expiresAt"`
	}
	status, err := w.api.call(ctx, http.MethodGet, w.sessionPath("/qr"), w.jwt(), nil, &qr)
	if err != nil {
		return err
	}
	expires := "no expiry"
	if qr.ExpiresAt != nil {
		expires = "expires " + qr.ExpiresAt.Local().Format("15:04:05")
	}
	w.answer(status, "qrCode %s (%s); also qrImage, a PNG data URL, and ?format=png", clip(qr.QRCode, 24), expires)
	code, err := qrcode.New(qr.QRCode, qrcode.Low)
	if err != nil {
		return fmt.Errorf("draw the QR: %w", err)
	}
	for _, line := range strings.Split(strings.TrimRight(code.ToSmallString(false), "\n"), "\n") {
		fmt.Fprintf(w.out, "      %s\n", line)
	}
	w.note("a real phone would scan this in WhatsApp > Linked devices")
	return nil
}

func (w *walker) scan(ctx context.Context) error {
	worker := w.stack.Worker(w.res.WorkerID)
	w.note("the simulated phone on %s scans the QR (simengine Connect)", worker.ID)
	if err := worker.Engine.Connect(w.res.SessionID); err != nil {
		return err
	}
	if err := w.await(ctx, "the session CONNECTED", func(ev event, p payload) bool {
		return ev.Type == "session_status_changed" && p.Status == string(model.SessionConnected)
	}); err != nil {
		return err
	}
	var st struct {
		Status      model.SessionStatus `json:"status"`
		PhoneNumber *string             `json:"phoneNumber"`
		Worker      *struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"worker"`
	}
	status, err := w.api.call(ctx, http.MethodGet, w.sessionPath("/status"), w.jwt(), nil, &st)
	if err != nil {
		return err
	}
	if st.Status != model.SessionConnected || st.PhoneNumber == nil {
		return fmt.Errorf("the session is %s, want CONNECTED with a phone number", st.Status)
	}
	w.res.PhoneNumber = *st.PhoneNumber
	on := "no worker"
	if st.Worker != nil {
		on = "worker " + st.Worker.ID + " (" + st.Worker.Status + ")"
	}
	w.answer(status, "%s as %s, on %s", st.Status, *st.PhoneNumber, on)
	return nil
}

func (w *walker) copyAPIKey(ctx context.Context) error {
	var detail struct {
		Session struct {
			APIKey *struct {
				Key    *string `json:"key"`
				Masked string  `json:"masked"`
			} `json:"apiKey"`
		} `json:"session"`
	}
	status, err := w.api.call(ctx, http.MethodGet, w.sessionPath(""), w.jwt(), nil, &detail)
	if err != nil {
		return err
	}
	key := detail.Session.APIKey
	if key == nil || key.Key == nil {
		return fmt.Errorf("the answer shows no full API key (is API_KEY_REVEAL off?)")
	}
	w.res.APIKey = *key.Key
	w.answer(status, "session.apiKey.key %s (lists show it as %s)", w.res.APIKey, key.Masked)
	return nil
}

// sendAnswer is what every send answers.
type sendAnswer struct {
	ID        string              `json:"id"`
	MessageID string              `json:"messageId"`
	To        string              `json:"to"`
	Type      string              `json:"type"`
	Status    model.MessageStatus `json:"status"`
}

// sendBody is the body of the walk's sends, in the order a reader expects.
type sendBody struct {
	To       string `json:"to"`
	Message  string `json:"message,omitempty"`
	ImageURL string `json:"imageUrl,omitempty"`
	Caption  string `json:"caption,omitempty"`
}

func (w *walker) send(ctx context.Context, path string, body sendBody, into *service.MessageView) error {
	var a sendAnswer
	status, err := w.api.call(ctx, http.MethodPost, path, withAPIKey(w.res.APIKey), body, &a)
	if err != nil {
		return err
	}
	into.ID, into.WAMessageID, into.Status = a.ID, &a.MessageID, a.Status
	w.sent[a.MessageID] = a.Status
	w.answer(status, "id %s, messageId %s, to %s, type %s, status %s", a.ID, a.MessageID, a.To, a.Type, a.Status)
	return nil
}

func (w *walker) sendText(ctx context.Context) error {
	return w.send(ctx, "/api/v1/sendText", sendBody{To: recipient, Message: textMessage}, &w.res.Text)
}

func (w *walker) sendImage(ctx context.Context) error {
	return w.send(ctx, "/api/v1/sendImage", sendBody{To: recipient, ImageURL: w.stack.ImageURL, Caption: imageCaption}, &w.res.Image)
}

func (w *walker) receipts(ctx context.Context) error {
	w.note("the recipient's phone (simulated) reports SENT, DELIVERED and READ, %s apart; a status only moves forward", receiptDelay)
	err := w.await(ctx, "both messages READ", func(ev event, p payload) bool {
		if ev.Type != "message_status_updated" {
			return false
		}
		if _, ours := w.sent[p.MessageID]; ours {
			w.sent[p.MessageID] = model.MessageStatus(p.Status)
		}
		for _, st := range w.sent {
			if st != model.MessageRead {
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, m := range []*service.MessageView{&w.res.Text, &w.res.Image} {
		status, err := w.api.call(ctx, http.MethodGet, "/api/v1/messages/"+m.ID, withAPIKey(w.res.APIKey), nil,
			&struct {
				Message *service.MessageView `json:"message"`
			}{m})
		if err != nil {
			return err
		}
		if m.Status != model.MessageRead {
			return fmt.Errorf("message %s is %s, want READ", m.ID, m.Status)
		}
		w.answer(status, "%s %s, history %s", m.Type, m.Status, statusHistory(m.StatusHistory))
	}
	return nil
}

func statusHistory(changes []store.StatusChange) string {
	parts := make([]string, len(changes))
	for i, c := range changes {
		parts[i] = fmt.Sprintf("%s %s", c.Status, c.At.Local().Format(timeOfDayForm))
	}
	return strings.Join(parts, " → ")
}

func (w *walker) incoming(ctx context.Context) error {
	worker := w.stack.Worker(w.res.WorkerID)
	w.note("%s writes %q to the session (simengine Receive on %s)", simengine.FakeContact, incomingText, worker.ID)
	if err := worker.Engine.Receive(w.res.SessionID, simengine.FakeContact, incomingText); err != nil {
		return err
	}
	var id string
	if err := w.await(ctx, "the incoming message", func(ev event, p payload) bool {
		if ev.Type == "message_received" && p.Message != nil && p.Message.Content != nil && *p.Message.Content == incomingText {
			id = p.Message.ID
			return true
		}
		return false
	}); err != nil {
		return err
	}
	w.res.Inbound.ID = id
	return nil
}

func (w *walker) history(ctx context.Context) error {
	var page struct {
		Messages   []model.Message `json:"messages"`
		NextCursor *string         `json:"nextCursor"`
	}
	status, err := w.api.call(ctx, http.MethodGet, w.sessionPath("/messages?limit=20"), w.jwt(), nil, &page)
	if err != nil {
		return err
	}
	w.res.History = page.Messages
	w.answer(status, "%d messages, newest first", len(page.Messages))
	for _, m := range page.Messages {
		if m.ID == w.res.Inbound.ID {
			w.res.Inbound = m
		}
		peer := "to " + deref(m.To)
		if m.Direction == model.DirectionInbound {
			peer = "from " + deref(m.From)
		}
		what := deref(m.Content)
		if m.Caption != nil {
			what = *m.Caption + " (" + deref(m.MediaURL) + ")"
		}
		fmt.Fprintf(w.out, "      %-8s  %-5s  %-9s  %-35s  %s\n", m.Direction, m.Type, m.Status, peer, clip(fmt.Sprintf("%q", what), historyShown))
	}
	if len(page.Messages) != 3 || w.res.Inbound.Direction != model.DirectionInbound {
		return fmt.Errorf("the history has %d messages, want the two sends and the incoming one", len(page.Messages))
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

// payload holds the fields of the real-time events the walk looks at.
type payload struct {
	Status      string  `json:"status"`
	QRCode      string  `json:"qrCode"`
	PhoneNumber *string `json:"phoneNumber"`
	DisplayName *string `json:"displayName"`
	MessageID   string  `json:"messageId"`
	Message     *struct {
		ID       string  `json:"id"`
		From     string  `json:"from"`
		FromName *string `json:"fromName"`
		Type     string  `json:"type"`
		Content  *string `json:"content"`
	} `json:"message"`
}

// await prints the session's events as they come until match accepts one.
func (w *walker) await(ctx context.Context, what string, match func(event, payload) bool) error {
	timeout := time.NewTimer(eventTimeout)
	defer timeout.Stop()
	for {
		select {
		case ev, ok := <-w.events.events:
			if !ok {
				if err := w.events.failure(); err != nil {
					return fmt.Errorf("waiting for %s: %w", what, err)
				}
				return fmt.Errorf("waiting for %s: the event stream ended", what)
			}
			var p payload
			if err := json.Unmarshal(ev.Data, &p); err != nil {
				return fmt.Errorf("event %s: %w", ev.Type, err)
			}
			fmt.Fprintf(w.out, "   ⇠ %s: %s\n", ev.Type, describeEvent(ev, p))
			if match(ev, p) {
				return nil
			}
		case <-timeout.C:
			return fmt.Errorf("no event with %s within %s", what, eventTimeout)
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		}
	}
}

func describeEvent(ev event, p payload) string {
	switch ev.Type {
	case "qr_code_updated":
		return "new QR " + clip(p.QRCode, 24)
	case "session_status_changed":
		s := p.Status
		if p.PhoneNumber != nil {
			s += " as " + *p.PhoneNumber
		}
		if p.DisplayName != nil {
			s += " (" + *p.DisplayName + ")"
		}
		return s
	case "message_status_updated":
		return p.MessageID + " " + p.Status
	case "message_received":
		if p.Message != nil {
			return fmt.Sprintf("%s from %s: %q", p.Message.Type, p.Message.From, deref(p.Message.Content))
		}
	}
	return clip(string(ev.Data), bodyShown)
}
