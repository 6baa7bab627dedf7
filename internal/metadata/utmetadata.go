package metadata

import (
	"fmt"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/extensions"
)

// PieceSize is the BEP 9 metadata piece size.
const PieceSize = 16384

// MaxUTMessage bounds a ut_metadata message: a 16 KiB piece and its
// dictionary (libtorrent's limit is 17 KiB).
const MaxUTMessage = PieceSize + 1024

// ut_metadata message types.
const (
	UTRequest = 0
	UTData    = 1
	UTReject  = 2
)

// utLimits bound the dictionary of a ut_metadata message.
var utLimits = bencode.Limits{MaxDepth: 4, MaxValues: 64}

// UTMessage is a ut_metadata message (BEP 9). TotalSize is -1 when absent.
// Data is set for a data message only. A message of an unknown type decodes
// with its Type and must be ignored (BEP 9).
type UTMessage struct {
	Type      int64
	Piece     int64
	TotalSize int64
	Data      []byte
}

// AppendBinary appends the payload (after the extension id).
func (m UTMessage) AppendBinary(b []byte) ([]byte, error) {
	d := map[string]any{"msg_type": m.Type, "piece": m.Piece}
	if m.TotalSize >= 0 && m.Type != UTRequest {
		d["total_size"] = m.TotalSize
	}
	b, err := bencode.Append(b, d)
	if err != nil {
		return nil, err
	}
	if m.Type == UTData {
		b = append(b, m.Data...)
	}
	return b, nil
}

// UnmarshalBinary decodes a payload. Bytes after the dictionary are the
// piece of a data message; after any other message they are an error.
func (m *UTMessage) UnmarshalBinary(p []byte) error {
	fail := func(format string, args ...any) error {
		return &extensions.PayloadError{Ext: extensions.UTMetadata, Reason: fmt.Sprintf(format, args...)}
	}
	if len(p) > MaxUTMessage {
		return fail("%d bytes, more than the %d a piece needs", len(p), MaxUTMessage)
	}
	v, n, err := bencode.DecodePrefix(p, utLimits)
	if err != nil {
		return fail("%v", err)
	}
	d, ok := v.(map[string]any)
	if !ok {
		return fail("not a dictionary")
	}
	typ, ok := d["msg_type"].(int64)
	if !ok {
		return fail("no integer msg_type")
	}
	*m = UTMessage{Type: typ, TotalSize: -1}
	if typ != UTRequest && typ != UTData && typ != UTReject {
		return nil // unknown: to be ignored, so nothing else is checked
	}
	if m.Piece, ok = d["piece"].(int64); !ok {
		return fail("msg_type %d without an integer piece", typ)
	}
	if m.Piece < 0 {
		return fail("negative piece %d", m.Piece)
	}
	if ts, present := d["total_size"]; present {
		if m.TotalSize, ok = ts.(int64); !ok {
			return fail("total_size is not an integer")
		}
	}
	rest := p[n:]
	switch typ {
	case UTData:
		if m.TotalSize < 0 {
			return fail("data for piece %d without a valid total_size", m.Piece)
		}
		m.Data = rest
	default:
		if len(rest) > 0 {
			return fail("%d bytes after a msg_type %d dictionary", len(rest), typ)
		}
	}
	return nil
}

// PieceCount is the number of 16 KiB pieces of a size-byte info dict.
func PieceCount(size int) int { return (size + PieceSize - 1) / PieceSize }

// PieceLen is the length of piece i of a size-byte info dict.
func PieceLen(size, i int) int {
	return min(PieceSize, size-i*PieceSize)
}
