package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/metrics"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/router"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/workers"
)

// liveStatusTimeout bounds how long GET /sessions/{id} waits for the worker's live answer.
const liveStatusTimeout = 2 * time.Second

// Sessions runs the lifecycle of WhatsApp sessions: creation within the tier's limit,
// placement on workers by capacity, and the commands users send them.
type Sessions struct {
	DB         *pgxpool.Pool
	Router     *router.Router
	Client     *workers.Client
	APIKeys    *APIKeys
	Events     *SessionEvents
	Metrics    *metrics.Metrics
	Logger     *slog.Logger
	TierLimits map[model.UserTier]model.TierLimits
	QRTTL      time.Duration
}

var errSessionNotFound = model.Errorf(model.KindNotFound, "Session not found")

// Visible loads a session the caller may see: their own, or any for an administrator.
// Someone else's session is 404, never 403.
func (s *Sessions) Visible(ctx context.Context, caller *auth.Principal, sessionID string) (model.Session, error) {
	var sess model.Session
	var err error
	if caller.IsAdmin() {
		sess, err = store.GetSession(ctx, s.DB, sessionID)
	} else {
		sess, err = store.GetUserSession(ctx, s.DB, caller.UserID, sessionID)
	}
	if errors.Is(err, model.ErrNotFound) {
		return sess, errSessionNotFound
	}
	return sess, err
}

// CreatedSession is a new session with its API key, shown in full this once.
type CreatedSession struct {
	Session model.Session
	APIKey  string
}

// Create makes a DISCONNECTED session with its API key. Every session counts toward the tier's
// limit; the user's row is locked while counting so that racing creates cannot exceed it.
func (s *Sessions) Create(ctx context.Context, caller *auth.Principal, name, requestedID string, displayName *string) (CreatedSession, error) {
	if strings.TrimSpace(name) == "" { // stored trimmed: a name of spaces alone would be empty
		return CreatedSession{}, model.ValidationError(model.FieldError{Field: "name", Message: "must not be blank"})
	}
	id, err := sessionIDFor(name, requestedID)
	if err != nil {
		return CreatedSession{}, err
	}
	var out CreatedSession
	err = store.WithTx(ctx, s.DB, func(tx pgx.Tx) error {
		user, err := store.LockUser(ctx, tx, caller.UserID)
		if err != nil {
			return err
		}
		count, err := store.CountUserSessions(ctx, tx, user.ID)
		if err != nil {
			return err
		}
		if limit := s.TierLimits[user.Tier].Sessions; count >= limit {
			return model.Errorf(model.KindConflict, "Session limit reached: the %s tier allows %d sessions", user.Tier, limit)
		}
		sess, err := store.CreateSession(ctx, tx, id, user.ID, strings.TrimSpace(name), emptyToNil(displayName))
		if errors.Is(err, model.ErrConflict) {
			return &model.Error{Kind: model.KindConflict, Message: fmt.Sprintf("Session ID %s is already taken", id),
				Details: []model.FieldError{{Field: "sessionId", Message: "is already taken"}}}
		}
		if err != nil {
			return err
		}
		key, err := s.APIKeys.Issue(ctx, tx, sess.ID)
		if err != nil {
			return err
		}
		out = CreatedSession{Session: sess, APIKey: key.Key}
		return nil
	})
	return out, err
}

// sessionIDFor normalises a requested ID like worker IDs, or derives one from the name with a
// short random suffix.
func sessionIDFor(name, requested string) (string, error) {
	if strings.TrimSpace(requested) != "" {
		id := NormalizeID(requested)
		if len(id) < 3 || len(id) > 100 {
			return "", model.ValidationError(model.FieldError{Field: "sessionId",
				Message: "must be 3 to 100 letters, digits, '-' or '_'"})
		}
		return id, nil
	}
	base := NormalizeID(name)
	if len(base) > 80 {
		base = strings.TrimRight(base[:80], "-")
	}
	if base == "" {
		base = "session"
	}
	return base + "-" + randomSuffix(6), nil
}

func randomSuffix(n int) string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

// ConnectResult is the answer of connect.
type ConnectResult struct {
	SessionID string              `json:"sessionId"`
	Status    model.SessionStatus `json:"status"`
	WorkerID  string              `json:"workerId"`
	QRCode    *string             `json:"qrCode"`
	Message   string              `json:"message"`
}

// Connect places the session on the best worker with room and asks it to start. With no
// worker able to take it, or a worker that fails to start it, the session is rolled back to
// DISCONNECTED and the answer is 503.
func (s *Sessions) Connect(ctx context.Context, caller *auth.Principal, sessionID string) (ConnectResult, error) {
	sess, err := s.Visible(ctx, caller, sessionID)
	if err != nil {
		return ConnectResult{}, err
	}
	return s.connect(ctx, sess)
}

