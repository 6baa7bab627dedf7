package metainfo

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"

	"github.com/btext/btext/internal/bencode"
)

var (
	// ErrHashMismatch: the metadata does not hash to the info hash.
	ErrHashMismatch = errors.New("metadata does not match the info hash")
	// ErrInvalidMetadata: metadata that hashes right but is not an info
	// dictionary.
	ErrInvalidMetadata = errors.New("invalid metadata")
)

// VerifyInfo checks info against every hash in t and that it is a bencoded
// dictionary.
func VerifyInfo(info []byte, t Target) error {
	h := NewHasher(t)
	h.Write(info)
	return h.Verify(info)
}

// Hasher computes the hashes a target names (SHA-1 for v1, SHA-256 for
// v2) over an info dictionary written to it in order, so that a fetch can
// hash each piece as it comes instead of the whole at the end.
type Hasher struct {
	t      Target
	v1, v2 hash.Hash
}

// NewHasher starts the hashes t names.
func NewHasher(t Target) *Hasher {
	h := &Hasher{t: t}
	if t.V1 != nil {
		h.v1 = sha1.New()
	}
	if t.V2 != nil {
		h.v2 = sha256.New()
	}
	return h
}

// Write adds the next bytes of the info dictionary.
func (h *Hasher) Write(p []byte) {
	if h.v1 != nil {
		h.v1.Write(p)
	}
	if h.v2 != nil {
		h.v2.Write(p)
	}
}

// Reset forgets everything written.
func (h *Hasher) Reset() {
	if h.v1 != nil {
		h.v1.Reset()
	}
	if h.v2 != nil {
		h.v2.Reset()
	}
}

// Verify checks that what was written, which must be all of info, hashes
// to every hash in the target (either one matching is not enough for a
// hybrid), and that info is a bencoded dictionary.
func (h *Hasher) Verify(info []byte) error {
	if h.v1 != nil {
		var sum [sha1.Size]byte
		if h.v1.Sum(sum[:0]); !bytes.Equal(sum[:], h.t.V1[:]) {
			return fmt.Errorf("%w: SHA-1 %x, want %x", ErrHashMismatch, sum, h.t.V1[:])
		}
	}
	if h.v2 != nil {
		var sum [sha256.Size]byte
		if h.v2.Sum(sum[:0]); sum != *h.t.V2 {
			return fmt.Errorf("%w: SHA-256 %x, want %x", ErrHashMismatch, sum, h.t.V2[:])
		}
	}
	if h.v1 == nil && h.v2 == nil {
		return fmt.Errorf("verify: no info hash to verify against")
	}
	if len(info) == 0 || info[0] != 'd' {
		return fmt.Errorf("%w: the metadata hashes right but is not a bencoded dictionary", ErrInvalidMetadata)
	}
	// Scan checks it without building anything: a hash-valid dictionary
	// can still hold millions of values.
	if n, err := bencode.Scan(info, infoLimits); err != nil || n != len(info) {
		return fmt.Errorf("%w: the metadata hashes right but is not a valid bencoded dictionary: %v", ErrInvalidMetadata, err)
	}
	return nil
}
