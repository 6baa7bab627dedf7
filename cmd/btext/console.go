package main

import (
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/rs/zerolog"
)

// consoleWriter writes zerolog's JSON events as zerolog.ConsoleWriter does
// with NoColor and the default parts (time, level, message, then the
// fields sorted, error first), byte for byte, without decoding each event
// through encoding/json into a map: for btext serve that decoding was a
// sixth of its CPU time. An event with anything but strings, numbers,
// booleans, null and objects of numbers as values (an array, say), or
// anything else it does not read exactly as encoding/json would, goes to
// ConsoleWriter.
type consoleWriter struct {
	out        io.Writer
	timeFormat string
	fallback   zerolog.ConsoleWriter
}

func newConsoleWriter(out io.Writer, timeFormat string) consoleWriter {
	return consoleWriter{out: out, timeFormat: timeFormat,
		fallback: zerolog.ConsoleWriter{Out: out, TimeFormat: timeFormat, NoColor: true}}
}

var consoleBufs = sync.Pool{New: func() any { return new([]byte) }}

func (w consoleWriter) Write(p []byte) (int, error) {
	bp := consoleBufs.Get().(*[]byte)
	defer consoleBufs.Put(bp)
	b, ok := w.format((*bp)[:0], p)
	if !ok {
		return w.fallback.Write(p)
	}
	*bp = b[:0]
	if _, err := w.out.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

// jsonField is one key and value of an event: a string's value unquoted,
// a number's or a literal's (true, false, null) as written.
type jsonField struct {
	key, val string
	str      bool
}

// format appends the console line for the JSON event p to b, or reports
// false for an event it leaves to ConsoleWriter.
func (w consoleWriter) format(b, p []byte) ([]byte, bool) {
	// On the stack for an event of up to 16 fields.
	var fieldsArr, restArr [16]jsonField
	fields, ok := parseFlatObject(p, fieldsArr[:0])
	if !ok {
		return b, false
	}
	var tm, level, msg *jsonField
	rest := restArr[:0]
	for i := range fields {
		f := &fields[i]
		switch f.key {
		case zerolog.TimestampFieldName:
			tm = f
		case zerolog.LevelFieldName:
			level = f
		case zerolog.MessageFieldName:
			msg = f
		case zerolog.CallerFieldName:
			return b, false
		default:
			rest = append(rest, *f)
		}
	}
	if tm == nil || !tm.str || level == nil || !level.str || msg != nil && !msg.str {
		return b, false
	}
	lvl, err := zerolog.ParseLevel(level.val)
	fl, known := zerolog.FormattedLevels[lvl]
	if err != nil || !known || level.val == "" {
		return b, false
	}
	if ts, err := time.ParseInLocation(zerolog.TimeFieldFormat, tm.val, time.Local); err != nil {
		b = append(b, tm.val...)
	} else {
		b = ts.In(time.Local).AppendFormat(b, w.timeFormat)
	}
	b = append(append(b, ' '), fl...)
	if msg != nil && msg.val != "" {
		b = append(append(b, ' '), msg.val...)
	}
	// Sorted by key, the error first, as ConsoleWriter orders them.
	slices.SortFunc(rest, func(x, y jsonField) int {
		switch {
		case x.key == y.key:
			return 0
		case x.key == zerolog.ErrorFieldName:
			return -1
		case y.key == zerolog.ErrorFieldName:
			return 1
		}
		return strings.Compare(x.key, y.key)
	})
	for _, f := range rest {
		b = append(append(append(b, ' '), f.key...), '=')
		if f.str && needsQuote(f.val) {
			b = strconv.AppendQuote(b, f.val)
		} else {
			b = append(b, f.val...)
		}
	}
	return append(b, '\n'), true
}

// needsQuote is ConsoleWriter's rule for quoting a string value.
func needsQuote(s string) bool {
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == ' ' || s[i] == '\\' || s[i] == '"' {
			return true
		}
	}
	return false
}

// parseFlatObject appends to fields (empty, for its room) the fields of a
// JSON object whose values are strings, numbers, true, false, null or
// objects of numbers (an extended handshake's "m"); a key given twice
// keeps its last value, as decoding into a map does. Anything else, or
// trailing bytes other than white space, is not ok.
func parseFlatObject(p []byte, fields []jsonField) ([]jsonField, bool) {
	i := skipSpace(p, 0)
	if i >= len(p) || p[i] != '{' {
		return nil, false
	}
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == '}' {
		return fields, skipSpace(p, i+1) == len(p)
	}
	for {
		key, j, ok := parseString(p, i)
		if !ok {
			return nil, false
		}
		i = skipSpace(p, j)
		if i >= len(p) || p[i] != ':' {
			return nil, false
		}
		i = skipSpace(p, i+1)
		if i >= len(p) {
			return nil, false
		}
		f := jsonField{key: key}
		switch c := p[i]; {
		case c == '"':
			f.val, i, ok = parseString(p, i)
			f.str = true
		case c == '-' || c >= '0' && c <= '9':
			f.val, i, ok = parseNumber(p, i)
		case c == '{':
			f.val, i, ok = parseNumberObject(p, i)
		default:
			f.val, i, ok = parseLiteral(p, i)
		}
		if !ok {
			return nil, false
		}
		if k := slices.IndexFunc(fields, func(g jsonField) bool { return g.key == key }); k >= 0 {
			fields[k] = f
		} else {
			fields = append(fields, f)
		}
		i = skipSpace(p, i)
		if i >= len(p) {
			return nil, false
		}
		if p[i] == '}' {
			return fields, skipSpace(p, i+1) == len(p)
		}
		if p[i] != ',' {
			return nil, false
		}
		i = skipSpace(p, i+1)
	}
}

