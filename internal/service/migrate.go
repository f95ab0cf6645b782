package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/router"
	"github.com/wagateway/gateway/internal/store"
	"github.com/wagateway/gateway/internal/workers"
)

// MigrateResult is the answer of an administrator's session migration.
type MigrateResult struct {
	SessionID  string              `json:"sessionId"`
	FromWorker *string             `json:"fromWorkerId"`
	ToWorker   string              `json:"toWorkerId"`
	Status     model.SessionStatus `json:"status"`
}

// Migrate moves a session to targetWorker, or to the best other worker when it is empty: the
// old worker is told to stop it (credentials kept, so a worker sharing credential storage
// resumes it without a QR), it is placed under the same capacity rule as every placement,
// started there, its routing updated and the move logged.
func (s *Sessions) Migrate(ctx context.Context, sessionID, targetWorker string) (MigrateResult, error) {
	sess, err := store.GetSession(ctx, s.DB, sessionID)
	if err != nil {
		return MigrateResult{}, notFound(err, "Session not found")
	}
	targetWorker = NormalizeID(targetWorker)
	if sess.WorkerID != nil && *sess.WorkerID == targetWorker {
		return MigrateResult{}, model.Errorf(model.KindConflict, "The session already runs on worker %s", targetWorker)
	}
	from := sess.WorkerID
	if from != nil {
		if target, err := s.target(ctx, sess); err == nil {
			if _, err := s.Client.Disconnect(ctx, target, sess.ID); err != nil {
				s.Logger.WarnContext(ctx, "old worker did not confirm stopping the migrated session",
					slog.String("session_id", sess.ID), slog.Any("err", err))
			}
		}
		reason := "migrating to another worker"
		if _, err := store.ReleaseSession(ctx, s.DB, sess.ID, *from, false, &reason); err != nil && !errors.Is(err, model.ErrNotFound) {
			return MigrateResult{}, err
		}
		s.Router.Clear(ctx, sess.ID)
	}

	var worker model.Worker
	if targetWorker != "" {
		worker, err = s.placeOn(ctx, sess.ID, targetWorker)
	} else {
		exclude := ""
		if from != nil {
			exclude = *from
		}
		_, worker, err = s.Place(ctx, sess.ID, exclude)
	}
	if err != nil {
		return MigrateResult{}, err
	}
	if _, err := s.Client.StartSession(ctx, workers.Target{ID: worker.ID, Endpoint: worker.Endpoint},
		protocol.StartSessionRequest{SessionID: sess.ID, UserID: sess.UserID, SessionName: sess.Name}); err != nil {
		s.rollback(ctx, sess.ID, worker.ID, "the new worker failed to start the migrated session")
		return MigrateResult{}, &model.Error{Kind: model.KindConnectivity, Err: err,
			Message: "The new worker failed to start the session; it was left DISCONNECTED"}
	}
	after, err := store.GetSession(ctx, s.DB, sess.ID)
	if err != nil {
		return MigrateResult{}, err
	}
	s.Events.publish(sess, after)
	fromID := "none"
	if from != nil {
		fromID = *from
	}
	if err := store.InsertSystemLog(ctx, s.DB, store.SystemLogEntry{Level: model.LevelInfo, Service: "sessions",
		Message:   fmt.Sprintf("Session %s migrated from %s to %s", sess.ID, fromID, worker.ID),
		SessionID: &sess.ID, WorkerID: &worker.ID, UserID: &sess.UserID}); err != nil {
		s.Logger.WarnContext(ctx, "write system log", slog.Any("err", err))
	}
	return MigrateResult{SessionID: sess.ID, FromWorker: from, ToWorker: worker.ID, Status: after.Status}, nil
}

// placeOn places a stopped session on one named worker, under the placement locks.
func (s *Sessions) placeOn(ctx context.Context, sessionID, workerID string) (model.Worker, error) {
	var chosen model.Worker
	err := store.WithTx(ctx, s.DB, func(tx pgx.Tx) error {
		sess, err := store.LockSession(ctx, tx, sessionID)
		if err != nil {
			return notFound(err, "Session not found")
		}
		if sess.Status == model.SessionConnected || sess.Status == model.SessionInit {
			return model.Errorf(model.KindConflict, "Session is already %s", sess.Status)
		}
		worker, ok, err := s.tryWorker(ctx, tx, workerID)
		if err != nil {
			return err
		}
		if !ok {
			return model.Errorf(model.KindConflict, "Worker %s is not ONLINE or has no free capacity", workerID)
		}
		if _, err := store.PlaceSession(ctx, tx, sessionID, worker.ID); err != nil {
			return err
		}
		chosen = worker
		return nil
	})
	if err != nil {
		return chosen, err
	}
	s.Router.Set(ctx, router.Route{SessionID: sessionID, WorkerID: chosen.ID, Endpoint: chosen.Endpoint, WorkerStatus: chosen.Status})
	return chosen, nil
}
