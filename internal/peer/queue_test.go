package peer

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/rs/zerolog"
)

// TestQueueExtended: queued extension messages, small and large, go out in
// order, plain and through RC4, at Flush or ahead of the next write; a
// message the state machine forbids is refused at once.
func TestQueueExtended(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<12) // 64 KiB
	for _, encrypted := range []bool{false, true} {
		name := "plain"
		if encrypted {
			name = "rc4"
		}
		t.Run(name, func(t *testing.T) {
			c, other, dec := openWriter(t, encrypted)
			var want []byte
			ext := func(id byte, head, body []byte) {
				want = append(want, appendHeaderT(1+len(head)+len(body))...)
				want = append(append(append(want, id), head...), body...)
			}
			ext(3, []byte("a"), []byte("small"))
			ext(3, []byte("bb"), big)
			ext(2, []byte("c"), nil)
			ext(3, []byte("d"), big[:1024])
			want, _ = Message{ID: Unchoke}.AppendBinary(want)
			ext(3, []byte("e"), []byte("last"))

			got := make(chan []byte, 1)
			go func() {
				buf := make([]byte, len(want))
				n, _ := io.ReadFull(other, buf)
				got <- buf[:n]
			}()
			ctx := context.Background()
			queue := func(id byte, head, body []byte) {
				if err := c.QueueExtended(id, head, body); err != nil {
					t.Fatal(err)
				}
			}
			queue(3, []byte("a"), []byte("small"))
			queue(3, []byte("bb"), big)
			queue(2, []byte("c"), nil)
			queue(3, []byte("d"), big[:1024])
			if q := c.Queued(); q != 4*6+len("a"+"small"+"bb"+"c"+"d")+len(big)+1024 {
				t.Errorf("queued %d bytes", q)
			}
			// A direct write sends the queue first.
			if err := c.WriteMessage(ctx, Message{ID: Unchoke}); err != nil {
				t.Fatal(err)
			}
			if c.Queued() != 0 {
				t.Errorf("%d bytes still queued after a write", c.Queued())
			}
			queue(3, []byte("e"), []byte("last"))
			if err := c.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Flush(ctx); err != nil { // nothing queued: nothing sent
				t.Fatal(err)
			}
			b := <-got
			if dec != nil {
				dec.XORKeyStream(b, b)
			}
			if !bytes.Equal(b, want) {
				t.Fatalf("wrote %q..., want %q...", b[:min(len(b), 40)], want[:40])
			}
		})
	}
	t.Run("state", func(t *testing.T) {
		c, _ := pipePair(t, Config{})
		c.m = machine{state: StateOpen, local: LocalReserved(), remote: Reserved{}} // no BEP 10
		if err := c.QueueExtended(3, nil, nil); err == nil || c.Queued() != 0 {
			t.Errorf("queued an extension message without BEP 10: %v, %d bytes", err, c.Queued())
		}
	})
}

// TestQueueHandshakeNoDebugStrings: with debug logging off, queueing a
// handshake allocates nothing: the log line's hex strings are not built
// (serve queues one a connection).
func TestQueueHandshakeNoDebugStrings(t *testing.T) {
	c, _ := pipePair(t, Config{Log: zerolog.New(io.Discard).Level(zerolog.InfoLevel)})
	c.q.buf = make([]byte, 0, 2*HandshakeLen)
	h := Handshake{Reserved: LocalReserved(), InfoHash: Hash{1}, PeerID: RandomPeerID()}
	if n := testing.AllocsPerRun(100, func() {
		c.m = machine{}
		if err := c.QueueHandshake(h); err != nil {
			t.Fatal(err)
		}
		c.q.reset()
	}); n != 0 {
		t.Errorf("QueueHandshake allocated %v times, want 0", n)
	}
}
