package peer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rc4"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"
)

// Message stream encryption (MSE, also "protocol encryption"), as Azureus
// specified it and libtorrent, Transmission, rtorrent and aria2 speak it:
// a Diffie-Hellman exchange, then the info hash proven without being sent,
// then the rest of the connection in RC4 or, when both sides agree, in
// plaintext. A peer set to require encryption closes a plaintext
// connection right after the BT handshake (docs/protocol-notes.md, "Encryption").
//
//	1 A->B: Ya, PadA
//	2 B->A: Yb, PadB
//	3 A->B: HASH("req1", S), HASH("req2", SKEY) xor HASH("req3", S),
//	        ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//	4 B->A: ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(stream)
//	5 A->B: ENCRYPT2(stream)

// CryptoMethod is a set of MSE methods (crypto_provide, crypto_select).
type CryptoMethod uint32

const (
	CryptoPlain CryptoMethod = 1 // obfuscated handshake, then plaintext
	CryptoRC4   CryptoMethod = 2
)

func (m CryptoMethod) String() string {
	var s []string
	if m&CryptoRC4 != 0 {
		s = append(s, "rc4")
	}
	if m&CryptoPlain != 0 {
		s = append(s, "plaintext")
	}
	if len(s) == 0 {
		return fmt.Sprintf("none (%#x)", uint32(m))
	}
	return strings.Join(s, "+")
}

const (
	mseKeyLen = 96  // a DH public key: 768 bits
	mseMaxPad = 512 // PadA to PadD
	// mseMaxIA bounds the initial payload a connecting peer may send in
	// step 3: a BT handshake, perhaps with a message or two.
	mseMaxIA = 4096
)

// mseP is the 768-bit prime of the MSE Diffie-Hellman exchange; G is 2.
var mseP, _ = new(big.Int).SetString("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563", 16)

// ErrMSE: the encryption handshake failed.
var ErrMSE = errors.New("encryption handshake (MSE)")

// ErrMSERedial: the shared secret came out with a leading zero byte.
// rtorrent (libtorrent 0.13, through OpenSSL's DH_compute_key) drops such a
// byte and so hashes a different secret: measured here, every one of 9 MSE
// connections in 1500 that had S[0] = 0 hung, and no other did. The
// connecting side cannot choose S, so it gives up before proving the info
// hash and connects again with a new key.
var ErrMSERedial = fmt.Errorf("%w: the shared secret has a leading zero byte, which some peers mishandle: connect again with a new key", ErrMSE)

func mseErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMSE, fmt.Sprintf(format, a...))
}

// mseDH is one side's key pair.
type mseDH struct {
	x   *big.Int
	pub [mseKeyLen]byte
}

// msePlainLen is the first byte of a plain BT handshake: len("BitTorrent
// protocol"). A public key must not begin with it (see newMSEDH).
const msePlainLen = 19

// mseKeyDraws bounds newMSEDH's draws: with a working random source the
// chance of needing more than one is 1 in 256, of needing 16 is 256^-15.
const mseKeyDraws = 16

// newMSEDH draws a key pair from random. The connecting side's public key
// is the first thing on the wire, and Transmission 3.00 (handshake.c,
// readHandshake) decides "plain or encrypted" by the first byte alone: a
// key that starts with 19 is taken for a plain handshake, refused when
// encryption is required and misparsed otherwise. About 1 key in 256
// starts so; such a key is drawn again (docs/transmission-mse.md). The
// answering side's key never comes first, but one rule for both is simpler.
func newMSEDH(random io.Reader) (*mseDH, error) {
	for range mseKeyDraws {
		var xb [20]byte // a 160-bit secret, as the specification advises
		if _, err := io.ReadFull(random, xb[:]); err != nil {
			return nil, fmt.Errorf("draw an encryption key: %w", err)
		}
		d := &mseDH{x: new(big.Int).SetBytes(xb[:])}
		new(big.Int).Exp(big.NewInt(2), d.x, mseP).FillBytes(d.pub[:])
		if d.pub[0] != msePlainLen {
			return d, nil
		}
	}
	return nil, fmt.Errorf("draw an encryption key: %d draws began like a plain handshake", mseKeyDraws)
}

