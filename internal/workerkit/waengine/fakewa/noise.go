package fakewa

import (
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"

	"go.mau.fi/whatsmeow/socket"
	"go.mau.fi/whatsmeow/util/gcmutil"
)

// noiseState is the responder's side of WhatsApp's Noise_XX_25519_AESGCM_SHA256 handshake:
// the mirror of whatsmeow's socket.NoiseHandshake, whose salt it cannot reach.
type noiseState struct {
	hash    []byte
	salt    []byte
	key     cipher.AEAD
	counter uint32
}

func newNoiseState() *noiseState {
	// The pattern name is 32 bytes long, so it is the initial hash as is.
	h := []byte(socket.NoiseStartPattern)
	if len(h) != 32 {
		sum := sha256.Sum256(h)
		h = sum[:]
	}
	n := &noiseState{hash: h, salt: h}
	n.key = mustAEAD(h)
	n.authenticate(socket.WAConnHeader)
	return n
}

func mustAEAD(key []byte) cipher.AEAD {
	aead, err := gcmutil.Prepare(key)
	if err != nil {
		panic(err)
	}
	return aead
}

func (n *noiseState) authenticate(data []byte) {
	h := sha256.Sum256(append(append([]byte{}, n.hash...), data...))
	n.hash = h[:]
}

func iv(counter uint32) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint32(b[8:], counter)
	return b
}

func (n *noiseState) encrypt(plaintext []byte) []byte {
	ciphertext := n.key.Seal(nil, iv(n.counter), plaintext, n.hash)
	n.counter++
	n.authenticate(ciphertext)
	return ciphertext
}

func (n *noiseState) decrypt(ciphertext []byte) ([]byte, error) {
	plaintext, err := n.key.Open(nil, iv(n.counter), ciphertext, n.hash)
	n.counter++
	if err != nil {
		return nil, err
	}
	n.authenticate(ciphertext)
	return plaintext, nil
}

func (n *noiseState) mixSharedSecret(priv, pub [32]byte) error {
	secret, err := curve25519.X25519(priv[:], pub[:])
	if err != nil {
		return fmt.Errorf("x25519: %w", err)
	}
	write, read := expand(n.salt, secret)
	n.salt, n.key, n.counter = write, mustAEAD(read), 0
	return nil
}

// split derives the transport keys: the client writes with the first and reads with the
// second, so the server does the opposite.
func (n *noiseState) split() (read, write cipher.AEAD) {
	clientWrite, clientRead := expand(n.salt, nil)
	return mustAEAD(clientWrite), mustAEAD(clientRead)
}

func expand(salt, secret []byte) (first, second []byte) {
	h := hkdf.New(sha256.New, secret, salt, nil)
	first, second = make([]byte, 32), make([]byte, 32)
	if _, err := io.ReadFull(h, first); err != nil {
		panic(err)
	}
	if _, err := io.ReadFull(h, second); err != nil {
		panic(err)
	}
	return first, second
}
