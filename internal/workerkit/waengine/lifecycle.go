package waengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mau.fi/whatsmeow"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workerkit"
)

// Start implements workerkit.Engine. A session with kept credentials (here, or paired on
// another worker sharing the database) connects without a QR; otherwise QR codes follow as
// QR_REQUIRED events.
func (e *Engine) Start(ctx context.Context, sessionID, userID, name string) (protocol.SessionState, bool, error) {
	e.mu.Lock()
	if s, ok := e.sessions[sessionID]; ok {
		if userID != "" {
			s.userID = userID
		}
		if name != "" {
			s.name = name
		}
		if s.running() {
			st := s.state()
			st.Message = "Session is already running."
			e.mu.Unlock()
			return st, false, nil
		}
	}
	e.mu.Unlock()

	if err := e.devices.remember(ctx, sessionID, userID, name); err != nil {
		return protocol.SessionState{}, false, err
	}
	device, err := e.loadDevice(ctx, sessionID)
	if err != nil {
		return protocol.SessionState{}, false, err
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return protocol.SessionState{}, false, errors.New("engine is shutting down")
	}
	s, existed := e.sessions[sessionID]
	if existed && s.running() {
		// A concurrent start won.
		return s.state(), false, nil
	}
	if !existed {
		s = e.newSession(sessionID, userID, name)
		e.sessions[sessionID] = s
	}
	s.device, s.jid = deviceOrNew(e, device)
	e.startRunLocked(s)
	st := s.state()
	switch {
	case existed:
		st.Message = "Existing session restarted successfully."
	case !s.jid.IsEmpty():
		st.Message = "Session started with kept credentials, connecting without a QR code."
	default:
		st.Message = "Session started successfully. QR code will be available shortly."
	}
	return st, !existed, nil
}

func (e *Engine) newSession(sessionID, userID, name string) *session {
	return &session{id: sessionID, userID: userID, name: name, status: model.SessionInit, lastActivity: time.Now(),
		pacer: newPacer(e.cfg.Pacing), ownIDs: newRecent[struct{}](1000)}
}

// loadDevice returns the kept credentials of a session, nil when it has none.
func (e *Engine) loadDevice(ctx context.Context, sessionID string) (*store.Device, error) {
	jid, ok, err := e.devices.lookup(ctx, sessionID)
	if err != nil || !ok {
		return nil, err
	}
	device, err := e.container.GetDevice(ctx, jid)
	if err != nil {
		return nil, fmt.Errorf("load the credentials of session %s: %w", sessionID, err)
	}
	if device == nil {
		// The device row went (logged out elsewhere): the mapping is stale.
		e.log.Warn("session's device has no credentials any more", slog.String("session_id", sessionID), slog.String("jid", jid.String()))
		if err := e.devices.unlink(ctx, sessionID); err != nil {
			return nil, err
		}
	}
	return device, nil
}

// Resume implements workerkit.Engine: only a session with kept credentials resumes. It waits
// (within ctx) for the connection; a session still reconnecting when ctx ends counts as
// resumed, its status events tell the rest.
func (e *Engine) Resume(ctx context.Context, sessionID, userID, name string) error {
	e.mu.Lock()
	if s, ok := e.sessions[sessionID]; ok && s.running() {
		e.mu.Unlock()
		return nil
	}
	e.mu.Unlock()
	device, err := e.loadDevice(ctx, sessionID)
	if err != nil {
		return err
	}
	if device == nil {
		return fmt.Errorf("%w: session %s has no WhatsApp credentials (never paired, or logged out): it needs a new QR",
			workerkit.ErrInvalid, sessionID)
	}

	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return errors.New("engine is shutting down")
	}
	s, ok := e.sessions[sessionID]
	if !ok {
		s = e.newSession(sessionID, userID, name)
		e.sessions[sessionID] = s
	}
	if !s.running() {
		s.device, s.jid = deviceOrNew(e, device)
		e.startRunLocked(s)
	}
	settled, run := s.settled, s.run
	e.mu.Unlock()

	select {
	case <-ctx.Done():
		return nil
	case <-settled:
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.run == run && !s.settledOK {
		return fmt.Errorf("resume session %s: %s", sessionID, s.reason)
	}
	return nil
}

// Restart implements workerkit.Engine.
func (e *Engine) Restart(_ context.Context, sessionID string) (protocol.SessionState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.sessionLocked(sessionID, false)
	if err != nil {
		return protocol.SessionState{}, err
	}
	if e.closed {
		return protocol.SessionState{}, errors.New("engine is shutting down")
	}
	if s.device == nil {
		s.device, s.jid = deviceOrNew(e, nil)
	}
	e.startRunLocked(s)
	return s.state(), nil
}