func skipSpace(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}

// parseString reads the JSON string at p[i], which starts with '"'. Only
// what it can unescape exactly as encoding/json does is ok: no surrogate
// \u escapes, no invalid UTF-8.
func parseString(p []byte, i int) (string, int, bool) {
	if i >= len(p) || p[i] != '"' {
		return "", 0, false
	}
	i++
	start := i
	for i < len(p) && p[i] != '"' && p[i] != '\\' && p[i] >= 0x20 && p[i] < utf8.RuneSelf {
		i++
	}
	if i < len(p) && p[i] == '"' {
		return view(p[start:i]), i + 1, true // the common case: nothing to unescape
	}
	var sb strings.Builder
	sb.Write(p[start:i])
	for i < len(p) {
		c := p[i]
		switch {
		case c == '"':
			return sb.String(), i + 1, true
		case c < 0x20:
			return "", 0, false
		case c == '\\':
			if i+1 >= len(p) {
				return "", 0, false
			}
			switch e := p[i+1]; e {
			case '"', '\\', '/':
				sb.WriteByte(e)
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case 'n':
				sb.WriteByte('\n')
			case 'r':
				sb.WriteByte('\r')
			case 't':
				sb.WriteByte('\t')
			case 'u':
				if i+6 > len(p) {
					return "", 0, false
				}
				r, err := strconv.ParseUint(string(p[i+2:i+6]), 16, 32)
				if err != nil || r >= 0xd800 && r < 0xe000 {
					return "", 0, false
				}
				sb.WriteRune(rune(r))
				i += 4
			default:
				return "", 0, false
			}
			i += 2
		case c < utf8.RuneSelf:
			sb.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRune(p[i:])
			if r == utf8.RuneError && size == 1 {
				return "", 0, false
			}
			sb.Write(p[i : i+size])
			i += size
		}
	}
	return "", 0, false
}

// parseNumber reads a JSON number, which ConsoleWriter prints as written.
func parseNumber(p []byte, i int) (string, int, bool) {
	start := i
	if p[i] == '-' {
		i++
	}
	digits := func() bool {
		n := i
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		return i > n
	}
	if i < len(p) && p[i] == '0' {
		i++
	} else if !digits() {
		return "", 0, false
	}
	if i < len(p) && p[i] == '.' {
		i++
		if !digits() {
			return "", 0, false
		}
	}
	if i < len(p) && (p[i] == 'e' || p[i] == 'E') {
		i++
		if i < len(p) && (p[i] == '+' || p[i] == '-') {
			i++
		}
		if !digits() {
			return "", 0, false
		}
	}
	return view(p[start:i]), i, true
}

// view is p as a string, not copied: an event's fields live only while
// Write formats it, and zerolog leaves p alone meanwhile. Copying them
// was most of the allocations of a log line (serve writes three a
// connection).
func view(p []byte) string { return unsafe.String(unsafe.SliceData(p), len(p)) }

// parseLiteral reads true, false or null, which ConsoleWriter prints as
// json.Marshal writes them: the same.
func parseLiteral(p []byte, i int) (string, int, bool) {
	for _, lit := range []string{"true", "false", "null"} {
		if len(p)-i >= len(lit) && string(p[i:i+len(lit)]) == lit {
			return lit, i + len(lit), true
		}
	}
	return "", 0, false
}

// parseNumberObject reads a JSON object of numbers and returns it as
// ConsoleWriter prints it, json.Marshal of the decoded map: keys sorted,
// a key given twice keeping its last value. Only keys that json.Marshal
// writes as they are (printable ASCII but '"', '\\', '<', '>', '&') are ok.
func parseNumberObject(p []byte, i int) (string, int, bool) {
	type kv struct{ k, v string }
	var kvs []kv
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == '}' {
		return "{}", i + 1, true
	}
	for {
		if i >= len(p) || p[i] != '"' {
			return "", 0, false
		}
		key, j, ok := parseString(p, i)
		if !ok {
			return "", 0, false
		}
		for k := range len(key) {
			if c := key[k]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return "", 0, false
			}
		}
		i = skipSpace(p, j)
		if i >= len(p) || p[i] != ':' {
			return "", 0, false
		}
		i = skipSpace(p, i+1)
		if i >= len(p) || !(p[i] == '-' || p[i] >= '0' && p[i] <= '9') {
			return "", 0, false
		}
		var v string
		if v, i, ok = parseNumber(p, i); !ok {
			return "", 0, false
		}
		if k := slices.IndexFunc(kvs, func(e kv) bool { return e.k == key }); k >= 0 {
			kvs[k].v = v
		} else {
			kvs = append(kvs, kv{key, v})
		}
		i = skipSpace(p, i)
		if i >= len(p) {
			return "", 0, false
		}
		if p[i] == '}' {
			i++
			break
		}
		if p[i] != ',' {
			return "", 0, false
		}
		i = skipSpace(p, i+1)
	}
	slices.SortFunc(kvs, func(x, y kv) int { return strings.Compare(x.k, y.k) })
	b := []byte{'{'}
	for n, e := range kvs {
		if n > 0 {
			b = append(b, ',')
		}
		b = append(append(append(append(b, '"'), e.k...), `":`...), e.v...)
	}
	return string(append(b, '}')), i, true
}
