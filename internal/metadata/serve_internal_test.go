package metadata

import (
	"bytes"
	"testing"

	"github.com/rs/zerolog"
)

// TestLogM: m is logged byte for byte as zerolog's Interface logs it, for
// plain keys (written without reflection) and the others.
func TestLogM(t *testing.T) {
	for _, m := range []map[string]int64{
		nil,
		{},
		{"ut_metadata": 2, "LT_metadata": 14, "lt_donthave": 7, "ut_pex": 0},
		{"a<b": 1, "ok": -3},
		{"quo\"te": 1, "back\\slash": 2, "tab\t": 3, "\xff": 4, "é": 5},
	} {
		var got, want bytes.Buffer
		gl, wl := zerolog.New(&got), zerolog.New(&want)
		logM(gl.Info(), m).Msg("x")
		wl.Info().Interface("m", m).Msg("x")
		if got.String() != want.String() {
			t.Errorf("%v: got %s, want %s", m, got.String(), want.String())
		}
	}
}
