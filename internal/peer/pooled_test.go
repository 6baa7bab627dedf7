package peer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// errAgain stands for a read deadline: the reader has nothing now.
var errAgain = errors.New("again")

// stutterReader hands out one byte per read, every other read failing
// with errAgain, so that every frame is resumed after errors at every
// offset.
type stutterReader struct {
	b    []byte
	fail bool
}

func (r *stutterReader) Read(p []byte) (int, error) {
	r.fail = !r.fail
	if r.fail {
		return 0, errAgain
	}
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

// pooledStream is frames around PooledFrameLen and the small ones of a
// fetch, each payload filled with its own byte so that a buffer reused too
// early shows.
func pooledStream(t *testing.T) ([]byte, []Message) {
	t.Helper()
	msgs := []Message{
		{KeepAlive: true},
		{ID: Have, Payload: []byte{0, 0, 0, 7}},
		{ID: Extended, Payload: bytes.Repeat([]byte{'a'}, 16384+48)},
		{ID: Extended, Payload: bytes.Repeat([]byte{'b'}, PooledFrameLen-1)}, // frame of PooledFrameLen: pooled
		{ID: Extended, Payload: bytes.Repeat([]byte{'c'}, PooledFrameLen)},   // one byte more: its own buffer
		{ID: Unchoke},
		{ID: Extended, Payload: bytes.Repeat([]byte{'d'}, 100)},
	}
	var stream []byte
	for _, m := range msgs {
		stream, _ = m.AppendBinary(stream)
	}
	return stream, msgs
}

func sameMessage(a, b Message) bool {
	return a.KeepAlive == b.KeepAlive && a.ID == b.ID && bytes.Equal(a.Payload, b.Payload)
}

// TestNextPooled: NextPooled reads what Next reads, resumed across errors
// at every offset; a message not released keeps its bytes while others
// are read and released; only frames up to PooledFrameLen are pooled.
func TestNextPooled(t *testing.T) {
	stream, want := pooledStream(t)
	f := FrameReader{R: &stutterReader{b: stream}, Max: 1 << 20}
	var kept []Message
	for i := 0; i < len(want); {
		m, err := f.NextPooled()
		if errors.Is(err, errAgain) {
			continue
		}
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !sameMessage(m, want[i]) {
			t.Fatalf("message %d: got %v, want %v", i, m, want[i])
		}
		pooled := !m.KeepAlive && len(m.Payload)+1 <= PooledFrameLen
		if got := m.frame != nil; got != pooled {
			t.Errorf("message %d (%d bytes): pooled %v, want %v", i, len(m.Payload), got, pooled)
		}
		if i%2 == 0 {
			kept = append(kept, m)
		} else {
			m.Release()
			if m.Payload != nil || m.frame != nil {
				t.Errorf("message %d: Release left %v", i, m)
			}
		}
		i++
	}
	if _, err := f.NextPooled(); !errors.Is(err, errAgain) && !errors.Is(err, io.EOF) {
		t.Fatalf("after the stream: %v", err)
	}
	for i, m := range kept {
		if !sameMessage(m, want[2*i]) {
			t.Errorf("kept message %d changed: %v", 2*i, m)
		}
		m.Release()
	}
}

// TestReleaseOwnPayload: Release on a message that was not pooled (built,
// or read with Next) only clears it.
func TestReleaseOwnPayload(t *testing.T) {
	p := []byte{0, 0, 0, 7}
	m := Message{ID: Have, Payload: p}
	m.Release()
	if m.Payload != nil || !bytes.Equal(p, []byte{0, 0, 0, 7}) {
		t.Fatalf("got %v, payload %v", m, p)
	}
	stream, _ := pooledStream(t)
	f := FrameReader{R: bytes.NewReader(stream), Max: 1 << 20}
	for {
		m, err := f.Next()
		if err != nil {
			break
		}
		if m.frame != nil {
			t.Fatalf("Next pooled %v", m)
		}
	}
}

// TestNextPooledLimit: a length above Max is refused before any buffer is
// taken, pooled or not.
func TestNextPooledLimit(t *testing.T) {
	f := FrameReader{R: bytes.NewReader([]byte("\x00\x00\x04\x01\x14")), Max: 1024}
	_, err := f.NextPooled()
	var le *LengthError
	if !errors.As(err, &le) || le.Len != 1025 {
		t.Fatalf("err = %v", err)
	}
	if f.frame != nil || f.body != nil {
		t.Fatal("a buffer was taken for a refused frame")
	}
}

// TestConnReadPooledResume: a pooled read cut by its deadline part way
// through a piece is finished by the next read, pooled or not, with the
// bytes intact.
func TestConnReadPooledResume(t *testing.T) {
	c, other := pipePair(t, Config{ReadTimeout: 100 * time.Millisecond})
	piece := ExtendedMessage(3, bytes.Repeat([]byte{'p'}, 16384+40))
	frame, _ := piece.AppendBinary(nil)
	next := make(chan struct{})
	go func() {
		io.ReadFull(other, make([]byte, HandshakeLen))
		other.Write(hsBytes(Reserved{}.WithExtended(), Hash{}))
		other.Write(frame[:5000])
		<-next
		other.Write(frame[5000:])
		other.Write(frame)
	}()
	if _, err := c.Handshake(context.Background(), Handshake{Reserved: Reserved{}.WithExtended()}); err != nil {
		t.Fatal(err)
	}
	_, err := c.ReadPooled(context.Background())
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want timeout", err)
	}
	close(next)
	m, err := c.ReadMessage(context.Background()) // finishes the pooled frame
	if err != nil || !sameMessage(m, piece) {
		t.Fatalf("got %v %v", m, err)
	}
	m2, err := c.ReadPooled(context.Background())
	if err != nil || !sameMessage(m2, piece) || m2.frame == nil {
		t.Fatalf("got %v %v (pooled %v)", m2, err, m2.frame != nil)
	}
	m.Release()
	m2.Release()
}

// TestConnMessageBufferedKernel: a message still in the kernel's buffer
// (FIONREAD, through the RawConn looked up once) counts as buffered, half
// of one does not, and asking does not consume it.
func TestConnMessageBufferedKernel(t *testing.T) {
	c, other := pipePair(t, Config{QuickAck: true})
	go func() {
		io.ReadFull(other, make([]byte, HandshakeLen))
		other.Write(hsBytes(Reserved{}, Hash{}))
	}()
	if _, err := c.Handshake(context.Background(), Handshake{}); err != nil {
		t.Fatal(err)
	}
	// The handshake's bytes are read; what follows arrives in the kernel.
	waitBuffered := func(want bool) {
		t.Helper()
		for range 500 { // loopback delivers at once; 5 s at most
			if c.MessageBuffered() == want {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("MessageBuffered never became %v", want)
	}
	other.Write([]byte("\x00\x00\x00\x05\x04\x00\x00"))
	time.Sleep(50 * time.Millisecond) // give half a message time to arrive: it must still not count
	if c.MessageBuffered() {
		t.Fatal("half a message reported as buffered")
	}
	other.Write([]byte("\x00\x09"))
	waitBuffered(true)
	m, err := c.ReadMessage(context.Background())
	if err != nil || m.String() != "have 9" {
		t.Fatalf("got %v %v", m, err)
	}
	if c.MessageBuffered() {
		t.Error("nothing left, yet buffered")
	}
}
