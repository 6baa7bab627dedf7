package peer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestMSE: both sides of the encryption handshake, then a BT handshake and
// a message each way through the selected stream.
func TestMSE(t *testing.T) {
	var served, other Hash
	copy(served[:], bytes.Repeat([]byte{0xab}, 20))
	copy(other[:], bytes.Repeat([]byte{0xcd}, 20))
	find := func(req2 [20]byte) (Hash, bool) { return served, req2 == MSEReq2(served) }
	tests := []struct {
		name           string
		skey           Hash
		provide, allow CryptoMethod
		want           CryptoMethod
		err            string
	}{
		{"rc4 offered and accepted", served, CryptoRC4 | CryptoPlain, CryptoRC4 | CryptoPlain, CryptoRC4, ""},
		{"plaintext only", served, CryptoPlain, CryptoRC4 | CryptoPlain, CryptoPlain, ""},
		{"rc4 only", served, CryptoRC4, CryptoRC4, CryptoRC4, ""},
		{"no common method", served, CryptoRC4, CryptoPlain, 0, "the peer offers rc4, we accept plaintext"},
		{"unknown info hash", other, CryptoRC4, CryptoRC4, 0, "an info hash we do not serve"},
	}
	for _, withIA := range []bool{false, true} {
		for _, tt := range tests {
			if withIA {
				tt.name += ", handshake as IA"
			}
			t.Run(tt.name, func(t *testing.T) {
				testMSE(t, served, find, tt.skey, tt.provide, tt.allow, tt.want, tt.err, withIA)
			})
		}
	}
}

// testMSE runs one case of TestMSE, the BT handshake sent after MSE or
// inside it, as the initial payload.
func testMSE(t *testing.T, served Hash, find func([20]byte) (Hash, bool), skey Hash, provide, allow, want CryptoMethod, wantErr string, withIA bool) {
	a, raw := pipePair(t, Config{HandshakeTimeout: 5 * time.Second})
	b := NewConn(raw, Config{HandshakeTimeout: 5 * time.Second})
	ctx := context.Background()
	type result struct {
		m    CryptoMethod
		skey Hash
		err  error
	}
	done := make(chan result, 1)
	go func() {
		plain, err := b.IsPlainHandshake(ctx)
		if err != nil || plain {
			done <- result{err: errors.New("not seen as MSE")}
			return
		}
		m, skey, err := b.AcceptObfuscated(ctx, find, allow)
		if err != nil {
			b.Close() // as serve does: the other side sees the close
		}
		done <- result{m, skey, err}
	}()
	local := Handshake{Reserved: LocalReserved(), InfoHash: skey}
	var m CryptoMethod
	var err error
	if withIA {
		m, err = a.ObfuscateHandshake(ctx, local, provide)
	} else {
		m, err = a.Obfuscate(ctx, skey, provide)
	}
	r := <-done
	if wantErr != "" {
		if r.err == nil || !errors.Is(r.err, ErrMSE) || !bytes.Contains([]byte(r.err.Error()), []byte(wantErr)) {
			t.Fatalf("answering side: %v, want %q", r.err, wantErr)
		}
		if err == nil {
			t.Fatalf("connecting side succeeded with %v", m)
		}
		return
	}
	if err != nil || r.err != nil || m != want || r.m != want || r.skey != served {
		t.Fatalf("got %v %v / %v %v %v, want %v", m, err, r.m, r.skey, r.err, want)
	}
	if a.Crypto() != want || b.Crypto() != want {
		t.Fatalf("Crypto() %v %v", a.Crypto(), b.Crypto())
	}
	// The BT handshake and messages, both ways, through the stream.
	go func() {
		h, err := b.ReadHandshake(ctx)
		if err == nil {
			err = b.WriteHandshake(ctx, Handshake{Reserved: h.Reserved, InfoHash: h.InfoHash})
		}
		if err == nil {
			err = b.WriteMessage(ctx, Message{ID: Have, Payload: []byte{0, 0, 0, 7}})
		}
		done <- result{err: err}
	}()
	var h Handshake
	if withIA {
		h, err = a.ReadHandshake(ctx)
	} else {
		h, err = a.Handshake(ctx, local)
	}
	if err != nil || h.InfoHash != served || !h.Reserved.Fast() {
		t.Fatalf("BT handshake through %v: %v %v", want, h, err)
	}
	msg, err := a.ReadMessage(ctx)
	if err != nil || msg.ID != Have || !bytes.Equal(msg.Payload, []byte{0, 0, 0, 7}) {
		t.Fatalf("message: %v %v", msg, err)
	}
	if r := <-done; r.err != nil {
		t.Fatal(r.err)
	}
}

// TestMSEBadPeer: garbage instead of a key exchange ends within the
// handshake timeout with an error, on either side.
func TestMSEBadPeer(t *testing.T) {
	ctx := context.Background()
	a, raw := pipePair(t, Config{HandshakeTimeout: 500 * time.Millisecond})
	go func() { _, _ = raw.Write(bytes.Repeat([]byte{0xee}, 2000)) }()
	if _, err := a.Obfuscate(ctx, Hash{}, CryptoRC4); err == nil {
		t.Fatal("Obfuscate succeeded against garbage")
	} else {
		t.Log(err)
	}
	b, raw2 := pipePair(t, Config{HandshakeTimeout: 500 * time.Millisecond})
	go func() { _, _ = raw2.Write(bytes.Repeat([]byte{0xee}, 2000)) }()
	_, _, err := b.AcceptObfuscated(ctx, func([20]byte) (Hash, bool) { return Hash{}, true }, CryptoRC4)
	if err == nil {
		t.Fatal("AcceptObfuscated succeeded against garbage")
	}
	t.Log(err)
	var d mseDH
	d.x = big.NewInt(5)
	for _, y := range [][]byte{{0}, {1}, new(big.Int).Sub(mseP, big.NewInt(1)).Bytes(), mseP.Bytes()} {
		if _, err := d.secret(y); err == nil {
			t.Errorf("public key %x accepted", y)
		}
	}
}

