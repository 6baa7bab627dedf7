package peertest

import (
	"bytes"
	"cmp"
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/peer"
)

// Seeder plays a peer that has an info dictionary and serves it over
// ut_metadata and/or LT_metadata, with knobs for bad behaviour.
type Seeder struct {
	Info   []byte
	PeerID string // default "-XX0000-000000000000"
	UT     uint8  // the seeder's ut_metadata id; 0 = not offered
	LT     uint8  // the seeder's LT_metadata id; 0 = not offered
	Reqq   int64  // 0 = not sent

	// MetadataSize replaces metadata_size in the extended handshake; with
	// OmitSize none is sent.
	MetadataSize *int64
	OmitSize     bool
	// TotalSize replaces total_size in data messages (and LT totals).
	TotalSize *int64

	RejectAll  bool         // reject (ut) or "don't have" (LT) every request
	Reject     map[int]bool // reject these pieces
	Stall      bool         // read requests, never answer
	Corrupt    bool         // flip the first byte of every piece
	Short      bool         // send pieces one byte short
	Long       bool         // send pieces one byte long (data and trailing bytes alike)
	Unrequest  bool         // answer with the data of a piece not (yet) requested
	OutOfRange bool         // answer with a piece index past the end
	Unknown    bool         // send a msg_type 7 message before every answer
	LTNegative bool         // LT data with a negative total
	LTOffset   bool         // LT data with an offset outside the total
	Trailing   bool         // rejects followed by junk bytes
	Oversized  bool         // data messages 2 KiB longer than a piece may be
	NoTotal    bool         // data messages without total_size
	CloseAfter int          // close the connection after this many answers (0 = never)
	Twice      bool         // send every answer twice
	Delay      time.Duration
	// PauseAfter and Pause: after answering PauseAfter requests, stop for
	// Pause once, as a peer under load does, then answer everything that
	// queued up meanwhile, in order, repeats included (Transmission).
	PauseAfter int
	Pause      time.Duration
	// FirstDelay holds the first answer back this long (a slow peer, or
	// one that queues: the size probe times out before it comes).
	FirstDelay time.Duration
	// DisableAfter: after answering this many requests, send a later
	// extended handshake that disables ut_metadata and LT_metadata (BEP 10:
	// id 0) and answer nothing; with Reenable set, enable them again that
	// long afterwards, ut_metadata under ReenableID (default UT).
	DisableAfter int
	Reenable     time.Duration
	ReenableID   uint8

	answered int // per connection use only: a Seeder plays one connection at a time in tests
}

// playState is what DisableAfter changes on one connection; mu also
// orders the writes of the re-enabling timer with the others.
type playState struct {
	mu       sync.Mutex
	disabled bool
	utID     uint8 // the seeder's ut_metadata id now
	served   int   // answers so far
	first    bool  // no answer yet
}

// Play runs the seeder on one connection.
func (s *Seeder) Play(c *Conn) {
	id := s.PeerID
	if id == "" {
		id = "-XX0000-000000000000"
	}
	if _, ok := c.Answer(id); !ok {
		return
	}
	m := map[string]any{}
	if s.UT != 0 {
		m[extensions.UTMetadata] = int64(s.UT)
	}
	if s.LT != 0 {
		m[extensions.LTMetadata] = int64(s.LT)
	}
	hs := map[string]any{"m": m, "v": "peertest seeder"}
	if s.Reqq != 0 {
		hs["reqq"] = s.Reqq
	}
	switch {
	case s.OmitSize:
	case s.MetadataSize != nil:
		hs["metadata_size"] = *s.MetadataSize
	default:
		hs["metadata_size"] = int64(len(s.Info))
	}
	st := &playState{utID: s.UT, first: true}
	c.WriteExtHandshake(hs)
	var ours map[string]uint8 // the other side's ids, from its handshake
	fr := peer.FrameReader{R: c, Max: 1 << 20}
	for {
		msg, err := fr.Next()
		if err != nil {
			return
		}
		if msg.KeepAlive || msg.ID != peer.Extended || len(msg.Payload) == 0 {
			continue
		}
		st.mu.Lock()
		if st.disabled && msg.Payload[0] != 0 {
			st.mu.Unlock()
			continue
		}
		switch msg.Payload[0] {
		case 0:
			h, err := extensions.Parse(msg.Payload[1:])
			if err != nil {
				return
			}
			ours = map[string]uint8{}
			for k, v := range h.M {
				ours[k] = uint8(v)
			}
		case st.utID:
			if st.utID != 0 {
				s.answerUT(c, st, ours[extensions.UTMetadata], msg.Payload[1:])
			}
		case s.LT:
			if s.LT != 0 {
				s.answerLT(c, st, ours[extensions.LTMetadata], msg.Payload[1:])
			}
		}
		s.maybeDisable(c, st)
		st.mu.Unlock()
	}
}

