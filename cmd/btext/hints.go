package main

import (
	"errors"

	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/peer"
)

// hintError is an error with what the user can do about it. The packages
// below cmd say what happened; only cmd knows the flags, so only cmd names
// them (as age's errorWithHint does).
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + "; " + e.hint }
func (e *hintError) Unwrap() error { return e.err }

// withHint adds the flag that would change the outcome, where one would.
func (a *app) withHint(err error) error {
	switch {
	case err == nil:
	case errors.Is(err, peer.ErrClosedBeforeAnswer) && a.encryption == peer.EncryptionOff:
		return &hintError{err, "a peer that requires encryption does this to a plain handshake: --encryption prefer"}
	case errors.Is(err, metadata.ErrOverLimit):
		return &hintError{err, "--max-metadata-size raises the limit"}
	}
	return err
}
