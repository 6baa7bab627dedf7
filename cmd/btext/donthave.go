package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
)

type dontHaveOptions struct {
	force      bool
	id         uint8
	pieces     int
	noAnnounce bool
	wait       time.Duration
	linger     time.Duration
	json       bool
}

func newDontHaveCmd(a *app) *cobra.Command {
	var o dontHaveOptions
	cmd := &cobra.Command{
		Use:   "dont-have INFOHASH|MAGNET PEER PIECE...",
		Short: "Tell a peer that pieces are gone, with libtorrent's lt_donthave (BEP 54)",
		Long: `Handshake with a peer and send lt_donthave (BEP 54) for each piece: "I no
longer have this piece". The peer must advertise lt_donthave (else exit 4);
--force sends it anyway, on the id given with --id.

A receiver ignores a dont-have for a piece it never saw announced (BEP 54;
libtorrent does exactly that), so btext first announces the pieces: with a
bitfield when it knows the piece count, from --pieces N or from the
torrent's metadata, which it fetches from the peer when the peer offers it;
else with a have message for each piece. --no-announce sends the dont-haves
bare. Piece indexes are checked against the piece count when it is known
(exit 2 when out of range).

After sending, btext reads what the peer does for --linger and reports it:
the messages it sent and whether it closed the connection. A peer that closes
after our announce is reported and btext exits 3.`,
		Example: `  btext dont-have 0c1cff1615a3bab426a5e1665f5f44f6a344e67f 127.0.0.1:6881 1 3
  btext dont-have 0c1cff1615a3bab426a5e1665f5f44f6a344e67f 127.0.0.1:6881 3 --pieces 4 --json --linger 2s
  btext dont-have 0c1cff1615a3bab426a5e1665f5f44f6a344e67f 127.0.0.1:6881 2 --force --id 7 --no-announce`,
		Args: minArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDontHave(cmd.Context(), args[0], args[1], args[2:], o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.force, "force", false, "send even if the peer does not advertise lt_donthave (needs --id)")
	f.Uint8Var(&o.id, "id", 0, "the peer's lt_donthave id to send on (with --force; default: the id it advertises)")
	f.IntVar(&o.pieces, "pieces", 0, "the torrent's piece count (default: from the metadata, fetched from the peer)")
	f.BoolVar(&o.noAnnounce, "no-announce", false, "do not announce the pieces first (the peer will likely ignore the dont-haves)")
	f.DurationVar(&o.wait, "wait", 100*time.Millisecond, "pause between the announce and the dont-haves, watching the peer (a peer that objects to the announce closes meanwhile)")
	f.DurationVar(&o.linger, "linger", time.Second, "how long to watch the peer after sending")
	f.BoolVar(&o.json, "json", false, "print a JSON report")
	a.skeletons[cmd] = func() report { return newDontHaveReport("", false) }
	return cmd
}

// dontHaveReport is the output of btext dont-have; its JSON form is an
// interface. What is not known is null.
type dontHaveReport struct {
	Peer       string   `json:"peer"`
	InfoHash   *string  `json:"info_hash"`
	Client     *string  `json:"client"`
	ID         *uint8   `json:"lt_donthave_id"`
	Forced     bool     `json:"forced"`
	PieceCount *int     `json:"piece_count"`
	Announce   *string  `json:"announce"` // bitfield, have or none
	Announced  []uint32 `json:"announced"`
	Sent       []uint32 `json:"sent"`
	After      struct {
		Messages []eventJSON `json:"messages"`
		Closed   bool        `json:"closed"`
		Error    *string     `json:"error"`
	} `json:"after"`
	outcome
}

func newDontHaveReport(addr string, forced bool) *dontHaveReport {
	rep := &dontHaveReport{Peer: addr, Forced: forced, Announced: []uint32{}, Sent: []uint32{}}
	rep.After.Messages = []eventJSON{}
	return rep
}

func parsePieces(args []string) ([]uint32, error) {
	var out []uint32
	for _, s := range args {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, usagef("piece %q: want a piece index, 0 to 4294967295", s)
		}
		out = append(out, uint32(n))
	}
	return out, nil
}

