package workerkit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wagateway/gateway/internal/protocol"
)

const (
	// resumeTimeout bounds the restoring of one session during recovery.
	resumeTimeout = 30 * time.Second
	// resumeConcurrency is how many sessions are restored at once.
	resumeConcurrency = 4
	// stopTimeout bounds dropping one session the backend placed elsewhere.
	stopTimeout = 10 * time.Second
)

// control is the worker's conversation with the backend: register (until accepted), recover
// the sessions the backend still places here, then heartbeat until ctx is done. A refusal
// that retrying cannot fix (400, 401, 403 on register) goes to fatal.
func (w *worker) control(ctx context.Context, registered chan<- struct{}, fatal chan<- error) {
	res, err := w.registerUntilAccepted(ctx)
	if err != nil {
		if ctx.Err() == nil {
			fatal <- err
		}
		return
	}
	close(registered)
	if res.RecoveryRequired {
		w.recoverSessions(ctx)
	}

	ticker := time.NewTicker(w.cfg.HeartbeatInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if err := w.heartbeat(ctx); err != nil {
			if ctx.Err() == nil {
				fatal <- err
			}
			return
		}
	}
}

// registerUntilAccepted registers, retrying with backoff while the backend is unreachable,
// failing (a 5xx, or 503 because it cannot reach our /health yet) or in conflict (409: the
// old registration of this endpoint may still look healthy).
func (w *worker) registerUntilAccepted(ctx context.Context) (protocol.RegisterResult, error) {
	maxSessions, description, version, environment := w.cfg.MaxSessions, w.cfg.Description, w.cfg.Version, w.cfg.Environment
	req := protocol.RegisterRequest{
		WorkerID:    w.cfg.WorkerID,
		Endpoint:    w.cfg.Endpoint,
		MaxSessions: &maxSessions,
		Description: &description,
		Version:     &version,
		Environment: &environment,
	}
	for attempt := 0; ; attempt++ {
		res, err := w.client.register(ctx, req)
		if err == nil {
			w.logger.Info("registered with the backend",
				slog.String("worker_id", w.client.currentWorkerID()), slog.String("endpoint", w.cfg.Endpoint),
				slog.Bool("recovery_required", res.RecoveryRequired), slog.Int("assigned_sessions", res.AssignedSessionCount),
				slog.Bool("own_credential", res.WorkerToken != ""))
			return res, nil
		}
		switch statusOf(err) {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
			return res, fmt.Errorf("registration refused: %w", err)
		}
		w.logger.Warn("registration failed, retrying", slog.Int("attempt", attempt+1), slog.Any("err", err))
		if !sleep(ctx, w.backoff.delay(attempt)) {
			return res, ctx.Err()
		}
	}
}

// heartbeat reports every session and the worker's figures, registers again when the
// backend no longer knows us, and drops the sessions the backend placed elsewhere. Only a
// refused re-registration is returned; other failures wait for the next beat.
func (w *worker) heartbeat(ctx context.Context) error {
	sessions := w.sessions()
	req := protocol.HeartbeatRequest{
		Sessions:     make([]protocol.HeartbeatSession, 0, len(sessions)),
		Metrics:      w.metrics(sessions),
		LastActivity: protocol.At(time.Now()),
	}
	for _, s := range sessions {
		hs := protocol.HeartbeatSession{SessionID: s.SessionID, Status: string(s.Status)}
		if s.PhoneNumber != "" {
			hs.PhoneNumber = &s.PhoneNumber
		}
		if s.DisplayName != "" {
			hs.DisplayName = &s.DisplayName
		}
		if !s.LastActivity.IsZero() {
			hs.LastActivity = protocol.At(s.LastActivity)
		}
		req.Sessions = append(req.Sessions, hs)
	}

	sentAt := time.Now()
	res, err := w.client.heartbeat(ctx, req)
	switch status := statusOf(err); {
	case err == nil:
	case status == http.StatusNotFound || status == http.StatusUnauthorized:
		// The backend forgot us (404) or our token (401): say hello again.
		w.logger.Warn("backend no longer knows this worker, registering again", slog.Int("status", status))
		reg, err := w.registerUntilAccepted(ctx)
		if err != nil {
			return err
		}
		if reg.RecoveryRequired {
			w.recoverSessions(ctx)
		}
		return nil
	default:
		if ctx.Err() == nil {
			w.logger.Warn("heartbeat failed", slog.Any("err", err))
		}
		return nil
	}

	for _, id := range res.SessionsToStop {
		if !w.holds(id) || w.placedSince(id, sentAt) {
			continue
		}
		// The session lives on another worker now: close it here but keep its credentials,
		// which the other worker may share.
		stopCtx, cancel := context.WithTimeout(ctx, stopTimeout)
		_, err := w.engine.Disconnect(stopCtx, id)
		cancel()
		if err != nil && !errors.Is(err, ErrSessionNotFound) {
			w.logger.Warn("could not drop a session placed elsewhere", slog.String("session_id", id), slog.Any("err", err))
			continue
		}
		w.release(id)
		w.logger.Info("dropped a session the backend placed elsewhere", slog.String("session_id", id))
	}
	return nil
}

