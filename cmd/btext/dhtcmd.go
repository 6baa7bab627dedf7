package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"github.com/btext/btext/internal/dht"
	"github.com/btext/btext/internal/discovery"
	"github.com/btext/btext/internal/metainfo"
)

func newDHTCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dht",
		Short: "Ask the mainline DHT directly: ping a node, look peers up, sample info hashes",
		Long: `Talk to the mainline DHT (BEP 5) as a read-only node (BEP 43: ro=1, so no
node adds btext to its routing table), over IPv4 and IPv6 (BEP 32).`,
		Args: exactArgs(0),
	}
	cmd.AddCommand(newDHTPingCmd(a), newDHTGetPeersCmd(a), newDHTSampleCmd(a))
	return cmd
}

type dhtNodeOptions struct{ json bool }

// dhtNode resolves a node's host:port and opens a DHT client to ask it.
func (a *app) dhtNode(ctx context.Context, node string) (netip.AddrPort, *dht.Client, error) {
	ps, err := resolvePeers(ctx, []string{node}, "")
	if err != nil {
		return netip.AddrPort{}, nil, err
	}
	c, err := a.newDHT(discoverOptions{dhtBootstrap: []string{node}}, nil)
	if err != nil {
		return netip.AddrPort{}, nil, err
	}
	return ps[0].Addr, c, nil
}

func newDHTPingCmd(a *app) *cobra.Command {
	var o dhtNodeOptions
	cmd := &cobra.Command{
		Use:     "ping NODE",
		Short:   "Ping a DHT node and print its node id and round trip",
		Example: `  btext dht ping 127.0.0.1:6881`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDHTPing(cmd.Context(), args[0], o)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object")
	a.skeletons[cmd] = func() report { return &dhtPingReport{} }
	return cmd
}

type dhtPingReport struct {
	Node  string   `json:"node"`
	ID    *string  `json:"id"`
	RTTMS *float64 `json:"rtt_ms"`
	outcome
}

func (a *app) runDHTPing(ctx context.Context, node string, o dhtNodeOptions) error {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	addr, c, err := a.dhtNode(ctx, node)
	if err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	id, err := c.Ping(ctx, addr)
	rep := dhtPingReport{Node: addr.String()}
	if o.json {
		a.result = &rep
	}
	if err != nil {
		return fmt.Errorf("ping %s: %w", addr, err)
	}
	rtt := time.Since(start)
	rep.ID, rep.RTTMS = ptr(hex.EncodeToString(id[:])), ptr(ms(rtt))
	a.finish(o.json, &rep, func(w io.Writer) {
		fmt.Fprintf(w, "%s  id %s  %v\n", addr, *rep.ID, rtt.Round(time.Microsecond))
	})
	return nil
}

type getPeersOptions struct {
	discover discoverOptions
	verbose  bool
	json     bool
}

func newDHTGetPeersCmd(a *app) *cobra.Command {
	var o getPeersOptions
	cmd := &cobra.Command{
		Use:   "get-peers INFOHASH|MAGNET",
		Short: "Look a torrent's peers up in the DHT, step by step with -v",
		Long: `Run one iterative get_peers lookup (BEP 5) from the bootstrap nodes (the
default hosts and the cache of nodes that answered before, or
--dht-bootstrap) and print each peer as it arrives. -v shows the lookup step
by step on stderr: each query, each answer with the nodes and values it held
and its distance to the info hash, each timeout.`,
		Example: `  btext dht get-peers 0c1cff1615a3bab426a5e1665f5f44f6a344e67f --dht-bootstrap 127.0.0.1:6881 -v`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDHTGetPeers(cmd.Context(), args[0], o)
		},
	}
	cmd.Flags().StringArrayVar(&o.discover.dhtBootstrap, "dht-bootstrap", nil, "DHT node HOST:PORT to start from (repeatable); replaces the default hosts and the cache")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "show each query and answer on stderr")
	cmd.Flags().BoolVar(&o.json, "json", false, `print one JSON object per peer, then {"type":"end",...}`)
	a.skeletons[cmd] = newPeersSkeleton
	return cmd
}

func (a *app) runDHTGetPeers(ctx context.Context, what string, o getPeersOptions) error {
	target, err := metainfo.ParseTarget(what)
	if err != nil {
		return &usageError{err}
	}
	if err := o.discover.check(); err != nil {
		return err
	}
	var trace func(dht.TraceEvent)
	if o.verbose {
		trace = func(ev dht.TraceEvent) { fmt.Fprintln(a.stderr, traceLine(ev)) }
	}
	d, err := a.newDiscoverer(o.discover, false, trace)
	if err != nil {
		return err
	}
	defer d.close()
	lctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	start := time.Now()
	look := a.startLookup(lctx, d, target, nil, nil)
	out := &lineWriter{a: a, json: o.json}
	n := 0
	for p := range look.Peers() {
		n++
		out.peer(peerLine{Type: "peer", T: seconds(time.Since(start)), Addr: p.Addr.String(), Source: p.Source})
	}
	rep := look.Stop(context.Background())
	return a.endPeers(ctx, lctx, o.json, n, rep)
}