// Disconnect implements workerkit.Engine. whatsmeow reports nothing for a disconnection it
// was asked for, so the event is ours.
func (e *Engine) Disconnect(_ context.Context, sessionID string) (protocol.SessionState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.sessionLocked(sessionID, false)
	if err != nil {
		return protocol.SessionState{}, err
	}
	e.stopRunLocked(s)
	s.status, s.qr, s.reason = model.SessionDisconnected, "", "disconnected on request, credentials kept"
	e.emitLocked(s, protocol.SessionEvent{})
	return s.state(), nil
}

// Logout implements workerkit.Engine: the device is unlinked from the phone when WhatsApp
// can be reached, and its credentials are deleted here in any case.
func (e *Engine) Logout(ctx context.Context, sessionID string) (protocol.SessionState, error) {
	if err := e.release(ctx, sessionID); err != nil {
		return protocol.SessionState{}, err
	}
	if err := e.devices.unlink(ctx, sessionID); err != nil {
		return protocol.SessionState{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.sessionLocked(sessionID, false)
	if err != nil {
		return protocol.SessionState{}, err
	}
	s.status, s.qr, s.phone, s.displayName = model.SessionDisconnected, "", "", ""
	s.reason = "logged out on request"
	fromPhone := false
	e.emitLocked(s, protocol.SessionEvent{LoggedOutAt: protocol.At(time.Now()), LoggedOutFromPhone: &fromPhone})
	return s.state(), nil
}

// Delete implements workerkit.Engine.
func (e *Engine) Delete(ctx context.Context, sessionID string) error {
	if err := e.release(ctx, sessionID); err != nil {
		return err
	}
	e.mu.Lock()
	delete(e.sessions, sessionID)
	e.mu.Unlock()
	return e.devices.forget(ctx, sessionID)
}

// release unlinks a session's device from the phone when it is connected, deletes its
// credentials in any case, and stops its client. whatsmeow reports nothing for a logout it
// was asked for; the caller does.
func (e *Engine) release(ctx context.Context, sessionID string) error {
	e.mu.Lock()
	s, err := e.sessionLocked(sessionID, false)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	client, jid := s.client, s.jid
	s.newRun() // what the client reports from here on is the logout we asked for
	e.mu.Unlock()

	if client != nil && client.IsLoggedIn() && !jid.IsEmpty() {
		if err := unlinkFromPhone(ctx, client, jid); err != nil {
			e.log.Warn("could not unlink the device from the phone; deleting its credentials here only",
				slog.String("session_id", sessionID), slog.Any("err", err))
		}
	}
	e.mu.Lock()
	e.stopRunLocked(s)
	s.device, s.jid = nil, types.JID{}
	e.mu.Unlock()
	return e.deleteCredentials(ctx, jid)
}

// deleteCredentials deletes a device's keys from the store, if it is still there. It loads
// the device anew: whatsmeow may be deleting the one its client holds.
func (e *Engine) deleteCredentials(ctx context.Context, jid types.JID) error {
	if jid.IsEmpty() {
		return nil
	}
	device, err := e.container.GetDevice(ctx, jid)
	if err != nil {
		return fmt.Errorf("load the credentials of %s: %w", jid, err)
	}
	if device == nil {
		return nil
	}
	if err := device.Delete(ctx); err != nil {
		return fmt.Errorf("delete the credentials of %s: %w", jid, err)
	}
	return nil
}

// deviceOrNew returns a loaded device with its JID, or a new device to link.
func deviceOrNew(e *Engine, device *store.Device) (*store.Device, types.JID) {
	if device == nil || device.ID == nil {
		return e.container.NewDevice(), types.JID{}
	}
	return device, *device.ID
}

// unlinkFromPhone is the request of whatsmeow's Logout without its Disconnect, which races
// with the socket's reader (whatsmeow issue #1085); the engine closes clients its own way.
func unlinkFromPhone(ctx context.Context, client *whatsmeow.Client, jid types.JID) error {
	_, err := client.DangerousInternals().SendIQ(ctx, whatsmeow.DangerousInfoQuery{ //nolint:staticcheck // Logout without its racy Disconnect
		Namespace: "md", Type: whatsmeow.DangerousInfoQueryType("set"), To: types.ServerJID,
		Content: []waBinary.Node{{Tag: "remove-companion-device", Attrs: waBinary.Attrs{"jid": jid, "reason": "user_initiated"}}},
	})
	return err
}

// Pair implements workerkit.Engine: phone-number linking. whatsmeow needs the pairing
// connection up, which the first QR code proves, so Pair waits for it (within ctx).
func (e *Engine) Pair(ctx context.Context, sessionID, phone string) (string, error) {
	e.mu.Lock()
	s, err := e.sessionLocked(sessionID, false)
	if err != nil {
		e.mu.Unlock()
		return "", err
	}
	if !s.jid.IsEmpty() {
		e.mu.Unlock()
		return "", fmt.Errorf("%w: session is already linked to %s", workerkit.ErrInvalid, s.phone)
	}
	if s.status != model.SessionQRRequired && s.status != model.SessionInit || s.client == nil {
		status := s.status
		e.mu.Unlock()
		return "", fmt.Errorf("%w: pairing needs a session waiting to be linked, this one is %s",
			workerkit.ErrInvalid, protocol.WorkerStatusString(status))
	}
	client, firstQR := s.client, s.firstQR
	e.mu.Unlock()

	select {
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for the pairing connection: %w", ctx.Err())
	case <-firstQR:
	}
	code, err := client.PairPhone(ctx, phone, true, whatsmeow.PairClientChrome, "Chrome (Linux)")
	switch {
	case errors.Is(err, whatsmeow.ErrPhoneNumberTooShort), errors.Is(err, whatsmeow.ErrPhoneNumberIsNotInternational):
		return "", fmt.Errorf("%w: %w", workerkit.ErrInvalid, err)
	case err != nil:
		return "", fmt.Errorf("request a pairing code: %w", err)
	}
	return code, nil
}

// startRunLocked replaces the session's client with a new one on s.device and connects it
// in the background.
func (e *Engine) startRunLocked(s *session) {
	e.stopRunLocked(s)
	run := s.newRun()
	ctx, cancel := context.WithCancel(e.ctx)
	s.runCtx, s.stopRun = ctx, cancel
	s.attempts, s.reloginAsked = 0, false
	s.firstQR, s.settled, s.settledOK = make(chan struct{}), make(chan struct{}), false

	client := whatsmeow.NewClient(s.device, e.waLog.Sub(s.id))
	// Reconnecting is ours (ReconnectPolicy): whatsmeow's waits grow without a cap.
	client.EnableAutoReconnect = false
	// After linking, WhatsApp asks the client to log in anew (code 515); the engine does it
	// with a fresh client rather than whatsmeow's Disconnect (see closeClient).
	client.DisableLoginAutoReconnect = true
	client.ManualHistorySyncDownload = !e.cfg.HistorySync
	client.BackgroundEventCtx = ctx
	if e.cfg.PrepareClient != nil {
		e.cfg.PrepareClient(client)
	}
	client.AddEventHandler(func(evt any) { e.onEvent(s, run, evt) })
	s.client, s.api, s.linking = client, client, s.jid.IsEmpty()

	var qr <-chan whatsmeow.QRChannelItem
	if s.jid.IsEmpty() {
		// Must come before Connect, or the first codes are missed.
		// Its context is not the client's: the channel would Disconnect when it ends (see
		// closeClient), which closes it with an event instead.
		ch, err := client.GetQRChannel(context.WithoutCancel(ctx))
		if err != nil {
			s.status, s.reason = model.SessionError, "could not wait for QR codes: "+err.Error()
			e.emitLocked(s, protocol.SessionEvent{})
			return
		}
		qr = ch
	}
	s.status, s.qr, s.reason = model.SessionInit, "", ""
	e.emitLocked(s, protocol.SessionEvent{})
	e.wg.Go(func() { e.connect(ctx, s, run, client, qr) })
}

// stopRunLocked closes the session's connection, keeping its credentials.
func (e *Engine) stopRunLocked(s *session) {
	if s.retry != nil {
		s.retry.Stop()
		s.retry = nil
	}
	s.newRun() // whatever the old client still reports is stale now
	if s.client != nil {
		closeClient(s.client, s.stopRun, s.linking)
	}
	s.client, s.api, s.stopRun, s.linking = nil, nil, nil, false
}

// closeClient stops a client. whatsmeow's Disconnect races with the socket's reader
// (whatsmeow issue #1085), so the engine marks the stop as expected and cancels the client's
// context instead: the reader then ends the socket itself, and no event follows. A QR
// channel would call Disconnect when it sees the context end, so it is closed first, with
// the event it closes on (handlers see it synchronously; the engine's own ignores it, the
// run being over).
func closeClient(client *whatsmeow.Client, cancel context.CancelFunc, linking bool) {
	internals := client.DangerousInternals() //nolint:staticcheck // the only race-free way to stop a client
	if linking {
		internals.DispatchEvent(&events.Disconnected{})
	}
	internals.ExpectDisconnect()
	if cancel != nil {
		cancel()
	}
}

// connect dials WhatsApp and, for a session being linked, relays its QR codes until the
// linking ends.
func (e *Engine) connect(ctx context.Context, s *session, run uint64, client *whatsmeow.Client, qr <-chan whatsmeow.QRChannelItem) {
	if err := client.ConnectContext(ctx); err != nil {
		e.connectFailed(s, run, err)
		return
	}
	if qr == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case item, ok := <-qr:
			if !ok {
				return
			}
			e.onQR(s, run, item)
		}
	}
}

