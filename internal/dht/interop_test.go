package dht

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/btext/btext/internal/interop"
	"github.com/btext/btext/internal/metainfo"
)

func interopClient(t *testing.T, cfg Config, boot ...string) *Client {
	t.Helper()
	cfg.Bootstrap = append([]string{}, boot...) // never nil: no real router in a test
	if cfg.Listen4 == "" {
		cfg.Listen4 = "127.0.0.1:0"
	}
	if cfg.Listen6 == "" {
		cfg.Listen6 = Off
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// lookupFinds runs GetPeers and checks that want is among the peers, and
// when it came.
func lookupFinds(t *testing.T, c *Client, ih metainfo.Hash, want string) LookupStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	var first time.Duration
	var peers []netip.AddrPort
	st, err := c.GetPeers(ctx, ih, func(p netip.AddrPort) {
		if p.String() == want && first == 0 {
			first = time.Since(start)
		}
		peers = append(peers, p)
	})
	if err != nil {
		t.Fatalf("get_peers: %v (%+v)", err, st)
	}
	t.Logf("get_peers: %+v; peers %v; %s after %v", st, peers, want, first)
	if first == 0 {
		t.Errorf("%s not found", want)
	}
	if !st.Converged {
		t.Errorf("lookup did not converge: %+v", st)
	}
	return st
}

func TestInteropLibtorrentGetPeers(t *testing.T) {
	interop.Require(t)
	n := interop.StartDHT(t, "dht-net.py", "--nodes", "8")
	c := interopClient(t, Config{}, n.Nodes[0])
	lookupFinds(t, c, n.Hash(t), n.Seeder)
	if len(c.GoodNodes()) < 4 {
		t.Errorf("only %d libtorrent nodes answered", len(c.GoodNodes()))
	}
}

// The benchmark's network: 40 nodes, 15 gone silent after their tables
// formed.
func TestInteropLibtorrentSilenced(t *testing.T) {
	interop.Require(t)
	n := interop.StartDHT(t, "dht-net.py", "--nodes", "40", "--silence", "15")
	c := interopClient(t, Config{}, n.Nodes[0])
	st := lookupFinds(t, c, n.Hash(t), n.Seeder)
	if st.Timeouts == 0 {
		t.Logf("no silenced node was queried (%v)", n.Silenced)
	}
	for _, s := range n.Silenced {
		ap := netip.MustParseAddrPort(s)
		if slices.Contains(c.GoodNodes(), ap) {
			t.Errorf("silenced node %v answered", ap)
		}
	}
}

func TestInteropLibtorrentIPv6(t *testing.T) {
	interop.Require(t)
	n := interop.StartDHT(t, "dht-net.py", "--nodes", "6", "--v6")
	c := interopClient(t, Config{Listen6: "[::1]:0", Listen4: Off}, n.Nodes6[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var peers []netip.AddrPort
	st, err := c.GetPeers(ctx, n.Hash(t), func(p netip.AddrPort) { peers = append(peers, p) })
	if err != nil {
		t.Fatalf("get_peers over IPv6: %v (%+v)", err, st)
	}
	t.Logf("get_peers over IPv6: %+v; peers %v", st, peers)
	seederPort := netip.MustParseAddrPort(n.Seeder).Port()
	if !slices.ContainsFunc(peers, func(p netip.AddrPort) bool { return p.Addr().Is6() && p.Port() == seederPort }) {
		t.Errorf("the seeder's IPv6 address ([::1]:%d) not found in %v", seederPort, peers)
	}
	for _, g := range c.GoodNodes() {
		if !g.Addr().Is6() {
			t.Errorf("IPv4 node %v answered a client with no IPv4 socket", g)
		}
	}
}

func TestInteropLibtorrentPingAndSample(t *testing.T) {
	interop.Require(t)
	n := interop.StartDHT(t, "dht-net.py", "--nodes", "8")
	c := interopClient(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ih := n.Hash(t)
	ids := map[NodeID]bool{}
	var listed []string
	for _, s := range n.Nodes {
		ap := netip.MustParseAddrPort(s)
		id, err := c.Ping(ctx, ap)
		if err != nil {
			t.Errorf("ping %v: %v", ap, err)
			continue
		}
		ids[id] = true
		smp, err := c.SampleInfohashes(ctx, ap, NodeID(ih))
		if err != nil {
			t.Errorf("sample_infohashes %v: %v", ap, err)
			continue
		}
		if smp.ID != id {
			t.Errorf("%v: ping id %v, sample id %v", ap, id, smp.ID)
		}
		if slices.Contains(smp.Hashes, ih) {
			listed = append(listed, s)
		}
		t.Logf("%v: num %d, %d samples, %d nodes, interval %v", ap, smp.Num, len(smp.Hashes), len(smp.Nodes), smp.Interval)
	}
	if len(ids) != len(n.Nodes) {
		t.Errorf("%d distinct ids from %d nodes", len(ids), len(n.Nodes))
	}
	if len(listed) == 0 {
		t.Errorf("no node lists the seeded hash %v in its samples", ih)
	}
	t.Logf("nodes listing the seeded hash: %v", listed)
}

func TestInteropBittorrentDHT(t *testing.T) {
	interop.Require(t)
	n := interop.StartDHT(t, "dht-js.mjs", "--nodes", "5")
	c := interopClient(t, Config{}, n.Nodes[0])
	lookupFinds(t, c, n.Hash(t), n.Peer)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx, netip.MustParseAddrPort(n.Nodes[1])); err != nil {
		t.Errorf("ping: %v", err)
	}
}

// A hash nobody announced: bittorrent-dht nodes answer with nodes only,
// and the lookup must reach every node of the network through them.
func TestInteropBittorrentDHTNodes(t *testing.T) {
	interop.Require(t)
	n := interop.StartDHT(t, "dht-js.mjs", "--nodes", "6")
	c := interopClient(t, Config{}, n.Nodes[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ih metainfo.Hash
	ih[0] = 0x42
	st, err := c.GetPeers(ctx, ih, func(p netip.AddrPort) { t.Errorf("peer %v for a hash nobody announced", p) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("get_peers: %+v", st)
	if st.Responses != len(n.Nodes) || !st.Converged || st.Hops < 1 {
		t.Errorf("want all %d nodes reached through referrals: %+v", len(n.Nodes), st)
	}
}

// BenchmarkInteropSilenced measures lookups on the benchmark's network (40
// libtorrent nodes, 15 silenced) for several alphas: time to the seeder and
// to convergence, and queries sent.
func BenchmarkInteropSilenced(b *testing.B) {
	if os.Getenv("BTEXT_INTEROP") != "require" && os.Getenv("BTEXT_INTEROP") != "1" {
		b.Skip("needs BTEXT_INTEROP=require")
	}
	n := interop.StartDHT(b, "dht-net.py", "--nodes", "40", "--silence", "15")
	ih, _ := hex.DecodeString(n.InfoHash)
	for _, alpha := range []int{3, 4, 5, 8} {
		b.Run(fmt.Sprintf("alpha=%d", alpha), func(b *testing.B) {
			var first, total time.Duration
			var queries int
			for b.Loop() {
				c, err := New(Config{Bootstrap: []string{n.Nodes[0]}, Listen4: "127.0.0.1:0", Listen6: Off, Alpha: alpha})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				var f time.Duration
				st, err := c.GetPeers(context.Background(), metainfo.Hash(ih), func(p netip.AddrPort) {
					if p.String() == n.Seeder && f == 0 {
						f = time.Since(start)
					}
				})
				c.Close()
				if err != nil || f == 0 {
					b.Fatalf("lookup: %v, seeder found after %v", err, f)
				}
				first += f
				total += st.Elapsed
				queries += st.Queries
			}
			b.ReportMetric(float64(first.Microseconds())/float64(b.N)/1000, "ms-to-peer")
			b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-to-converge")
			b.ReportMetric(float64(queries)/float64(b.N), "queries")
		})
	}
}

// listsClient asks every node for the nodes closest to c's id and returns
// those that list c: a node honouring BEP 43 never does.
func listsClient(t *testing.T, nodes []string, c *Client) []string {
	t.Helper()
	probe := interopClient(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := c.ID()
	var out []string
	for _, s := range nodes {
		m, err := probe.query(ctx, netip.MustParseAddrPort(s), "find_node", map[string]any{"target": string(id[:])})
		if err != nil {
			t.Errorf("find_node %s: %v", s, err)
			continue
		}
		if slices.ContainsFunc(m.Nodes, func(n Node) bool { return n.ID == id }) {
			out = append(out, s)
		}
	}
	return out
}

func TestInteropReadOnly(t *testing.T) {
	interop.Require(t)
	lt := interop.StartDHT(t, "dht-net.py", "--nodes", "6")
	js := interop.StartDHT(t, "dht-js.mjs", "--nodes", "4")
	c := interopClient(t, Config{}, lt.Nodes[0], js.Nodes[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ih := range []string{lt.InfoHash, js.InfoHash} {
		b, _ := hex.DecodeString(ih)
		if _, err := c.GetPeers(ctx, metainfo.Hash(b), nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := listsClient(t, lt.Nodes, c); len(got) > 0 {
		t.Errorf("libtorrent nodes %v put our read-only client in their tables", got)
	}
	// bittorrent-dht does not implement BEP 43: logged, as docs/dht.md says.
	t.Logf("bittorrent-dht nodes listing the read-only client: %v", listsClient(t, js.Nodes, c))
}
