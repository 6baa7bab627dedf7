package relay_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/btext/btext/internal/relay"
)

// Every wait on a socket in these tests has this deadline: a hang fails the
// test instead of stalling it. It bounds nothing that is measured.
const hang = 15 * time.Second

func listen(t *testing.T) *net.TCPListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	tl := ln.(*net.TCPListener)
	tl.SetDeadline(time.Now().Add(hang))
	return tl
}

func start(t *testing.T, to string, rtt time.Duration, opts relay.Options) *relay.Relay {
	t.Helper()
	r, err := relay.Start(to, rtt, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// dial connects to the relay from source IP 127.0.0.from and, when target
// is not nil, accepts the relayed connection there.
func dial(t *testing.T, r *relay.Relay, from byte, target *net.TCPListener) (client, server *net.TCPConn) {
	t.Helper()
	d := net.Dialer{Timeout: hang, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, from)}}
	c, err := d.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	client = c.(*net.TCPConn)
	t.Cleanup(func() { client.Close() })
	client.SetDeadline(time.Now().Add(hang))
	if target != nil {
		server, err = target.AcceptTCP()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { server.Close() })
		server.SetDeadline(time.Now().Add(hang))
	}
	return client, server
}

// relayGoroutines counts the goroutines running the relay's code.
func relayGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "btext/internal/relay.(") {
			count++
		}
	}
	return count
}

// waitGoroutines waits until want goroutines run the relay's code. A
// goroutine that has returned from the relay's code may take a moment to
// leave the stack dump; one that never does is a leak.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(hang)
	for {
		got := relayGoroutines()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines of the relay, want %d:\n%s", got, want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// counter adds up Observe's events by direction.
type counter struct {
	mu   sync.Mutex
	read map[relay.Dir]int
	sent map[relay.Dir]int
	most map[relay.Dir]int // the most read and not yet sent
}

func newCounter() *counter {
	return &counter{read: map[relay.Dir]int{}, sent: map[relay.Dir]int{}, most: map[relay.Dir]int{}}
}

func (c *counter) observe(e relay.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Len <= 0 {
		panic("event without bytes")
	}
	if e.Sent {
		c.sent[e.Dir] += e.Len
	} else {
		c.read[e.Dir] += e.Len
	}
	c.most[e.Dir] = max(c.most[e.Dir], c.read[e.Dir]-c.sent[e.Dir])
}

// TestIntact: bytes arrive complete and in order both ways, whatever the
// chunking, from the client's own source address, and a half close is
// passed on while the other direction goes on.
func TestIntact(t *testing.T) {
	target := listen(t)
	cnt := newCounter()
	r := start(t, target.Addr().String(), 10*time.Millisecond, relay.Options{Observe: cnt.observe})
	client, server := dial(t, r, 7, target)
	if a := server.RemoteAddr().(*net.TCPAddr); !a.IP.Equal(net.IPv4(127, 0, 0, 7)) {
		t.Errorf("target saw %v, want the client's 127.0.0.7", a.IP)
	}

	// The target reads everything up to the client's half close, then
	// answers with it reversed and closes.
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		got, err := io.ReadAll(server)
		if err != nil {
			t.Error(err)
		}
		for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
			got[i], got[j] = got[j], got[i]
		}
		if _, err := server.Write(got); err != nil {
			t.Error(err)
		}
		server.Close()
	})

	var sent []byte
	for i := range 300 {
		chunk := bytes.Repeat([]byte{byte(i)}, 1+i*37%70000)
		sent = append(sent, chunk...)
		if _, err := client.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(sent)-1; i < j; i, j = i+1, j-1 {
		sent[i], sent[j] = sent[j], sent[i]
	}
	if !bytes.Equal(got, sent) {
		t.Fatalf("got %d bytes back, want %d (or different bytes)", len(got), len(sent))
	}
	cnt.mu.Lock()
	defer cnt.mu.Unlock()
	for _, d := range []relay.Dir{relay.ToTarget, relay.ToClient} {
		if cnt.read[d] != len(sent) || cnt.sent[d] != len(sent) {
			t.Errorf("%v: observed %d bytes read, %d sent, want %d", d, cnt.read[d], cnt.sent[d], len(sent))
		}
	}
}