// secret is S from the other side's public key, which must lie in
// 2..P-2 (anything else makes S guessable).
func (d *mseDH) secret(other []byte) ([]byte, error) {
	y := new(big.Int).SetBytes(other)
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(new(big.Int).Sub(mseP, big.NewInt(1))) >= 0 {
		return nil, mseErr("the peer's public key is out of range")
	}
	s := make([]byte, mseKeyLen)
	new(big.Int).Exp(y, d.x, mseP).FillBytes(s)
	return s, nil
}

func mseHash(parts ...[]byte) [20]byte {
	h := sha1.New()
	for _, p := range parts {
		h.Write(p)
	}
	var out [20]byte
	h.Sum(out[:0])
	return out
}

// mseCipher is the RC4 stream for one direction: key HASH(name, S, SKEY),
// the first 1024 bytes of keystream discarded.
func mseCipher(name string, s []byte, skey Hash) *rc4.Cipher {
	k := mseHash([]byte(name), s, skey[:])
	c, _ := rc4.NewCipher(k[:]) // a 20-byte key is always valid
	var discard [1024]byte
	c.XORKeyStream(discard[:], discard[:])
	return c
}

// MSEReq2 is HASH("req2", SKEY): what a responder looks an info hash up by.
func MSEReq2(skey Hash) [20]byte { return mseHash([]byte("req2"), skey[:]) }

func randomPad() ([]byte, error) {
	var n [2]byte
	if _, err := rand.Read(n[:]); err != nil {
		return nil, err
	}
	pad := make([]byte, int(binary.BigEndian.Uint16(n[:]))%(mseMaxPad+1))
	_, err := rand.Read(pad)
	return pad, err
}

// scanFor reads from r until want has been read, within limit bytes;
// it reports how many bytes came before want.
func scanFor(r *bufio.Reader, want []byte, limit int) (int, error) {
	var win []byte
	for n := 0; n < limit+len(want); n++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		win = append(win, b)
		if len(win) >= len(want) && bytes.Equal(win[len(win)-len(want):], want) {
			return len(win) - len(want), nil
		}
	}
	return 0, mseErr("no synchronisation within %d bytes of padding", limit)
}

// rc4Reader decrypts what it reads.
type rc4Reader struct {
	r io.Reader
	c *rc4.Cipher
}

func (r *rc4Reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.c.XORKeyStream(p[:n], p[:n])
	return n, err
}

// rc4ChunkLen is the buffer an RC4 stream encrypts into: what it writes
// goes out in chunks of this size, so that a large message costs no
// buffer of its size and an idle connection keeps only this.
const rc4ChunkLen = 16 << 10

// rc4Writer encrypts what it writes, chunk by chunk, into its own buffer.
type rc4Writer struct {
	w   io.Writer
	c   *rc4.Cipher
	buf []byte
}

