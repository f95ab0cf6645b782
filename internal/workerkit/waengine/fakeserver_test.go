package waengine

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workerkit"
	"github.com/wagateway/gateway/internal/workerkit/waengine/fakewa"
)

// These tests drive real whatsmeow clients against the fake WhatsApp server on loopback.

func TestStart_NewSession_ReportsEachQRCodeAndLinksOnScan(t *testing.T) {
	t.Parallel()
	srv := fakewa.Start(t)
	e, rec := newTestEngine(t, "", srv)

	state, created, err := e.Start(t.Context(), "s1", "user-1", "Shop")
	if err != nil || !created || state.Status != "initializing" {
		t.Fatalf("Start = %+v, %v, %v; want a new initializing session", state, created, err)
	}
	first := rec.waitStatus(t, "s1", model.SessionQRRequired, 1)
	if first.QRCode == nil || !strings.HasPrefix(*first.QRCode, "2@fakeref") || strings.Count(*first.QRCode, ",") != 3 {
		t.Fatalf("first QR event = %+v, want a WhatsApp QR (ref,noise,identity,secret)", first)
	}
	if qr, err := e.QR(t.Context(), "s1"); err != nil || qr != *first.QRCode {
		t.Errorf("QR = %q, %v; want the code just reported", qr, err)
	}
	if got := srv.DeviceName(); got != DefaultDeviceName {
		t.Errorf("device name shown on the phone = %q, want %q", got, DefaultDeviceName)
	}

	jid, err := srv.Scan(*first.QRCode)
	if err != nil {
		t.Fatal(err)
	}
	connected := rec.waitStatus(t, "s1", model.SessionConnected, 1)
	if connected.PhoneNumber == nil || *connected.PhoneNumber != "+"+jid.User {
		t.Errorf("CONNECTED phone = %v, want +%s", connected.PhoneNumber, jid.User)
	}
	if got, ok, err := e.devices.lookup(t.Context(), "s1"); err != nil || !ok || got != jid {
		t.Errorf("device table has %v, %v, %v; want %s", got, ok, err, jid)
	}
	if st, _ := e.Status(t.Context(), "s1"); st.Status != "connected" {
		t.Errorf("Status = %+v, want connected", st)
	}
	if snaps := e.Sessions(); len(snaps) != 1 || snaps[0].Status != model.SessionConnected {
		t.Errorf("Sessions = %+v", snaps)
	}
	if _, err := e.QR(t.Context(), "s1"); !errors.Is(err, workerkit.ErrQRNotAvailable) {
		t.Errorf("QR of a connected session = %v, want ErrQRNotAvailable", err)
	}
	if state, created, err := e.Start(t.Context(), "s1", "", ""); err != nil || created || state.Status != "connected" {
		t.Errorf("Start of a running session = %+v, %v, %v; want it left alone", state, created, err)
	}
}

func TestStart_QRNotScanned_ReportsExpiry(t *testing.T) {
	t.Parallel()
	srv := fakewa.Start(t)
	e, rec := newTestEngine(t, "", srv)
	if _, _, err := e.Start(t.Context(), "s1", "u", "n"); err != nil {
		t.Fatal(err)
	}
	qr := rec.waitStatus(t, "s1", model.SessionQRRequired, 1)
	if err := srv.ExpireQR(*qr.QRCode); err != nil {
		t.Fatal(err)
	}
	ev := rec.waitStatus(t, "s1", model.SessionDisconnected, 1)
	if ev.Reason == nil || !strings.Contains(*ev.Reason, "QR code expired") {
		t.Errorf("expiry event = %+v, want a QR-expired reason", ev)
	}
	if _, err := e.QR(t.Context(), "s1"); !errors.Is(err, workerkit.ErrQRNotAvailable) {
		t.Errorf("QR after expiry = %v, want ErrQRNotAvailable", err)
	}
	// Starting again shows new codes.
	if _, created, err := e.Start(t.Context(), "s1", "", ""); err != nil || created {
		t.Fatalf("Start again = %v, %v", created, err)
	}
	rec.waitStatus(t, "s1", model.SessionQRRequired, 2)
}

