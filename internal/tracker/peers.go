package tracker

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Compact peer entry sizes: a 4- or 16-byte address and a 2-byte port, all
// in network byte order (BEP 23, BEP 7, BEP 15).
const (
	compactV4 = 6
	compactV6 = 18
)

// peerSet collects peers without duplicates and counts what it drops.
type peerSet struct {
	peers []netip.AddrPort
	seen  map[netip.AddrPort]struct{}
	port0 int
	dups  int
}

func (s *peerSet) add(ap netip.AddrPort) {
	if ap.Port() == 0 {
		s.port0++
		return
	}
	// An IPv4 peer in an IPv6 list is the same peer as in the IPv4 list.
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if s.seen == nil {
		s.seen = make(map[netip.AddrPort]struct{})
	}
	if _, ok := s.seen[ap]; ok {
		s.dups++
		return
	}
	s.seen[ap] = struct{}{}
	s.peers = append(s.peers, ap)
}

// addCompact adds a compact list of entries of size 6 or 18. A length that
// is not a multiple of the entry size is an error, not a list with its tail
// cut off: such a reply is broken or hostile, and guessing where its
// entries start would hand out made-up addresses.
func (s *peerSet) addCompact(field string, b []byte, size int) error {
	if len(b)%size != 0 {
		return malformed("%s: %d bytes is not a multiple of %d", field, len(b), size)
	}
	for ; len(b) > 0; b = b[size:] {
		var addr netip.Addr
		if size == compactV4 {
			addr = netip.AddrFrom4([4]byte(b[:4]))
		} else {
			addr = netip.AddrFrom16([16]byte(b[:16]))
		}
		s.add(netip.AddrPortFrom(addr, binary.BigEndian.Uint16(b[size-2:])))
	}
	return nil
}

// notes says what add dropped.
func (s *peerSet) notes() []string {
	var n []string
	if s.port0 > 0 {
		n = append(n, fmt.Sprintf("dropped %d peers on port 0", s.port0))
	}
	if s.dups > 0 {
		n = append(n, fmt.Sprintf("dropped %d duplicate peers", s.dups))
	}
	return n
}
