package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/protocol"
)

// The floors are what the gateway's sendText is compared with, run the same way in the same
// invocation against the same simulated worker: a bare proxy (parse JSON, forward, reply; no
// database) and a naive durable proxy (parse, INSERT, forward, UPDATE, one commit each, on a
// pgxpool of naivePoolConns connections and a table of its own).
const naivePoolConns = 32

const naiveTableDDL = `CREATE TABLE IF NOT EXISTS bench_naive_messages (
	id            uuid        PRIMARY KEY,
	session_id    text        NOT NULL,
	to_number     text        NOT NULL,
	content       text        NOT NULL,
	status        text        NOT NULL,
	wa_message_id text,
	error_message text,
	created_at    timestamptz NOT NULL DEFAULT now(),
	updated_at    timestamptz NOT NULL DEFAULT now()
)`

// forwarder sends text messages to a worker's send route, as the gateway's worker client does.
type forwarder struct {
	http     *http.Client
	endpoint string
	token    string
}

func newForwarder(endpoint, token string, connections int) *forwarder {
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * connections,
		MaxIdleConnsPerHost: connections,
		IdleConnTimeout:     90 * time.Second,
	}
	return &forwarder{http: &http.Client{Transport: transport, Timeout: 10 * time.Second}, endpoint: endpoint, token: token}
}

func (f *forwarder) send(ctx context.Context, sessionID, clientMessageID, to, message string) (string, error) {
	payload, err := json.Marshal(protocol.SendRequest{To: to, Type: protocol.SendText, Message: &message, ClientMessageID: clientMessageID})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.endpoint+"/api/sessions/"+url.PathEscape(sessionID)+"/send",
		bytes.NewReader(payload))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := f.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("worker answered %d: %s", resp.StatusCode, truncate(string(raw), 200))
	}
	var env protocol.Envelope[protocol.SendResult]
	if err := json.Unmarshal(raw, &env); err != nil {
		return "", fmt.Errorf("worker answer: %w", err)
	}
	return env.Data.MessageID, nil
}

// floorProxy is a floor: the bare proxy when db is nil, the naive durable proxy otherwise.
// It answers POST /sendText with the gateway's body and X-API-Key header.
type floorProxy struct {
	forward  *forwarder
	sessions map[string]string // API key → session ID
	db       *pgxpool.Pool
	srv      *http.Server
	url      string
	served   chan error
}

type floorSendRequest struct {
	To      string `json:"to"`
	Message string `json:"message"`
}

type floorSendAnswer struct {
	Success bool `json:"success"`
	Data    struct {
		ID        string `json:"id"`
		MessageID string `json:"messageId"`
		Status    string `json:"status"`
	} `json:"data"`
}

func startFloor(ctx context.Context, forward *forwarder, sessions map[string]string, db *pgxpool.Pool) (*floorProxy, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	p := &floorProxy{forward: forward, sessions: sessions, db: db, url: "http://" + ln.Addr().String(), served: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sendText", p.sendText)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	go func() { p.served <- p.srv.Serve(ln) }()
	return p, nil
}

func (p *floorProxy) sendText(w http.ResponseWriter, r *http.Request) {
	var in floorSendRequest
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.To == "" || in.Message == "" {
		http.Error(w, `{"success":false,"error":"invalid body"}`, http.StatusBadRequest)
		return
	}
	sessionID, ok := p.sessions[r.Header.Get("X-API-Key")]
	if !ok {
		http.Error(w, `{"success":false,"error":"unknown API key"}`, http.StatusUnauthorized)
		return
	}
	ctx := r.Context()
	id := uuid.NewString()
	if p.db != nil {
		_, err := p.db.Exec(ctx, `INSERT INTO bench_naive_messages (id, session_id, to_number, content, status)
			VALUES ($1, $2, $3, $4, 'PENDING')`, id, sessionID, in.To, in.Message)
		if err != nil {
			http.Error(w, `{"success":false,"error":"record failed"}`, http.StatusInternalServerError)
			return
		}
	}
	waID, err := p.forward.send(ctx, sessionID, id, in.To, in.Message)
	if err != nil {
		if p.db != nil {
			_, _ = p.db.Exec(context.WithoutCancel(ctx), `UPDATE bench_naive_messages SET status = 'FAILED', error_message = $2,
				updated_at = now() WHERE id = $1`, id, err.Error())
		}
		http.Error(w, `{"success":false,"error":"worker failed"}`, http.StatusBadGateway)
		return
	}
	if p.db != nil {
		_, err := p.db.Exec(ctx, `UPDATE bench_naive_messages SET status = 'SENT', wa_message_id = $2, updated_at = now()
			WHERE id = $1`, id, waID)
		if err != nil {
			http.Error(w, `{"success":false,"error":"record failed"}`, http.StatusInternalServerError)
			return
		}
	}
	var out floorSendAnswer
	out.Success = true
	out.Data.ID, out.Data.MessageID, out.Data.Status = id, waID, "SENT"
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (p *floorProxy) close(ctx context.Context) error {
	err := p.srv.Shutdown(ctx)
	if served := <-p.served; !errors.Is(served, http.ErrServerClosed) {
		err = errors.Join(err, served)
	}
	p.forward.http.CloseIdleConnections()
	return err
}

// openNaivePool opens the naive proxy's pool on the bench database and creates its table.
func (e *env) openNaivePool(ctx context.Context) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(e.databaseURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = naivePoolConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("naive proxy pool: %w", err)
	}
	if _, err := pool.Exec(ctx, naiveTableDDL); err != nil {
		pool.Close()
		return nil, fmt.Errorf("naive proxy table: %w", err)
	}
	return pool, nil
}