func (w *rc4Writer) Write(p []byte) (int, error) {
	if err := w.writeBuffers([][]byte{p}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeBuffers encrypts and writes bufs in order, filling each chunk from
// as many of them as fit. After an error the stream is unusable (the
// cipher has moved on), as after any failed write.
func (w *rc4Writer) writeBuffers(bufs [][]byte) error {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	if cap(w.buf) < min(total, rc4ChunkLen) {
		w.buf = make([]byte, 0, min(max(total, 512), rc4ChunkLen))
	}
	chunk := w.buf[:0]
	flush := func() error {
		w.c.XORKeyStream(chunk, chunk)
		_, err := w.w.Write(chunk)
		chunk = chunk[:0]
		return err
	}
	for _, b := range bufs {
		for len(b) > 0 {
			n := min(len(b), cap(chunk)-len(chunk))
			chunk = append(chunk, b[:n]...)
			b = b[n:]
			if len(chunk) == cap(chunk) {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if len(chunk) > 0 {
		return flush()
	}
	return nil
}

// mseIOErr names the cause of a failed read or write during the encryption
// handshake; an ErrMSE is already named.
func (c *Conn) mseIOErr(ctx context.Context, op string, err error, start time.Time) error {
	if errors.Is(err, ErrMSE) {
		return err
	}
	return c.ioErr(ctx, op, err, start)
}

// useStream makes the connection read through r and write through w from
// now on (both already hold anything the handshake read ahead).
func (c *Conn) useStream(r io.Reader, w io.Writer, method CryptoMethod) {
	c.inner = c.br
	c.br = bufio.NewReaderSize(r, c.cfg.ReadBufferSize)
	c.fr.R = c.br
	c.w = w
	c.crypto = method
}

// Crypto is the MSE method in use: 0 when the connection began with a
// plain BT handshake.
func (c *Conn) Crypto() CryptoMethod { return c.crypto }

// Obfuscate runs the connecting side of MSE for the info hash skey,
// offering the methods in provide, and switches the connection to the one
// the peer selects. It must come before the BT handshake, which then
// follows through the new stream (see ObfuscateHandshake to save a round
// trip).
func (c *Conn) Obfuscate(ctx context.Context, skey Hash, provide CryptoMethod) (CryptoMethod, error) {
	return c.obfuscate(ctx, skey, provide, nil)
}

// ObfuscateHandshake is Obfuscate for local.InfoHash with our BT handshake
// local sent as MSE's initial payload (IA), inside step 3: the peer reads
// it before it answers step 3, so its own BT handshake comes right after
// step 4, one round trip sooner. After it the caller only reads the peer's
// handshake (ReadHandshake). The IA holds the handshake alone: libtorrent,
// rtorrent and aria2 close a connection whose IA holds more
// (docs/protocol-notes.md, "Our extended handshake waits").
func (c *Conn) ObfuscateHandshake(ctx context.Context, local Handshake, provide CryptoMethod) (CryptoMethod, error) {
	return c.obfuscate(ctx, local.InfoHash, provide, &local)
}

func (c *Conn) obfuscate(ctx context.Context, skey Hash, provide CryptoMethod, ia *Handshake) (CryptoMethod, error) {
	const op = "encryption handshake"
	stop, start := c.deadline(ctx, c.cfg.HandshakeTimeout)
	defer stop()
	fail := func(err error) (CryptoMethod, error) { return 0, c.mseIOErr(ctx, op, err, start) }
	dh, err := newMSEDH(rand.Reader)
	if err != nil {
		return 0, err
	}
	pad, err := randomPad()
	if err != nil {
		return 0, err
	}
	if _, err := c.nc.Write(append(dh.pub[:], pad...)); err != nil {
		return fail(err)
	}
	var yb [mseKeyLen]byte
	if _, err := io.ReadFull(c.br, yb[:]); err != nil {
		return fail(err)
	}
	s, err := dh.secret(yb[:])
	if err != nil {
		return 0, err
	}
	if s[0] == 0 {
		return 0, ErrMSERedial
	}
	enc, dec := mseCipher("keyA", s, skey), mseCipher("keyB", s, skey)
	req1 := mseHash([]byte("req1"), s)
	req2 := MSEReq2(skey)
	req3 := mseHash([]byte("req3"), s)
	msg := append([]byte{}, req1[:]...)
	for i := range req2 {
		msg = append(msg, req2[i]^req3[i])
	}
	// VC (8 zero bytes), crypto_provide, len(PadC) = 0, len(IA), IA. IA
	// is always RC4, whatever the peer selects for the rest.
	plain := make([]byte, 8+4+2+2, 8+4+2+2+HandshakeLen)
	binary.BigEndian.PutUint32(plain[8:], uint32(provide))
	if ia != nil {
		if err := c.m.sendHandshake(ia.Reserved); err != nil {
			return 0, err
		}
		plain, _ = ia.AppendBinary(plain)
		binary.BigEndian.PutUint16(plain[14:], uint16(HandshakeLen))
		if e := c.log.Debug(); e.Enabled() { // the strings cost even when not logged
			e.Str("reserved", ia.Reserved.String()).Str("info_hash", ia.InfoHash.String()).Msg("send handshake (MSE initial payload)")
		}
	}
	enc.XORKeyStream(plain, plain)
	if _, err := c.nc.Write(append(msg, plain...)); err != nil {
		return fail(err)
	}
	// The peer's VC, encrypted, comes after its PadB.
	vc := make([]byte, 8)
	probe := mseCipher("keyB", s, skey)
	probe.XORKeyStream(vc, vc)
	if _, err := scanFor(c.br, vc, mseMaxPad); err != nil {
		return fail(err)
	}
	dec.XORKeyStream(vc, vc) // keep dec in step: the VC is behind us
	var sel [6]byte
	if _, err := io.ReadFull(c.br, sel[:]); err != nil {
		return fail(err)
	}
	dec.XORKeyStream(sel[:], sel[:])
	method := CryptoMethod(binary.BigEndian.Uint32(sel[:4]))
	if method != CryptoPlain && method != CryptoRC4 || method&provide == 0 {
		return 0, mseErr("the peer selected %s, offered %s", method, provide)
	}
	padD := int(binary.BigEndian.Uint16(sel[4:]))
	if padD > mseMaxPad {
		return 0, mseErr("PadD of %d bytes, the limit is %d", padD, mseMaxPad)
	}
	if _, err := c.br.Discard(padD); err != nil {
		return fail(err)
	}
	dec.XORKeyStream(make([]byte, padD), make([]byte, padD))
	if method == CryptoRC4 {
		c.useStream(&rc4Reader{r: c.br, c: dec}, &rc4Writer{w: c.nc, c: enc}, method)
	} else {
		c.useStream(c.br, c.nc, method)
	}
	c.log.Debug().Stringer("method", method).Msg("encryption handshake done")
	return method, nil
}

// IsPlainHandshake waits for the first 20 bytes a connecting peer sends and
// reports whether they open a plain BT handshake (else they may open MSE).
func (c *Conn) IsPlainHandshake(ctx context.Context) (bool, error) {
	stop, start := c.deadline(ctx, c.cfg.HandshakeTimeout)
	defer stop()
	b, err := c.br.Peek(1 + len(Protocol))
	if err != nil {
		return false, c.ioErr(ctx, "read handshake", err, start)
	}
	return checkProtocol(b) == nil, nil
}

// AcceptObfuscated runs the answering side of MSE: find maps HASH("req2",
// SKEY) to an info hash we serve; allow is the set of methods we accept.
// The BT handshake follows through the selected stream (or is already in
// it, as the initial payload).
func (c *Conn) AcceptObfuscated(ctx context.Context, find func([20]byte) (Hash, bool), allow CryptoMethod) (CryptoMethod, Hash, error) {
	const op = "encryption handshake"
	stop, start := c.deadline(ctx, c.cfg.HandshakeTimeout)
	defer stop()
	fail := func(err error) (CryptoMethod, Hash, error) { return 0, Hash{}, c.mseIOErr(ctx, op, err, start) }
	var ya [mseKeyLen]byte
	if _, err := io.ReadFull(c.br, ya[:]); err != nil {
		return fail(err)
	}
	// The answering side picks its key after seeing the other's, so it can
	// avoid a secret with a leading zero byte (see ErrMSERedial): each try
	// has a 1 in 256 chance of one.
	var (
		dh  *mseDH
		s   []byte
		err error
	)
	for try := 0; try < 8 && (s == nil || s[0] == 0); try++ {
		if dh, err = newMSEDH(rand.Reader); err != nil {
			return 0, Hash{}, err
		}
		if s, err = dh.secret(ya[:]); err != nil {
			return 0, Hash{}, err
		}
	}
	pad, err := randomPad()
	if err != nil {
		return 0, Hash{}, err
	}
	if _, err := c.nc.Write(append(dh.pub[:], pad...)); err != nil {
		return fail(err)
	}
	req1 := mseHash([]byte("req1"), s)
	if _, err := scanFor(c.br, req1[:], mseMaxPad); err != nil {
		return fail(err)
	}
	var x [20]byte
	if _, err := io.ReadFull(c.br, x[:]); err != nil {
		return fail(err)
	}
	req3 := mseHash([]byte("req3"), s)
	for i := range x {
		x[i] ^= req3[i]
	}
	skey, ok := find(x)
	if !ok {
		return 0, Hash{}, mseErr("the peer asks for an info hash we do not serve")
	}
	dec, enc := mseCipher("keyA", s, skey), mseCipher("keyB", s, skey)
	var head [8 + 4 + 2]byte
	if _, err := io.ReadFull(c.br, head[:]); err != nil {
		return fail(err)
	}
	dec.XORKeyStream(head[:], head[:])
	if !bytes.Equal(head[:8], make([]byte, 8)) {
		return 0, Hash{}, mseErr("bad verification constant")
	}
	provide := CryptoMethod(binary.BigEndian.Uint32(head[8:12]))
	padC := int(binary.BigEndian.Uint16(head[12:]))
	if padC > mseMaxPad {
		return 0, Hash{}, mseErr("PadC of %d bytes, the limit is %d", padC, mseMaxPad)
	}
	rest := make([]byte, padC+2)
	if _, err := io.ReadFull(c.br, rest); err != nil {
		return fail(err)
	}
	dec.XORKeyStream(rest, rest)
	iaLen := int(binary.BigEndian.Uint16(rest[padC:]))
	if iaLen > mseMaxIA {
		return 0, Hash{}, mseErr("initial payload of %d bytes, the limit is %d", iaLen, mseMaxIA)
	}
	ia := make([]byte, iaLen)
	if _, err := io.ReadFull(c.br, ia); err != nil {
		return fail(err)
	}
	dec.XORKeyStream(ia, ia)
	var method CryptoMethod
	switch {
	case provide&allow&CryptoRC4 != 0:
		method = CryptoRC4
	case provide&allow&CryptoPlain != 0:
		method = CryptoPlain
	default:
		return 0, Hash{}, mseErr("the peer offers %s, we accept %s", provide, allow)
	}
	reply := make([]byte, 8+4+2) // VC, crypto_select, len(PadD) = 0
	binary.BigEndian.PutUint32(reply[8:], uint32(method))
	enc.XORKeyStream(reply, reply)
	if _, err := c.nc.Write(reply); err != nil {
		return fail(err)
	}
	if method == CryptoRC4 {
		c.useStream(io.MultiReader(bytes.NewReader(ia), &rc4Reader{r: c.br, c: dec}), &rc4Writer{w: c.nc, c: enc}, method)
	} else {
		c.useStream(io.MultiReader(bytes.NewReader(ia), c.br), c.nc, method)
	}
	c.log.Debug().Stringer("method", method).Int("initial_payload", len(ia)).Msg("encryption handshake done")
	return method, skey, nil
}

// Encryption is a connection's policy on MSE.
type Encryption int

const (
	// EncryptionOff: a plain BT handshake (serve: plain connections only).
	EncryptionOff Encryption = iota
	// EncryptionPrefer: MSE offering RC4 or plaintext, and a plain
	// connection again if the peer closes on it (serve: both accepted).
	EncryptionPrefer
	// EncryptionRequire: MSE with RC4 only (serve: plain connections are
	// refused).
	EncryptionRequire
)

func (e Encryption) String() string {
	switch e {
	case EncryptionPrefer:
		return "prefer"
	case EncryptionRequire:
		return "require"
	}
	return "off"
}

// ParseEncryption reads off, prefer or require.
func ParseEncryption(s string) (Encryption, error) {
	for _, e := range []Encryption{EncryptionOff, EncryptionPrefer, EncryptionRequire} {
		if s == e.String() {
			return e, nil
		}
	}
	return 0, fmt.Errorf("encryption %q: want off, prefer or require", s)
}

// Offer is the set of methods a connecting side offers under e.
func (e Encryption) Offer() CryptoMethod {
	switch e {
	case EncryptionPrefer:
		return CryptoRC4 | CryptoPlain
	case EncryptionRequire:
		return CryptoRC4
	}
	return 0
}
