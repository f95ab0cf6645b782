package fakewa

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"go.mau.fi/libsignal/ecc"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/proto/waCompanionReg"
	"go.mau.fi/whatsmeow/proto/waWa6"
	"go.mau.fi/whatsmeow/socket"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
	"google.golang.org/protobuf/proto"
)

type attrs = waBinary.Attrs

func node(tag string, a attrs, children ...waBinary.Node) waBinary.Node {
	n := waBinary.Node{Tag: tag, Attrs: a}
	if len(children) > 0 {
		n.Content = children
	}
	return n
}

// conn is one client connection.
type conn struct {
	srv *Server
	ws  *websocket.Conn
	ctx context.Context

	// pending holds bytes of a frame not complete yet; headerSeen: the client's "WA" header
	// (sent once, before its first frame) was stripped.
	pending    []byte
	headerSeen bool

	writeMu      sync.Mutex
	readKey      cipher.AEAD
	writeKey     cipher.AEAD
	readCounter  uint32
	writeCounter uint32

	mu          sync.Mutex
	clientNoise []byte
	refs        []string
	jid         types.JID // logged in as
	pairIQ      string
	pairing     *device
	closeOnce   sync.Once
}

func (c *conn) loggedIn() types.JID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.jid
}

func (c *conn) showsRef(ref string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.refs {
		if r == ref {
			return true
		}
	}
	return false
}

// close cuts the connection at once.
func (c *conn) close() {
	c.closeOnce.Do(func() { _ = c.ws.CloseNow() })
}

// closeSoon closes with a normal close a moment after the last node: a client queues the
// nodes it reads and stops handling them when the socket closes, so closing at once could
// drop the node that explains the close (as WhatsApp, which does not hurry either).
func (c *conn) closeSoon() {
	go func() {
		t := time.NewTimer(500 * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.ctx.Done():
		}
		c.closeOnce.Do(func() { _ = c.ws.Close(websocket.StatusNormalClosure, "") })
	}()
}

func (c *conn) serve() {
	payload, err := c.handshake()
	if err != nil {
		return
	}
	if payload.GetDevicePairingData() != nil {
		c.startPairing(payload)
	} else if !c.login(payload) {
		return
	}
	for {
		frame, err := c.readFrame()
		if err != nil {
			return
		}
		plaintext, err := c.readKey.Open(nil, iv(c.readCounter), frame, nil)
		c.readCounter++
		if err != nil {
			return
		}
		data, err := waBinary.Unpack(plaintext)
		if err != nil {
			return
		}
		n, err := waBinary.Unmarshal(data)
		if err != nil {
			return
		}
		c.handle(n)
	}
}

// readFrame returns the next length-prefixed frame the client sent.
func (c *conn) readFrame() ([]byte, error) {
	for {
		if !c.headerSeen && len(c.pending) >= len(socket.WAConnHeader) {
			if !bytes.Equal(c.pending[:len(socket.WAConnHeader)], socket.WAConnHeader) {
				return nil, errors.New("fakewa: bad connection header")
			}
			c.pending, c.headerSeen = c.pending[len(socket.WAConnHeader):], true
		}
		if c.headerSeen && len(c.pending) >= socket.FrameLengthSize {
			length := int(c.pending[0])<<16 | int(c.pending[1])<<8 | int(c.pending[2])
			if len(c.pending) >= socket.FrameLengthSize+length {
				frame := c.pending[socket.FrameLengthSize : socket.FrameLengthSize+length]
				c.pending = c.pending[socket.FrameLengthSize+length:]
				return frame, nil
			}
		}
		_, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return nil, err
		}
		c.pending = append(c.pending, data...)
	}
}

func (c *conn) writeFrame(data []byte) error {
	frame := make([]byte, socket.FrameLengthSize+len(data))
	frame[0], frame[1], frame[2] = byte(len(data)>>16), byte(len(data)>>8), byte(len(data))
	copy(frame[socket.FrameLengthSize:], data)
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageBinary, frame)
}