func TestPair_WaitingSession_ReturnsPairingCode(t *testing.T) {
	t.Parallel()
	srv := fakewa.Start(t)
	e, rec := newTestEngine(t, "", srv)
	if _, _, err := e.Start(t.Context(), "s1", "u", "n"); err != nil {
		t.Fatal(err)
	}
	code, err := e.Pair(ctxTimeout(t, waitLong), "s1", "6281234567890")
	if err != nil {
		t.Fatalf("Pair: %v", err)
	}
	if !regexp.MustCompile(`^[1-9A-Z]{4}-[1-9A-Z]{4}$`).MatchString(code) {
		t.Errorf("pairing code = %q, want XXXX-XXXX", code)
	}
	rec.waitStatus(t, "s1", model.SessionQRRequired, 1)
	asked := false
	for _, r := range srv.Received() {
		asked = asked || r.Child == "link_code_companion_reg"
	}
	if !asked {
		t.Error("the server was never asked for a pairing code")
	}
	if _, err := e.Pair(t.Context(), "s1", "0812"); !errors.Is(err, workerkit.ErrInvalid) {
		t.Errorf("Pair with a short local number = %v, want ErrInvalid", err)
	}
	if _, err := e.Pair(t.Context(), "nope", "6281234567890"); !errors.Is(err, workerkit.ErrSessionNotFound) {
		t.Errorf("Pair of an unknown session = %v, want ErrSessionNotFound", err)
	}
}

func TestReceipts_BecomeMessageStatuses(t *testing.T) {
	t.Parallel()
	srv, _, rec, jid := linkedSession(t)

	for _, kind := range []string{"", "read", "played"} {
		if err := srv.SendReceipt(jid, "6281299990000", "3EB0MSG"+kind, kind); err != nil {
			t.Fatal(err)
		}
	}
	rec.waitFor(t, "three receipts", func() bool { return len(rec.messageStatuses()) >= 3 })
	// whatsmeow acks each receipt from a goroutine of its own; one still being sent when the
	// test closes the client races in whatsmeow's socket (its Close writes the connection
	// SendFrame reads unlocked). The test ends once the server has every ack.
	rec.waitFor(t, "the receipts' acks", func() bool {
		acked := 0
		for _, r := range srv.Received() {
			if r.Tag == "ack" && r.Attrs["class"] == "receipt" {
				acked++
			}
		}
		return acked >= 3
	})
	want := map[string]string{"3EB0MSG": "DELIVERED", "3EB0MSGread": "READ", "3EB0MSGplayed": "READ"}
	for _, st := range rec.messageStatuses() {
		if want[st.MessageID] != st.Status || st.SessionID != "s1" {
			t.Errorf("receipt %+v, want status %s", st, want[st.MessageID])
		}
		if st.Status == "DELIVERED" && st.DeliveredAt == nil || st.Status == "READ" && st.ReadAt == nil {
			t.Errorf("receipt %+v lacks its time", st)
		}
	}
}

func TestServerDrop_ReconnectsWithoutQR(t *testing.T) {
	t.Parallel()
	srv, _, rec, jid := linkedSession(t)

	if err := srv.Drop(jid); err != nil {
		t.Fatal(err)
	}
	ev := rec.waitStatus(t, "s1", model.SessionReconnecting, 1)
	if ev.Reason == nil || !strings.Contains(*ev.Reason, "connection to WhatsApp lost") {
		t.Errorf("RECONNECTING event = %+v, want the reason", ev)
	}
	rec.waitStatus(t, "s1", model.SessionConnected, 2)
	rec.waitFor(t, "one connection as "+jid.String(), func() bool { return srv.LoggedIn(jid) == 1 })
	if qrs := len(filterStatus(rec.sessionEvents("s1"), model.SessionQRRequired)); qrs != 1 {
		t.Errorf("%d QR events, want only the first link's", qrs)
	}
}

func TestRemoteLogout_ReportsLoggedOutAndDeletesDevice(t *testing.T) {
	t.Parallel()
	srv, e, rec, jid := linkedSession(t)

	if err := srv.RemoveDevice(jid); err != nil {
		t.Fatal(err)
	}
	ev := rec.waitStatus(t, "s1", model.SessionDisconnected, 1)
	if ev.LoggedOutAt == nil || ev.LoggedOutFromPhone == nil || !*ev.LoggedOutFromPhone {
		t.Errorf("logout event = %+v, want loggedOutAt and loggedOutFromPhone", ev)
	}
	rec.waitFor(t, "the device and its credentials to be forgotten", func() bool {
		_, mapped, _ := e.devices.lookup(t.Context(), "s1")
		d, err := e.container.GetDevice(t.Context(), jid)
		return !mapped && err == nil && d == nil
	})
	if err := e.Resume(t.Context(), "s1", "u", "n"); !errors.Is(err, workerkit.ErrInvalid) {
		t.Errorf("Resume after logout = %v, want ErrInvalid (needs a new QR)", err)
	}
}

