// Package fakewa is a fake WhatsApp server on loopback for tests of whatsmeow clients: TLS,
// websocket, the Noise XX handshake with a certificate chain under its own root key, and
// whatsmeow's binary nodes. It links devices by QR (Scan) and answers pairing-code
// requests, logs linked devices in, delivers receipts, and can drop a connection or remove a
// device the way WhatsApp does. It has no Signal stack, so it cannot carry messages.
//
// A test trusts it (which replaces whatsmeow.WACertPubKey for the test binary) and points
// its clients at it:
//
//	srv := fakewa.Start(t)
//	client.SetWebsocketHTTPClient(srv.HTTPClient()) // or srv.Prepare(client)
package fakewa

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCert"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
	"google.golang.org/protobuf/proto"
)

// rootKey signs the fake's certificate chain. One per test binary: whatsmeow checks against
// a package variable.
var (
	rootOnce sync.Once
	rootKey  *keys.KeyPair
)

// trust makes whatsmeow in this process accept the fake's certificates (and no longer
// WhatsApp's).
func trust() {
	rootOnce.Do(func() {
		rootKey = keys.NewKeyPair()
		whatsmeow.WACertPubKey = *rootKey.Pub
	})
}

// Server is a running fake.
type Server struct {
	addr      string
	http      *httptest.Server
	tlsConfig *tls.Config
	static    *keys.KeyPair
	certChain []byte

	mu         sync.Mutex
	conns      map[*conn]bool
	devices    map[types.JID]*device // linked devices, by device JID
	nextUser   int
	received   []Received
	deviceName string
	refs       int
	down       bool               // refuse websocket connections (503)
	banned     map[types.JID]bool // devices whose login gets a temporary ban
}

type device struct {
	jid      types.JID
	noisePub []byte
}

// Received is a node a client sent, for assertions.
type Received struct {
	Tag   string
	Attrs map[string]string
	Child string // the tag of the first child
}

// Option configures a Server.
type Option func(*Server)

// WithRefs sets how many QR references a pairing connection gets (default 6, as WhatsApp).
func WithRefs(n int) Option { return func(s *Server) { s.refs = n } }

// Start runs a fake until the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	trust()
	s := &Server{conns: map[*conn]bool{}, devices: map[types.JID]*device{}, banned: map[types.JID]bool{},
		nextUser: 6281000000000, refs: 6}
	for _, o := range opts {
		o(s)
	}
	s.static = keys.NewKeyPair()
	var err error
	if s.certChain, err = newCertChain(s.static); err != nil {
		t.Fatalf("fakewa: certificate chain: %v", err)
	}
	s.http = httptest.NewUnstartedServer(http.HandlerFunc(s.serveWebsocket))
	cert, pool, err := selfSignedTLS("web.whatsapp.com")
	if err != nil {
		t.Fatalf("fakewa: TLS certificate: %v", err)
	}
	s.http.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.http.StartTLS()
	s.addr = s.http.Listener.Addr().String()
	s.tlsConfig = &tls.Config{RootCAs: pool, ServerName: "web.whatsapp.com", MinVersion: tls.VersionTLS12}
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and cuts every connection.
func (s *Server) Close() {
	s.mu.Lock()
	for c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
	s.http.CloseClientConnections()
	s.http.Close()
}

// HTTPClient reaches the fake whatever host a URL names.
func (s *Server) HTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, s.addr)
		},
		TLSClientConfig: s.tlsConfig.Clone(),
	}}
}

// Prepare points every connection of a client at the fake.
func (s *Server) Prepare(client *whatsmeow.Client) {
	hc := s.HTTPClient()
	client.SetWebsocketHTTPClient(hc)
	client.SetPreLoginHTTPClient(hc)
	client.SetMediaHTTPClient(hc)
}

// Received returns the nodes clients sent so far.
func (s *Server) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// DeviceName is the device name the last pairing client announced (what the phone shows).
func (s *Server) DeviceName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deviceName
}

// Devices lists the linked devices.
func (s *Server) Devices() []types.JID {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]types.JID, 0, len(s.devices))
	for jid := range s.devices {
		out = append(out, jid)
	}
	return out
}

// LoggedIn reports how many connections are logged in as jid.
func (s *Server) LoggedIn(jid types.JID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.loggedIn() == jid {
			n++
		}
	}
	return n
}

// Scan links the device that shows qr, as a phone scanning it would, and returns the
// device's JID. The client then reconnects and logs in.
func (s *Server) Scan(qr string) (types.JID, error) {
	parts := strings.Split(qr, ",")
	if len(parts) != 4 {
		return types.JID{}, fmt.Errorf("fakewa: %q is not a WhatsApp QR code", qr)
	}
	c := s.pairingConn(parts[0])
	if c == nil {
		return types.JID{}, errors.New("fakewa: no connection shows that QR code")
	}
	s.mu.Lock()
	s.nextUser++
	user := s.nextUser
	s.mu.Unlock()
	jid := types.JID{User: strconv.Itoa(user), Device: 7, Server: types.DefaultUserServer}
	if err := c.pair(jid, parts); err != nil {
		return types.JID{}, err
	}
	return jid, nil
}

// SendReceipt sends a receipt for messageID from contact (a phone number) to the device
// logged in as jid; kind is "" (delivered), "read" or "played".
func (s *Server) SendReceipt(jid types.JID, contact, messageID, kind string) error {
	c := s.connOf(jid)
	if c == nil {
		return fmt.Errorf("fakewa: %s is not connected", jid)
	}
	attrs := attrs{"from": types.NewJID(contact, types.DefaultUserServer), "id": messageID,
		"t": strconv.FormatInt(time.Now().Unix(), 10)}
	if kind != "" {
		attrs["type"] = kind
	}
	return c.send(node("receipt", attrs))
}

// Drop cuts the connection of jid without a word, like a network failure.
func (s *Server) Drop(jid types.JID) error {
	c := s.connOf(jid)
	if c == nil {
		return fmt.Errorf("fakewa: %s is not connected", jid)
	}
	c.close()
	return nil
}

// RemoveDevice unlinks jid as the phone's "log out" does: a 401 device_removed stream error
// on its connection, and its credentials are no longer accepted.
func (s *Server) RemoveDevice(jid types.JID) error {
	s.mu.Lock()
	delete(s.devices, jid)
	s.mu.Unlock()
	c := s.connOf(jid)
	if c == nil {
		return nil
	}
	err := c.send(node("stream:error", attrs{"code": "401"}, node("conflict", attrs{"type": "device_removed"})))
	c.closeSoon()
	return err
}

// SetDown makes the server refuse (true) or accept (false) new connections, as an outage.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// Ban makes the next logins of jid fail with a temporary ban (reason 402), as WhatsApp
// does to numbers it takes for spam.
func (s *Server) Ban(jid types.JID) {
	s.mu.Lock()
	s.banned[jid] = true
	s.mu.Unlock()
}

// Replace tells the connection of jid that another one took its place ("stream replaced").
func (s *Server) Replace(jid types.JID) error {
	c := s.connOf(jid)
	if c == nil {
		return fmt.Errorf("fakewa: %s is not connected", jid)
	}
	err := c.send(node("stream:error", nil, node("conflict", attrs{"type": "replaced"})))
	c.closeSoon()
	return err
}

// ExpireQR ends the pairing connection showing qr, as WhatsApp does when nobody scans.
func (s *Server) ExpireQR(qr string) error {
	c := s.pairingConn(strings.Split(qr, ",")[0])
	if c == nil {
		return errors.New("fakewa: no connection shows that QR code")
	}
	c.close()
	return nil
}

func (s *Server) pairingConn(ref string) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.showsRef(ref) {
			return c
		}
	}
	return nil
}

func (s *Server) connOf(jid types.JID) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.loggedIn() == jid {
			return c
		}
	}
	return nil
}

func (s *Server) record(r Received) {
	s.mu.Lock()
	s.received = append(s.received, r)
	s.mu.Unlock()
}

func (s *Server) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ws/chat" {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		http.Error(w, "down for the test", http.StatusServiceUnavailable)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 24)
	c := &conn{srv: s, ws: ws, ctx: r.Context()}
	s.mu.Lock()
	s.conns[c] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.close()
	}()
	c.serve()
}

// newCertChain builds root → intermediate → leaf (the server's static key), as WhatsApp's.
func newCertChain(static *keys.KeyPair) ([]byte, error) {
	intermediate := keys.NewKeyPair()
	sign := func(signer *keys.KeyPair, details []byte) []byte {
		sig := ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*signer.Priv), details)
		return sig[:]
	}
	interDetails, err := proto.Marshal(&waCert.CertChain_NoiseCertificate_Details{
		Serial: proto.Uint32(1), IssuerSerial: proto.Uint32(whatsmeow.WACertIssuerSerial), Key: intermediate.Pub[:]})
	if err != nil {
		return nil, err
	}
	leafDetails, err := proto.Marshal(&waCert.CertChain_NoiseCertificate_Details{
		Serial: proto.Uint32(2), IssuerSerial: proto.Uint32(1), Key: static.Pub[:]})
	if err != nil {
		return nil, err
	}
	return proto.Marshal(&waCert.CertChain{
		Intermediate: &waCert.CertChain_NoiseCertificate{Details: interDetails, Signature: sign(rootKey, interDetails)},
		Leaf:         &waCert.CertChain_NoiseCertificate{Details: leafDetails, Signature: sign(intermediate, leafDetails)},
	})
}

func selfSignedTLS(host string) (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
