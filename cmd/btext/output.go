package main

import (
	"encoding/json"
	"io"

	"github.com/btext/btext/internal/peer"
)

// print writes v as one JSON object, or as text through text.
func (a *app) print(asJSON bool, v any, text func(io.Writer)) error {
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	text(a.stdout)
	return nil
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