// recoverSessions restores the sessions the backend still places on this worker and reports
// how it went.
func (w *worker) recoverSessions(ctx context.Context) {
	var assigned protocol.AssignedSessions
	for attempt := 0; ; attempt++ {
		var err error
		if assigned, err = w.client.assignedSessions(ctx); err == nil {
			break
		}
		if attempt >= 4 || !retryableEvent(statusOf(err)) {
			w.logger.Error("could not fetch the sessions to recover", slog.Any("err", err))
			return
		}
		if !sleep(ctx, w.backoff.delay(attempt)) {
			return
		}
	}

	held := map[string]bool{}
	for _, s := range w.sessions() {
		held[s.SessionID] = true
	}
	results := make([]protocol.RecoveryResult, len(assigned.Sessions))
	var g errgroup.Group
	g.SetLimit(resumeConcurrency)
	for i, s := range assigned.Sessions {
		if held[s.SessionID] {
			reason := "already running on this worker"
			results[i] = protocol.RecoveryResult{SessionID: s.SessionID, Status: "SKIPPED", Error: &reason}
			continue
		}
		g.Go(func() error {
			resumeCtx, cancel := context.WithTimeout(ctx, resumeTimeout)
			defer cancel()
			w.placed(s.SessionID)
			if err := w.engine.Resume(resumeCtx, s.SessionID, s.UserID, s.SessionName); err != nil {
				msg := err.Error()
				results[i] = protocol.RecoveryResult{SessionID: s.SessionID, Status: "FAILED", Error: &msg}
				w.logger.Warn("could not recover a session", slog.String("session_id", s.SessionID), slog.Any("err", err))
				return nil
			}
			results[i] = protocol.RecoveryResult{SessionID: s.SessionID, Status: "SUCCESS", RecoveredAt: protocol.At(time.Now())}
			return nil
		})
	}
	_ = g.Wait()
	if ctx.Err() != nil {
		return
	}

	var succeeded, failed float64
	for _, r := range results {
		switch r.Status {
		case "SUCCESS":
			succeeded++
		case "FAILED":
			failed++
		}
	}
	total := float64(len(results))
	report := protocol.RecoveryStatusRequest{
		RecoverySummary: protocol.RecoverySummary{TotalSessions: &total, SuccessfulRecoveries: &succeeded, FailedRecoveries: &failed},
		RecoveryResults: results,
	}
	if err := w.client.recoveryStatus(ctx, report); err != nil {
		w.logger.Warn("could not report the recovery", slog.Any("err", err))
		return
	}
	w.logger.Info("recovered sessions", slog.Int("total", len(results)),
		slog.Int("succeeded", int(succeeded)), slog.Int("failed", int(failed)))
}

// goodbye tells the backend which sessions keep their credentials here, then leaves.
func (w *worker) goodbye(ctx context.Context) {
	sessions := w.sessions()
	ids := make([]string, 0, len(sessions))
	for _, s := range sessions {
		ids = append(ids, s.SessionID)
	}
	if err := w.client.sessionsPreserved(ctx, ids); err != nil {
		w.logger.Warn("could not report the preserved sessions", slog.Any("err", err))
	}
	if err := w.client.unregister(ctx, w.cfg.Endpoint); err != nil {
		w.logger.Warn("could not unregister", slog.Any("err", err))
		return
	}
	w.logger.Info("unregistered from the backend", slog.Int("preserved_sessions", len(ids)))
}
