package main

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
)

// Peer outcomes: an interface for scripts (the "outcome" of each peer in
// fetch-metadata --json, and the words of the line that names every
// peer's outcome when a fetch fails), documented in README.md.
const (
	outcomeDelivered    = "delivered"
	outcomeNotNeeded    = "not needed"
	outcomeRefused      = "refused"
	outcomeUnknownHost  = "unknown host"
	outcomeUnreachable  = "unreachable"
	outcomeTimedOut     = "timed out"
	outcomeReset        = "reset"
	outcomeClosed       = "closed"
	outcomeNoExtension  = "lacks ut_metadata and LT_metadata"
	outcomeBadCopy      = "sent a bad copy"
	outcomeRejected     = "rejected"
	outcomeBadSize      = "bad metadata size"
	outcomeProtocol     = "broke the protocol"
	outcomeInterrupted  = "interrupted"
	outcomeOtherFailure = "failed"
)

// peerOutcome sums up what happened with a peer in a word or two.
func peerOutcome(p metadata.PeerStats) string {
	if err := p.Err(); err != nil {
		return errOutcome(err)
	}
	if p.Received > 0 {
		return outcomeDelivered
	}
	return outcomeNotNeeded
}

// errOutcome names the outcome of a peer left for err, by the error's
// type, never its text: a reworded message, or a peer's own words that
// happen to say "hash" or "closed", must not change a word scripts read.
//
// One error is rarely of two classes; where it could be, the order
// decides: the socket's errnos first, then a timeout (whatever phase it
// ended, the handshake's included), the peer closing, and the verdicts
// on what the peer said.
func errOutcome(err error) string {
	var (
		de *net.DNSError
		pe *peer.ProtocolError
		ve *metadata.Violation
		me *extensions.PayloadError
		se *bencode.SyntaxError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return outcomeRefused
	case errors.As(err, &de) && de.IsNotFound:
		return outcomeUnknownHost
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return outcomeUnreachable
	case isTimedOut(err):
		return outcomeTimedOut
	case errors.Is(err, syscall.ECONNRESET):
		// peer.Conn reports a reset on an open connection as
		// ErrClosedByPeer; a raw one is from the dial.
		return outcomeReset
	case errors.Is(err, peer.ErrClosedByPeer):
		return outcomeClosed
	case errors.Is(err, extensions.ErrNotSupported):
		return outcomeNoExtension
	case errors.Is(err, metainfo.ErrHashMismatch), errors.Is(err, metainfo.ErrInvalidMetadata):
		return outcomeBadCopy
	case errors.Is(err, metadata.ErrRejected):
		return outcomeRejected
	case errors.Is(err, metadata.ErrSize):
		return outcomeBadSize
	case errors.As(err, &pe), errors.As(err, &ve), errors.As(err, &me), errors.As(err, &se),
		errors.Is(err, peer.ErrMSE) && !errors.Is(err, peer.ErrMSERedial):
		// ErrMSERedial is our key's bad luck, not the peer's doing.
		return outcomeProtocol
	case errors.Is(err, context.Canceled):
		// A signal's cause (os/signal.NotifyContext) says "interrupt
		// signal received" and is a context.Canceled.
		return outcomeInterrupted
	}
	return outcomeOtherFailure
}

// isTimedOut says whether err is a wait that ran out of time: a phase of
// the peer connection (*peer.TimeoutError), a socket deadline, the
// fetch's deadline, the kernel giving up on the peer (ETIMEDOUT) or a
// name lookup that timed out. Not by the net.Error interface: that
// syscall.Errno has a Timeout method says nothing about a socket.
func isTimedOut(err error) bool {
	var (
		te *peer.TimeoutError
		de *net.DNSError
	)
	return errors.As(err, &te) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) ||
		errors.As(err, &de) && de.IsTimeout
}
