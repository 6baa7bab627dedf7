package main

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/btext/btext/internal/dht"
	"github.com/btext/btext/internal/discovery"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/tracker"
)

// discoverOptions are the flags of every command that looks peers up.
type discoverOptions struct {
	trackers     []string
	noDHT        bool
	noTrackers   bool
	dhtBootstrap []string
}

func (o *discoverOptions) addFlags(f *pflag.FlagSet) {
	f.StringArrayVar(&o.trackers, "tracker", nil, "also announce to this tracker URL (http, https or udp; repeatable)")
	f.BoolVar(&o.noDHT, "no-dht", false, "do not look peers up in the DHT")
	f.BoolVar(&o.noTrackers, "no-trackers", false, "do not announce to any tracker (the magnet's tr included)")
	f.StringArrayVar(&o.dhtBootstrap, "dht-bootstrap", nil, "DHT node HOST:PORT to start the lookup from (repeatable); replaces the default bootstrap hosts and the node cache")
}

// trackerList is every tracker to ask: the magnet's (all tiers) and the
// flags', each once, in order.
func (o *discoverOptions) trackerList(t metainfo.Target) []string {
	if o.noTrackers {
		return nil
	}
	var urls []string
	for _, u := range append(slices.Clone(t.Trackers), o.trackers...) {
		if u = strings.TrimSpace(u); u != "" && !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	return urls
}

// check validates the flags before any packet is sent.
func (o *discoverOptions) check() error {
	for _, u := range o.trackers {
		if err := tracker.CheckURL(u); err != nil {
			return usagef("--tracker: %v", err)
		}
	}
	for _, b := range o.dhtBootstrap {
		if _, _, err := peer.SplitAddr(b); err != nil {
			return usagef("--dht-bootstrap: %v", err)
		}
	}
	return nil
}

// dhtCachePath is where the nodes that answered are kept between runs.
func dhtCachePath() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "btext", "dht-nodes")
}

// newDHT opens the DHT client the flags describe. With --dht-bootstrap it
// starts from those nodes only and neither reads nor writes the cache.
// trace, if set, sees every step of every lookup.
func (a *app) newDHT(o discoverOptions, trace func(dht.TraceEvent)) (*dht.Client, error) {
	cfg := dht.Config{Bootstrap: dht.DefaultBootstrap, CachePath: dhtCachePath(), Log: a.log, Trace: trace}
	if len(o.dhtBootstrap) > 0 {
		cfg.Bootstrap, cfg.CachePath = o.dhtBootstrap, ""
	}
	if a.bind != "" {
		ip, err := netip.ParseAddr(a.bind)
		if err != nil {
			return nil, usagef("--bind %q is not an IP address", a.bind)
		}
		if ip.Is4() {
			cfg.Listen4, cfg.Listen6 = net.JoinHostPort(a.bind, "0"), dht.Off
		} else {
			cfg.Listen4, cfg.Listen6 = dht.Off, net.JoinHostPort(a.bind, "0")
		}
	}
	return dht.New(cfg)
}

// discoverer holds the clients one command's lookups share.
type discoverer struct {
	trackers *tracker.Client
	dht      *dht.Client
}

func (a *app) newDiscoverer(o discoverOptions, trackers bool, trace func(dht.TraceEvent)) (*discoverer, error) {
	d := &discoverer{}
	if trackers {
		d.trackers = tracker.NewClient(tracker.Config{Log: a.log})
	}
	if !o.noDHT {
		c, err := a.newDHT(o, trace)
		if err != nil {
			return nil, fmt.Errorf("dht: %w", err)
		}
		d.dht = c
	}
	return d, nil
}

func (d *discoverer) close() {
	if d.dht != nil {
		_ = d.dht.SaveCache()
		_ = d.dht.Close()
	}
	if d.trackers != nil {
		_ = d.trackers.Close()
	}
}

// start begins a lookup for the target: static addresses first, then
// every tracker and the DHT at once.
func (a *app) startLookup(ctx context.Context, d *discoverer, t metainfo.Target, static []discovery.Peer, trackers []string) *discovery.Lookup {
	return discovery.Start(ctx, discovery.Config{
		InfoHash: t.HandshakeHash(),
		Static:   static,
		Trackers: trackers,
		Tracker:  d.trackers,
		DHT:      d.dht,
		Announce: tracker.Request{PeerID: peer.RandomPeerID(), Port: announcePort(), Left: 1, NumWant: 200},
		Log:      a.log,
	})
}

// stopAnnounceTimeout bounds the "stopped" announces at the end.
const stopAnnounceTimeout = 2 * time.Second

// announcePort is the port btext announces: a random one of the dynamic
// range. btext accepts no connections there, but bittorrent-tracker
// refuses port 0 and opentracker lists it (docs/trackers.md); the stopped
// announce at the end takes it out of the swarm again.
func announcePort() uint16 { return uint16(49152 + mrand.IntN(16384)) }

