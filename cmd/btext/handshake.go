package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
)

type handshakeOptions struct {
	peer     string
	infoHash string
	json     bool
	watch    watchFlag
}

// watchForever is --watch's value when it is given without a duration.
const watchForever = "forever"

// forever stands for "until Ctrl-C": a watch nobody waits out.
const forever = 100 * 365 * 24 * time.Hour

// watchFlag is --watch [DURATION]: absent, a duration, or bare (until
// Ctrl-C).
type watchFlag struct {
	set bool
	d   time.Duration // forever when given bare
}

func (w *watchFlag) String() string {
	switch {
	case !w.set:
		return "0s"
	case w.d == forever:
		return watchForever
	}
	return w.d.String()
}

func (w *watchFlag) Set(s string) error {
	if s == watchForever {
		w.set, w.d = true, forever
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("want a positive duration such as 45s or 10m, or nothing (until Ctrl-C)")
	}
	w.set, w.d = true, d
	return nil
}

func (w *watchFlag) Type() string { return "duration" }

// watchArgs takes the duration of "--watch 45s" back from the arguments:
// a flag that may stand alone (--watch: until Ctrl-C) only takes a value
// written --watch=45s, and leaves "45s" as an argument.
// It records the one argument left as the peer.
func (o *handshakeOptions) watchArgs(args []string) []string {
	if o.watch.d == forever && len(args) == 2 {
		for i, s := range args {
			if d, err := time.ParseDuration(s); err == nil && d > 0 {
				o.watch.d = d
				args = slices.Delete(slices.Clone(args), i, i+1)
				break
			}
		}
	}
	if len(args) == 1 {
		o.peer = args[0]
	}
	return args
}

func newHandshakeCmd(a *app) *cobra.Command {
	var o handshakeOptions
	cmd := &cobra.Command{
		Use:   "handshake PEER",
		Short: "Handshake with a peer and show everything it says",
		Long: `Dial a peer (host:port, [ipv6]:port or name:port), send the BitTorrent
handshake with the extension protocol and fast extension bits (reserved[5]
|= 0x10, reserved[7] |= 0x04), read the
peer's, exchange extended handshakes (BEP 10) and show what the peer said:
its reserved bits, peer id and client, and every field of its extended
handshake (m, p, v, yourip, ipv4, ipv6, reqq, metadata_size, and the rest).

Without --info-hash a random info hash is used; most peers close the
connection at once on a torrent they do not have (exit 3).
A peer that does not set the extension protocol bit: what it sent is shown
and btext exits 4.

--watch DURATION keeps the connection open afterwards and prints each message
the peer sends, decoded: have, bitfield (a summary), have_all/have_none,
suggest_piece, allowed_fast and reject_request (BEP 6, when the peer sets
the fast bit too),
lt_donthave (applied to the peer's pieces as BEP 54 says, or why it was
ignored), upload_only, ut_pex peers, re-sent extended handshakes with what
changed. btext then also advertises ut_pex and upload_only, so that peers
send them. --watch without a duration watches until Ctrl-C. A quiet peer
does not end the watch (btext sends keep-alives); it ends when DURATION has
passed, the peer closes, or Ctrl-C is pressed (exit 0), and says which:
time, closed, interrupted or error. With --json: the handshake object, then
one object per message ({"t": seconds since the handshake, "type": ...,
...}), then {"type": "end", "reason": ..., "error": ..., "exit_code": ...}.
The watch does not count against --timeout.`,
		Example: `  btext handshake 127.0.0.1:6881 --info-hash 0c1cff1615a3bab426a5e1665f5f44f6a344e67f
  btext handshake '[::1]:6881' --info-hash 'magnet:?xt=urn:btih:0c1cff1615a3bab426a5e1665f5f44f6a344e67f' --json
  btext handshake 127.0.0.1:6881 --info-hash 0c1cff1615a3bab426a5e1665f5f44f6a344e67f --watch 5s`,
		Args: func(cmd *cobra.Command, args []string) error {
			return exactArgs(1)(cmd, o.watchArgs(args))
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runHandshake(cmd.Context(), o.peer, o)
		},
	}
	cmd.Flags().StringVar(&o.infoHash, "info-hash", "", "info hash (40 hex, 32 base32, 64 hex v2) or magnet URI of a torrent the peer has")
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object (with --watch: one per line)")
	cmd.Flags().VarPF(&o.watch, "watch", "", "after the handshake, print what the peer sends for this long (no value: until Ctrl-C)").NoOptDefVal = watchForever
	a.skeletons[cmd] = func() report { return &handshakeResult{} }
	return cmd
}

