package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/btext/btext/internal/peer"
)

// report is a command's --json object. Every one carries the outcome:
// "error" (the message, null on success) and "exit_code".
type report interface {
	setOutcome(err error, code int)
}

// outcome is embedded last in every --json report and in a stream's end
// object.
type outcome struct {
	Error    *string `json:"error"`
	ExitCode int     `json:"exit_code"`
}

func (o *outcome) setOutcome(err error, code int) {
	o.Error, o.ExitCode = nil, code
	if err != nil {
		s := errorLine(err)
		o.Error = &s
	}
}

// printJSON writes v as one JSON object on a line.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write stdout: %w", pathCause(err))
	}
	return nil
}

// finish ends a command's output: with --json the report is kept for run,
// which prints it with the outcome; else text writes it now.
func (a *app) finish(asJSON bool, rep report, text func(io.Writer)) {
	if asJSON {
		a.result = rep
		return
	}
	text(a.stdout)
}

// errorLine is err as one line, without the prefix a context's deadline
// leaves ("context deadline exceeded: ...") when the message says more.
func errorLine(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if rest, ok := strings.CutPrefix(msg, "context deadline exceeded: "); ok && rest != "" {
		msg = rest
	}
	return msg
}

// printError writes the error that ends the run: "btext: ..." on one line,
// or with --log-format json one JSON line with the message and exit code.
func (a *app) printError(err error, code int) {
	if a.logFormat == "json" {
		l := zerolog.New(a.stderr).With().Timestamp().Logger()
		l.Error().Str("error", errorLine(err)).Int("exit_code", code).Msg("btext failed")
		return
	}
	fmt.Fprintf(a.stderr, "btext: %s\n", errorLine(err))
}

// peerConfig derives the wire configuration from the global flags.
func (a *app) peerConfig() peer.Config {
	return peer.Config{
		DialTimeout:      min(peer.DefaultDialTimeout, a.timeout),
		HandshakeTimeout: min(peer.DefaultHandshakeTimeout, a.timeout),
		ReadTimeout:      min(peer.DefaultReadTimeout, a.timeout),
		WriteTimeout:     min(peer.DefaultWriteTimeout, a.timeout),
		LocalAddr:        a.bind,
		Encryption:       a.encryption,
		Log:              a.log,
	}
}

// human is n bytes in binary units, for text next to the exact count.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, u := float64(n), 0
	for f >= unit && u < 5 {
		f /= unit
		u++
	}
	return fmt.Sprintf("%.1f %s", f, []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}[u])
}

// plural is "1 file", "2 files".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// seconds is d in seconds, to the millisecond, as every stream's "t".
func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }
