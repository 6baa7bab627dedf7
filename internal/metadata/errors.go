package metadata

import "errors"

// Sentinels for the metadata exchange; the command line maps both to exit
// code 5.
var (
	// ErrRejected: the peer refused to give the metadata.
	ErrRejected = errors.New("metadata rejected by the peer")
	// ErrHashMismatch: the assembled metadata does not hash to the info hash.
	ErrHashMismatch = errors.New("metadata does not match the info hash")
)

// ErrInvalidMetadata: metadata that hashes right but is not an info
// dictionary.
var ErrInvalidMetadata = errors.New("invalid metadata")
