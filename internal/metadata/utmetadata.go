package metadata

import (
	"errors"
	"fmt"
	"strconv"

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

// AppendBinary appends the payload (after the extension id): the
// dictionary {msg_type, piece[, total_size]}, its keys in BEP 3's sorted
// order, written out by hand (a request goes out per piece asked for),
// then a data message's piece. It never fails.
func (m UTMessage) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, "d8:msg_typei"...)
	b = strconv.AppendInt(b, m.Type, 10)
	b = append(b, "e5:piecei"...)
	b = strconv.AppendInt(b, m.Piece, 10)
	b = append(b, 'e')
	if m.TotalSize >= 0 && m.Type != UTRequest {
		b = append(b, "10:total_sizei"...)
		b = strconv.AppendInt(b, m.TotalSize, 10)
		b = append(b, 'e')
	}
	b = append(b, 'e')
	if m.Type == UTData {
		b = append(b, m.Data...)
	}
	return b, nil
}

// UnmarshalBinary decodes a payload. Bytes after the dictionary are the
// piece of a data message; after any other message they are an error.
//
// It runs once per piece received, so it allocates nothing: bencode.Scan
// validates the dictionary (the same check, limits and errors as every
// decode), and utFields then reads its three integers in place, with
// unknown keys and nested values skipped.
func (m *UTMessage) UnmarshalBinary(p []byte) error {
	fail := func(format string, args ...any) error {
		return &extensions.PayloadError{Ext: extensions.UTMetadata, Reason: fmt.Sprintf(format, args...)}
	}
	if len(p) > MaxUTMessage {
		return fail("%d bytes, more than the %d a piece needs", len(p), MaxUTMessage)
	}
	n, err := bencode.Scan(p, utLimits)
	if err != nil {
		return fail("%v", err)
	}
	if p[0] != 'd' {
		return fail("not a dictionary")
	}
	typ, piece, total, err := utFields(p[:n])
	if err != nil {
		return fail("%v", err)
	}
	if !typ.isInt {
		return fail("no integer msg_type")
	}
	*m = UTMessage{Type: typ.v, TotalSize: -1}
	if typ.v != UTRequest && typ.v != UTData && typ.v != UTReject {
		return nil // unknown: to be ignored, so nothing else is checked
	}
	if !piece.isInt {
		return fail("msg_type %d without an integer piece", typ.v)
	}
	m.Piece = piece.v
	if m.Piece < 0 {
		return fail("negative piece %d", m.Piece)
	}
	if total.present {
		if !total.isInt {
			return fail("total_size is not an integer")
		}
		m.TotalSize = total.v
	}
	rest := p[n:]
	switch typ.v {
	case UTData:
		if m.TotalSize < 0 {
			return fail("data for piece %d without a valid total_size", m.Piece)
		}
		m.Data = rest
	default:
		if len(rest) > 0 {
			return fail("%d bytes after a msg_type %d dictionary", len(rest), typ.v)
		}
	}
	return nil
}

// utField is one key of a ut_metadata dictionary: whether it is there,
// and its value if that is an integer.
type utField struct {
	present, isInt bool
	v              int64
}

// utFields reads msg_type, piece and total_size from d, one dictionary
// that bencode.Scan has accepted (so its keys are unique and its integers
// canonical and within int64). Any other key is skipped, whatever its
// value, and a value of another type is reported as not an integer: what
// a decode into a map and a type assertion saw.
func utFields(d []byte) (typ, piece, total utField, err error) {
	i := 1 // after the 'd'
	for i < len(d) && d[i] != 'e' {
		key, next, ok := scannedString(d, i)
		if !ok {
			return typ, piece, total, fmt.Errorf("dictionary key at offset %d is not a string", i)
		}
		vn, err := bencode.Scan(d[next:], utLimits)
		if err != nil {
			return typ, piece, total, err
		}
		var f *utField
		switch string(key) {
		case "msg_type":
			f = &typ
		case "piece":
			f = &piece
		case "total_size":
			f = &total
		}
		if f != nil {
			f.present = true
			f.v, f.isInt = scannedInt(d[next : next+vn])
		}
		i = next + vn
	}
	if i >= len(d) {
		return typ, piece, total, errors.New("unterminated dictionary")
	}
	return typ, piece, total, nil
}

// scannedString reads the byte string at d[i:], which Scan has accepted:
// its contents and the offset after it.
func scannedString(d []byte, i int) (s []byte, next int, ok bool) {
	n := 0
	j := i
	for ; j < len(d) && d[j] >= '0' && d[j] <= '9' && n <= len(d); j++ {
		n = n*10 + int(d[j]-'0')
	}
	if j == i || j >= len(d) || d[j] != ':' || n > len(d)-j-1 {
		return nil, 0, false
	}
	return d[j+1 : j+1+n], j + 1 + n, true
}

// scannedInt reads v, one value Scan has accepted, if it is an integer
// ("i...e", canonical and within int64). It counts down from zero, so that
// the most negative int64 needs no special case.
func scannedInt(v []byte) (int64, bool) {
	if len(v) < 3 || v[0] != 'i' || v[len(v)-1] != 'e' {
		return 0, false
	}
	digits, neg := v[1:len(v)-1], v[1] == '-'
	if neg {
		digits = digits[1:]
	}
	var n int64
	for _, c := range digits {
		n = n*10 - int64(c-'0')
	}
	if !neg {
		n = -n
	}
	return n, true
}

// PieceCount is the number of 16 KiB pieces of a size-byte info dict.
func PieceCount(size int) int { return (size + PieceSize - 1) / PieceSize }

// PieceLen is the length of piece i of a size-byte info dict.
func PieceLen(size, i int) int {
	return min(PieceSize, size-i*PieceSize)
}