func (a *app) runHandshake(ctx context.Context, addr string, o handshakeOptions) error {
	res := &handshakeResult{Peer: addr}
	if o.json {
		a.result = res // as far as it gets
	}
	if _, _, err := peer.SplitAddr(addr); err != nil {
		return &usageError{err}
	}
	var hash peer.Hash
	random := o.infoHash == ""
	if random {
		_, _ = rand.Read(hash[:])
	} else {
		t, err := metainfo.ParseTarget(o.infoHash)
		if err != nil {
			return &usageError{err}
		}
		hash = peer.Hash(t.HandshakeHash())
	}
	res.InfoHash, res.InfoHashRandom = ptr(hash.String()), &random
	local := extensions.Local{Client: "btext " + btextVersion()}
	if o.watch.set {
		local.M = extensions.WatchM()
	}
	hctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	s, err := extensions.Connect(hctx, addr, extensions.Options{
		InfoHash: hash,
		PeerID:   peer.RandomPeerID(),
		Local:    local,
		Peer:     a.peerConfig(),
	})
	if s != nil {
		defer s.Close()
		res.fill(s)
		if err != nil || !o.watch.set {
			a.finish(o.json, res, res.writeText)
		}
	}
	if err != nil && random && errors.Is(err, peer.ErrClosedByPeer) {
		return fmt.Errorf("%w; the info hash was random: pass --info-hash of a torrent the peer has", err)
	}
	if err != nil || !o.watch.set {
		return err
	}
	// A stream: the handshake object now, the events, and the end object
	// last (run prints it, with the outcome).
	a.result = nil
	if o.json {
		res.setOutcome(nil, exitOK)
		if err := a.printJSON(res); err != nil {
			return err
		}
	} else {
		res.writeText(a.stdout)
	}
	return a.watchPeer(ctx, s, o)
}

// watchEvent is one line of --watch --json.
type watchEvent struct {
	T float64 `json:"t"`
	eventJSON
}

// watchEnd is the last line of --watch --json, on every ending.
type watchEnd struct {
	T      float64 `json:"t"`
	Type   string  `json:"type"`   // "end"
	Reason string  `json:"reason"` // time, closed, interrupted or error
	outcome
}

// watchPeer prints every message the peer sends until the watch's time is
// over, the peer closes or the user interrupts.
func (a *app) watchPeer(ctx context.Context, s *extensions.Session, o handshakeOptions) error {
	start := time.Now()
	since := func() float64 { return seconds(time.Since(start)) }
	if !o.json {
		if o.watch.d == forever {
			fmt.Fprintln(a.stdout, "watching until Ctrl-C")
		} else {
			fmt.Fprintf(a.stdout, "watching for %v (Ctrl-C ends it)\n", o.watch.d)
		}
	}
	err := s.Watch(ctx, o.watch.d, func(e extensions.Event) error {
		if o.json {
			return a.printJSON(watchEvent{T: since(), eventJSON: eventJSON(e)})
		}
		_, err := fmt.Fprintf(a.stdout, "%8.3fs %s\n", since(), e)
		return err
	})
	end := &watchEnd{Type: "end", Reason: "time"}
	switch {
	case err == nil:
	case errors.Is(err, peer.ErrClosedByPeer):
		end.Reason, err = "closed", nil
	case errors.Is(ctx.Err(), context.Canceled):
		// Ctrl-C is how a watch is ended: a normal end, exit 0.
		end.Reason, err = "interrupted", nil
	default:
		end.Reason = "error"
	}
	end.T = since()
	a.finish(o.json, end, func(w io.Writer) { fmt.Fprintf(w, "%8.3fs watch ended: %s\n", end.T, end.Reason) })
	return err
}

// handshakeResult is the output of btext handshake; its JSON form is an
// interface for scripts. What the peer did not get to say is null.
type handshakeResult struct {
	Peer           string  `json:"peer"`
	InfoHash       *string `json:"info_hash"`
	InfoHashRandom *bool   `json:"info_hash_random"`
	PeerID         *string `json:"peer_id"`
	PeerIDText     *string `json:"peer_id_text"`
	// Client is "" when the peer id names no client we know.
	Client   *string `json:"client"`
	Reserved *string `json:"reserved"`
	// Encryption is "none" (a plain BT handshake), "rc4", or "plaintext"
	// (an MSE handshake, then plaintext).
	Encryption        *string        `json:"encryption"`
	Supports          *supports      `json:"supports"`
	ExtendedHandshake *extHandshake  `json:"extended_handshake"`
	Extensions        map[string]int `json:"extensions"`
	Messages          []string       `json:"messages"`
	outcome
}

type supports struct {
	ExtensionProtocol bool `json:"extension_protocol"`
	DHT               bool `json:"dht"`
	Fast              bool `json:"fast"`
	V2Upgrade         bool `json:"v2_upgrade"`
}

type extHandshake struct {
	M            map[string]int64 `json:"m"`
	P            *int64           `json:"p"`
	V            *string          `json:"v"`
	YourIP       *string          `json:"yourip"`
	IPv4         *string          `json:"ipv4"`
	IPv6         *string          `json:"ipv6"`
	Reqq         *int64           `json:"reqq"`
	MetadataSize *int64           `json:"metadata_size"`
	UploadOnly   *int64           `json:"upload_only"`
	Other        map[string]any   `json:"other"`
	Notes        []string         `json:"notes"`
}