func (s *Sessions) connect(ctx context.Context, sess model.Session) (ConnectResult, error) {
	placed, worker, err := s.Place(ctx, sess.ID, "")
	if err != nil {
		return ConnectResult{}, err
	}
	state, err := s.Client.StartSession(ctx, workers.Target{ID: worker.ID, Endpoint: worker.Endpoint},
		protocol.StartSessionRequest{SessionID: sess.ID, UserID: sess.UserID, SessionName: sess.Name})
	if err != nil {
		s.Metrics.Placements.WithLabelValues("worker_failed").Inc()
		s.rollback(ctx, placed.ID, worker.ID, "the worker failed to start the session")
		var e *model.Error
		message := "The worker failed to start the session"
		if errors.As(err, &e) && e.Message != "" {
			message += ": " + e.Message
		}
		return ConnectResult{}, &model.Error{Kind: model.KindConnectivity, Message: message, Err: err}
	}
	current, err := store.GetSession(ctx, s.DB, sess.ID) // events may have arrived meanwhile
	if err != nil {
		return ConnectResult{}, err
	}
	qr := current.QRCode
	if qr == nil {
		qr = emptyToNil(state.QRCode)
	}
	return ConnectResult{SessionID: sess.ID, Status: current.Status, WorkerID: worker.ID, QRCode: qr,
		Message: "Connection process started"}, nil
}

// rollback leaves a session that could not be started DISCONNECTED with the reason, unless
// it moved to another worker meanwhile (workerID set: only undo that placement).
func (s *Sessions) rollback(ctx context.Context, sessionID, workerID, reason string) {
	ctx = context.WithoutCancel(ctx) // the undo must happen even if the client went away
	before, err := store.GetSession(ctx, s.DB, sessionID)
	if err != nil {
		return
	}
	_, err = s.Events.change(ctx, before, func(tx pgx.Tx) (model.Session, error) {
		return store.ReleaseSession(ctx, tx, sessionID, workerID, false, &reason)
	})
	if err != nil {
		if !errors.Is(err, model.ErrNotFound) {
			s.Logger.ErrorContext(ctx, "roll back placement", slog.String("session_id", sessionID), slog.Any("err", err))
		}
		return
	}
	s.Router.Clear(ctx, sessionID)
}

// Place puts a session on the ONLINE worker with room and the best score, other than
// excludeWorker. The session row is locked first and then each candidate worker's row, and
// the worker's sessions are counted under that lock: however many connects race on however
// many replicas, no worker ends up above maxSessions. A session already CONNECTED or INIT is
// a conflict.
func (s *Sessions) Place(ctx context.Context, sessionID, excludeWorker string) (model.Session, model.Worker, error) {
	var placed model.Session
	var chosen model.Worker
	err := store.WithTx(ctx, s.DB, func(tx pgx.Tx) error {
		sess, err := store.LockSession(ctx, tx, sessionID)
		if errors.Is(err, model.ErrNotFound) {
			return errSessionNotFound
		}
		if err != nil {
			return err
		}
		if sess.Status == model.SessionConnected || sess.Status == model.SessionInit {
			return model.Errorf(model.KindConflict, "Session is already %s", sess.Status)
		}
		if sess.WorkerID != nil {
			// The session's own slot is free for it: take it off its worker (inside this
			// transaction) so that a full worker it already runs on can take it again.
			if _, err := store.ReleaseSession(ctx, tx, sessionID, "", false, nil); err != nil {
				return err
			}
		}
		candidates, err := s.rankedWorkers(ctx, tx, excludeWorker)
		if err != nil {
			return err
		}
		for _, c := range candidates {
			worker, ok, err := s.tryWorker(ctx, tx, c.WorkerID)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if placed, err = store.PlaceSession(ctx, tx, sessionID, worker.ID); err != nil {
				return err
			}
			chosen = worker
			return nil
		}
		return model.Errorf(model.KindConnectivity, "No worker is available to run this session; try again later")
	})
	if err != nil {
		if model.KindOf(err) == model.KindConnectivity {
			s.Metrics.Placements.WithLabelValues("no_capacity").Inc()
			s.rollback(ctx, sessionID, "", "no worker with free capacity")
		}
		return placed, chosen, err
	}
	s.Metrics.Placements.WithLabelValues("placed").Inc()
	s.Router.Set(ctx, router.Route{SessionID: sessionID, WorkerID: chosen.ID, Endpoint: chosen.Endpoint, WorkerStatus: chosen.Status})
	return placed, chosen, nil
}

