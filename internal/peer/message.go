package peer

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// MessageID is a peer wire message id (not to be taken for a PeerID).
type MessageID uint8

// BEP 3, BEP 5, BEP 6, BEP 10 and BEP 52 message ids.
const (
	Choke         MessageID = 0
	Unchoke       MessageID = 1
	Interested    MessageID = 2
	NotInterested MessageID = 3
	Have          MessageID = 4
	Bitfield      MessageID = 5
	Request       MessageID = 6
	Piece         MessageID = 7
	Cancel        MessageID = 8
	Port          MessageID = 9
	Suggest       MessageID = 13
	HaveAll       MessageID = 14
	HaveNone      MessageID = 15
	Reject        MessageID = 16
	AllowedFast   MessageID = 17
	Extended      MessageID = 20
	HashRequest   MessageID = 21
	Hashes        MessageID = 22
	HashReject    MessageID = 23
)

var idNames = map[MessageID]string{
	Choke: "choke", Unchoke: "unchoke", Interested: "interested",
	NotInterested: "not_interested", Have: "have", Bitfield: "bitfield",
	Request: "request", Piece: "piece", Cancel: "cancel", Port: "port",
	Suggest: "suggest_piece", HaveAll: "have_all", HaveNone: "have_none",
	Reject: "reject_request", AllowedFast: "allowed_fast", Extended: "extended",
	HashRequest: "hash_request", Hashes: "hashes", HashReject: "hash_reject",
}

func (id MessageID) String() string {
	if s, ok := idNames[id]; ok {
		return s
	}
	return "unknown(" + strconv.Itoa(int(id)) + ")"
}

// isFast reports whether id belongs to the BEP 6 fast extension.
func (id MessageID) isFast() bool { return id >= Suggest && id <= AllowedFast }

// payloadLen gives the exact payload length of fixed-size messages, or -1.
func (id MessageID) payloadLen() int {
	switch id {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
		return 0
	case Have, Suggest, AllowedFast:
		return 4
	case Request, Cancel, Reject:
		return 12
	case Port:
		return 2
	}
	return -1
}

// Message is one framed message. A keep-alive has KeepAlive set and nothing
// else.
type Message struct {
	KeepAlive bool
	ID        MessageID
	Payload   []byte

	// frame is the pooled buffer Payload lies in (see NextPooled), nil
	// when Payload is the message's own.
	frame *[]byte
}

// PooledFrameLen is the largest frame (id and payload) that NextPooled and
// Conn.ReadPooled read into a pooled buffer: a 16 KiB block with up to 2 KiB
// of headers, which holds a ut_metadata piece (its dictionary and 16 KiB)
// and a BEP 3 piece message. A longer frame gets a buffer of its own, as
// with Next.
const PooledFrameLen = 18 << 10

// framePool holds buffers of PooledFrameLen bytes, shared by every
// connection. A buffer is in it only once the message read into it has
// been released, so a caller that never releases loses nothing but the
// reuse.
var framePool = sync.Pool{New: func() any {
	b := make([]byte, PooledFrameLen)
	return &b
}}

// Release gives the buffer of a message read with NextPooled or
// Conn.ReadPooled back for the next read (of any connection), and clears
// m.Payload. After it, neither m.Payload nor anything sliced from it may
// be used: the caller copies first what it keeps. Release each message
// once (copies of a Message share its buffer). It does nothing for a
// message that has no pooled buffer, so it is safe on any message.
func (m *Message) Release() {
	if m.frame != nil {
		framePool.Put(m.frame)
	}
	m.frame, m.Payload = nil, nil
}

// ExtendedMessage builds a BEP 10 message: id 20, the extension id, payload.
func ExtendedMessage(extID uint8, payload []byte) Message {
	p := make([]byte, 0, 1+len(payload))
	p = append(p, extID)
	return Message{ID: Extended, Payload: append(p, payload...)}
}

// AppendBinary appends the framed message.
func (m Message) AppendBinary(b []byte) ([]byte, error) {
	if m.KeepAlive {
		return append(b, 0, 0, 0, 0), nil
	}
	if uint64(len(m.Payload))+1 > 1<<32-1 {
		return nil, fmt.Errorf("message payload of %d bytes is too long", len(m.Payload))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Payload)+1))
	b = append(b, byte(m.ID))
	return append(b, m.Payload...), nil
}

// LengthError: a length prefix above the limit.
type LengthError struct{ Len, Max uint32 }

func (e *LengthError) Error() string {
	return fmt.Sprintf("message length %d exceeds the limit of %d bytes", e.Len, e.Max)
}

// ReadFrame reads one length-prefixed message. A length above max is a
// *LengthError, returned before anything is allocated; io errors pass
// through (io.ErrUnexpectedEOF for a message cut short).
func ReadFrame(r io.Reader, max uint32) (Message, error) {
	f := FrameReader{R: r, Max: max}
	return f.Next()
}

// FrameReader reads length-prefixed messages and can be resumed: when a
// read fails part way through a message (a deadline, typically), the bytes
// already read are kept and the next call goes on from there, so a timeout
// never desynchronises the stream.
type FrameReader struct {
	R   io.Reader
	Max uint32

	hdr   [4]byte
	hdrN  int
	body  []byte
	bodyN int
	frame *[]byte // the pooled buffer body lies in, if any
}

