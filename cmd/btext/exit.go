package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/dht"
	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/tracker"
)

// Exit codes: an interface for scripts, documented in README.md and --help.
const (
	exitOK          = 0
	exitOther       = 1
	exitUsage       = 2
	exitNetwork     = 3
	exitProtocol    = 4
	exitMetadata    = 5
	exitInterrupted = 130
)

const exitCodesHelp = `Exit codes:
  0    success (also a --watch ended by Ctrl-C, serve stopped by a signal)
  1    other error, local I/O included (missing directory, disk full, stdout)
  2    usage: unknown command, bad arguments or flag values, peer address,
       info hash or input file, an existing output without --force
  3    network: cannot connect or resolve, connection closed or reset,
       a network wait timed out; no peer found
  4    protocol: a peer, tracker or DHT node broke the protocol or refused
       (a tracker's failure reason), or a peer lacks a needed extension
  5    metadata rejected by the peer, or failed verification
  130  interrupted (Ctrl-C or SIGTERM)`

const limitsHelp = `Limits (see README.md, "Limits and timeouts"):
  message length 1 MiB (checked before allocating); ut_metadata message 17 KiB
  metadata 32 MiB (--max-metadata-size); extended handshake bencode: depth 16, 10000 values
  connect 10s, BT handshake 10s, extended handshake 10s, one message 60s, all capped by --timeout
  serve: 250 queued metadata requests per peer, 2000 peers (--max-peers), idle 3 min
  trackers: 1 MiB response, 3 redirects; DHT: 250 packets/s, 1000 queries and 2000 nodes a lookup`

// usageError marks an error in what the user gave.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// exitCode maps an error to an exit code. It is the only place that does.
func exitCode(ctx context.Context, err error) int {
	var (
		ue *usageError
		pe *peer.ProtocolError
		se *bencode.SyntaxError
		me *extensions.PayloadError
		tf *tracker.FailureError
		tr *tracker.ResponseError
		de *dht.Error
	)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(ctx.Err(), context.Canceled): // only a signal cancels the run's context
		return exitInterrupted
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, metadata.ErrRejected), errors.Is(err, metainfo.ErrHashMismatch),
		errors.Is(err, metadata.ErrSize), errors.Is(err, metainfo.ErrInvalidMetadata):
		return exitMetadata
	case errors.As(err, &pe), errors.As(err, &se), errors.As(err, &me), errors.Is(err, extensions.ErrNotSupported),
		errors.Is(err, peer.ErrMSE):
		return exitProtocol
	case errors.Is(err, errNoPeers):
		// Before the deadline checks below: discovery that found nothing
		// says why in its own words, whatever ended it.
		return exitNetwork
	case errors.As(err, &tf), errors.As(err, &tr), errors.Is(err, tracker.ErrUnknownTorrent),
		errors.As(err, &de), errors.Is(err, dht.ErrMalformed):
		// A tracker or DHT node that refused, in its own words, or sent
		// nonsense.
		return exitProtocol
	case isNetwork(err):
		return exitNetwork
	}
	return exitOther
}

// isNetwork says whether err is a network failure, by what it is: a dial,
// read or write on a socket, a name lookup, the peer closing, or a network
// wait running out of time. Not by the net.Error interface: syscall.Errno
// satisfies it, and a full disk is no reason for a script to retry.
func isNetwork(err error) bool {
	var (
		oe *net.OpError
		de *net.DNSError
		te *peer.TimeoutError
	)
	if errors.As(err, &oe) {
		switch oe.Op {
		case "dial", "read", "write":
			return true
		}
	}
	switch {
	case errors.As(err, &de), errors.As(err, &te), errors.Is(err, peer.ErrClosedByPeer),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	// Errnos only a socket returns, however they were wrapped.
	for _, e := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN, syscall.ETIMEDOUT} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