// tryWorker locks a candidate worker and reports whether it has room. A full or vanished
// candidate's lock is taken inside a savepoint and released by rolling back to it, so a
// placement never holds one worker while waiting for another: racing placements that try
// candidates in different orders cannot deadlock.
func (s *Sessions) tryWorker(ctx context.Context, tx pgx.Tx, workerID string) (model.Worker, bool, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return model.Worker{}, false, fmt.Errorf("savepoint: %w", err)
	}
	worker, used, err := store.LockWorkerForPlacement(ctx, sp, workerID)
	switch {
	case errors.Is(err, model.ErrNotFound), err == nil && used >= worker.MaxSessions:
		// Went OFFLINE or away, or filled up, since it was ranked.
		return worker, false, sp.Rollback(ctx)
	case err != nil:
		_ = sp.Rollback(ctx)
		return worker, false, err
	}
	return worker, true, sp.Commit(ctx)
}

func (s *Sessions) rankedWorkers(ctx context.Context, db store.DBTX, exclude string) ([]workers.Load, error) {
	rows, err := store.ListOnlineWorkerLoads(ctx, db)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	loads := make([]workers.Load, 0, len(rows))
	for _, r := range rows {
		if r.WorkerID == exclude {
			continue
		}
		loads = append(loads, workers.Load{WorkerID: r.WorkerID, MaxSessions: r.MaxSessions, Used: r.Used,
			Unhealthy: r.Unhealthy, WaitingForQR: r.WaitingForQR, CPUUsage: r.CPUUsage, MemoryUsage: r.MemoryUsage,
			HeartbeatAge: now.Sub(r.LastHeartbeat)})
	}
	return workers.RankByScore(loads), nil
}

// target returns where a placed session runs, or a conflict when it runs nowhere.
func (s *Sessions) target(ctx context.Context, sess model.Session) (workers.Target, error) {
	route, err := s.Router.Lookup(ctx, sess.ID)
	if errors.Is(err, router.ErrNotPlaced) {
		return workers.Target{}, model.Errorf(model.KindConflict, "Session is not running on a worker (status %s); connect it first", sess.Status)
	}
	if err != nil {
		return workers.Target{}, err
	}
	return workers.Target{ID: route.WorkerID, Endpoint: route.Endpoint}, nil
}

// Restart restarts a placed session on its worker (INIT), or connects an unplaced one.
func (s *Sessions) Restart(ctx context.Context, caller *auth.Principal, sessionID string) (ConnectResult, error) {
	sess, err := s.Visible(ctx, caller, sessionID)
	if err != nil {
		return ConnectResult{}, err
	}
	if sess.WorkerID == nil {
		return s.connect(ctx, sess)
	}
	target, err := s.target(ctx, sess)
	if err != nil {
		return ConnectResult{}, err
	}
	if _, err := s.Client.Restart(ctx, target, sess.ID); err != nil {
		return ConnectResult{}, err
	}
	after, err := s.Events.change(ctx, sess, func(tx pgx.Tx) (model.Session, error) {
		return store.SetSessionInit(ctx, tx, sess.ID)
	})
	if err != nil {
		return ConnectResult{}, err
	}
	return ConnectResult{SessionID: sess.ID, Status: after.Status, WorkerID: target.ID, Message: "Session restart initiated"}, nil
}

// Disconnect stops the session and releases its worker; WhatsApp credentials are kept. The
// worker is told best-effort: if it cannot be reached, its next heartbeat lists the session
// in sessionsToStop.
func (s *Sessions) Disconnect(ctx context.Context, caller *auth.Principal, sessionID string) (model.Session, error) {
	return s.stop(ctx, caller, sessionID, false)
}

// Logout logs the session out of WhatsApp (credentials dropped) and releases its worker;
// phone and lastSeenAt are cleared.
func (s *Sessions) Logout(ctx context.Context, caller *auth.Principal, sessionID string) (model.Session, error) {
	return s.stop(ctx, caller, sessionID, true)
}

func (s *Sessions) stop(ctx context.Context, caller *auth.Principal, sessionID string, logout bool) (model.Session, error) {
	sess, err := s.Visible(ctx, caller, sessionID)
	if err != nil {
		return sess, err
	}
	if sess.WorkerID != nil {
		if target, err := s.target(ctx, sess); err == nil {
			if logout {
				_, err = s.Client.Logout(ctx, target, sess.ID)
			} else {
				_, err = s.Client.Disconnect(ctx, target, sess.ID)
			}
			if err != nil {
				s.Logger.WarnContext(ctx, "worker did not confirm stopping the session; released anyway",
					slog.String("session_id", sess.ID), slog.String("worker_id", target.ID), slog.Any("err", err))
			}
		}
	}
	reason := "disconnected by the user"
	if logout {
		reason = "logged out by the user"
	}
	after, err := s.Events.change(ctx, sess, func(tx pgx.Tx) (model.Session, error) {
		return store.ReleaseSession(ctx, tx, sess.ID, "", logout, &reason)
	})
	if err != nil {
		return after, err
	}
	s.Router.Clear(ctx, sess.ID)
	return after, nil
}

