package extensions

import (
	"encoding/binary"
	"fmt"
)

// DontHave is the lt_donthave payload (BEP 54): the sender no longer has
// Piece. On the wire: <len=6><20><the receiver's lt_donthave id><u32 piece>.
type DontHave struct{ Piece uint32 }

// AppendBinary appends the 4-byte payload.
func (m DontHave) AppendBinary(b []byte) ([]byte, error) {
	return binary.BigEndian.AppendUint32(b, m.Piece), nil
}

// UnmarshalBinary decodes exactly 4 bytes.
func (m *DontHave) UnmarshalBinary(p []byte) error {
	if len(p) != 4 {
		return &PayloadError{Ext: LTDontHave, Reason: fmt.Sprintf("%d bytes, want 4", len(p))}
	}
	m.Piece = binary.BigEndian.Uint32(p)
	return nil
}