// TestDelay: each direction is delayed by at least half the round trip,
// and the client's first bytes by at least 1.5 round trips after its
// connect, unless NoConnectDelay. (Lower bounds only: the machine is
// shared, so how much later is not checked.)
func TestDelay(t *testing.T) {
	const rtt = 100 * time.Millisecond
	for _, noConnect := range []bool{false, true} {
		target := listen(t)
		r := start(t, target.Addr().String(), rtt, relay.Options{NoConnectDelay: noConnect})
		connect := time.Now()
		client, server := dial(t, r, 1, target)
		// The client's first bytes.
		wrote := time.Now()
		if _, err := client.Write([]byte("a")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		if _, err := io.ReadFull(server, buf[:1]); err != nil {
			t.Fatal(err)
		}
		if noConnect {
			if d := time.Since(wrote); d < rtt/2 {
				t.Errorf("no connect delay: first bytes after %v, want at least %v", d, rtt/2)
			}
		} else if d := time.Since(connect); d < 3*rtt/2 {
			t.Errorf("first bytes %v after the connect, want at least %v", d, 3*rtt/2)
		}
		// Back, and to the target again.
		for _, p := range []struct {
			from, to *net.TCPConn
			dir      string
		}{{server, client, "back"}, {client, server, "to the target"}} {
			wrote := time.Now()
			if _, err := p.from.Write([]byte("bc")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(p.to, buf[:2]); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(wrote); d < rtt/2 {
				t.Errorf("%s after %v, want at least %v", p.dir, d, rtt/2)
			}
		}
	}
}

// TestHalfClose: a half close is passed on either way, the other direction
// goes on, and when both sides have closed the connection's goroutines end
// without Close.
func TestHalfClose(t *testing.T) {
	target := listen(t)
	r := start(t, target.Addr().String(), 2*time.Millisecond, relay.Options{})
	waitGoroutines(t, 1) // the accept loop

	expect := func(c *net.TCPConn, want string) {
		t.Helper()
		got, err := io.ReadAll(c) // to the half close
		if err != nil || string(got) != want {
			t.Fatalf("read %q, %v; want %q then EOF", got, err, want)
		}
	}
	for _, clientFirst := range []bool{true, false} {
		client, server := dial(t, r, 2, target)
		first, second := client, server
		if !clientFirst {
			first, second = server, client
		}
		if _, err := first.Write([]byte("question")); err != nil {
			t.Fatal(err)
		}
		if err := first.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		expect(second, "question")
		// The half-closed side still reads.
		for _, s := range []string{"answer 1", "answer 2"} {
			if _, err := second.Write([]byte(s)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, len(s))
			if _, err := io.ReadFull(first, buf); err != nil || string(buf) != s {
				t.Fatalf("read %q, %v; want %q", buf, err, s)
			}
		}
		if err := second.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		expect(first, "")
		waitGoroutines(t, 1)
	}
}

// TestReset: a reset from either side ends the connection on the other
// side too, and its goroutines.
func TestReset(t *testing.T) {
	target := listen(t)
	r := start(t, target.Addr().String(), 2*time.Millisecond, relay.Options{})
	for _, clientResets := range []bool{true, false} {
		client, server := dial(t, r, 3, target)
		resetting, other := server, client
		if clientResets {
			resetting, other = client, server
		}
		waitGoroutines(t, 1+5)
		resetting.SetLinger(0)
		resetting.Close()
		_, err := io.ReadAll(other) // EOF or a reset
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the other side saw nothing of the reset")
		}
		waitGoroutines(t, 1)
	}
}

// TestIdle: a connection on which nothing moves for Idle is closed.
func TestIdle(t *testing.T) {
	target := listen(t)
	r := start(t, target.Addr().String(), 0, relay.Options{Idle: 100 * time.Millisecond})
	client, server := dial(t, r, 10, target)
	for _, c := range []*net.TCPConn{client, server} {
		if _, err := io.ReadAll(c); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("idle connection not closed")
		}
	}
	waitGoroutines(t, 1)
}