// Delete removes the session from its worker (best effort) and deletes it with its key,
// webhook and routing.
func (s *Sessions) Delete(ctx context.Context, caller *auth.Principal, sessionID string) error {
	sess, err := s.Visible(ctx, caller, sessionID)
	if err != nil {
		return err
	}
	if sess.WorkerID != nil {
		if target, err := s.target(ctx, sess); err == nil {
			if err := s.Client.DeleteSession(ctx, target, sess.ID); err != nil {
				s.Logger.WarnContext(ctx, "worker did not confirm deleting the session",
					slog.String("session_id", sess.ID), slog.Any("err", err))
			}
		}
	}
	if err := store.DeleteSession(ctx, s.DB, sess.ID); err != nil {
		return err
	}
	s.Router.Clear(ctx, sess.ID)
	return nil
}

// LiveStatus asks the session's worker for its live status, waiting at most 2 s; "" when the
// session is not placed or the worker does not answer in time.
func (s *Sessions) LiveStatus(ctx context.Context, sess model.Session) model.SessionStatus {
	if sess.WorkerID == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, liveStatusTimeout)
	defer cancel()
	target, err := s.target(ctx, sess)
	if err != nil {
		return ""
	}
	state, err := s.Client.SessionStatus(ctx, target, sess.ID)
	if err != nil {
		return ""
	}
	status, _, ok := protocol.ParseSessionStatus(state.Status)
	if !ok {
		return ""
	}
	return status
}

// QR is a pending QR code.
type QR struct {
	Code      string
	ExpiresAt time.Time
}

// CurrentQR returns the QR the worker last reported, while the session waits for a scan and
// the QR is younger than QR_TTL_SECONDS; else it asks the worker, where it supports it.
func (s *Sessions) CurrentQR(ctx context.Context, caller *auth.Principal, sessionID string) (QR, error) {
	sess, err := s.Visible(ctx, caller, sessionID)
	if err != nil {
		return QR{}, err
	}
	noQR := model.Errorf(model.KindNotFound, "No QR code is pending for this session")
	if sess.Status != model.SessionQRRequired && sess.Status != model.SessionInit {
		return QR{}, noQR
	}
	if sess.QRCode != nil && sess.QRUpdatedAt != nil && time.Since(*sess.QRUpdatedAt) < s.QRTTL {
		return QR{Code: *sess.QRCode, ExpiresAt: sess.QRUpdatedAt.Add(s.QRTTL)}, nil
	}
	if sess.WorkerID == nil {
		return QR{}, noQR
	}
	target, err := s.target(ctx, sess)
	if err != nil {
		return QR{}, noQR
	}
	qctx, cancel := context.WithTimeout(ctx, liveStatusTimeout)
	defer cancel()
	res, err := s.Client.QR(qctx, target, sess.ID)
	if err != nil || res.QRCode == "" {
		return QR{}, noQR
	}
	return QR{Code: res.QRCode, ExpiresAt: time.Now().Add(s.QRTTL)}, nil
}

// Pair asks the worker for a phone pairing code instead of a QR.
func (s *Sessions) Pair(ctx context.Context, caller *auth.Principal, sessionID, phone string) (string, error) {
	sess, err := s.Visible(ctx, caller, sessionID)
	if err != nil {
		return "", err
	}
	if sess.Status != model.SessionQRRequired && sess.Status != model.SessionInit {
		return "", model.Errorf(model.KindConflict, "Pairing needs a session waiting to be linked; it is %s. Connect it first", sess.Status)
	}
	target, err := s.target(ctx, sess)
	if err != nil {
		return "", err
	}
	res, err := s.Client.Pair(ctx, target, sess.ID, phone)
	if err != nil {
		return "", err
	}
	if res.PairingCode == "" {
		return "", model.Errorf(model.KindWorker, "The worker returned no pairing code")
	}
	return res.PairingCode, nil
}

// RegeneratedKey is a session's new API key, shown in full this once.
type RegeneratedKey struct {
	APIKey    string    `json:"apiKey"`
	Masked    string    `json:"masked"`
	CreatedAt time.Time `json:"createdAt"`
}

// RegenerateKey replaces the session's API key; the old key stops working on every replica
// within a second (the key cache's lifetime).
func (s *Sessions) RegenerateKey(ctx context.Context, caller *auth.Principal, sessionID string) (RegeneratedKey, error) {
	sess, err := s.Visible(ctx, caller, sessionID)
	if err != nil {
		return RegeneratedKey{}, err
	}
	key, err := s.APIKeys.Issue(ctx, s.DB, sess.ID)
	if err != nil {
		return RegeneratedKey{}, err
	}
	return RegeneratedKey{APIKey: key.Key, Masked: key.Stored.Masked, CreatedAt: key.Stored.CreatedAt}, nil
}
