package peer

import (
	"encoding/hex"
	"fmt"
)

// Protocol is the BEP 3 protocol string.
const Protocol = "BitTorrent protocol"

// HandshakeLen is the length of a BEP 3 handshake.
const HandshakeLen = 1 + len(Protocol) + 8 + 20 + 20

// Hash is a 20-byte info hash (SHA-1 for v1, truncated SHA-256 for v2).
type Hash [20]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// PeerID is a peer's 20-byte id.
type PeerID [20]byte

func (p PeerID) String() string { return hex.EncodeToString(p[:]) }

// Reserved holds the 8 reserved handshake bytes.
type Reserved [8]byte

// Reserved bits btext knows by name.
const (
	extensionByte, extensionBit = 5, 0x10 // BEP 10
	dhtByte, dhtBit             = 7, 0x01 // BEP 5
	fastByte, fastBit           = 7, 0x04 // BEP 6
	v2Byte, v2Bit               = 7, 0x10 // BEP 52 upgrade
)

func (r Reserved) Extended() bool  { return r[extensionByte]&extensionBit != 0 }
func (r Reserved) DHT() bool       { return r[dhtByte]&dhtBit != 0 }
func (r Reserved) Fast() bool      { return r[fastByte]&fastBit != 0 }
func (r Reserved) V2Upgrade() bool { return r[v2Byte]&v2Bit != 0 }

// WithExtended returns r with the extension protocol bit set.
func (r Reserved) WithExtended() Reserved {
	r[extensionByte] |= extensionBit
	return r
}

// WithFast returns r with the fast extension bit set.
func (r Reserved) WithFast() Reserved {
	r[fastByte] |= fastBit
	return r
}

// LocalReserved is what btext sets in every handshake it sends, connecting
// or answering: the extension protocol and the fast extension, as
// libtorrent, Transmission and aria2 do. Fast is in use only when the peer
// sets it too (see Conn.Fast).
func LocalReserved() Reserved { return Reserved{}.WithExtended().WithFast() }

func (r Reserved) String() string { return hex.EncodeToString(r[:]) }

// Handshake is the BEP 3 handshake.
type Handshake struct {
	Reserved Reserved
	InfoHash Hash
	PeerID   PeerID
}

// AppendBinary appends the 68-byte handshake.
func (h Handshake) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(len(Protocol)))
	b = append(b, Protocol...)
	b = append(b, h.Reserved[:]...)
	b = append(b, h.InfoHash[:]...)
	return append(b, h.PeerID[:]...), nil
}

// UnmarshalBinary parses exactly HandshakeLen bytes.
func (h *Handshake) UnmarshalBinary(p []byte) error {
	if len(p) != HandshakeLen {
		return &ProtocolError{State: StateHandshaking, Reason: fmt.Sprintf("handshake is %d bytes, want %d", len(p), HandshakeLen)}
	}
	if err := checkProtocol(p[:1+len(Protocol)]); err != nil {
		return err
	}
	p = p[1+len(Protocol):]
	copy(h.Reserved[:], p[:8])
	copy(h.InfoHash[:], p[8:28])
	copy(h.PeerID[:], p[28:48])
	return nil
}

// checkProtocol checks the first 20 bytes of a handshake: pstrlen and pstr.
func checkProtocol(p []byte) error {
	if p[0] != byte(len(Protocol)) {
		return &ProtocolError{State: StateHandshaking, Reason: fmt.Sprintf("protocol string length %d, want %d (not a BitTorrent peer, or an encrypted connection)", p[0], len(Protocol))}
	}
	if string(p[1:]) != Protocol {
		return &ProtocolError{State: StateHandshaking, Reason: fmt.Sprintf("protocol string %q, want %q", Escape(p[1:]), Protocol)}
	}
	return nil
}
