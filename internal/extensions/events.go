package extensions

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/peer"
)

// Event is one message from a peer, decoded for display (btext handshake
// --watch, btext dont-have) and logs.
type Event struct {
	Type string // the message name: have, bitfield, lt_donthave, ut_pex, ...
	// Piece is set for have, lt_donthave, and the fast extension's
	// suggest_piece, allowed_fast and reject_request (BEP 6).
	Piece *uint32
	// Pieces summarises what the peer has after this message.
	Pieces string
	// Applied is set for lt_donthave: whether it changed anything; Ignored
	// says why not; Cancelled counts our requests it cancelled.
	Applied   *bool
	Ignored   string
	Cancelled int
	// UploadOnly is set for upload_only.
	UploadOnly *bool
	// Added and Dropped are ut_pex peers.
	Added   []string
	Dropped []string
	// Changes lists what a re-sent extended handshake changed.
	Changes []string
	// Len is the payload length; Detail anything else worth saying.
	Len    int
	Detail string
	// Error is set when the message could not be decoded (it is ignored).
	Error string
}

func (e Event) String() string {
	s := e.Type
	if e.Piece != nil {
		s += fmt.Sprintf(" %d", *e.Piece)
	}
	if e.Applied != nil {
		if *e.Applied {
			s += " (applied"
			if e.Cancelled > 0 {
				s += fmt.Sprintf(", %d requests cancelled", e.Cancelled)
			}
			s += ")"
		} else {
			s += " (ignored: " + e.Ignored + ")"
		}
	}
	if e.UploadOnly != nil {
		s += fmt.Sprintf(" %v", *e.UploadOnly)
	}
	if len(e.Added) > 0 {
		s += fmt.Sprintf(" added %v", e.Added)
	}
	if len(e.Dropped) > 0 {
		s += fmt.Sprintf(" dropped %v", e.Dropped)
	}
	for _, c := range e.Changes {
		s += "; " + c
	}
	if e.Detail != "" {
		s += " " + e.Detail
	}
	if e.Pieces != "" {
		s += " [peer has " + e.Pieces + "]"
	}
	if e.Error != "" {
		s += " (malformed, ignored: " + e.Error + ")"
	}
	return s
}

// Handle takes one message the peer sent after the handshakes: extended
// handshakes update the registry, lt_donthave is applied to the peer's
// pieces; every message comes back decoded. Only a malformed extended
// handshake is an error; a malformed lt_donthave, ut_pex or upload_only is
// reported in the event and ignored.
func (s *Session) Handle(msg peer.Message) (Event, error) {
	if msg.KeepAlive {
		return Event{Type: "keep-alive"}, nil
	}
	e := Event{Type: msg.ID.String(), Len: len(msg.Payload)}
	pieces := s.Conn.Pieces()
	switch msg.ID {
	case peer.Have, peer.Suggest, peer.AllowedFast:
		i := binary.BigEndian.Uint32(msg.Payload)
		e.Piece, e.Pieces = &i, pieces.Summary()
		if msg.ID == peer.AllowedFast {
			e.Detail = fmt.Sprintf("(%d pieces allowed while choked)", pieces.NumAllowedFast())
		}
	case peer.Reject:
		i := binary.BigEndian.Uint32(msg.Payload)
		e.Piece = &i
		e.Detail = fmt.Sprintf("begin %d length %d", binary.BigEndian.Uint32(msg.Payload[4:]), binary.BigEndian.Uint32(msg.Payload[8:]))
	case peer.Bitfield, peer.HaveAll, peer.HaveNone:
		e.Pieces = pieces.Summary()
	case peer.Extended:
		return s.handleExtended(msg.Payload[0], msg.Payload[1:], e)
	default:
		e.Detail = msg.String()
		if e.Detail == e.Type+" (0 bytes)" {
			e.Detail = ""
		}
	}
	return e, nil
}