func TestResume_OnAnotherEngine_ConnectsWithoutQR(t *testing.T) {
	t.Parallel()
	srv := fakewa.Start(t)
	db := ""
	first, rec := newTestEngine(t, db, srv)
	jid := link(t, first, rec, srv, "s1")
	dbURL := first.cfg.DatabaseURL
	first.Close() // the worker stops; the credentials stay in the shared database

	second, rec2 := newTestEngine(t, dbURL, srv)
	if err := second.Resume(ctxTimeout(t, waitLong), "s1", "user-1", "Shop"); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	connected := rec2.waitStatus(t, "s1", model.SessionConnected, 1)
	if *connected.PhoneNumber != "+"+jid.User {
		t.Errorf("resumed as %v, want +%s", *connected.PhoneNumber, jid.User)
	}
	if qrs := filterStatus(rec2.sessionEvents("s1"), model.SessionQRRequired); len(qrs) != 0 {
		t.Errorf("resume showed %d QR codes, want none", len(qrs))
	}
	if err := second.Resume(t.Context(), "s1", "", ""); err != nil {
		t.Errorf("Resume of a running session = %v, want nil", err)
	}
	if err := second.Resume(t.Context(), "never-paired", "", ""); !errors.Is(err, workerkit.ErrInvalid) {
		t.Errorf("Resume without credentials = %v, want ErrInvalid", err)
	}
	// Start on the other engine also resumes without a QR.
	third, rec3 := newTestEngine(t, dbURL, srv)
	second.Close()
	if _, created, err := third.Start(t.Context(), "s1", "", ""); err != nil || !created {
		t.Fatalf("Start = %v, %v", created, err)
	}
	rec3.waitStatus(t, "s1", model.SessionConnected, 1)
}

func TestDisconnectThenRestart_KeepsCredentials(t *testing.T) {
	t.Parallel()
	srv, e, rec, jid := linkedSession(t)

	st, err := e.Disconnect(t.Context(), "s1")
	if err != nil || st.Status != "disconnected" {
		t.Fatalf("Disconnect = %+v, %v", st, err)
	}
	rec.waitStatus(t, "s1", model.SessionDisconnected, 1)
	if _, err := e.Send(t.Context(), "s1", textTo("6281200000001", "hi")); !errors.Is(err, workerkit.ErrNotConnected) {
		t.Errorf("Send while disconnected = %v, want ErrNotConnected", err)
	}
	if _, err := e.Restart(t.Context(), "s1"); err != nil {
		t.Fatal(err)
	}
	rec.waitStatus(t, "s1", model.SessionConnected, 2)
	rec.waitFor(t, "one connection as "+jid.String(), func() bool { return srv.LoggedIn(jid) == 1 })
}

func TestLogout_UnlinksDeviceThenStartShowsQR(t *testing.T) {
	t.Parallel()
	srv, e, rec, jid := linkedSession(t)

	st, err := e.Logout(t.Context(), "s1")
	if err != nil || st.Status != "disconnected" {
		t.Fatalf("Logout = %+v, %v", st, err)
	}
	ev := rec.waitStatus(t, "s1", model.SessionDisconnected, 1)
	if ev.LoggedOutAt == nil || ev.LoggedOutFromPhone == nil || *ev.LoggedOutFromPhone {
		t.Errorf("logout event = %+v, want loggedOutAt and not from the phone", ev)
	}
	for _, d := range srv.Devices() {
		if d == jid {
			t.Errorf("device %s still linked on the server", jid)
		}
	}
	if _, ok, _ := e.devices.lookup(t.Context(), "s1"); ok {
		t.Error("device table still maps the session")
	}
	if _, _, err := e.Start(t.Context(), "s1", "", ""); err != nil {
		t.Fatal(err)
	}
	rec.waitStatus(t, "s1", model.SessionQRRequired, 2)

	if err := e.Delete(t.Context(), "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Status(t.Context(), "s1"); !errors.Is(err, workerkit.ErrSessionNotFound) {
		t.Errorf("Status after Delete = %v, want ErrSessionNotFound", err)
	}
}