// fill records what the peer said in its handshakes.
func (res *handshakeResult) fill(s *extensions.Session) {
	r := s.Remote.Reserved
	res.PeerID = ptr(s.Remote.PeerID.String())
	res.PeerIDText = ptr(peer.EscapeBinary(s.Remote.PeerID[:]))
	res.Client = ptr(peer.ClientName(s.Remote.PeerID))
	res.Reserved = ptr(r.String())
	res.Encryption = ptr(encryptionName(s.Conn.Crypto()))
	res.Supports = &supports{r.Extended(), r.DHT(), r.Fast(), r.V2Upgrade()}
	res.Extensions = map[string]int{}
	res.Messages = []string{}
	for name, id := range s.Registry.Names() {
		res.Extensions[name] = int(id)
	}
	for _, m := range s.Early {
		res.Messages = append(res.Messages, m.String())
	}
	if s.Dropped > 0 {
		res.Messages = append(res.Messages, fmt.Sprintf("... and %d more", s.Dropped))
	}
	if h := s.Ext; h != nil {
		e := &extHandshake{
			M: h.M, P: h.P, Reqq: h.Reqq, MetadataSize: h.MetadataSize, UploadOnly: h.UploadOnly,
			YourIP: addrText(h.YourIP), IPv4: addrText(h.IPv4), IPv6: addrText(h.IPv6),
			Other: jsonDict(h.Other), Notes: h.Notes,
		}
		if h.V != nil {
			v := peer.Escape(*h.V)
			e.V = &v
		}
		if e.Notes == nil {
			e.Notes = []string{}
		}
		res.ExtendedHandshake = e
	}
}

func addrText(b []byte) *string {
	if b == nil {
		return nil
	}
	s := extensions.Addr(b)
	return &s
}

// jsonDict turns decoded bencode into JSON-safe values: byte strings are
// escaped (see peer.Escape), never dropped or replaced.
func jsonDict(d map[string]any) map[string]any {
	out := make(map[string]any, len(d))
	for k, v := range d {
		out[peer.Escape(k)] = jsonValue(v)
	}
	return out
}

func jsonValue(v any) any {
	switch v := v.(type) {
	case string:
		return peer.Escape(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonValue(e)
		}
		return out
	case map[string]any:
		return jsonDict(v)
	}
	return v
}

func (res *handshakeResult) writeText(w io.Writer) {
	p := func(k, format string, args ...any) { fmt.Fprintf(w, "%-15s %s\n", k, fmt.Sprintf(format, args...)) }
	p("peer", "%s", res.Peer)
	if *res.InfoHashRandom {
		p("info hash", "%s (random: most peers close the connection on a torrent they do not have)", *res.InfoHash)
	} else {
		p("info hash", "%s", *res.InfoHash)
	}
	p("peer id", "%s \"%s\"", *res.PeerID, *res.PeerIDText)
	p("client", "%s", orDash(*res.Client))
	var bits []string
	for _, b := range []struct {
		on   bool
		name string
	}{{res.Supports.ExtensionProtocol, "extension_protocol"}, {res.Supports.DHT, "dht"}, {res.Supports.Fast, "fast"}, {res.Supports.V2Upgrade, "v2_upgrade"}} {
		if b.on {
			bits = append(bits, b.name)
		}
	}
	p("reserved", "%s %s", *res.Reserved, orDash(strings.Join(bits, " ")))
	if *res.Encryption != "none" {
		p("encryption", "%s (MSE)", *res.Encryption)
	}
	e := res.ExtendedHandshake
	if e == nil {
		p("extended", "none: the peer does not support the extension protocol")
	} else {
		fmt.Fprintln(w, "extended handshake")
		names := slices.Sorted(maps.Keys(e.M))
		slices.SortStableFunc(names, func(a, b string) int { return int(e.M[a] - e.M[b]) })
		if len(names) == 0 {
			p("  m", "-")
		}
		for i, n := range names {
			k := ""
			if i == 0 {
				k = "  m"
			}
			p(k, "%-14s %d", peer.Escape(n), e.M[n])
		}
		p("  v", "%s", strOrDash(e.V))
		p("  p", "%s", intOrDash(e.P))
		p("  yourip", "%s", strOrDash(e.YourIP))
		p("  ipv4", "%s", strOrDash(e.IPv4))
		p("  ipv6", "%s", strOrDash(e.IPv6))
		p("  reqq", "%s", intOrDash(e.Reqq))
		p("  metadata_size", "%s", intOrDash(e.MetadataSize))
		p("  upload_only", "%s", intOrDash(e.UploadOnly))
		for _, k := range slices.Sorted(maps.Keys(e.Other)) {
			p("  "+k, "%v", e.Other[k])
		}
		for _, n := range e.Notes {
			p("  note", "%s", n)
		}
	}
	if len(res.Messages) > 0 {
		p("also sent", "%s", strings.Join(res.Messages, ", "))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func strOrDash(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func intOrDash(i *int64) string {
	if i == nil {
		return "-"
	}
	return fmt.Sprint(*i)
}

func encryptionName(m peer.CryptoMethod) string {
	if m == 0 {
		return "none"
	}
	return m.String()
}
