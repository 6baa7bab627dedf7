package peer

import (
	"bytes"
	"context"
	"crypto/rc4"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// TestWriteLarge: large payloads, plain and through RC4, arrive intact
// among small messages; afterwards the connection keeps no write buffer
// above maxKeptWriteBuf, and the 1 MiB payloads were not copied.
func TestWriteLarge(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for _, encrypted := range []bool{false, true} {
		name := "plain"
		if encrypted {
			name = "rc4"
		}
		t.Run(name, func(t *testing.T) {
			c, other, dec := openWriter(t, encrypted)
			want, _ := Message{ID: Have, Payload: []byte{0, 0, 0, 1}}.AppendBinary(nil)
			want, _ = Message{ID: Piece, Payload: big}.AppendBinary(want)
			want, _ = Message{ID: Unchoke}.AppendBinary(want)
			hdr := appendHeaderT(1 + 3 + len(big))
			want = append(want, hdr...)
			want = append(want, 5, 'h', 'e', 'd')
			want = append(want, big...)
			got := make(chan []byte, 1)
			buf := make([]byte, len(want))
			go func() {
				n, _ := io.ReadFull(other, buf)
				got <- buf[:n]
			}()
			ctx := context.Background()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			if err := c.WriteMessages(ctx, Message{ID: Have, Payload: []byte{0, 0, 0, 1}}, Message{ID: Piece, Payload: big}, Message{ID: Unchoke}); err != nil {
				t.Fatal(err)
			}
			if err := c.WriteExtended(ctx, 5, []byte("hed"), big); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&ms)
			alloc := ms.TotalAlloc - before
			b := <-got
			if dec != nil {
				dec.XORKeyStream(b, b)
			}
			if !bytes.Equal(b, want) {
				t.Fatalf("wrote %d bytes, not the %d expected", len(b), len(want))
			}
			// Copying the payloads would take 2 MiB at least.
			if alloc > 256<<10 {
				t.Errorf("%d bytes allocated to send 2 MiB: payloads copied", alloc)
			}
			if cap(c.wbuf) > maxKeptWriteBuf {
				t.Errorf("write buffer of %d bytes kept", cap(c.wbuf))
			}
			if rw, ok := c.w.(*rc4Writer); ok && cap(rw.buf) > rc4ChunkLen {
				t.Errorf("RC4 buffer of %d bytes kept", cap(rw.buf))
			}
		})
	}
}

func appendHeaderT(payloadLen int) []byte {
	b, _ := appendHeader(nil, Extended, payloadLen)
	return b
}

// openWriter is a connection in the open state over a pipe, writing plain
// or through RC4 (dec then deciphers what the other end reads; nil when
// plain).
func openWriter(t *testing.T, encrypted bool) (c *Conn, other net.Conn, dec *rc4.Cipher) {
	t.Helper()
	c, other = pipePair(t, Config{WriteTimeout: 10 * time.Second})
	c.m = machine{state: StateOpen, local: LocalReserved(), remote: LocalReserved()}
	if encrypted {
		key := []byte("0123456789abcdefghij")
		enc, _ := rc4.NewCipher(key)
		dec, _ = rc4.NewCipher(key)
		c.useStream(c.br, &rc4Writer{w: c.nc, c: enc}, CryptoRC4)
	}
	return c, other, dec
}

// TestNoCancelNoRegistration: a write with a context that cannot be
// cancelled (btext serve's, which closes the socket itself on shutdown)
// sets its deadline and registers nothing with the context, which
// allocates; with a cancellable one, each write registers a watch of it.
func TestNoCancelNoRegistration(t *testing.T) {
	nc, other := tcpPair(t)
	go io.Copy(io.Discard, other)
	c := NewConn(nc, Config{})
	c.m = machine{state: StateOpen, local: LocalReserved(), remote: LocalReserved()}
	keepAlive := Message{KeepAlive: true}
	if err := c.WriteMessage(context.Background(), keepAlive); err != nil { // grows the write buffer
		t.Fatal(err)
	}
	write := func(ctx context.Context) func() {
		return func() {
			if err := c.WriteMessage(ctx, keepAlive); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watched := testing.AllocsPerRun(100, write(ctx))
	plain := testing.AllocsPerRun(100, write(context.WithoutCancel(ctx)))
	if plain >= watched {
		t.Errorf("a write allocates %v times with a context that cannot be cancelled, %v with one that can: want fewer", plain, watched)
	}
}
