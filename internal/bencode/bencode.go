// Package bencode reads and writes bencode (BEP 3) safely for input that comes
// from a peer.
//
// It is the only importer of github.com/jackpal/bencode-go and hides its
// quirks:
//
//   - jackpal allocates a string of whatever length a prefix claims and
//     recurses without a limit, so every buffer is first checked by Scan, which
//     bounds nesting depth, the number of values and string lengths against the
//     bytes actually present before jackpal sees it;
//   - jackpal's struct decoding matches keys case-insensitively, while BEP 10
//     keys are case sensitive, so values are decoded only into the generic
//     types below and looked up by exact key;
//   - jackpal reads ahead through a bufio buffer, so it cannot say where a
//     value ended; DecodePrefix does, for BEP 9 data messages, which put raw
//     piece bytes right after a dictionary.
//
// Decoded values are int64, string (byte strings, not necessarily UTF-8),
// []any and map[string]any. Encoding writes dictionary keys sorted, as BEP 3
// requires, and accepts Raw for an already encoded value such as an info
// dictionary that must be kept byte for byte.
package bencode

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	jackpal "github.com/jackpal/bencode-go"
)

// Limits bound what a decoder accepts. Zero fields take the defaults.
type Limits struct {
	// MaxDepth is the deepest nesting of lists and dictionaries.
	MaxDepth int
	// MaxValues is the number of values (integers, strings, lists,
	// dictionaries, dictionary keys included) in one decoded value.
	MaxValues int
}

// Default limits: a real extended handshake or ut_metadata message has a
// depth of 2 and a few dozen values; an info dictionary of a few MiB holds
// tens of thousands of file entries.
const (
	DefaultMaxDepth  = 64
	DefaultMaxValues = 1 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxValues <= 0 {
		l.MaxValues = DefaultMaxValues
	}
	return l
}

// SyntaxError reports invalid or over-limit bencode at a byte offset.
type SyntaxError struct {
	Offset int
	Reason string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("bencode: %s at offset %d", e.Reason, e.Offset)
}

// ErrTrailingData is returned by Decode when bytes follow the value.
var ErrTrailingData = errors.New("bencode: trailing data after value")

// Raw is an encoded bencode value, written out unchanged by Append.
type Raw []byte

// Scan checks that b starts with one well-formed bencode value within lim
// and returns its length in bytes. It allocates nothing sized by the input.
//
// Integers must be canonical (no leading zeros, no "-0") and fit in int64;
// dictionary keys must be strings and unique. Key order is not enforced:
// peers in the wild send unsorted dictionaries and order carries no meaning.
func Scan(b []byte, lim Limits) (int, error) {
	s := scanner{buf: b, lim: lim.withDefaults()}
	if err := s.value(0); err != nil {
		return 0, err
	}
	return s.pos, nil
}

// DecodePrefix decodes the value at the start of b and reports how many bytes
// it used; the rest of b is not looked at.
func DecodePrefix(b []byte, lim Limits) (v any, n int, err error) {
	n, err = Scan(b, lim)
	if err != nil {
		return nil, 0, err
	}
	// Scan has bounded depth and every length, so jackpal cannot be made to
	// allocate more than n bytes or recurse deeper than lim.MaxDepth.
	v, err = jackpal.Decode(bytes.NewReader(b[:n]))
	if err != nil {
		return nil, 0, &SyntaxError{Offset: 0, Reason: err.Error()}
	}
	return v, n, nil
}

// Decode decodes b, which must hold exactly one value.
func Decode(b []byte, lim Limits) (any, error) {
	v, n, err := DecodePrefix(b, lim)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, fmt.Errorf("%w (%d bytes)", ErrTrailingData, len(b)-n)
	}
	return v, nil
}

// DecodeDict decodes b, which must hold exactly one dictionary.
func DecodeDict(b []byte, lim Limits) (map[string]any, error) {
	v, err := Decode(b, lim)
	if err != nil {
		return nil, err
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, &SyntaxError{Offset: 0, Reason: "value is not a dictionary"}
	}
	return d, nil
}

type scanner struct {
	buf    []byte
	pos    int
	values int
	lim    Limits
}

func (s *scanner) fail(reason string) error {
	return &SyntaxError{Offset: s.pos, Reason: reason}
}