func (e *Engine) connectFailed(s *session, run uint64, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.run != run {
		return
	}
	e.log.Warn("could not connect to WhatsApp", slog.String("session_id", s.id), slog.Any("err", err))
	reason := "could not reach WhatsApp: " + err.Error()
	if !s.jid.IsEmpty() {
		e.scheduleReconnectLocked(s, reason)
		return
	}
	s.status, s.reason = model.SessionError, reason
	e.settleLocked(s, false)
	e.emitLocked(s, protocol.SessionEvent{})
}

func (e *Engine) onQR(s *session, run uint64, item whatsmeow.QRChannelItem) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.run != run {
		return
	}
	switch item.Event {
	case whatsmeow.QRChannelEventCode:
		s.status, s.qr, s.reason = model.SessionQRRequired, item.Code, ""
		select {
		case <-s.firstQR:
		default:
			close(s.firstQR)
		}
		code := item.Code
		e.emitLocked(s, protocol.SessionEvent{QRCode: &code})
	case whatsmeow.QRChannelTimeout.Event:
		s.status, s.qr = model.SessionDisconnected, ""
		s.reason = "QR code expired: nobody linked the session in time; start it again for a new code"
		e.settleLocked(s, false)
		e.emitLocked(s, protocol.SessionEvent{})
	case whatsmeow.QRChannelEventError:
		s.status, s.qr, s.reason = model.SessionError, "", fmt.Sprintf("linking failed: %v", item.Error)
		e.settleLocked(s, false)
		e.emitLocked(s, protocol.SessionEvent{})
	case whatsmeow.QRChannelClientOutdated.Event:
		s.status, s.qr = model.SessionError, ""
		s.reason = "WhatsApp says this client version is outdated: update the worker"
		e.settleLocked(s, false)
		e.emitLocked(s, protocol.SessionEvent{})
	case whatsmeow.QRChannelScannedWithoutMultidevice.Event:
		e.log.Warn("QR scanned by a phone without multi-device", slog.String("session_id", s.id))
	}
}

