package bencode

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// Append appends the encoding of v to b. v may be a string, []byte, Raw, any
// Go integer type, bool (as 0 or 1), []any, []string, map[string]any or
// map[string]int; dictionary keys are written in sorted order.
func Append(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return appendString(b, v), nil
	case []byte:
		return appendString(b, string(v)), nil
	case Raw:
		if _, err := Scan(v, Limits{}); err != nil {
			return nil, fmt.Errorf("raw value: %w", err)
		}
		return append(b, v...), nil
	case int:
		return appendInt(b, int64(v)), nil
	case int64:
		return appendInt(b, v), nil
	case int32:
		return appendInt(b, int64(v)), nil
	case uint8:
		return appendInt(b, int64(v)), nil
	case uint16:
		return appendInt(b, int64(v)), nil
	case uint32:
		return appendInt(b, int64(v)), nil
	case bool:
		if v {
			return appendInt(b, 1), nil
		}
		return appendInt(b, 0), nil
	case []string:
		b = append(b, 'l')
		for _, s := range v {
			b = appendString(b, s)
		}
		return append(b, 'e'), nil
	case []any:
		b = append(b, 'l')
		for _, e := range v {
			var err error
			if b, err = Append(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, 'e'), nil
	case map[string]int:
		b = append(b, 'd')
		for _, k := range slices.Sorted(maps.Keys(v)) {
			b = appendString(b, k)
			b = appendInt(b, int64(v[k]))
		}
		return append(b, 'e'), nil
	case map[string]any:
		b = append(b, 'd')
		for _, k := range slices.Sorted(maps.Keys(v)) {
			b = appendString(b, k)
			var err error
			if b, err = Append(b, v[k]); err != nil {
				return nil, fmt.Errorf("key %q: %w", k, err)
			}
		}
		return append(b, 'e'), nil
	default:
		return nil, fmt.Errorf("bencode: cannot encode %T", v)
	}
}

// Encode returns the encoding of v (see Append).
func Encode(v any) ([]byte, error) { return Append(nil, v) }

func appendString(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

func appendInt(b []byte, i int64) []byte {
	b = append(b, 'i')
	b = strconv.AppendInt(b, i, 10)
	return append(b, 'e')
}

// DictSpan returns the encoded bytes of the value stored under key in the
// dictionary that b holds, without decoding it: the info dictionary of a
// .torrent file must be hashed exactly as it was written.
func DictSpan(b []byte, key string, lim Limits) (Raw, error) {
	s := scanner{buf: b, lim: lim.withDefaults()}
	if len(b) == 0 || b[0] != 'd' {
		return nil, &SyntaxError{Offset: 0, Reason: "value is not a dictionary"}
	}
	if _, err := Scan(b, lim); err != nil {
		return nil, err
	}
	s.pos = 1
	for s.pos < len(b) && b[s.pos] != 'e' {
		k, err := s.str()
		if err != nil {
			return nil, err
		}
		start := s.pos
		if err := s.value(1); err != nil {
			return nil, err
		}
		if string(k) == key {
			return Raw(b[start:s.pos]), nil
		}
	}
	return nil, fmt.Errorf("bencode: no key %q in dictionary", key)
}

// Entry is one key of a dictionary and its value, still encoded.
type Entry struct {
	Key   string
	Value Raw
}

// DictEntries lists the keys of the dictionary b holds, in order, with
// their encoded values, without decoding them: a large info dictionary is
// read a piece at a time instead of as a tree of maps.
func DictEntries(b []byte, lim Limits) ([]Entry, error) {
	s, err := openContainer(b, 'd', "dictionary", lim)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for b[s.pos] != 'e' {
		k, _ := s.str() // Scan checked it all
		start := s.pos
		_ = s.value(1)
		out = append(out, Entry{Key: string(k), Value: Raw(b[start:s.pos])})
	}
	return out, nil
}

// ListItems lists the encoded items of the list b holds.
func ListItems(b []byte, lim Limits) ([]Raw, error) {
	s, err := openContainer(b, 'l', "list", lim)
	if err != nil {
		return nil, err
	}
	var out []Raw
	for b[s.pos] != 'e' {
		start := s.pos
		_ = s.value(1)
		out = append(out, Raw(b[start:s.pos]))
	}
	return out, nil
}

// openContainer checks that b is exactly one valid list or dictionary and
// returns a scanner just inside it.
func openContainer(b []byte, open byte, what string, lim Limits) (*scanner, error) {
	if len(b) == 0 || b[0] != open {
		return nil, &SyntaxError{Offset: 0, Reason: "value is not a " + what}
	}
	n, err := Scan(b, lim)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, fmt.Errorf("%w (%d bytes)", ErrTrailingData, len(b)-n)
	}
	return &scanner{buf: b, pos: 1, lim: lim.withDefaults()}, nil
}

// Int decodes an encoded integer.
func (r Raw) Int() (int64, bool) {
	v, err := Decode(r, Limits{MaxDepth: 1, MaxValues: 1})
	i, ok := v.(int64)
	return i, err == nil && ok
}

// String decodes an encoded byte string.
func (r Raw) String() (string, bool) {
	b, ok := r.Bytes()
	return string(b), ok
}

// Bytes is the content of an encoded byte string, without a copy: a
// 2.6 MB "pieces" string need not be decoded to be measured.
func (r Raw) Bytes() ([]byte, bool) {
	i := bytes.IndexByte(r, ':')
	if i < 1 || i > 18 || (r[0] == '0' && i > 1) {
		return nil, false
	}
	n := 0
	for _, c := range r[:i] {
		if c < '0' || c > '9' {
			return nil, false
		}
		n = n*10 + int(c-'0')
	}
	if n != len(r)-i-1 {
		return nil, false
	}
	return r[i+1:], true
}