func (s *scanner) value(depth int) error {
	s.values++
	if s.values > s.lim.MaxValues {
		return s.fail(fmt.Sprintf("more than %d values", s.lim.MaxValues))
	}
	if s.pos >= len(s.buf) {
		return s.fail("unexpected end of data")
	}
	switch c := s.buf[s.pos]; {
	case c == 'i':
		s.pos++
		return s.integer()
	case c == 'l' || c == 'd':
		if depth >= s.lim.MaxDepth {
			return s.fail(fmt.Sprintf("nesting deeper than %d", s.lim.MaxDepth))
		}
		s.pos++
		if c == 'l' {
			return s.list(depth + 1)
		}
		return s.dict(depth + 1)
	case c >= '0' && c <= '9':
		_, err := s.str()
		return err
	default:
		return s.fail(fmt.Sprintf("unexpected byte %q", c))
	}
}

func (s *scanner) integer() error {
	end := bytes.IndexByte(s.buf[s.pos:], 'e')
	if end < 0 {
		return s.fail("unterminated integer")
	}
	digits := s.buf[s.pos : s.pos+end]
	if !canonicalInt(digits) {
		return s.fail(fmt.Sprintf("invalid integer %q", truncate(digits)))
	}
	if _, err := strconv.ParseInt(string(digits), 10, 64); err != nil {
		return s.fail(fmt.Sprintf("integer %q out of range", truncate(digits)))
	}
	s.pos += end + 1
	return nil
}

func canonicalInt(d []byte) bool {
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
		if len(d) == 1 && d[0] == '0' {
			return false // "-0"
		}
	}
	if len(d) == 0 || (d[0] == '0' && len(d) > 1) {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// str scans a byte string and returns its contents (a sub-slice of buf).
func (s *scanner) str() ([]byte, error) {
	start := s.pos
	n := 0
	i := s.pos
	for ; i < len(s.buf) && s.buf[i] >= '0' && s.buf[i] <= '9'; i++ {
		if i > start && s.buf[start] == '0' {
			return nil, s.fail("string length with a leading zero")
		}
		n = n*10 + int(s.buf[i]-'0')
		// Nothing longer than the buffer can be present: stop counting
		// before the number can overflow.
		if n > len(s.buf) {
			return nil, s.fail(fmt.Sprintf("string length %s exceeds the %d bytes available", lengthPrefix(s.buf[start:]), len(s.buf)-start))
		}
	}
	if i == start {
		return nil, s.fail("expected a string")
	}
	if i >= len(s.buf) || s.buf[i] != ':' {
		return nil, s.fail("string length not followed by ':'")
	}
	i++
	if n > len(s.buf)-i {
		return nil, s.fail(fmt.Sprintf("string length %d exceeds the %d bytes available", n, len(s.buf)-i))
	}
	s.pos = i + n
	return s.buf[i : i+n], nil
}

func (s *scanner) list(depth int) error {
	for {
		if s.pos >= len(s.buf) {
			return s.fail("unterminated list")
		}
		if s.buf[s.pos] == 'e' {
			s.pos++
			return nil
		}
		if err := s.value(depth); err != nil {
			return err
		}
	}
}

func (s *scanner) dict(depth int) error {
	// Keys normally arrive sorted, so comparing with the previous key finds
	// duplicates; once a dictionary is out of order, a set of the keys does.
	// The first keys are kept on the stack: scanning a small dictionary
	// (a ut_metadata header, once per piece) allocates nothing.
	var first [8][]byte
	keys := first[:0]
	var seen map[string]struct{}
	for {
		if s.pos >= len(s.buf) {
			return s.fail("unterminated dictionary")
		}
		if s.buf[s.pos] == 'e' {
			s.pos++
			return nil
		}
		if c := s.buf[s.pos]; c < '0' || c > '9' {
			return s.fail("dictionary key is not a string")
		}
		s.values++
		keyAt := s.pos
		key, err := s.str()
		if err != nil {
			return err
		}
		if seen == nil && len(keys) > 0 && bytes.Compare(keys[len(keys)-1], key) >= 0 {
			seen = make(map[string]struct{}, len(keys))
			for _, k := range keys {
				seen[string(k)] = struct{}{}
			}
		}
		if seen != nil {
			if _, dup := seen[string(key)]; dup {
				return &SyntaxError{Offset: keyAt, Reason: fmt.Sprintf("duplicate dictionary key %q", truncate(key))}
			}
			seen[string(key)] = struct{}{}
		} else {
			keys = append(keys, key)
		}
		if err := s.value(depth); err != nil {
			return err
		}
	}
}

func lengthPrefix(b []byte) string {
	i := 0
	for i < len(b) && i < 24 && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return string(b[:i])
}

func truncate(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