// send encrypts and writes a node.
func (c *conn) send(n waBinary.Node) error {
	data, err := waBinary.Marshal(n)
	if err != nil {
		return err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	ciphertext := c.writeKey.Seal(nil, iv(c.writeCounter), data, nil)
	c.writeCounter++
	return c.writeFrame(ciphertext)
}

// handshake is the responder's half of Noise XX; it returns the client's payload.
func (c *conn) handshake() (*waWa6.ClientPayload, error) {
	ns := newNoiseState()
	var hello waWa6.HandshakeMessage
	frame, err := c.readFrame()
	if err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(frame, &hello); err != nil {
		return nil, err
	}
	clientEphemeral := hello.GetClientHello().GetEphemeral()
	if len(clientEphemeral) != 32 {
		return nil, errors.New("fakewa: no client ephemeral key")
	}
	ns.authenticate(clientEphemeral)
	ephemeral := keys.NewKeyPair()
	ns.authenticate(ephemeral.Pub[:])
	if err := ns.mixSharedSecret(*ephemeral.Priv, [32]byte(clientEphemeral)); err != nil {
		return nil, err
	}
	encryptedStatic := ns.encrypt(c.srv.static.Pub[:])
	if err := ns.mixSharedSecret(*c.srv.static.Priv, [32]byte(clientEphemeral)); err != nil {
		return nil, err
	}
	encryptedCert := ns.encrypt(c.srv.certChain)
	serverHello, err := proto.Marshal(&waWa6.HandshakeMessage{ServerHello: &waWa6.HandshakeMessage_ServerHello{
		Ephemeral: ephemeral.Pub[:], Static: encryptedStatic, Payload: encryptedCert}})
	if err != nil {
		return nil, err
	}
	if err := c.writeFrame(serverHello); err != nil {
		return nil, err
	}

	var finish waWa6.HandshakeMessage
	if frame, err = c.readFrame(); err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(frame, &finish); err != nil {
		return nil, err
	}
	clientStatic, err := ns.decrypt(finish.GetClientFinish().GetStatic())
	if err != nil || len(clientStatic) != 32 {
		return nil, fmt.Errorf("fakewa: client static key: %w", err)
	}
	if err := ns.mixSharedSecret(*ephemeral.Priv, [32]byte(clientStatic)); err != nil {
		return nil, err
	}
	rawPayload, err := ns.decrypt(finish.GetClientFinish().GetPayload())
	if err != nil {
		return nil, fmt.Errorf("fakewa: client payload: %w", err)
	}
	var payload waWa6.ClientPayload
	if err := proto.Unmarshal(rawPayload, &payload); err != nil {
		return nil, err
	}
	c.readKey, c.writeKey = ns.split()
	c.mu.Lock()
	c.clientNoise = clientStatic
	c.mu.Unlock()
	return &payload, nil
}

// startPairing shows QR references to a device that is not linked yet.
func (c *conn) startPairing(payload *waWa6.ClientPayload) {
	var props waCompanionReg.DeviceProps
	if proto.Unmarshal(payload.GetDevicePairingData().GetDeviceProps(), &props) == nil {
		c.srv.mu.Lock()
		c.srv.deviceName = props.GetOs()
		c.srv.mu.Unlock()
	}
	refs := make([]waBinary.Node, 0, c.srv.refs)
	c.mu.Lock()
	for i := range c.srv.refs {
		ref := fmt.Sprintf("2@fakeref%d-%d", time.Now().UnixNano(), i)
		c.refs = append(c.refs, ref)
		refs = append(refs, waBinary.Node{Tag: "ref", Content: []byte(ref)})
	}
	c.mu.Unlock()
	_ = c.send(node("iq", attrs{"from": types.ServerJID, "type": "set", "id": "pair-device-1"},
		node("pair-device", nil, refs...)))
}

// login accepts a linked device, or refuses it as WhatsApp refuses a removed one.
func (c *conn) login(payload *waWa6.ClientPayload) bool {
	jid := types.JID{User: strconv.FormatUint(payload.GetUsername(), 10), Device: uint16(payload.GetDevice()),
		Server: types.DefaultUserServer}
	c.srv.mu.Lock()
	d, ok := c.srv.devices[jid]
	banned := c.srv.banned[jid]
	c.srv.mu.Unlock()
	if ok && banned {
		_ = c.send(node("failure", attrs{"reason": "402", "code": "101", "expire": "3600"}))
		c.closeSoon()
		return false
	}
	c.mu.Lock()
	ok = ok && bytes.Equal(d.noisePub, c.clientNoise)
	c.mu.Unlock()
	if !ok {
		_ = c.send(node("failure", attrs{"reason": "401", "location": "fake"}))
		c.closeSoon()
		return false
	}
	c.mu.Lock()
	c.jid = jid
	c.mu.Unlock()
	_ = c.send(node("success", attrs{"t": strconv.FormatInt(time.Now().Unix(), 10), "props": "1"}))
	return true
}

// pair sends pair-success to the device showing the QR whose parts are given (ref, noise
// key, identity key, adv secret), signed as the phone's account would.
func (c *conn) pair(jid types.JID, qr []string) error {
	noisePub, err1 := base64.StdEncoding.DecodeString(qr[1])
	identityPub, err2 := base64.StdEncoding.DecodeString(qr[2])
	advSecret, err3 := base64.StdEncoding.DecodeString(qr[3])
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("fakewa: QR code keys: %w", err)
	}
	account := keys.NewKeyPair()
	details, err := proto.Marshal(&waAdv.ADVDeviceIdentity{RawID: proto.Uint32(1),
		Timestamp: proto.Uint64(uint64(time.Now().Unix())), KeyIndex: proto.Uint32(1)})
	if err != nil {
		return err
	}
	message := append(append(append([]byte{}, 6, 0), details...), identityPub...)
	signature := ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*account.Priv), message)
	signed, err := proto.Marshal(&waAdv.ADVSignedDeviceIdentity{Details: details,
		AccountSignatureKey: account.Pub[:], AccountSignature: signature[:]})
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, advSecret)
	mac.Write(signed)
	container, err := proto.Marshal(&waAdv.ADVSignedDeviceIdentityHMAC{Details: signed, HMAC: mac.Sum(nil)})
	if err != nil {
		return err
	}
	lid := types.JID{User: "9" + jid.User, Device: jid.Device, Server: types.HiddenUserServer}
	c.mu.Lock()
	c.pairIQ = "pair-success-" + jid.User
	c.pairing = &device{jid: jid, noisePub: noisePub}
	id := c.pairIQ
	c.mu.Unlock()
	return c.send(node("iq", attrs{"from": types.ServerJID, "type": "set", "id": id},
		node("pair-success", nil,
			waBinary.Node{Tag: "device-identity", Content: container},
			node("device", attrs{"jid": jid, "lid": lid}),
			node("platform", attrs{"name": "android"}))))
}