// maybeDisable plays DisableAfter; the caller holds st.mu.
func (s *Seeder) maybeDisable(c *Conn, st *playState) {
	if s.DisableAfter == 0 || st.served != s.DisableAfter || st.disabled {
		return
	}
	st.disabled = true
	c.WriteExtHandshake(map[string]any{"m": map[string]any{extensions.UTMetadata: int64(0), extensions.LTMetadata: int64(0)}})
	if s.Reenable == 0 {
		return
	}
	id := cmp.Or(s.ReenableID, s.UT)
	t := time.AfterFunc(s.Reenable, func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		st.disabled, st.utID = false, id
		m := map[string]any{}
		if s.UT != 0 {
			m[extensions.UTMetadata] = int64(id)
		}
		if s.LT != 0 {
			m[extensions.LTMetadata] = int64(s.LT)
		}
		c.WriteExtHandshake(map[string]any{"m": m})
	})
	context.AfterFunc(c.ctx, func() { t.Stop() })
}

func (s *Seeder) total() int64 {
	if s.TotalSize != nil {
		return *s.TotalSize
	}
	return int64(len(s.Info))
}

// wait delays an answer by Delay, the first by FirstDelay, and once by
// Pause; it counts the answers.
func (s *Seeder) wait(st *playState) {
	if st.first {
		st.first = false
		time.Sleep(s.FirstDelay)
	}
	time.Sleep(s.Delay)
	if st.served++; s.PauseAfter > 0 && st.served == s.PauseAfter+1 {
		time.Sleep(s.Pause)
	}
}

func (s *Seeder) answerUT(c *Conn, st *playState, to uint8, p []byte) {
	var req metadata.UTMessage
	if req.UnmarshalBinary(p) != nil || req.Type != metadata.UTRequest || s.Stall {
		return
	}
	s.wait(st)
	send := func(m metadata.UTMessage) {
		b, _ := m.AppendBinary(nil)
		c.WriteExtended(to, b)
	}
	if s.Unknown {
		b := []byte("d8:msg_typei7e5:piecei0e3:fooi1ee")
		c.WriteExtended(to, b)
	}
	i := int(req.Piece)
	n := metadata.PieceCount(len(s.Info))
	if s.CloseAfter > 0 {
		if s.answered++; s.answered > s.CloseAfter {
			c.Close()
			return
		}
	}
	if s.RejectAll || s.Reject[i] || i >= n {
		b, _ := metadata.UTMessage{Type: metadata.UTReject, Piece: req.Piece, TotalSize: -1}.AppendBinary(nil)
		if s.Trailing {
			b = append(b, "junk"...)
		}
		c.WriteExtended(to, b)
		return
	}
	if s.Unrequest {
		// The last piece for the first request, before anyone asked for it.
		i = n - 1
		if req.Piece == int64(n-1) {
			i = 0
		}
	}
	if s.OutOfRange {
		i = n + 5
	}
	var data []byte
	if i < n {
		data = bytes.Clone(s.Info[i*metadata.PieceSize : i*metadata.PieceSize+metadata.PieceLen(len(s.Info), i)])
	} else {
		data = make([]byte, 10)
	}
	if s.Corrupt {
		data[0] ^= 0xff
	}
	if s.Short {
		data = data[:len(data)-1]
	}
	if s.Long {
		data = append(data, 'x')
	}
	if s.Oversized {
		data = append(data, make([]byte, 2048)...)
	}
	if s.NoTotal {
		b := []byte("d8:msg_typei1e5:piecei" + strconv.Itoa(i) + "ee")
		c.WriteExtended(to, append(b, data...))
		return
	}
	send(metadata.UTMessage{Type: metadata.UTData, Piece: int64(i), TotalSize: s.total(), Data: data})
	if s.Twice {
		send(metadata.UTMessage{Type: metadata.UTData, Piece: int64(i), TotalSize: s.total(), Data: data})
	}
}

func (s *Seeder) answerLT(c *Conn, st *playState, to uint8, p []byte) {
	var req metadata.LTMessage
	if req.UnmarshalBinary(p) != nil || req.Type != metadata.LTRequest || s.Stall {
		return
	}
	s.wait(st)
	send := func(m metadata.LTMessage) {
		b, _ := m.AppendBinary(nil)
		c.WriteExtended(to, b)
	}
	if s.RejectAll {
		send(metadata.LTMessage{Type: metadata.LTDontHave})
		return
	}
	first, last := metadata.LTRange(req.Start, req.Size, len(s.Info))
	m := metadata.LTMessage{Type: metadata.LTData, Total: int32(s.total()), Offset: int32(first), Data: bytes.Clone(s.Info[first:last])}
	if s.Corrupt && len(m.Data) > 0 {
		m.Data[0] ^= 0xff
	}
	if s.LTNegative {
		m.Total = -5
	}
	if s.LTOffset {
		m.Offset = m.Total
	}
	// Encode by hand so that invalid values go out as they are.
	b := []byte{metadata.LTData}
	b = append(b, byte(m.Total>>24), byte(m.Total>>16), byte(m.Total>>8), byte(m.Total))
	b = append(b, byte(m.Offset>>24), byte(m.Offset>>16), byte(m.Offset>>8), byte(m.Offset))
	b = append(b, m.Data...)
	c.WriteExtended(to, b)
	if s.Twice {
		c.WriteExtended(to, b)
	}
}
