package dht

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/metainfo"
)

// NodeID is a 160-bit DHT node id; info hashes live in the same space.
type NodeID [20]byte

func (id NodeID) String() string { return hex.EncodeToString(id[:]) }

// xor is the BEP 5 distance metric.
func (id NodeID) xor(o NodeID) NodeID {
	var d NodeID
	for i := range id {
		d[i] = id[i] ^ o[i]
	}
	return d
}

// commonBits is the length of the prefix id shares with o: 160 for equal
// ids, 0 when the first bit differs. The trace reports it as closeness.
func (id NodeID) commonBits(o NodeID) int {
	for i := range id {
		if x := id[i] ^ o[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return 160
}

// Node is a DHT node: its id as it claims it, and the address it answers on.
type Node struct {
	ID   NodeID
	Addr netip.AddrPort
}

// Compact entry sizes (BEP 5, BEP 32).
const (
	compactNode4 = 20 + 6
	compactNode6 = 20 + 18
	compactPeer4 = 6
	compactPeer6 = 18
)

// packetLimits bound what one datagram may decode to: a KRPC message nests
// three deep (message, "r" or "a", a list inside); a 64 KiB datagram of
// 6-byte values holds about 8,000 values.
var packetLimits = bencode.Limits{MaxDepth: 4, MaxValues: 16384}

// Error is a KRPC error reply (y = "e"): the node's code and message.
type Error struct {
	Code int64
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("dht node error %d: %q", e.Code, e.Msg) }

// ErrMalformed is returned for a datagram that is not a KRPC message or a
// reply that lacks what its query needs.
var ErrMalformed = errors.New("malformed krpc message")

// message is one decoded KRPC datagram. Only the fields this client reads
// or a test node needs are kept; unknown keys are ignored as BEP 5 asks.
type message struct {
	T string // transaction id, echoed by the replier
	Y byte   // 'q', 'r' or 'e'

	// Queries.
	Q        string
	Target   NodeID // info_hash of get_peers, target of find_node and sample_infohashes
	Want     []string
	ReadOnly bool

	// Replies ("r") and the sender's id in queries ("a").
	ID       NodeID
	HasID    bool
	Nodes    []Node
	Values   []netip.AddrPort
	Token    string
	Samples  []metainfo.Hash
	HasSamp  bool
	SampBad  bool // samples not a multiple of 20 bytes
	Interval int64
	Num      int64

	// Error replies.
	Err *Error

	// IP is the requester's address as the replier saw it (BEP 42 "ip").
	IP netip.AddrPort

	// Notes list parts that were skipped: compact lists of a bad length,
	// values of a bad size. The caller logs them.
	Notes []string
}

// parseMessage decodes a KRPC datagram. It never panics and allocates at
// most a small multiple of len(b).
func parseMessage(b []byte) (*message, error) {
	d, err := bencode.DecodeDict(b, packetLimits)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	m := &message{}
	t, ok := d["t"].(string)
	if !ok {
		return nil, fmt.Errorf("%w: no transaction id", ErrMalformed)
	}
	m.T = t
	y, _ := d["y"].(string)
	if len(y) != 1 {
		return nil, fmt.Errorf("%w: message type %q", ErrMalformed, truncate(y))
	}
	m.Y = y[0]
	if ip, ok := d["ip"].(string); ok {
		m.IP, _ = compactAddr(ip)
	}
	if ro, ok := d["ro"].(int64); ok && ro == 1 {
		m.ReadOnly = true
	}
	switch m.Y {
	case 'q':
		if err := m.parseQuery(d); err != nil {
			return nil, err
		}
		return m, nil
	case 'r':
		r, ok := d["r"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: reply without an \"r\" dictionary", ErrMalformed)
		}
		if err := m.parseReply(r); err != nil {
			return nil, err
		}
		return m, nil
	case 'e':
		l, ok := d["e"].([]any)
		if !ok || len(l) < 2 {
			return nil, fmt.Errorf("%w: error reply without an [code, message] list", ErrMalformed)
		}
		code, ok1 := l[0].(int64)
		msg, ok2 := l[1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: error reply list is not [code, message]", ErrMalformed)
		}
		m.Err = &Error{Code: code, Msg: truncate(msg)}
		return m, nil
	default:
		return nil, fmt.Errorf("%w: message type %q", ErrMalformed, y)
	}
}

func (m *message) parseQuery(d map[string]any) error {
	q, ok := d["q"].(string)
	if !ok {
		return fmt.Errorf("%w: query without a method", ErrMalformed)
	}
	m.Q = q
	a, ok := d["a"].(map[string]any)
	if !ok {
		return fmt.Errorf("%w: query without arguments", ErrMalformed)
	}
	m.ID, m.HasID = id20(a["id"])
	for _, k := range []string{"info_hash", "target"} {
		if t, ok := id20(a[k]); ok {
			m.Target = t
		}
	}
	if w, ok := a["want"].([]any); ok {
		for _, v := range w {
			if s, ok := v.(string); ok {
				m.Want = append(m.Want, s)
			}
		}
	}
	return nil
}

func (m *message) parseReply(r map[string]any) error {
	m.ID, m.HasID = id20(r["id"])
	if !m.HasID {
		return fmt.Errorf("%w: reply without a 20-byte id", ErrMalformed)
	}
	if s, ok := r["nodes"].(string); ok {
		m.Nodes = m.compactNodes(m.Nodes, "nodes", s, compactNode4)
	}
	if s, ok := r["nodes6"].(string); ok {
		m.Nodes = m.compactNodes(m.Nodes, "nodes6", s, compactNode6)
	}
	if l, ok := r["values"].([]any); ok {
		for _, v := range l {
			s, ok := v.(string)
			if !ok {
				m.note("values entry is not a string")
				continue
			}
			ap, ok := compactAddr(s)
			if !ok {
				m.note(fmt.Sprintf("values entry of %d bytes (want 6 or 18)", len(s)))
				continue
			}
			m.Values = append(m.Values, ap)
		}
	}
	m.Token, _ = r["token"].(string)
	if s, ok := r["samples"].(string); ok {
		m.HasSamp = true
		if len(s)%20 != 0 {
			m.SampBad = true
			m.note(fmt.Sprintf("samples of %d bytes (not a multiple of 20)", len(s)))
		} else {
			for i := 0; i < len(s); i += 20 {
				m.Samples = append(m.Samples, metainfo.Hash([]byte(s[i:i+20])))
			}
		}
	}
	m.Interval, _ = r["interval"].(int64)
	m.Num, _ = r["num"].(int64)
	return nil
}

// compactNodes appends the entries of a compact node list ("nodes" or
// "nodes6"). A list whose length is not a multiple of the entry size is
// dropped whole: there is no telling where its entries begin.
func (m *message) compactNodes(out []Node, key, s string, size int) []Node {
	if len(s)%size != 0 {
		m.note(fmt.Sprintf("%s of %d bytes (not a multiple of %d)", key, len(s), size))
		return out
	}
	for i := 0; i < len(s); i += size {
		var n Node
		copy(n.ID[:], s[i:i+20])
		raw := s[i+20 : i+size]
		if size == compactNode6 && netip.AddrFrom16([16]byte([]byte(raw[:16]))).Is4In6() {
			// An IPv4 node belongs in "nodes"; keeping the families apart
			// keeps a re-encoded reply equal to the one received.
			m.note("nodes6 entry with an IPv4-mapped address")
			continue
		}
		n.Addr, _ = compactAddr(raw)
		out = append(out, n)
	}
	return out
}

func (m *message) note(s string) {
	if len(m.Notes) < 8 { // one bad packet must not make a long log line
		m.Notes = append(m.Notes, s)
	}
}

// compactAddr decodes a 6-byte IPv4 or 18-byte IPv6 address and port.
func compactAddr(s string) (netip.AddrPort, bool) {
	var a netip.Addr
	switch len(s) {
	case compactPeer4:
		a = netip.AddrFrom4([4]byte([]byte(s[:4])))
	case compactPeer6:
		a = netip.AddrFrom16([16]byte([]byte(s[:16]))).Unmap()
	default:
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, binary.BigEndian.Uint16([]byte(s[len(s)-2:]))), true
}

// appendCompactAddr is compactAddr's inverse: 6 bytes for IPv4, 18 for IPv6.
func appendCompactAddr(b []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap()
	if a.Is4() {
		v := a.As4()
		b = append(b, v[:]...)
	} else {
		v := a.As16()
		b = append(b, v[:]...)
	}
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

func id20(v any) (NodeID, bool) {
	s, ok := v.(string)
	if !ok || len(s) != 20 {
		return NodeID{}, false
	}
	return NodeID([]byte(s)), true
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// appendQuery encodes a query. Every query carries "ro": 1 (BEP 43): this
// client answers no queries, so nodes must not put it in their tables.
func appendQuery(b []byte, tid, method string, args map[string]any) ([]byte, error) {
	return bencode.Append(b, map[string]any{
		"t":  tid,
		"y":  "q",
		"q":  method,
		"a":  args,
		"ro": 1,
	})
}
