package metainfo

import (
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Target names a torrent to fetch or talk about: a v1 and/or v2 info hash,
// and from a magnet link a name, trackers and peer addresses.
type Target struct {
	V1       *Hash
	V2       *[32]byte
	Name     string   // dn
	Trackers []string // tr
	Peers    []string // x.pe
}

// HandshakeHash is the 20-byte hash to put in a handshake: the v1 hash if
// known, else the v2 hash truncated (BEP 52).
func (t Target) HandshakeHash() Hash {
	if t.V1 != nil {
		return *t.V1
	}
	var h Hash
	copy(h[:], t.V2[:20])
	return h
}

// ParseTarget reads an info hash (40 hex or 32 base32 characters for v1; 64
// hex or a 1220-prefixed multihash for v2) or a magnet URI.
func ParseTarget(s string) (Target, error) {
	if strings.HasPrefix(strings.ToLower(s), "magnet:") {
		return parseMagnet(s)
	}
	var t Target
	if err := t.addHash(s); err != nil {
		return Target{}, err
	}
	return t, nil
}

func (t *Target) addHash(s string) error {
	switch {
	case len(s) == 40:
		b, err := hex.DecodeString(s)
		if err != nil {
			return fmt.Errorf("info hash %q: 40 characters but not hex", s)
		}
		t.V1 = (*Hash)(b)
	case len(s) == 32:
		b, err := base32.StdEncoding.DecodeString(strings.ToUpper(s))
		if err != nil {
			return fmt.Errorf("info hash %q: 32 characters but not base32", s)
		}
		t.V1 = (*Hash)(b)
	case len(s) == 64 || len(s) == 68 && strings.HasPrefix(s, "1220"):
		b, err := hex.DecodeString(s[len(s)-64:])
		if err != nil {
			return fmt.Errorf("v2 info hash %q: not hex", s)
		}
		t.V2 = (*[32]byte)(b)
	default:
		return fmt.Errorf("info hash %q: want 40 hex or 32 base32 characters (v1), 64 hex or 1220+64 hex (v2), or a magnet URI", s)
	}
	return nil
}

func parseMagnet(s string) (Target, error) {
	u, err := url.Parse(s)
	if err != nil || u.Opaque == "" && u.RawQuery == "" {
		return Target{}, fmt.Errorf("magnet URI %q: cannot parse", s)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Target{}, fmt.Errorf("magnet URI: %v", err)
	}
	var t Target
	for key, vals := range q {
		if key != "xt" && !strings.HasPrefix(key, "xt.") {
			continue
		}
		for _, xt := range vals {
			switch {
			case strings.HasPrefix(xt, "urn:btih:"):
				h := strings.TrimPrefix(xt, "urn:btih:")
				if len(h) != 40 && len(h) != 32 {
					return Target{}, fmt.Errorf("magnet URI: urn:btih %q: want 40 hex or 32 base32 characters", h)
				}
				if err := t.addHash(h); err != nil {
					return Target{}, fmt.Errorf("magnet URI: %v", err)
				}
			case strings.HasPrefix(xt, "urn:btmh:"):
				h := strings.TrimPrefix(xt, "urn:btmh:")
				if len(h) != 68 || !strings.HasPrefix(h, "1220") {
					return Target{}, fmt.Errorf("magnet URI: urn:btmh %q: want 1220 followed by 64 hex characters (SHA-256)", h)
				}
				if err := t.addHash(h); err != nil {
					return Target{}, fmt.Errorf("magnet URI: %v", err)
				}
			}
		}
	}
	if t.V1 == nil && t.V2 == nil {
		return Target{}, fmt.Errorf("magnet URI has no xt=urn:btih: or xt=urn:btmh: info hash")
	}
	t.Name = q.Get("dn")
	t.Trackers = q["tr"]
	for _, pe := range q["x.pe"] {
		if err := checkAddr(pe); err != nil {
			return Target{}, fmt.Errorf("magnet URI x.pe %q: %v", pe, err)
		}
		t.Peers = append(t.Peers, pe)
	}
	return t, nil
}

// checkAddr checks that a peer address is host:port with a port in
// 1..65535; host names are resolved later, by whoever dials.
func checkAddr(addr string) error {
	h, p, err := net.SplitHostPort(addr)
	if err != nil || h == "" {
		return fmt.Errorf("want host:port or [ipv6]:port")
	}
	if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("port must be 1-65535")
	}
	return nil
}
