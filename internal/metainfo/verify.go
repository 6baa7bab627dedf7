package metainfo

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"

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
	if t.V1 != nil {
		if sum := sha1.Sum(info); !bytes.Equal(sum[:], t.V1[:]) {
			return fmt.Errorf("%w: SHA-1 %x, want %x", ErrHashMismatch, sum, t.V1[:])
		}
	}
	if t.V2 != nil {
		if sum := sha256.Sum256(info); sum != *t.V2 {
			return fmt.Errorf("%w: SHA-256 %x, want %x", ErrHashMismatch, sum, t.V2[:])
		}
	}
	if t.V1 == nil && t.V2 == nil {
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
