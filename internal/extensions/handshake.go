package extensions

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/btext/btext/internal/bencode"
)

// ErrNotSupported: the peer does not support the extension protocol or the
// extension a command needs.
var ErrNotSupported = errors.New("not supported by the peer")

// handshakeLimits bound the bencode of an extended handshake: real ones are
// two levels deep with a few dozen values.
var handshakeLimits = bencode.Limits{MaxDepth: 16, MaxValues: 10000}

// Handshake is an extended handshake (extension message id 0). Optional
// integer fields are nil when absent; byte strings are kept as sent.
type Handshake struct {
	// M holds the integer entries of "m" exactly as sent, 0 and
	// out-of-range values included; Registry.Apply decides what counts.
	M            map[string]int64
	P            *int64
	V            *string
	YourIP       []byte
	IPv4         []byte
	IPv6         []byte
	Reqq         *int64
	MetadataSize *int64
	UploadOnly   *int64
	// Other holds every other key, decoded.
	Other map[string]any
	// Notes lists what was odd about the handshake: fields of the wrong
	// type, skipped or duplicate ids.
	Notes []string
	// Changes lists what this handshake changed from the previous one on
	// the same connection (nil for the first).
	Changes []string

	rawM map[string]any
}

// Parse decodes an extended handshake payload (after the extension id).
// It fails if the payload is not a bencoded dictionary or "m" is present and
// not a dictionary; other odd fields are kept in Other with a note.
func Parse(payload []byte) (*Handshake, error) {
	d, err := bencode.DecodeDict(payload, handshakeLimits)
	if err != nil {
		return nil, &PayloadError{Ext: "extended handshake", Reason: fmt.Sprintf("not a bencoded dictionary: %v", err)}
	}
	h := &Handshake{M: map[string]int64{}, Other: map[string]any{}}
	if mv, ok := d["m"]; ok {
		m, ok := mv.(map[string]any)
		if !ok {
			return nil, &PayloadError{Ext: "extended handshake", Reason: fmt.Sprintf("m is a %s, not a dictionary", typeName(mv))}
		}
		h.rawM = m
		for k, v := range m {
			if i, ok := v.(int64); ok {
				h.M[k] = i
			}
		}
	}
	for k, v := range d {
		switch k {
		case "m":
		case "p":
			h.P = h.intField(k, v)
		case "reqq":
			h.Reqq = h.intField(k, v)
		case "metadata_size":
			h.MetadataSize = h.intField(k, v)
		case "upload_only":
			h.UploadOnly = h.intField(k, v)
		case "v":
			if s, ok := v.(string); ok {
				h.V = &s
			} else {
				h.wrongType(k, v, "a string")
			}
		case "yourip":
			h.YourIP = h.addrField(k, v, 4, 16)
		case "ipv4":
			h.IPv4 = h.addrField(k, v, 4)
		case "ipv6":
			h.IPv6 = h.addrField(k, v, 16)
		default:
			h.Other[k] = v
		}
	}
	return h, nil
}

func (h *Handshake) wrongType(k string, v any, want string) {
	h.Notes = append(h.Notes, fmt.Sprintf("%s is a %s, want %s: kept under other", k, typeName(v), want))
	h.Other[k] = v
}

func (h *Handshake) intField(k string, v any) *int64 {
	i, ok := v.(int64)
	if !ok {
		h.wrongType(k, v, "an integer")
		return nil
	}
	return &i
}

func (h *Handshake) addrField(k string, v any, lens ...int) []byte {
	s, ok := v.(string)
	if !ok {
		h.wrongType(k, v, "a byte string")
		return nil
	}
	for _, n := range lens {
		if len(s) == n {
			return []byte(s)
		}
	}
	h.Notes = append(h.Notes, fmt.Sprintf("%s is %d bytes, want %v: kept under other", k, len(s), lens))
	h.Other[k] = s
	return nil
}

// Addr renders a compact IPv4 or IPv6 address.
func Addr(b []byte) string {
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		return ""
	}
	return a.String()
}

// Local is what btext puts in its own extended handshake.
type Local struct {
	Client       string     // "v"
	Port         uint16     // "p", 0 to omit (an outgoing connection)
	Reqq         int        // 0 to omit
	MetadataSize int64      // 0 to omit
	YourIP       netip.Addr // the peer's address as we see it; invalid to omit
	M            map[string]int
	// head is the encoding without yourip and the closing "e" (Prepare).
	head []byte
}

// Prepare encodes l once for a server that sends it on every connection,
// where only YourIP changes: yourip is the last of its keys in bencode's
// sorted order, so Encode appends it to what was encoded here. Every
// field but YourIP must be set before, and left alone after.
func (l Local) Prepare() Local {
	b := Local{Client: l.Client, Port: l.Port, Reqq: l.Reqq, MetadataSize: l.MetadataSize, M: l.M}.Encode()
	l.head = b[:len(b)-1]
	return l
}

// Encode returns the bencoded handshake dictionary.
func (l Local) Encode() []byte {
	if l.head != nil {
		b := make([]byte, 0, len(l.head)+len("6:yourip16:")+16+1)
		b = append(b, l.head...)
		if l.YourIP.IsValid() {
			ip := l.YourIP.Unmap().AsSlice()
			b = append(b, "6:yourip"...)
			b = strconv.AppendInt(b, int64(len(ip)), 10)
			b = append(append(b, ':'), ip...)
		}
		return append(b, 'e')
	}
	m := l.M
	if m == nil {
		m = LocalM()
	}
	d := map[string]any{"m": m}
	if l.Client != "" {
		d["v"] = l.Client
	}
	if l.Port != 0 {
		d["p"] = int64(l.Port)
	}
	if l.Reqq > 0 {
		d["reqq"] = int64(l.Reqq)
	}
	if l.MetadataSize > 0 {
		d["metadata_size"] = l.MetadataSize
	}
	if l.YourIP.IsValid() {
		d["yourip"] = string(l.YourIP.Unmap().AsSlice())
	}
	b, err := bencode.Encode(d)
	if err != nil {
		panic(err) // only our own types are in d
	}
	return b
}