// Next reads the next message (see ReadFrame). Its payload is the
// caller's own.
func (f *FrameReader) Next() (Message, error) { return f.next(false) }

// NextPooled is Next reading a frame of up to PooledFrameLen bytes into a
// buffer from a pool shared by every FrameReader and Conn: the per-message
// allocation of a stream of 16 KiB pieces goes away. The payload is the
// caller's until it calls the message's Release; not calling it is safe
// (the buffer is then garbage collected). The pooled buffer is taken when
// the frame's length is known, so a frame begun by NextPooled and finished
// by Next (after a timeout) is still pooled, and one begun by Next is not.
func (f *FrameReader) NextPooled() (Message, error) { return f.next(true) }

func (f *FrameReader) next(pooled bool) (Message, error) {
	if f.body == nil {
		for f.hdrN < 4 {
			n, err := f.R.Read(f.hdr[f.hdrN:])
			f.hdrN += n
			if f.hdrN == 4 {
				break
			}
			if err != nil {
				if err == io.EOF && f.hdrN > 0 {
					err = io.ErrUnexpectedEOF
				}
				return Message{}, err
			}
		}
		n := binary.BigEndian.Uint32(f.hdr[:])
		if n > f.Max {
			return Message{}, &LengthError{Len: n, Max: f.Max}
		}
		f.hdrN = 0
		if n == 0 {
			return Message{KeepAlive: true}, nil
		}
		f.bodyN = 0
		if pooled && n <= PooledFrameLen {
			f.frame = framePool.Get().(*[]byte)
			f.body = (*f.frame)[:n]
		} else {
			f.body = make([]byte, n)
		}
	}
	for f.bodyN < len(f.body) {
		n, err := f.R.Read(f.body[f.bodyN:])
		f.bodyN += n
		if f.bodyN == len(f.body) {
			break
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Message{}, err
		}
	}
	body, frame := f.body, f.frame
	f.body, f.frame = nil, nil
	return Message{ID: MessageID(body[0]), Payload: body[1:], frame: frame}, nil
}

// Pending reports how many more bytes the message being read needs, and
// whether one is part read.
func (f *FrameReader) pending() (need int, partial bool) {
	if f.body != nil {
		return len(f.body) - f.bodyN, true
	}
	return 4 - f.hdrN, f.hdrN > 0
}

// Validate checks the payload length of a message whose id fixes it, and
// that an extended message carries an extension id.
func (m Message) Validate() error {
	if m.KeepAlive {
		return nil
	}
	if n := m.ID.payloadLen(); n >= 0 && len(m.Payload) != n {
		return fmt.Errorf("%s message with a %d-byte payload, want %d", m.ID, len(m.Payload), n)
	}
	switch m.ID {
	case Extended:
		if len(m.Payload) < 1 {
			return fmt.Errorf("extended message without an extension id")
		}
	case Piece:
		if len(m.Payload) < 8 {
			return fmt.Errorf("piece message with a %d-byte payload, want at least 8", len(m.Payload))
		}
	}
	return nil
}

func (m Message) String() string {
	if m.KeepAlive {
		return "keep-alive"
	}
	switch m.ID {
	case Have, Suggest, AllowedFast:
		if len(m.Payload) == 4 {
			return fmt.Sprintf("%s %d", m.ID, binary.BigEndian.Uint32(m.Payload))
		}
	case Request, Cancel, Reject:
		if len(m.Payload) == 12 {
			return fmt.Sprintf("%s %d+%d len %d", m.ID, binary.BigEndian.Uint32(m.Payload),
				binary.BigEndian.Uint32(m.Payload[4:]), binary.BigEndian.Uint32(m.Payload[8:]))
		}
	case Port:
		if len(m.Payload) == 2 {
			return fmt.Sprintf("port %d", binary.BigEndian.Uint16(m.Payload))
		}
	case Bitfield:
		return fmt.Sprintf("bitfield (%d bytes)", len(m.Payload))
	case Extended:
		if len(m.Payload) >= 1 {
			return fmt.Sprintf("extended id %d (%d bytes)", m.Payload[0], len(m.Payload)-1)
		}
	}
	return fmt.Sprintf("%s (%d bytes)", m.ID, len(m.Payload))
}

// EscapeBinary renders a binary string such as a peer id: printable ASCII
// is kept, every other byte is written as \xNN, a backslash as \\.
func EscapeBinary[T ~string | ~[]byte](s T) string {
	// Without fmt: serve logs a peer id on every handshake.
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 4*len(s))
	for i := range len(s) {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, '\\', '\\')
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// Escape renders a byte string for display: valid printable UTF-8 is kept,
// anything else is written as \xNN, a backslash as \\. Nothing is dropped.
func Escape[T ~string | ~[]byte](s T) string {
	b := []byte(s)
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&sb, `\x%02x`, b[0])
		case r == '\\':
			sb.WriteString(`\\`)
		case !strconv.IsPrint(r):
			if r < 0x100 {
				fmt.Fprintf(&sb, `\x%02x`, r)
			} else {
				fmt.Fprintf(&sb, `\u%04x`, r)
			}
		default:
			sb.WriteRune(r)
		}
		b = b[n:]
	}
	return sb.String()
}