// onEvent handles the events of one run's client.
func (e *Engine) onEvent(s *session, run uint64, evt any) {
	if s.currentRun.Load() != run {
		// Checked before locking: closeClient dispatches events with the lock held.
		return
	}
	var linked bool
	var unlinked, jid types.JID
	e.mu.Lock()
	if s.run != run {
		e.mu.Unlock()
		return
	}
	switch ev := evt.(type) {
	case *events.PairSuccess:
		s.jid, s.phone = ev.ID, jidPhone(&ev.ID)
		linked, jid = true, ev.ID
		e.log.Info("session linked", slog.String("session_id", s.id), slog.String("jid", ev.ID.String()))
		e.reloginLocked(s)
	case *events.ManualLoginReconnect:
		// WhatsApp asks for a new login once a link succeeded (code 515); whatsmeow may report
		// it before the link itself.
		s.reloginAsked = true
		e.reloginLocked(s)
	case *events.Connected:
		s.status, s.qr, s.reason, s.attempts = model.SessionConnected, "", "", 0
		s.phone = jidPhone(&s.jid)
		if s.client != nil && s.client.Store.PushName != "" {
			s.displayName = s.client.Store.PushName
		}
		e.settleLocked(s, true)
		phone, name := s.phone, s.displayName
		e.emitLocked(s, protocol.SessionEvent{PhoneNumber: optional(phone), DisplayName: optional(name)})
	case *events.PushNameSetting:
		if ev.Action != nil && ev.Action.GetName() != "" {
			s.displayName = ev.Action.GetName()
		}
	case *events.Receipt:
		if e.events != nil {
			for _, st := range messageStatuses(s.id, ev) {
				e.events.MessageStatus(st)
			}
		}
	case *events.Message:
		if msg, ok := incomingMessage(s.id, ev); ok {
			s.lastActivity = time.Now()
			if e.events != nil {
				e.events.IncomingMessage(msg)
			}
		}
	default:
		unlinked = e.onConnectionEventLocked(s, evt)
	}
	e.mu.Unlock()

	// Database work outside the lock: it would hold up every session.
	ctx := e.ctx
	switch {
	case linked:
		if err := e.devices.link(ctx, s.id, jid); err != nil {
			e.log.Error("could not record the session's device: it will need a new QR after a restart",
				slog.String("session_id", s.id), slog.Any("err", err))
		}
	case !unlinked.IsEmpty():
		if err := errors.Join(e.devices.unlink(ctx, s.id), e.deleteCredentials(ctx, unlinked)); err != nil {
			e.log.Error("could not forget the session's device", slog.String("session_id", s.id), slog.Any("err", err))
		}
	}
}