// endPeers ends a stream of found peers: the end object (with --json) or a
// summary line on stderr, and the error when none was found.
func (a *app) endPeers(ctx, lctx context.Context, asJSON bool, n int, rep discovery.Report) error {
	end := &peersEnd{Type: "end", Reason: "done", Peers: n, Discovery: newDiscoveryJSON(rep)}
	switch {
	case ctx.Err() != nil:
		end.Reason = "interrupted"
	case lctx.Err() != nil:
		end.Reason = "time"
	}
	if asJSON {
		a.result = end
	} else if n > 0 {
		fmt.Fprintf(a.stderr, "%s in %v (%s)\n", plural(int64(n), "peer", "peers"), rep.Elapsed.Round(time.Millisecond), sourcesSummary(rep))
	}
	switch {
	case n > 0:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return noPeersError(rep)
}

// traceLine is one step of a lookup for -v:
// "  0.012s query  127.0.0.2:6881 hop 1, 12 bits".
func traceLine(ev dht.TraceEvent) string {
	line := fmt.Sprintf("%8.3fs %-7s %s hop %d", ev.Elapsed.Seconds(), ev.Kind, ev.Node.Addr, ev.Hop)
	if ev.Bits >= 0 {
		line += fmt.Sprintf(", %d bits in common", ev.Bits)
	}
	switch ev.Kind {
	case dht.TraceReply:
		line += fmt.Sprintf(": %d values, %d nodes", ev.Values, ev.Nodes)
	case dht.TraceTimeout, dht.TraceError:
		if ev.Err != nil {
			line += ": " + oneLine(ev.Err)
		}
	}
	return line
}

type sampleOptions struct {
	target string
	json   bool
}

func newDHTSampleCmd(a *app) *cobra.Command {
	var o sampleOptions
	cmd := &cobra.Command{
		Use:   "sample NODE",
		Short: "Ask a DHT node for a sample of the info hashes it stores (BEP 51)",
		Long: `Send one sample_infohashes query (BEP 51) and print the info hashes the node
returned, its interval and its count of stored hashes. --target picks the
region of the id space (default: a random id).`,
		Example: `  btext dht sample 127.0.0.1:6881 --json`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDHTSample(cmd.Context(), args[0], o)
		},
	}
	cmd.Flags().StringVar(&o.target, "target", "", "node id (40 hex) to sample near (default random)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object")
	a.skeletons[cmd] = func() report { return &sampleReport{Samples: []string{}, Nodes: []string{}} }
	return cmd
}

type sampleReport struct {
	Node      string   `json:"node"`
	Interval  *float64 `json:"interval_s"`
	Num       *int     `json:"num"`
	Samples   []string `json:"samples"`
	Nodes     []string `json:"nodes"`
	ElapsedMS float64  `json:"elapsed_ms"`
	outcome
}

func (a *app) runDHTSample(ctx context.Context, node string, o sampleOptions) error {
	var target dht.NodeID
	if o.target != "" {
		b, err := hex.DecodeString(o.target)
		if err != nil || len(b) != len(target) {
			return usagef("--target %q: want 40 hex characters", o.target)
		}
		copy(target[:], b)
	} else {
		_, _ = rand.Read(target[:])
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	addr, c, err := a.dhtNode(ctx, node)
	if err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	s, err := c.SampleInfohashes(ctx, addr, target)
	rep := sampleReport{Node: addr.String(), Samples: []string{}, Nodes: []string{}, ElapsedMS: ms(time.Since(start))}
	if o.json {
		a.result = &rep
	}
	if err != nil {
		return fmt.Errorf("sample_infohashes %s: %w", addr, err)
	}
	rep.Interval, rep.Num = ptr(s.Interval.Seconds()), ptr(s.Num)
	for _, h := range s.Hashes {
		rep.Samples = append(rep.Samples, h.String())
	}
	for _, n := range s.Nodes {
		rep.Nodes = append(rep.Nodes, n.Addr.String())
	}
	a.finish(o.json, &rep, func(w io.Writer) {
		fmt.Fprintf(w, "%s: %d samples of %d info hashes, interval %v\n", addr, len(s.Hashes), s.Num, s.Interval)
		for _, h := range rep.Samples {
			fmt.Fprintln(w, h)
		}
	})
	return nil
}
