package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/peertest"
)

// TestErrOutcome: one row per way a peer's fetch can end, each error made
// the way the code makes it (a real dial, a real read, the parser's own
// error) where a test can, and checked as it is and wrapped twice. The
// rows under "text" prove that the words in a message decide nothing.
func TestErrOutcome(t *testing.T) {
	opErr := func(op, syscallName string, errno syscall.Errno) error {
		return &net.OpError{Op: op, Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, Err: os.NewSyscallError(syscallName, errno)}
	}
	info := peertest.InfoOfSize(3000)
	h := peertest.HashOf(info)
	target := metainfo.Target{V1: (*metainfo.Hash)(&h)}
	notDict := []byte("i1e")
	hNotDict := peertest.HashOf(notDict)
	var badHandshake peer.Handshake
	var badUT metadata.UTMessage
	_, extErr := extensions.Parse([]byte("not bencode"))
	_, sizeErr := metadata.NewAssembler(0, 1<<20, target)
	_, limitErr := metadata.NewAssembler(2<<20, 1<<20, target)

	rows := []struct {
		name string
		err  error
		want string
	}{
		{"dial to a closed loopback port", dialClosedPort(t), outcomeRefused},
		{"dial refused", opErr("dial", "connect", syscall.ECONNREFUSED), outcomeRefused},
		{"unknown host", &net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}, outcomeUnknownHost},
		{"host unreachable", opErr("dial", "connect", syscall.EHOSTUNREACH), outcomeUnreachable},
		{"network unreachable", opErr("dial", "connect", syscall.ENETUNREACH), outcomeUnreachable},
		{"handshake timeout on a silent peer", silentHandshake(t), outcomeTimedOut},
		{"dial timeout", &peer.TimeoutError{Op: "dial 127.0.0.1:9", After: 10 * time.Second}, outcomeTimedOut},
		{"no answer at the fetch's end", fmt.Errorf("no answer to ut_metadata requests: %w", &peer.TimeoutError{Op: "wait for metadata"}), outcomeTimedOut},
		{"extended handshake timeout", fmt.Errorf("wait for extended handshake: %w", &peer.TimeoutError{Op: "read message"}), outcomeTimedOut},
		{"socket deadline", pastDeadlineRead(t), outcomeTimedOut},
		{"fetch deadline during the dial", fmt.Errorf("dial 127.0.0.1:9: %w", context.DeadlineExceeded), outcomeTimedOut},
		{"kernel gave up", opErr("read", "read", syscall.ETIMEDOUT), outcomeTimedOut},
		{"name lookup timeout", &net.DNSError{Err: "i/o timeout", Name: "slow.example", IsTimeout: true}, outcomeTimedOut},
		{"reset on dial", opErr("dial", "connect", syscall.ECONNRESET), outcomeReset},
		{"closed on our handshake", closedHandshake(t), outcomeClosed},
		{"reset on our handshake (peer.Conn says closed)", resetHandshake(t), outcomeClosed},
		{"closed later", fmt.Errorf("read message: %w", peer.ErrClosedByPeer), outcomeClosed},
		{"no BEP 10 bit", fmt.Errorf("extension protocol (BEP 10): %w: reserved bytes lack bit 0x10 in byte 5", extensions.ErrNotSupported), outcomeNoExtension},
		{"neither metadata extension", fmt.Errorf("ut_metadata or LT_metadata: %w (it offers ut_pex)", extensions.ErrNotSupported), outcomeNoExtension},
		{"wrong hash", metainfo.VerifyInfo(append([]byte("x"), info...), target), outcomeBadCopy},
		{"hashes right, not a dictionary", metainfo.VerifyInfo(notDict, metainfo.Target{V1: (*metainfo.Hash)(&hNotDict)}), outcomeBadCopy},
		{"every request rejected", fmt.Errorf("%w: ut_metadata rejected every request", metadata.ErrRejected), outcomeRejected},
		{"LT_metadata don't have", fmt.Errorf("%w: LT_metadata \"don't have\"", metadata.ErrRejected), outcomeRejected},
		{"size not positive", sizeErr, outcomeBadSize},
		{"size over the limit", limitErr, outcomeBadSize},
		{"wrong protocol string", badHandshake.UnmarshalBinary(make([]byte, peer.HandshakeLen)), outcomeProtocol},
		{"scheduler's violation", &metadata.Violation{Reason: "piece 9 out of range 0..4"}, outcomeProtocol},
		{"bad ut_metadata payload", badUT.UnmarshalBinary([]byte("x")), outcomeProtocol},
		{"bad extended handshake", extErr, outcomeProtocol},
		{"broken encryption handshake", fmt.Errorf("%w: bad verification constant", peer.ErrMSE), outcomeProtocol},
		{"our MSE key's bad luck", peer.ErrMSERedial, outcomeOtherFailure},
		{"Ctrl-C", interruptedRead(t), outcomeInterrupted},
		{"cancelled", fmt.Errorf("read message: %w", context.Canceled), outcomeInterrupted},
		{"broken pipe outside peer.Conn", opErr("write", "write", syscall.EPIPE), outcomeOtherFailure},
		{"other", errors.New("local address \"x\" is not an IP address"), outcomeOtherFailure},

		// text: what the old substring match got wrong.
		{"text: hash", errors.New("hash of the moon"), outcomeOtherFailure},
		{"text: closed", errors.New("shop closed"), outcomeOtherFailure},
		{"text: every word", errors.New("connection refused, no such host, unreachable, timed out, i/o timeout, deadline exceeded, reset, closed, not supported, failed verification, hash, rejected, metadata size, protocol, canceled"), outcomeOtherFailure},
		{"text: violation in state closed", &peer.ProtocolError{State: peer.StateClosed, Reason: "x"}, outcomeProtocol},
		{"text: MSE naming a hash", fmt.Errorf("%w: the peer asks for an info hash we do not serve", peer.ErrMSE), outcomeProtocol},
		{"text: rejected, saying closed", fmt.Errorf("%w: the peer closed its store", metadata.ErrRejected), outcomeRejected},
		{"text: violation saying timed out", &metadata.Violation{Reason: "piece timed out, connection reset, refused"}, outcomeProtocol},
		{"text: payload saying metadata size", &extensions.PayloadError{Ext: "ut_metadata", Reason: "metadata size hash rejected"}, outcomeProtocol},
	}
	for _, r := range rows {
		if r.err == nil {
			t.Errorf("%s: no error to classify", r.name)
			continue
		}
		for _, err := range []error{r.err, fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", r.err))} {
			if got := errOutcome(err); got != r.want {
				t.Errorf("%s: errOutcome(%q) = %q, want %q", r.name, err, got, r.want)
			}
		}
	}
}

