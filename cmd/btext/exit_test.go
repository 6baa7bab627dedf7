package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/dht"
	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/tracker"
)

// TestExitCode: one row per kind of error, each checked as it is and
// wrapped twice, as the commands wrap them.
func TestExitCode(t *testing.T) {
	opErr := func(op string, err error) error {
		return &net.OpError{Op: op, Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, Err: err}
	}
	rows := []struct {
		name string
		err  error
		want int
	}{
		{"usage", usagef("bad flag"), exitUsage},
		{"usage around a network error", &usageError{opErr("dial", syscall.ECONNREFUSED)}, exitUsage},
		{"dial refused", opErr("dial", os.NewSyscallError("connect", syscall.ECONNREFUSED)), exitNetwork},
		{"read reset", opErr("read", os.NewSyscallError("read", syscall.ECONNRESET)), exitNetwork},
		{"write to a peer", opErr("write", os.NewSyscallError("write", syscall.EPIPE)), exitNetwork},
		{"dns", &net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}, exitNetwork},
		{"bare refused", syscall.ECONNREFUSED, exitNetwork},
		{"peer timeout", &peer.TimeoutError{Op: "read message"}, exitNetwork},
		{"command deadline", context.DeadlineExceeded, exitNetwork},
		{"closed by peer", peer.ErrClosedByPeer, exitNetwork},
		{"listen in use", opErr("listen", os.NewSyscallError("bind", syscall.EADDRINUSE)), exitOther},
		{"disk full", &fs.PathError{Op: "write", Path: "x.torrent", Err: syscall.ENOSPC}, exitOther},
		{"missing directory", &fs.PathError{Op: "open", Path: "nodir/x", Err: syscall.ENOENT}, exitOther},
		{"permission denied", &fs.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, exitOther},
		{"closed stdout", &fs.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.EPIPE}, exitOther},
		{"bare errno", syscall.ENOSPC, exitOther},
		{"protocol", &peer.ProtocolError{Reason: "x"}, exitProtocol},
		{"bencode", &bencode.SyntaxError{Reason: "x"}, exitProtocol},
		{"payload", &extensions.PayloadError{Ext: "ut_metadata", Reason: "x"}, exitProtocol},
		{"no extension", extensions.ErrNotSupported, exitProtocol},
		{"mse", peer.ErrMSE, exitProtocol},
		{"rejected", metadata.ErrRejected, exitMetadata},
		{"size", metadata.ErrSize, exitMetadata},
		{"hash", metainfo.ErrHashMismatch, exitMetadata},
		{"not a dictionary", metainfo.ErrInvalidMetadata, exitMetadata},
		{"no peers found, at the deadline", fmt.Errorf("%w: dht: 3 queries, %w", errNoPeers, context.DeadlineExceeded), exitNetwork},
		{"tracker failure reason", &tracker.FailureError{Reason: "torrent not registered"}, exitProtocol},
		{"tracker nonsense", &tracker.ResponseError{Reason: "x"}, exitProtocol},
		{"tracker does not know the torrent", tracker.ErrUnknownTorrent, exitProtocol},
		{"dht error reply", &dht.Error{Code: 201, Msg: "x"}, exitProtocol},
		{"dht nonsense", dht.ErrMalformed, exitProtocol},
		{"other", errors.New("something"), exitOther},
	}
	for _, r := range rows {
		for _, err := range []error{r.err, fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", r.err))} {
			if got := exitCode(context.Background(), err); got != r.want {
				t.Errorf("%s: exitCode(%v) = %d, want %d", r.name, err, got, r.want)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := exitCode(ctx, errors.New("anything")); got != exitInterrupted {
		t.Errorf("interrupted: %d, want %d", got, exitInterrupted)
	}
}

// val is *p, or the zero value for nil: for reading reports in tests.
func val[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