// TestMSELeadingZeroSecret: a secret with a leading zero byte, which
// rtorrent hashes without that byte, is never used. The connecting side
// stops with ErrMSERedial (here against a responder that picks its key to
// produce one); the answering side picks another key, so that over 1000
// handshakes the connecting side never meets one (it would, about 4 times,
// by chance alone).
func TestMSELeadingZeroSecret(t *testing.T) {
	ctx := context.Background()
	a, raw := pipePair(t, Config{HandshakeTimeout: 5 * time.Second})
	go func() {
		var ya [mseKeyLen]byte
		if _, err := io.ReadFull(raw, ya[:]); err != nil {
			return
		}
		for range 10000 {
			d, _ := newMSEDH(rand.Reader)
			if s, _ := d.secret(ya[:]); s[0] == 0 {
				raw.Write(d.pub[:])
				return
			}
		}
	}()
	if _, err := a.Obfuscate(ctx, Hash{}, CryptoRC4); !errors.Is(err, ErrMSERedial) {
		t.Fatalf("Obfuscate with a leading-zero secret: %v, want ErrMSERedial", err)
	}

	// With the BT handshake as the initial payload, the same: nothing after
	// Ya goes out (no req1, no handshake), and the handshake does not count
	// as sent.
	a, raw = pipePair(t, Config{HandshakeTimeout: 5 * time.Second})
	after := make(chan []byte, 1)
	var secret []byte
	go func() {
		var ya [mseKeyLen]byte
		if _, err := io.ReadFull(raw, ya[:]); err != nil {
			after <- nil
			return
		}
		for range 10000 {
			d, _ := newMSEDH(rand.Reader)
			if s, _ := d.secret(ya[:]); s[0] == 0 {
				secret = s
				raw.Write(d.pub[:])
				break
			}
		}
		rest, _ := io.ReadAll(raw) // PadA, and anything else, until a closes
		after <- rest
	}()
	if _, err := a.ObfuscateHandshake(ctx, Handshake{Reserved: LocalReserved()}, CryptoRC4); !errors.Is(err, ErrMSERedial) {
		t.Fatalf("ObfuscateHandshake with a leading-zero secret: %v, want ErrMSERedial", err)
	}
	if a.m.sentBT {
		t.Error("the handshake counts as sent")
	}
	a.Close()
	req1 := mseHash([]byte("req1"), secret)
	if rest := <-after; len(rest) > mseMaxPad || bytes.Contains(rest, req1[:]) {
		t.Errorf("%d bytes after Ya, want PadA only", len(rest))
	}

	var h Hash
	var plainLen atomic.Int32
	find := func([20]byte) (Hash, bool) { return h, true }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				c := NewConn(nc, Config{HandshakeTimeout: 5 * time.Second})
				if b, err := c.br.Peek(1); err == nil && b[0] == msePlainLen {
					plainLen.Add(1) // Transmission would take it for a plain handshake
				}
				c.AcceptObfuscated(ctx, find, CryptoRC4)
			}()
		}
	}()
	for i := range 1000 {
		c, err := Dial(ctx, ln.Addr().String(), Config{HandshakeTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Obfuscate(ctx, h, CryptoRC4)
		c.Close()
		if err != nil {
			t.Fatalf("handshake %d: %v", i, err)
		}
	}
	// By chance alone, about 4 of the 1000 keys would start with 19.
	if n := plainLen.Load(); n > 0 {
		t.Errorf("%d of 1000 connections began with the byte 19, like a plain handshake", n)
	}
}

// TestMSEKeyNotLikePlainHandshake: Transmission 3.00 takes a connection
// whose first byte is 19 for a plain BT handshake, and the connecting
// side's public key comes first: newMSEDH draws again when a key starts
// so. Here the random source yields such a secret first (found by a
// deterministic search), then another.
func TestMSEKeyNotLikePlainHandshake(t *testing.T) {
	secretWith := func(first func(byte) bool, from int) ([]byte, int) {
		for i := from; i < from+100000; i++ {
			x := sha1.Sum(fmt.Appendf(nil, "x%d", i))
			var pub [mseKeyLen]byte
			new(big.Int).Exp(big.NewInt(2), new(big.Int).SetBytes(x[:]), mseP).FillBytes(pub[:])
			if first(pub[0]) {
				return x[:], i
			}
		}
		t.Fatal("no such secret in 100000 tries")
		return nil, 0
	}
	bad, i := secretWith(func(b byte) bool { return b == msePlainLen }, 0)
	good, _ := secretWith(func(b byte) bool { return b != msePlainLen }, i+1)
	d, err := newMSEDH(bytes.NewReader(append(append([]byte{}, bad...), good...)))
	if err != nil {
		t.Fatal(err)
	}
	if d.pub[0] == msePlainLen {
		t.Fatalf("public key %x... begins like a plain handshake", d.pub[:4])
	}
	if want := new(big.Int).SetBytes(good); d.x.Cmp(want) != 0 {
		t.Errorf("secret %x, want the second draw %x", d.x, want)
	}

	// A random source that only ever yields such keys is an error, not a
	// loop without end.
	var only []byte
	for range mseKeyDraws {
		only = append(only, bad...)
	}
	if _, err := newMSEDH(bytes.NewReader(only)); err == nil {
		t.Error("no error from a source of plain-looking keys only")
	}
}