func TestDelete_LinkedSession_UnlinksAndForgets(t *testing.T) {
	t.Parallel()
	_, e, _, jid := linkedSession(t)
	if err := e.Delete(t.Context(), "s1"); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.container.GetDevice(t.Context(), jid); d != nil {
		t.Error("credentials kept after Delete")
	}
	if len(e.Sessions()) != 0 {
		t.Errorf("Sessions = %+v, want none", e.Sessions())
	}
	if err := e.Delete(t.Context(), "s1"); !errors.Is(err, workerkit.ErrSessionNotFound) {
		t.Errorf("second Delete = %v", err)
	}
}

func filterStatus(evs []protocol.SessionEvent, status model.SessionStatus) []protocol.SessionEvent {
	var out []protocol.SessionEvent
	for _, ev := range evs {
		if ev.Status == string(status) {
			out = append(out, ev)
		}
	}
	return out
}

func TestOutage_ReconnectsWithBackoffUntilWhatsAppIsBack(t *testing.T) {
	t.Parallel()
	srv, e, rec, jid := linkedSession(t)
	srv.SetDown(true)
	if err := srv.Drop(jid); err != nil {
		t.Fatal(err)
	}
	// The first wait, then at least two failed attempts, each reported with its reason.
	rec.waitFor(t, "three RECONNECTING events", func() bool {
		return len(filterStatus(rec.sessionEvents("s1"), model.SessionReconnecting)) >= 3
	})
	last := filterStatus(rec.sessionEvents("s1"), model.SessionReconnecting)[2]
	if last.Reason == nil || !strings.Contains(*last.Reason, "could not reach WhatsApp") || !strings.Contains(*last.Reason, "attempt 3") {
		t.Errorf("third RECONNECTING reason = %v", last.Reason)
	}
	srv.SetDown(false)
	rec.waitStatus(t, "s1", model.SessionConnected, 2)
	if st, _ := e.Status(t.Context(), "s1"); st.Status != "connected" {
		t.Errorf("Status = %+v", st)
	}
}

func TestOutage_PolicyGivesUpIntoError(t *testing.T) {
	t.Parallel()
	srv, e, rec, jid := linkedSession(t)
	e.mu.Lock()
	e.cfg.Reconnect.MaxAttempts = 2
	e.mu.Unlock()
	srv.SetDown(true)
	if err := srv.Drop(jid); err != nil {
		t.Fatal(err)
	}
	ev := rec.waitStatus(t, "s1", model.SessionError, 1)
	if ev.Reason == nil || !strings.Contains(*ev.Reason, "gave up reconnecting after 2 attempts") {
		t.Errorf("ERROR reason = %v", ev.Reason)
	}
	// A start later tries again with the kept credentials.
	srv.SetDown(false)
	if _, _, err := e.Start(t.Context(), "s1", "", ""); err != nil {
		t.Fatal(err)
	}
	rec.waitStatus(t, "s1", model.SessionConnected, 2)
}

func TestStreamReplaced_DisconnectsWithoutReconnecting(t *testing.T) {
	t.Parallel()
	srv, e, rec, jid := linkedSession(t)
	if err := srv.Replace(jid); err != nil {
		t.Fatal(err)
	}
	ev := rec.waitStatus(t, "s1", model.SessionDisconnected, 1)
	if ev.Reason == nil || !strings.Contains(*ev.Reason, "stream replaced") || ev.LoggedOutAt != nil {
		t.Errorf("replaced event = %+v", ev)
	}
	if _, ok, _ := e.devices.lookup(t.Context(), "s1"); !ok {
		t.Error("credentials dropped on a replaced stream; they are still valid")
	}
	if n := len(filterStatus(rec.sessionEvents("s1"), model.SessionReconnecting)); n != 0 {
		t.Errorf("%d reconnects after a replaced stream, want none", n)
	}
}

func TestTemporaryBan_ReportsErrorWithTheBan(t *testing.T) {
	t.Parallel()
	srv, _, rec, jid := linkedSession(t)
	srv.Ban(jid)
	if err := srv.Drop(jid); err != nil {
		t.Fatal(err)
	}
	ev := rec.waitStatus(t, "s1", model.SessionError, 1)
	if ev.Reason == nil || !strings.Contains(*ev.Reason, "temporarily banned") || !strings.Contains(*ev.Reason, "1h0m0s") {
		t.Errorf("ban event reason = %v", ev.Reason)
	}
}
