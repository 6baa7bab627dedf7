package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/btext/btext/internal/discovery"
	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
)

type peersOptions struct {
	discover  discoverOptions
	handshake bool
	json      bool
	max       int
}

func newPeersCmd(a *app) *cobra.Command {
	var o peersOptions
	cmd := &cobra.Command{
		Use:   "peers INFOHASH|MAGNET",
		Short: "Find a torrent's peers through trackers and the DHT, and print them as they come",
		Long: `Look the torrent's peers up in every source at once: the magnet's x.pe, its
trackers (tr, and --tracker) and the mainline DHT, and print each address as
it is found, with the source that named it first:

  127.0.0.1:6881  udp://127.0.0.1:6969/announce
  127.0.0.2:41000  dht

It ends when every source is done (each tracker answered or failed, the DHT
lookup reached the nodes closest to the info hash) or at --timeout, then
prints what each source did. --handshake also connects to each peer (with
the torrent's info hash) and shows its client and the extensions it
speaks: what does this swarm speak?

Exit 0 when a peer was found, 3 when none was.`,
		Example: `  btext peers 'magnet:?xt=urn:btih:0c1cff1615a3bab426a5e1665f5f44f6a344e67f&tr=udp://127.0.0.1:6969' --no-dht
  btext peers 0c1cff1615a3bab426a5e1665f5f44f6a344e67f --dht-bootstrap 127.0.0.1:6881 --handshake --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPeers(cmd.Context(), args[0], o)
		},
	}
	o.discover.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&o.handshake, "handshake", false, "connect to each peer found and show its client and extensions")
	cmd.Flags().IntVar(&o.max, "max-peers", 20, "with --handshake: connections at once")
	cmd.Flags().BoolVar(&o.json, "json", false, `print one JSON object per peer, then {"type":"end",...}`)
	a.skeletons[cmd] = newPeersSkeleton
	return cmd
}

// peerLine is one found peer in --json output.
type peerLine struct {
	Type      string         `json:"type"` // "peer"
	T         float64        `json:"t"`
	Addr      string         `json:"addr"`
	Source    string         `json:"source"`
	Handshake *peerHandshake `json:"handshake,omitempty"`
}

type peerHandshake struct {
	Client     *string        `json:"client"`
	PeerID     *string        `json:"peer_id_text"`
	Extensions map[string]int `json:"extensions"`
	Encryption *string        `json:"encryption"`
	Error      *string        `json:"error"`
}

// peersEnd ends the --json stream.
type peersEnd struct {
	Type      string         `json:"type"` // "end"
	Reason    string         `json:"reason"`
	Peers     int            `json:"peers"`
	Discovery *discoveryJSON `json:"discovery"`
	outcome
}

func newPeersSkeleton() report { return &peersEnd{Type: "end", Reason: "error"} }

func (a *app) runPeers(ctx context.Context, what string, o peersOptions) error {
	target, err := metainfo.ParseTarget(what)
	if err != nil {
		return &usageError{err}
	}
	if err := o.discover.check(); err != nil {
		return err
	}
	if o.max <= 0 {
		return usagef("--max-peers must be positive")
	}
	static, err := resolvePeers(ctx, target.Peers, discovery.SourceMagnet)
	if err != nil {
		return err
	}
	trackers := o.discover.trackerList(target)
	if len(static) == 0 && len(trackers) == 0 && o.discover.noDHT {
		return usagef("nothing to ask for peers: give a magnet with tr or x.pe, --tracker, or leave the DHT on")
	}
	d, err := a.newDiscoverer(o.discover, len(trackers) > 0, nil)
	if err != nil {
		return err
	}
	defer d.close()

	lctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	start := time.Now()
	look := a.startLookup(lctx, d, target, static, trackers)
	out := &lineWriter{a: a, json: o.json}
	var wg sync.WaitGroup
	sem := make(chan struct{}, o.max)
	n := 0
	for p := range look.Peers() {
		n++
		line := peerLine{Type: "peer", T: seconds(time.Since(start)), Addr: p.Addr.String(), Source: p.Source}
		if !o.handshake {
			out.peer(line)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			line.Handshake = a.probePeer(lctx, target, p)
			out.peer(line)
		})
	}
	wg.Wait()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer scancel()
	rep := look.Stop(sctx)

	return a.endPeers(ctx, lctx, o.json, n, rep)
}

// probePeer connects to p with the torrent's info hash and says what it
// speaks.
func (a *app) probePeer(ctx context.Context, target metainfo.Target, p discovery.Peer) *peerHandshake {
	s, err := extensions.Connect(ctx, p.Addr.String(), extensions.Options{
		InfoHash: peer.Hash(target.HandshakeHash()),
		PeerID:   peer.RandomPeerID(),
		Local:    extensions.Local{Client: "btext " + version},
		Peer:     a.peerConfig(),
	})
	h := &peerHandshake{}
	if s != nil {
		defer s.Close()
		h.Client = ptr(peer.ClientName(s.Remote.PeerID))
		h.PeerID = ptr(peer.EscapeBinary(s.Remote.PeerID[:]))
		h.Extensions = map[string]int{}
		for name, id := range s.Registry.Names() {
			h.Extensions[name] = int(id)
		}
		h.Encryption = ptr(encryptionName(s.Conn.Crypto()))
	}
	if err != nil {
		h.Error = ptr(oneLine(err))
	}
	return h
}

// lineWriter prints the peers stream, one line at a time, from any
// goroutine.
type lineWriter struct {
	a    *app
	json bool
	mu   sync.Mutex
	err  error
}

func (w *lineWriter) peer(l peerLine) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	if w.json {
		w.err = w.a.printJSON(l)
		return
	}
	line := l.Addr + "  " + l.Source
	if h := l.Handshake; h != nil {
		if h.Client != nil {
			line += "  " + orDash(*h.Client)
		}
		if names := slices.Sorted(maps.Keys(h.Extensions)); len(names) > 0 {
			line += "  " + strings.Join(names, ",")
		}
		if h.Error != nil {
			line += "  error: " + *h.Error
		}
	}
	_, w.err = fmt.Fprintln(w.a.stdout, line)
}

// sourcesSummary says what each source did, in one line.
func sourcesSummary(r discovery.Report) string {
	var parts []string
	if d := r.DHT; d != nil {
		parts = append(parts, fmt.Sprintf("dht: %d queries, %d answers, %d peers", d.Stats.Queries, d.Stats.Responses, d.Stats.Peers))
	}
	for _, t := range r.Trackers {
		if t.Err != nil {
			parts = append(parts, t.URL+": "+trackerErrText(t.Err))
		} else if t.Response != nil {
			parts = append(parts, fmt.Sprintf("%s: %d peers", t.URL, len(t.Response.Peers)))
		}
	}
	if len(parts) == 0 {
		return "no source asked"
	}
	return strings.Join(parts, "; ")
}
