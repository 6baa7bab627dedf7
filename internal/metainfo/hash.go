package metainfo

import "encoding/hex"

// Hash is a 20-byte info hash: SHA-1 of a v1 info dictionary, or a v2
// hash truncated to 20 bytes as a v2 swarm is joined with (BEP 52).
// Trackers and DHT nodes take the same 20 bytes.
type Hash [20]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }
