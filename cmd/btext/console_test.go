package main

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestConsoleWriterMatchesZerolog: consoleWriter writes what
// zerolog.ConsoleWriter writes, byte for byte, for events as btext logs
// them and for odd ones; the flat ones take its own path.
func TestConsoleWriterMatchesZerolog(t *testing.T) {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	type ev struct {
		name string
		log  func(l zerolog.Logger)
		flat bool
	}
	events := []ev{
		{"plain", func(l zerolog.Logger) { l.Info().Msg("connection closed") }, true},
		{"fields", func(l zerolog.Logger) {
			l.Info().Str("peer", "127.0.0.1:5").Int("requests", 7).Int64("n", -3).Float64("f", 1.5).Bool("ok", true).
				Dur("d", 1500*time.Millisecond).Msg("peer closed the connection")
		}, true},
		{"quoting", func(l zerolog.Logger) {
			l.Warn().Str("a", "two words").Str("b", `q"uote`).Str("c", `back\slash`).Str("d", "tab\tnl\n").
				Str("e", "é ü").Str("f", "\x00\x1f\x7f").Str("g", "-BX0100-\\xbcL\\xdf|ok").Str("h", "").Msg("odd values")
		}, true},
		{"error first", func(l zerolog.Logger) {
			l.Warn().Str("aaa", "x").Err(errors.New("read message: timed out after 3m0s")).Str("zzz", "y").Msg("connection closed")
		}, true},
		{"no message", func(l zerolog.Logger) { l.Info().Str("k", "v").Send() }, true},
		{"empty message", func(l zerolog.Logger) { l.Error().Str("k", "v").Msg("") }, true},
		{"message escapes", func(l zerolog.Logger) { l.Debug().Msg("recv \"lt_donthave\" \\ é\n") }, true},
		{"trace", func(l zerolog.Logger) { l.Trace().Msg("t") }, true},
		{"nil", func(l zerolog.Logger) { l.Info().Interface("x", nil).Msg("m") }, true},
		{"duplicate key", func(l zerolog.Logger) { l.Info().Str("k", "first").Int("k", 2).Msg("m") }, true},
		{"invalid utf-8", func(l zerolog.Logger) { l.Info().Str("k", "a\xffb").Msg("m\xfe") }, true},
		{"object of numbers", func(l zerolog.Logger) {
			l.Info().Interface("m", map[string]int{"ut_metadata": 2, "LT_metadata": 14, "z": -1}).Int("metadata_size", 40000).Msg("extended handshake")
		}, true},
		{"empty object", func(l zerolog.Logger) { l.Info().Interface("m", map[string]int{}).Msg("m") }, true},
		{"object, duplicate key", func(l zerolog.Logger) { l.Info().RawJSON("m", []byte(`{"b":1,"a":2,"b":3}`)).Msg("m") }, true},
		{"object, odd keys", func(l zerolog.Logger) {
			l.Info().Interface("m", map[string]int{"a<b": 1, "é": 2, "q\"": 3, "": 4}).Msg("m")
		}, false},
		{"object of strings", func(l zerolog.Logger) { l.Info().Interface("o", map[string]string{"a": "b"}).Msg("m") }, false},
		{"nested object", func(l zerolog.Logger) { l.Info().RawJSON("o", []byte(`{"a":{"b":1}}`)).Msg("m") }, false},
		{"array", func(l zerolog.Logger) { l.Info().Strs("notes", []string{"a b", "c"}).Msg("m") }, false},
		{"stats", func(l zerolog.Logger) {
			l.Info().Int64("active", 3).Int64("accepted", 12).Int("fds", 15).Int64("rss_kib", 8000).Msg("stats")
		}, true},
	}
	// Random strings of the bytes that matter.
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", " ", `"`, `\`, "\n", "\t", "\x01", "é", "\u2028", "<", "&", "=", "\xff", "🙂"}
	for i := range 200 {
		var sb strings.Builder
		for range r.IntN(12) {
			sb.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		s := sb.String()
		events = append(events, ev{"random " + string(rune('a'+i%26)), func(l zerolog.Logger) {
			l.Info().Str("v", s).Str(s, "k").Msg(s)
		}, false})
	}
	for _, e := range events {
		var want, got bytes.Buffer
		e.log(zerolog.New(zerolog.ConsoleWriter{Out: &want, TimeFormat: "15:04:05.000", NoColor: true}).Level(zerolog.TraceLevel).With().Timestamp().Logger())
		var raw bytes.Buffer
		e.log(zerolog.New(&raw).Level(zerolog.TraceLevel).With().Timestamp().Logger())
		e.log(zerolog.New(newConsoleWriter(&got, "15:04:05.000")).Level(zerolog.TraceLevel).With().Timestamp().Logger())
		// The two lines were made at different times: compare without
		// the time, then check its form.
		w, g := want.String(), got.String()
		if len(w) < 13 || len(g) < 13 || w[12:] != g[12:] {
			t.Errorf("%s:\nzerolog: %q\nours:    %q", e.name, w, g)
			continue
		}
		if _, err := time.Parse("15:04:05.000", g[:12]); err != nil {
			t.Errorf("%s: time %q", e.name, g[:12])
		}
		if e.flat {
			if _, ok := (consoleWriter{timeFormat: "15:04:05.000"}).format(nil, raw.Bytes()); !ok {
				t.Errorf("%s: left to zerolog: %s", e.name, raw.Bytes())
			}
		}
	}
}

// BenchmarkConsoleWriter: one of serve's log lines, formatted.
func BenchmarkConsoleWriter(b *testing.B) {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	for _, bc := range []struct {
		name string
		w    func() zerolog.Logger
	}{
		{"zerolog", func() zerolog.Logger {
			return zerolog.New(zerolog.ConsoleWriter{Out: discard{}, TimeFormat: "15:04:05.000", NoColor: true}).With().Timestamp().Logger()
		}},
		{"ours", func() zerolog.Logger {
			return zerolog.New(newConsoleWriter(discard{}, "15:04:05.000")).With().Timestamp().Logger()
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := bc.w()
			b.ReportAllocs()
			for b.Loop() {
				l.Info().Str("client", "btext 0.1.0.0").Str("info_hash", "a6edd4f2737c6a11b498ac16798c067c5d80e459").
					Str("peer", "127.0.0.1:53586").Str("peer_id", "-BX0100-\\xf6sBk\\xe2\\xa5vw").Str("reserved", "0000000000100004").Msg("handshake")
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestConsoleWriterAllocs: a line like serve's handshake line is
// formatted with a few allocations (the time, the level), not one a
// field: its keys and values are read in place.
func TestConsoleWriterAllocs(t *testing.T) {
	w := newConsoleWriter(discard{}, "15:04:05.000")
	line := []byte(`{"level":"info","client":"btext 0.1.0.0","info_hash":"a6edd4f2737c6a11b498ac16798c067c5d80e459",` +
		`"peer":"127.0.0.1:53586","peer_id":"-BX0100-\\xf6sBk\\xe2\\xa5vw","reserved":"0000000000100004",` +
		`"time":"2026-12-03T17:08:18.749123456Z","message":"handshake"}` + "\n")
	if n := testing.AllocsPerRun(100, func() {
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}); n > 8 { // 3 here; -race makes sync.Pool drop buffers at random
		t.Errorf("%v allocations a line, want 8 at most (23 when each field was copied)", n)
	}
}