// TestPeerOutcomeWithoutError: a peer with no error delivered or was not
// needed, whatever its Error text says (only Err counts).
func TestPeerOutcomeWithoutError(t *testing.T) {
	for _, r := range []struct {
		p    metadata.PeerStats
		want string
	}{
		{metadata.PeerStats{Received: 2}, outcomeDelivered},
		{metadata.PeerStats{}, outcomeNotNeeded},
		{metadata.PeerStats{Error: "connection refused"}, outcomeNotNeeded},
	} {
		if got := peerOutcome(r.p); got != r.want {
			t.Errorf("peerOutcome(%+v) = %q, want %q", r.p, got, r.want)
		}
	}
}

// TestOutcomesDocumented: the words are README.md's, no more, no fewer.
func TestOutcomesDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("`outcome` \\(([^)]*)\\)").FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md: no `outcome` (...) in the peers row")
	}
	var doc []string
	for _, w := range regexp.MustCompile("`([^`]+)`").FindAllSubmatch(m[1], -1) {
		doc = append(doc, string(w[1]))
	}
	ours := []string{outcomeDelivered, outcomeNotNeeded, outcomeRefused, outcomeTimedOut, outcomeClosed, outcomeReset,
		outcomeUnknownHost, outcomeUnreachable, outcomeRejected, outcomeBadCopy, outcomeBadSize, outcomeNoExtension,
		outcomeProtocol, outcomeInterrupted, outcomeOtherFailure}
	slices.Sort(doc)
	slices.Sort(ours)
	if !slices.Equal(doc, ours) {
		t.Errorf("README.md's outcomes\n%s\nthe code's\n%s", strings.Join(doc, ", "), strings.Join(ours, ", "))
	}
}

// dialClosedPort dials a loopback port nothing listens on any more.
func dialClosedPort(t *testing.T) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := peer.Dial(context.Background(), addr, peer.Config{DialTimeout: 10 * time.Second})
	if err == nil {
		c.Close()
		t.Fatalf("dial %s: connected", addr)
	}
	return err
}

// pipeConn is our side of a net.Pipe as a peer.Conn, and the peer's side.
func pipeConn(t *testing.T, cfg peer.Config) (*peer.Conn, net.Conn) {
	ours, theirs := net.Pipe()
	t.Cleanup(func() { ours.Close(); theirs.Close() })
	return peer.NewConn(ours, cfg), theirs
}

// silentHandshake reads the handshake of a peer that says nothing.
func silentHandshake(t *testing.T) error {
	c, _ := pipeConn(t, peer.Config{HandshakeTimeout: time.Millisecond})
	_, err := c.ReadHandshake(context.Background())
	return err
}

// closedHandshake reads the handshake of a peer that closes at once.
func closedHandshake(t *testing.T) error {
	c, theirs := pipeConn(t, peer.Config{HandshakeTimeout: 10 * time.Second})
	theirs.Close()
	_, err := c.ReadHandshake(context.Background())
	return err
}

// resetHandshake reads the handshake of a loopback peer that resets the
// connection (SO_LINGER 0, then close).
func resetHandshake(t *testing.T) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dialled := make(chan struct{})
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		// A reset before the dial has returned would be the dial's error.
		<-dialled
		_ = nc.(*net.TCPConn).SetLinger(0)
		nc.Close()
	}()
	c, err := peer.Dial(context.Background(), l.Addr().String(), peer.Config{DialTimeout: 10 * time.Second, HandshakeTimeout: 10 * time.Second})
	close(dialled)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.ReadHandshake(context.Background())
	return err
}

// pastDeadlineRead is a socket read past its deadline, wrapped as peer.Conn
// does with an error it cannot name.
func pastDeadlineRead(t *testing.T) error {
	ours, theirs := net.Pipe()
	defer ours.Close()
	defer theirs.Close()
	_ = ours.SetReadDeadline(time.Unix(1, 0))
	_, err := ours.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("read past the deadline: no error")
	}
	return fmt.Errorf("read message: %w", err)
}

// interruptedRead reads a handshake under a context a real signal ended,
// as Ctrl-C ends btext's: the cause's text ("user defined signal 1 signal
// received") does not say "canceled".
func interruptedRead(t *testing.T) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGUSR1)
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("SIGUSR1 did not end the context")
	}
	c, _ := pipeConn(t, peer.Config{HandshakeTimeout: 10 * time.Second})
	_, err := c.ReadHandshake(ctx)
	if strings.Contains(err.Error(), "cancel") {
		t.Fatalf("the signal's error %q says cancel: the row proves nothing", err)
	}
	return err
}
