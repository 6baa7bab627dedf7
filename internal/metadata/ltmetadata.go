package metadata

import (
	"encoding/binary"
	"fmt"

	"github.com/btext/btext/internal/extensions"
)

// LT_metadata message types (libtorrent's legacy metadata extension).
const (
	LTRequest  = 0
	LTData     = 1
	LTDontHave = 2
)

// LTMessage is an LT_metadata message. A request asks for Size 256ths of
// the metadata starting at Start 256ths; data carries Total, Offset and the
// bytes; "don't have" carries nothing.
type LTMessage struct {
	Type   uint8
	Start  int // request: in 256ths, 0..255
	Size   int // request: in 256ths, 1..256, Start+Size <= 256
	Total  int32
	Offset int32
	Data   []byte
}

// AppendBinary appends the payload (after the extension id).
func (m LTMessage) AppendBinary(b []byte) ([]byte, error) {
	switch m.Type {
	case LTRequest:
		if m.Start < 0 || m.Size < 1 || m.Start+m.Size > 256 {
			return nil, fmt.Errorf("LT_metadata request start %d size %d outside 256ths", m.Start, m.Size)
		}
		return append(b, LTRequest, byte(m.Start), byte(m.Size-1)), nil
	case LTData:
		b = append(b, LTData)
		b = binary.BigEndian.AppendUint32(b, uint32(m.Total))
		b = binary.BigEndian.AppendUint32(b, uint32(m.Offset))
		return append(b, m.Data...), nil
	case LTDontHave:
		return append(b, LTDontHave), nil
	}
	return nil, fmt.Errorf("LT_metadata message type %d", m.Type)
}

// UnmarshalBinary decodes and checks a payload: a request is exactly 3
// bytes with start+size <= 256 (old libtorrent only asserted it and could
// read past its buffer); data needs 0 < total, 0 <= offset and the bytes
// inside the total.
func (m *LTMessage) UnmarshalBinary(p []byte) error {
	fail := func(format string, args ...any) error {
		return &extensions.PayloadError{Ext: extensions.LTMetadata, Reason: fmt.Sprintf(format, args...)}
	}
	if len(p) == 0 {
		return fail("empty")
	}
	*m = LTMessage{Type: p[0]}
	switch p[0] {
	case LTRequest:
		if len(p) != 3 {
			return fail("request of %d bytes, want 3", len(p))
		}
		m.Start, m.Size = int(p[1]), int(p[2])+1
		if m.Start+m.Size > 256 {
			return fail("request start %d + size %d exceeds 256", m.Start, m.Size)
		}
	case LTData:
		if len(p) < 9 {
			return fail("data message of %d bytes, want at least 9", len(p))
		}
		m.Total = int32(binary.BigEndian.Uint32(p[1:]))
		m.Offset = int32(binary.BigEndian.Uint32(p[5:]))
		m.Data = p[9:]
		if m.Total <= 0 {
			return fail("total size %d", m.Total)
		}
		if m.Offset < 0 || int64(m.Offset)+int64(len(m.Data)) > int64(m.Total) {
			return fail("offset %d + %d bytes outside the total of %d", m.Offset, len(m.Data), m.Total)
		}
	case LTDontHave:
		if len(p) != 1 {
			return fail("don't-have of %d bytes, want 1", len(p))
		}
	}
	// An unknown type decodes with only Type set and is ignored, as BEP 9
	// says of ut_metadata.
	return nil
}

// LTRange is the byte range [first, last) of a request for size 256ths
// from start 256ths of total bytes: first = ceil(start*total/256),
// last = ceil((start+size)*total/256).
func LTRange(start, size, total int) (first, last int) {
	ceil := func(n int) int { return int((int64(n)*int64(total) + 255) / 256) }
	return ceil(start), ceil(start + size)
}

// LTCover returns the smallest request (in 256ths) whose range covers the
// bytes [off, end) of total.
func LTCover(off, end, total int) (start, size int) {
	// The largest s with ceil(s*total/256) <= off, and the smallest e with
	// ceil(e*total/256) >= end.
	start = int(int64(off) * 256 / int64(total))
	for start > 0 {
		if f, _ := LTRange(start, 1, total); f <= off {
			break
		}
		start--
	}
	e := int((int64(end)*256 + int64(total) - 1) / int64(total))
	e = min(max(e, start+1), 256)
	return start, e - start
}
