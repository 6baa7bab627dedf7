package metadata_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/peertest"
)

// countingListener hands out connections that count their writes.
type countingListener struct {
	net.Listener
	writes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, writes: &l.writes}, nil
}

// countingConn counts Write calls. It keeps the socket reachable
// (syscall.Conn), so that serve still sees what the kernel holds.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

func (c *countingConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// TestServeOneWritePerBatch: requests that arrive together are answered in
// one write, not one (or two: head and data) each.
func TestServeOneWritePerBatch(t *testing.T) {
	info := peertest.InfoOfSize(40000)
	srv := peertest.NewServer(t, metadata.ServerConfig{}, info)
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &countingListener{Listener: tcp}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	defer func() { cancel(); <-done }()

	s := connect(t, tcp.Addr().String(), peertest.HashOf(info))
	// 20 LT_metadata requests for 1/256 each (156 bytes: answers small
	// enough to be copied into the queue) in one write.
	const n = 20
	p, _ := metadata.LTMessage{Type: metadata.LTRequest, Start: 5, Size: 1}.AppendBinary(nil)
	before := ln.writes.Load()
	askAll(t, ctx, s, extensions.LocalLTMetadata, p, n)
	// Answered one at a time it was two writes each (head, data).
	writes := ln.writes.Load() - before
	t.Logf("%d requests in one write, answered in %d writes", n, writes)
	if writes > 2 { // the requests may be read in two parts
		t.Errorf("%d writes for %d answers, want 1", writes, n)
	}
}

// askAll sends n copies of an extension message in one write and reads
// the n answers.
func askAll(t *testing.T, ctx context.Context, s *extensions.Session, ext uint8, payload []byte, n int) {
	t.Helper()
	reqs := make([]peer.Message, n)
	for i := range reqs {
		reqs[i] = peer.ExtendedMessage(ext, payload)
	}
	if err := s.Conn.WriteMessages(ctx, reqs...); err != nil {
		t.Fatal(err)
	}
	for got := 0; got < n; {
		msg, err := s.Conn.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("after %d answers: %v", got, err)
		}
		if msg.ID == peer.Extended && msg.Payload[0] == ext {
			got++
		}
	}
}

// TestServeOneSyscallPerBatch: whole pieces asked for together go out in
// one vectored write (writev) from the info dict as it is: counted in
// system calls, the write calls of this process (/proc/self/io syscw).
func TestServeOneSyscallPerBatch(t *testing.T) {
	syscw := func() int64 {
		b, err := os.ReadFile("/proc/self/io")
		if err != nil {
			t.Skipf("no write system call count here: %v", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "syscw: "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		t.Skip("no syscw in /proc/self/io")
		return 0
	}
	info := peertest.InfoOfSize(40000)
	addr := serve(t, info)
	s := connect(t, addr, peertest.HashOf(info))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// 4 pieces of 16 KiB fit the socket's buffer on loopback: one writev
	// takes them all. One at a time they were 4.
	const n = 4
	p, _ := metadata.UTMessage{Type: metadata.UTRequest, Piece: 1, TotalSize: -1}.AppendBinary(nil)
	best := int64(1 << 30)
	for range 5 { // the fewest of a few tries: a write may be cut short
		before := syscw()
		askAll(t, ctx, s, extensions.LocalUTMetadata, p, n)
		best = min(best, syscw()-before-1) // less our own write of the requests
	}
	t.Logf("%d pieces asked for in one write: answered in %d write system calls", n, best)
	if best > 1 {
		t.Errorf("%d write system calls for %d pieces asked for together, want 1", best, n)
	}
}