// resolvePeers turns host:port arguments into addresses, resolving a host
// name once (its first address); an address given twice is kept once.
func resolvePeers(ctx context.Context, addrs []string, source string) ([]discovery.Peer, error) {
	var out []discovery.Peer
	for _, s := range addrs {
		host, port, err := peer.SplitAddr(s)
		if err != nil {
			return nil, &usageError{err}
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			ips, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			if lerr != nil || len(ips) == 0 {
				return nil, fmt.Errorf("resolve %s: %w", s, lerr)
			}
			ip = ips[0]
		}
		ap := netip.AddrPortFrom(ip.Unmap(), port)
		if !slices.ContainsFunc(out, func(p discovery.Peer) bool { return p.Addr == ap }) {
			out = append(out, discovery.Peer{Addr: ap, Source: source})
		}
	}
	return out, nil
}

// discoveryJSON is the "discovery" object of --json output.
type discoveryJSON struct {
	Trackers []trackerJSON `json:"trackers"`
	DHT      *dhtJSON      `json:"dht"`
	Peers    int           `json:"peers"`
	// FirstPeerMS is the time to the first address a tracker or the DHT
	// gave; MetadataMS (fetch-metadata) the time to the verified metadata.
	FirstPeerMS *float64 `json:"first_peer_ms"`
	MetadataMS  *float64 `json:"metadata_ms,omitempty"`
	ElapsedMS   float64  `json:"elapsed_ms"`
}

type trackerJSON struct {
	URL       string   `json:"url"`
	Peers     *int     `json:"peers"`
	Seeders   *int     `json:"seeders"`
	Leechers  *int     `json:"leechers"`
	Interval  *float64 `json:"interval_s"`
	Warning   *string  `json:"warning"`
	Error     *string  `json:"error"`
	ElapsedMS float64  `json:"elapsed_ms"`
}

type dhtJSON struct {
	Queries   int     `json:"queries"`
	Responses int     `json:"responses"`
	Timeouts  int     `json:"timeouts"`
	Nodes     int     `json:"nodes"`
	Peers     int     `json:"peers"`
	Error     *string `json:"error"`
	ElapsedMS float64 `json:"elapsed_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func newDiscoveryJSON(r discovery.Report) *discoveryJSON {
	j := &discoveryJSON{Trackers: []trackerJSON{}, Peers: r.Peers, ElapsedMS: ms(r.Elapsed)}
	if r.FirstPeer > 0 {
		v := ms(r.FirstPeer)
		j.FirstPeerMS = &v
	}
	for _, t := range r.Trackers {
		tj := trackerJSON{URL: t.URL, ElapsedMS: ms(t.Elapsed)}
		if t.Err != nil {
			tj.Error = ptr(oneLine(t.Err))
		}
		if resp := t.Response; resp != nil {
			tj.Peers = ptr(len(resp.Peers))
			if resp.Seeders >= 0 {
				tj.Seeders = ptr(resp.Seeders)
			}
			if resp.Leechers >= 0 {
				tj.Leechers = ptr(resp.Leechers)
			}
			tj.Interval = ptr(resp.Interval.Seconds())
			if resp.Warning != "" {
				tj.Warning = ptr(resp.Warning)
			}
		}
		j.Trackers = append(j.Trackers, tj)
	}
	if d := r.DHT; d != nil {
		j.DHT = &dhtJSON{Queries: d.Stats.Queries, Responses: d.Stats.Responses, Timeouts: d.Stats.Timeouts,
			Nodes: d.Stats.Nodes, Peers: d.Stats.Peers, ElapsedMS: ms(d.Stats.Elapsed)}
		if d.Err != nil && !errors.Is(d.Err, context.Canceled) {
			j.DHT.Error = ptr(oneLine(d.Err))
		}
	}
	return j
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// errNoPeers: discovery found no peer to dial. It is a network outcome
// (exit 3): the same command may find peers later.
var errNoPeers = errors.New("no peers found")

// noPeersError names what each source did.
func noPeersError(r discovery.Report) error {
	var parts []string
	if d := r.DHT; d != nil {
		s := fmt.Sprintf("dht: %d queries, %d answers, %d peers", d.Stats.Queries, d.Stats.Responses, d.Stats.Peers)
		if d.Err != nil && !errors.Is(d.Err, context.Canceled) && !errors.Is(d.Err, context.DeadlineExceeded) {
			s += " (" + oneLine(d.Err) + ")"
		}
		parts = append(parts, s)
	}
	for _, t := range r.Trackers {
		switch {
		case t.Err != nil:
			parts = append(parts, t.URL+": "+trackerErrText(t.Err))
		case t.Response != nil:
			parts = append(parts, fmt.Sprintf("%s: %d peers", t.URL, len(t.Response.Peers)))
		default:
			parts = append(parts, t.URL+": no answer")
		}
	}
	if len(parts) == 0 {
		return fmt.Errorf("%w: no source to ask (no tracker, DHT off, no peer given)", errNoPeers)
	}
	return fmt.Errorf("%w: %s", errNoPeers, strings.Join(parts, "; "))
}

// trackerErrText is a tracker's error as a user reads it: the tracker's
// own words quoted, a deadline as "timed out".
func trackerErrText(err error) string {
	var fe *tracker.FailureError
	switch {
	case errors.As(err, &fe):
		return fmt.Sprintf("%q", fe.Reason)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timed out"
	}
	return strings.TrimPrefix(oneLine(err), "announce: ")
}