func (s *Session) handleExtended(id uint8, p []byte, e Event) (Event, error) {
	e.Len = len(p)
	switch id {
	case 0:
		if _, err := s.Receive(peer.ExtendedMessage(0, p)); err != nil {
			return e, err
		}
		e.Type = "extended_handshake"
		e.Changes = s.Ext.Changes
		if len(e.Changes) == 0 {
			e.Changes = []string{"nothing changed"}
		}
	case LocalDontHave:
		e.Type = LTDontHave
		var m DontHave
		if err := m.UnmarshalBinary(p); err != nil {
			e.Error = err.Error()
			s.Conn.Log().Warn().Err(err).Msg("lt_donthave ignored")
			return e, nil
		}
		cancelled, ignored := s.Conn.Pieces().DontHave(m.Piece)
		applied := ignored == ""
		e.Piece, e.Applied, e.Ignored, e.Cancelled = &m.Piece, &applied, ignored, cancelled
		e.Pieces = s.Conn.Pieces().Summary()
		if !applied {
			s.Conn.Log().Info().Uint32("piece", m.Piece).Str("reason", ignored).Msg("lt_donthave ignored")
		}
	case LocalUploadOnly:
		e.Type = UploadOnly
		if len(p) < 1 {
			e.Error = "empty payload"
			return e, nil
		}
		v := p[0] != 0
		e.UploadOnly = &v
	case LocalUTPex:
		e.Type = UTPex
		added, dropped, err := parsePex(p)
		if err != nil {
			e.Error = err.Error()
			return e, nil
		}
		e.Added, e.Dropped = added, dropped
	default:
		e.Type = "extended"
		if name := LocalName(id); name != "" {
			e.Type = name
		} else {
			e.Detail = fmt.Sprintf("unknown extension id %d", id)
		}
	}
	return e, nil
}

// pexLimits bound a ut_pex dictionary.
var pexLimits = bencode.Limits{MaxDepth: 4, MaxValues: 64}

// parsePex decodes a ut_pex payload: compact "added"/"dropped" (6 bytes an
// IPv4 peer) and "added6"/"dropped6" (18 bytes an IPv6 peer).
func parsePex(p []byte) (added, dropped []string, err error) {
	d, err := bencode.DecodeDict(p, pexLimits)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range []struct {
		key  string
		size int
		dst  *[]string
	}{{"added", 6, &added}, {"added6", 18, &added}, {"dropped", 6, &dropped}, {"dropped6", 18, &dropped}} {
		v, ok := d[k.key].(string)
		if !ok {
			continue
		}
		if len(v)%k.size != 0 {
			return nil, nil, fmt.Errorf("%s is %d bytes, not a multiple of %d", k.key, len(v), k.size)
		}
		for i := 0; i < len(v); i += k.size {
			ip, _ := netip.AddrFromSlice([]byte(v[i : i+k.size-2]))
			port := binary.BigEndian.Uint16([]byte(v[i+k.size-2 : i+k.size]))
			*k.dst = append(*k.dst, netip.AddrPortFrom(ip, port).String())
		}
	}
	return added, dropped, nil
}

// diff says what a new extended handshake changed from the previous one.
func diff(prev, cur *Handshake) []string {
	var out []string
	if prev == nil {
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(cur.M)) {
		old, had := prev.M[name]
		switch {
		case !had:
			out = append(out, fmt.Sprintf("m %s added as %d", name, cur.M[name]))
		case old != cur.M[name]:
			out = append(out, fmt.Sprintf("m %s %d -> %d", name, old, cur.M[name]))
		}
	}
	ints := []struct {
		name      string
		old, next *int64
	}{{"p", prev.P, cur.P}, {"reqq", prev.Reqq, cur.Reqq}, {"metadata_size", prev.MetadataSize, cur.MetadataSize}, {"upload_only", prev.UploadOnly, cur.UploadOnly}}
	for _, f := range ints {
		if f.next != nil && (f.old == nil || *f.old != *f.next) {
			out = append(out, fmt.Sprintf("%s %s -> %d", f.name, fmtInt(f.old), *f.next))
		}
	}
	if cur.V != nil && (prev.V == nil || *prev.V != *cur.V) {
		out = append(out, fmt.Sprintf("v -> %q", peer.Escape(*cur.V)))
	}
	return out
}

func fmtInt(p *int64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

// Watch reads what the peer sends for d and hands each message, handled
// and decoded, to f. It returns nil when d is over, an error wrapping
// peer.ErrClosedByPeer when the peer closes the connection, and any other
// error (a malformed extended handshake, the context) as it comes. A quiet
// peer does not end the watch: when the connection's read timeout passes
// with nothing received, a keep-alive is sent (BEP 3 peers drop a
// connection silent for two minutes) and the watch goes on.
func (s *Session) Watch(ctx context.Context, d time.Duration, f func(Event) error) error {
	end := time.Now().Add(d)
	wctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	// The socket's deadline can fire a moment before wctx says so: the
	// clock decides whether the watch is over.
	over := func() bool { return !time.Now().Before(end) }
	for {
		msg, err := s.Conn.ReadMessage(wctx)
		var te *peer.TimeoutError
		switch {
		case err == nil:
		case errors.As(err, &te) && ctx.Err() == nil:
			if over() {
				return nil // the time is over
			}
			if err := s.Conn.WriteMessage(wctx, peer.Message{KeepAlive: true}); err != nil {
				if over() {
					return nil
				}
				return err
			}
			continue
		default:
			return err
		}
		e, err := s.Handle(msg)
		if err != nil {
			return err
		}
		if err := f(e); err != nil {
			return err
		}
	}
}