// reloginLocked logs a just-linked session in with a fresh client, once the link is known
// and WhatsApp asked for it.
func (e *Engine) reloginLocked(s *session) {
	if s.reloginAsked && !s.jid.IsEmpty() {
		s.reloginAsked = false
		e.startRunLocked(s)
	}
}

// onConnectionEventLocked applies a connection event; unlinked is the device whose
// credentials are gone, if any.
func (e *Engine) onConnectionEventLocked(s *session, evt any) (unlinked types.JID) {
	change, ok := connectionEvent(evt)
	if !ok {
		return types.JID{}
	}
	paired := !s.jid.IsEmpty()
	if _, lost := evt.(*events.Disconnected); lost && !paired {
		// A link attempt's connection dropped: the QR channel reports it as a timeout.
		return types.JID{}
	}
	e.log.Info("session connection changed", slog.String("session_id", s.id),
		slog.String("status", string(change.status)), slog.String("reason", change.reason))
	if change.reconnect {
		e.scheduleReconnectLocked(s, change.reason)
		return types.JID{}
	}
	s.status, s.reason, s.qr = change.status, change.reason, ""
	ev := protocol.SessionEvent{}
	if change.loggedOut {
		// whatsmeow deletes the device's credentials too, with a context this stop cancels.
		unlinked = s.jid
		s.phone, s.displayName, s.device, s.jid = "", "", nil, types.JID{}
		ev.LoggedOutAt = protocol.At(time.Now())
		fromPhone := change.fromPhone
		ev.LoggedOutFromPhone = &fromPhone
	}
	e.stopRunLocked(s) // no reconnect: the session waits for a start
	e.settleLocked(s, false)
	e.emitLocked(s, ev)
	return unlinked
}

// scheduleReconnectLocked waits as the policy says, then connects again; past the policy's
// attempts the session is in ERROR.
func (e *Engine) scheduleReconnectLocked(s *session, reason string) {
	delay, ok := e.cfg.Reconnect.Delay(s.attempts)
	if !ok || e.closed {
		s.status, s.reason = model.SessionError, fmt.Sprintf("gave up reconnecting after %d attempts: %s", s.attempts, reason)
		e.settleLocked(s, false)
		e.emitLocked(s, protocol.SessionEvent{})
		return
	}
	s.attempts++
	s.status = model.SessionReconnecting
	s.reason = fmt.Sprintf("%s; reconnecting in %s (attempt %d)", reason, delay.Round(time.Millisecond), s.attempts)
	e.emitLocked(s, protocol.SessionEvent{})
	run := s.run
	if s.retry != nil {
		s.retry.Stop()
	}
	s.retry = time.AfterFunc(delay, func() { e.reconnect(s, run) })
}

func (e *Engine) reconnect(s *session, run uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.run != run || s.status != model.SessionReconnecting || s.client == nil || e.closed {
		return
	}
	client, ctx := s.client, s.runCtx
	e.wg.Go(func() {
		err := client.ConnectContext(ctx)
		if err != nil && !errors.Is(err, whatsmeow.ErrAlreadyConnected) {
			e.mu.Lock()
			defer e.mu.Unlock()
			if s.run == run && !e.closed {
				e.scheduleReconnectLocked(s, "could not reach WhatsApp: "+err.Error())
			}
		}
	})
}

// settleLocked ends the wait of Resume for this run.
func (e *Engine) settleLocked(s *session, ok bool) {
	select {
	case <-s.settled:
	default:
		s.settledOK = ok
		close(s.settled)
	}
}