// TestCloseEndsEverything: Close ends connections wherever they are (data
// in the delay line, the target not reading, idle) and returns when every
// goroutine of the relay has ended.
func TestCloseEndsEverything(t *testing.T) {
	target := listen(t)
	// Data waits in the delay line for an hour, or a write to a target
	// that does not read blocks with the line full.
	slow := start(t, target.Addr().String(), time.Hour, relay.Options{})
	fast := start(t, target.Addr().String(), 0, relay.Options{Window: 64 << 10})
	var clients []*net.TCPConn
	for _, r := range []*relay.Relay{slow, fast} {
		idle, _ := dial(t, r, 4, target)
		busy, _ := dial(t, r, 5, target)
		clients = append(clients, idle, busy)
		busy.SetWriteDeadline(time.Now().Add(time.Second))
		for range 256 { // 16 MiB, until the relay stops reading
			if _, err := busy.Write(make([]byte, 64<<10)); err != nil {
				break
			}
		}
	}
	waitGoroutines(t, 2*(1+2*5))

	for _, r := range []*relay.Relay{slow, fast} {
		closed := make(chan error, 1)
		go func() { closed <- r.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(hang):
			t.Fatal("Close hangs")
		}
	}
	waitGoroutines(t, 0)
	for i, c := range clients {
		c.SetDeadline(time.Now().Add(hang))
		if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("client %d: not closed", i)
		}
	}
	if err := slow.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestWindow: a direction holds at most Window bytes read and not yet
// written, however much the sender has to send.
func TestWindow(t *testing.T) {
	const window = 100 << 10
	target := listen(t)
	cnt := newCounter()
	r := start(t, target.Addr().String(), time.Millisecond, relay.Options{Window: window, Observe: cnt.observe})
	client, _ := dial(t, r, 6, target) // the target never reads
	total := 0
	for total < 64<<20 { // far more than the kernel's buffers hold
		client.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := client.Write(make([]byte, 64<<10))
		total += n
		if err != nil {
			break
		}
	}
	cnt.mu.Lock()
	defer cnt.mu.Unlock()
	t.Logf("client wrote %d bytes before it blocked; the relay read %d and held at most %d", total, cnt.read[relay.ToTarget], cnt.most[relay.ToTarget])
	if most := cnt.most[relay.ToTarget]; most > window {
		t.Errorf("held %d bytes, window %d", most, window)
	}
	if total >= 64<<20 {
		t.Errorf("the client never blocked: %d bytes written", total)
	}
}

func TestStart(t *testing.T) {
	for _, c := range []struct {
		to, listen string
		rtt        time.Duration
		ok         bool
	}{
		{"127.0.0.1:9", "", 0, true},
		{"127.3.4.5:9", "127.0.0.1:0", time.Second, true},
		{"[::1]:9", "", 0, true},
		{"10.0.0.1:80", "", 0, false},
		{"example.com:80", "", 0, false},
		{"localhost:80", "", 0, false},
		{"nohost", "", 0, false},
		{"127.0.0.1:9", "0.0.0.0:0", 0, false},
		{"127.0.0.1:9", "", -time.Second, false},
	} {
		r, err := relay.Start(c.to, c.rtt, relay.Options{Listen: c.listen})
		if (err == nil) != c.ok {
			t.Errorf("Start(%q, %v, Listen %q): %v", c.to, c.rtt, c.listen, err)
		}
		if err == nil {
			r.Close()
		}
	}
}

// TestDialFails: when the target refuses, the client sees a close and the
// relay logs it.
func TestDialFails(t *testing.T) {
	ln := listen(t)
	to := ln.Addr().String()
	ln.Close() // nothing listens there now
	var log bytes.Buffer
	var mu sync.Mutex
	r := start(t, to, 0, relay.Options{Log: zerolog.New(lockedWriter{&mu, &log})})
	client, _ := dial(t, r, 8, nil)
	if _, err := io.ReadAll(client); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("client not closed")
	}
	waitGoroutines(t, 1)
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(log.String(), "relay dial") || !strings.Contains(log.String(), "127.0.0.8") {
		t.Errorf("log: %q", log.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