func (a *app) runDontHave(ctx context.Context, what, addr string, args []string, o dontHaveOptions) error {
	rep := newDontHaveReport(addr, o.force)
	if o.json {
		a.result = rep // as far as it gets
	}
	target, err := metainfo.ParseTarget(what)
	if err != nil {
		return &usageError{err}
	}
	rep.InfoHash = ptr(peer.Hash(target.HandshakeHash()).String())
	if _, _, err := peer.SplitAddr(addr); err != nil {
		return &usageError{err}
	}
	pieces, err := parsePieces(args)
	if err != nil {
		return err
	}
	if o.pieces < 0 {
		return usagef("--pieces must be positive")
	}
	if o.force && o.id == 0 {
		return usagef("--force needs --id N (1-255): the id the peer would use for lt_donthave")
	}
	if err := checkRange(pieces, o.pieces, "--pieces"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	sess, err := extensions.Connect(ctx, addr, extensions.Options{
		InfoHash: peer.Hash(target.HandshakeHash()),
		PeerID:   peer.RandomPeerID(),
		Local:    extensions.Local{Client: "btext " + btextVersion()},
		Peer:     a.peerConfig(),
	})
	if err != nil {
		if sess != nil {
			sess.Close()
		}
		return err
	}
	defer sess.Close()
	rep.Client = ptr(peer.ClientName(sess.Remote.PeerID))
	id, ok := sess.Registry.ID(extensions.LTDontHave)
	switch {
	case o.force:
		id = o.id
	case !ok:
		return fmt.Errorf("lt_donthave: %w (it offers %s; --force --id N sends it anyway)", extensions.ErrNotSupported, offered(sess))
	}
	rep.ID = &id

	// The torrent's metadata, when the peer offers it, says how many
	// pieces there are: a piece beyond them, or a --pieces that says
	// otherwise, is an error before anything is sent.
	count := o.pieces
	if meta := a.pieceCount(ctx, sess, target); meta > 0 {
		if o.pieces > 0 && o.pieces != meta {
			return usagef("--pieces %d: the torrent's metadata (from the peer) says %d pieces", o.pieces, meta)
		}
		count = meta
		if err := checkRange(pieces, count, "the torrent's metadata"); err != nil {
			return err
		}
	}
	if count > 0 {
		rep.PieceCount = &count
		sess.Conn.Pieces().SetCount(count)
	}

	var res extensions.RetractionResult
	err = sess.SendDontHave(ctx, extensions.Retraction{
		Pieces: pieces, ID: id, Count: count, NoAnnounce: o.noAnnounce, Wait: o.wait, Linger: o.linger,
	}, &res)
	rep.Announce, rep.Announced, rep.Sent = &res.Announce, orEmpty(res.Announced), orEmpty(res.Sent)
	for _, e := range res.After {
		rep.After.Messages = append(rep.After.Messages, eventJSON(e))
	}
	rep.After.Closed = res.Closed
	if res.WatchErr != nil {
		rep.After.Error = ptr(errorLine(res.WatchErr))
	}
	a.finish(o.json, rep, rep.writeText)
	return err
}

// pieceCount learns the torrent's piece count from its metadata, fetched
// over the session when the peer offers it; 0 when that is not possible.
func (a *app) pieceCount(ctx context.Context, sess *extensions.Session, target metainfo.Target) int {
	if sess.Ext.MetadataSize == nil {
		return 0
	}
	if _, ok := sess.Registry.ID(extensions.UTMetadata); !ok {
		if _, ok := sess.Registry.ID(extensions.LTMetadata); !ok {
			return 0
		}
	}
	res, err := metadata.FetchSession(ctx, sess, metadata.FetchConfig{Target: target, Log: a.log})
	if err != nil {
		a.log.Warn().Err(err).Msg("cannot learn the piece count from the metadata: announcing with have messages")
		return 0
	}
	t, err := metainfo.ParseInfo(res.Info)
	if err != nil {
		return 0
	}
	return t.Pieces
}

func checkRange(pieces []uint32, count int, source string) error {
	if count <= 0 {
		return nil
	}
	for _, p := range pieces {
		if int64(p) >= int64(count) {
			return usagef("piece %d out of range: the torrent has %s (0..%d, from %s)", p, plural(int64(count), "piece", "pieces"), count-1, source)
		}
	}
	return nil
}

func offered(s *extensions.Session) string {
	names := slices.Sorted(maps.Keys(s.Registry.Names()))
	if len(names) == 0 {
		return "no extensions"
	}
	return strings.Join(names, ", ")
}

func (rep *dontHaveReport) writeText(w io.Writer) {
	p := func(k, format string, args ...any) { fmt.Fprintf(w, "%-11s %s\n", k, fmt.Sprintf(format, args...)) }
	p("peer", "%s (%s)", rep.Peer, strOrDash(rep.Client))
	count := "unknown"
	if rep.PieceCount != nil {
		count = strconv.Itoa(*rep.PieceCount)
	}
	p("pieces", "%s in the torrent", count)
	if rep.Announce == nil {
		return
	}
	p("announced", "%s %v", *rep.Announce, rep.Announced)
	how := "advertised"
	if rep.Forced {
		how = "forced"
	}
	p("sent", "lt_donthave %v on id %d (%s)", rep.Sent, *rep.ID, how)
	for _, e := range rep.After.Messages {
		p("then", "%s", extensions.Event(e))
	}
	if rep.After.Closed {
		p("then", "the peer closed the connection")
	} else if rep.After.Error == nil {
		p("then", "connection still open")
	}
}

// orEmpty is s, or an empty list: a JSON list is never null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
