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
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/store"
)

// The floors are what the gateway's sendText is compared with, run the same way in the same
// invocation against the same simulated worker: a bare proxy (parse JSON, forward, reply; no
// database), a naive durable proxy (parse, INSERT, forward, UPDATE, one commit each, on a
// pgxpool of naivePoolConns connections and a table of its own) and a minimal group-committing
// proxy (the same, with the INSERTs of concurrent requests written in one statement and one
// commit, likewise the UPDATEs; with ?async=true it answers 202 once the INSERT committed and
// forwards nothing). The last is what the targets were set against: how far batching
// the commits alone goes on this machine, without the gateway's work per message.
const naivePoolConns = 32

// floorMode is what a floor proxy does with the database.
type floorMode int

const (
	floorBare floorMode = iota
	floorNaive
	floorGroupCommit
)

// floorTable is the table of each durable floor.
func floorTable(mode floorMode) string {
	if mode == floorGroupCommit {
		return "bench_gc_messages"
	}
	return "bench_naive_messages"
}

const floorTableDDL = `CREATE TABLE IF NOT EXISTS %s (
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

// floorProxy is a floor. It answers POST /sendText with the gateway's body and X-API-Key header.
type floorProxy struct {
	mode     floorMode
	forward  *forwarder
	sessions map[string]string // API key → session ID
	db       *pgxpool.Pool
	srv      *http.Server
	url      string
	served   chan error

	// The group-committing floor's writers and their flushers' stop.
	records   store.GroupCommit[floorRecord, struct{}]
	outcomes  store.GroupCommit[floorOutcome, struct{}]
	stopFlush context.CancelFunc
	flushing  sync.WaitGroup
}

type floorRecord struct{ id, sessionID, to, content, status string }

type floorOutcome struct{ id, status, waID string }

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

func startFloor(ctx context.Context, mode floorMode, forward *forwarder, sessions map[string]string, db *pgxpool.Pool) (*floorProxy, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	p := &floorProxy{mode: mode, forward: forward, sessions: sessions, db: db, url: "http://" + ln.Addr().String(),
		served: make(chan error, 1), stopFlush: func() {}}
	if mode == floorGroupCommit {
		p.records.Flush, p.outcomes.Flush = p.insertBatch, p.updateBatch
		flushCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		p.stopFlush = stop
		p.flushing.Go(func() { p.records.Run(flushCtx) })
		p.flushing.Go(func() { p.outcomes.Run(flushCtx) })
	}
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
	async := p.mode == floorGroupCommit && r.URL.Query().Get("async") == "true"
	status := "PENDING"
	if async {
		status = "QUEUED"
	}
	if err := p.record(ctx, floorRecord{id: id, sessionID: sessionID, to: in.To, content: in.Message, status: status}); err != nil {
		http.Error(w, `{"success":false,"error":"record failed"}`, http.StatusInternalServerError)
		return
	}
	var out floorSendAnswer
	out.Success = true
	out.Data.ID = id
	if async {
		out.Data.Status = "QUEUED"
		writeFloorAnswer(w, http.StatusAccepted, out)
		return
	}
	waID, err := p.forward.send(ctx, sessionID, id, in.To, in.Message)
	if err != nil {
		_ = p.update(context.WithoutCancel(ctx), floorOutcome{id: id, status: "FAILED"}, err.Error())
		http.Error(w, `{"success":false,"error":"worker failed"}`, http.StatusBadGateway)
		return
	}
	if err := p.update(ctx, floorOutcome{id: id, status: "SENT", waID: waID}, ""); err != nil {
		http.Error(w, `{"success":false,"error":"record failed"}`, http.StatusInternalServerError)
		return
	}
	out.Data.MessageID, out.Data.Status = waID, "SENT"
	writeFloorAnswer(w, http.StatusOK, out)
}

func writeFloorAnswer(w http.ResponseWriter, status int, out floorSendAnswer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}

// record writes a send before it is forwarded: nothing for the bare proxy, an INSERT of its own
// for the naive one, a share of a batched INSERT for the group-committing one.
func (p *floorProxy) record(ctx context.Context, rec floorRecord) error {
	switch p.mode {
	case floorNaive:
		_, err := p.db.Exec(ctx, `INSERT INTO bench_naive_messages (id, session_id, to_number, content, status)
			VALUES ($1, $2, $3, $4, $5)`, rec.id, rec.sessionID, rec.to, rec.content, rec.status)
		return err
	case floorGroupCommit:
		_, err := p.records.Do(ctx, rec)
		return err
	}
	return nil
}

// update writes the worker's answer, like record.
func (p *floorProxy) update(ctx context.Context, o floorOutcome, failure string) error {
	switch p.mode {
	case floorNaive:
		if failure != "" {
			_, err := p.db.Exec(ctx, `UPDATE bench_naive_messages SET status = 'FAILED', error_message = $2,
				updated_at = now() WHERE id = $1`, o.id, failure)
			return err
		}
		_, err := p.db.Exec(ctx, `UPDATE bench_naive_messages SET status = 'SENT', wa_message_id = $2, updated_at = now()
			WHERE id = $1`, o.id, o.waID)
		return err
	case floorGroupCommit:
		_, err := p.outcomes.Do(ctx, o)
		return err
	}
	return nil
}

func (p *floorProxy) insertBatch(ctx context.Context, rows []floorRecord) ([]struct{}, error) {
	ids, sessions, tos, contents, statuses := make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows)),
		make([]string, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		ids[i], sessions[i], tos[i], contents[i], statuses[i] = r.id, r.sessionID, r.to, r.content, r.status
	}
	_, err := p.db.Exec(ctx, `INSERT INTO bench_gc_messages (id, session_id, to_number, content, status)
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])`, ids, sessions, tos, contents, statuses)
	return make([]struct{}, len(rows)), err
}

func (p *floorProxy) updateBatch(ctx context.Context, rows []floorOutcome) ([]struct{}, error) {
	ids, statuses, waIDs := make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		ids[i], statuses[i], waIDs[i] = r.id, r.status, r.waID
	}
	// Planned for each batch, like the gateway's own batched update: a cached generic plan,
	// made while the table was small, joins the answers to it with a sequential scan whose
	// cost then grows with the table. The ANY on the primary key makes the probes explicit.
	_, err := p.db.Exec(ctx, `UPDATE bench_gc_messages m SET status = i.status, wa_message_id = nullif(i.wa_message_id, ''),
		updated_at = now()
		FROM unnest($1::uuid[], $2::text[], $3::text[]) AS i(id, status, wa_message_id) WHERE m.id = i.id AND m.id = ANY ($1::uuid[])`,
		pgx.QueryExecModeCacheDescribe, ids, statuses, waIDs)
	return make([]struct{}, len(rows)), err
}

func (p *floorProxy) close(ctx context.Context) error {
	err := p.srv.Shutdown(ctx)
	if served := <-p.served; !errors.Is(served, http.ErrServerClosed) {
		err = errors.Join(err, served)
	}
	p.stopFlush()
	p.flushing.Wait()
	p.forward.http.CloseIdleConnections()
	return err
}

// openFloorPool opens the durable floors' pool on the bench database and creates their tables.
func (e *env) openFloorPool(ctx context.Context) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(e.databaseURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = naivePoolConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("floor pool: %w", err)
	}
	for _, mode := range []floorMode{floorNaive, floorGroupCommit} {
		if _, err := pool.Exec(ctx, fmt.Sprintf(floorTableDDL, floorTable(mode))); err != nil {
			pool.Close()
			return nil, fmt.Errorf("floor table: %w", err)
		}
	}
	return pool, nil
}