// handle answers one node of a connected client.
func (c *conn) handle(n *waBinary.Node) {
	rec := Received{Tag: n.Tag, Attrs: map[string]string{}}
	for k, v := range n.Attrs {
		rec.Attrs[k] = fmt.Sprint(v)
	}
	children := n.GetChildren()
	if len(children) > 0 {
		rec.Child = children[0].Tag
	}
	c.srv.record(rec)
	if n.Tag != "iq" {
		return // acks, receipts, presence
	}
	id, _ := n.Attrs["id"].(string)
	switch n.Attrs["type"] {
	case "result", "error":
		c.mu.Lock()
		linked := id == c.pairIQ && c.pairing != nil
		d := c.pairing
		c.mu.Unlock()
		if linked && n.Attrs["type"] == "result" {
			c.srv.mu.Lock()
			c.srv.devices[d.jid] = d
			c.srv.mu.Unlock()
			// As WhatsApp: "restart required"; the client closes and logs in anew.
			_ = c.send(node("stream:error", attrs{"code": "515"}))
		}
		return
	}
	result := attrs{"from": types.ServerJID, "type": "result", "id": id}
	switch {
	case rec.Child == "count" && n.Attrs["xmlns"] == "encrypt":
		_ = c.send(node("iq", result, node("count", attrs{"value": "100"})))
	case rec.Child == "link_code_companion_reg":
		_ = c.send(node("iq", result, node("link_code_companion_reg", nil,
			waBinary.Node{Tag: "link_code_pairing_ref", Content: []byte("fake-pairing-ref")})))
	case rec.Child == "remove-companion-device":
		c.srv.mu.Lock()
		delete(c.srv.devices, c.loggedIn())
		c.srv.mu.Unlock()
		_ = c.send(node("iq", result))
	default:
		_ = c.send(node("iq", result))
	}
}
