package dht

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btext/btext/internal/metainfo"
)

// Every wait in these tests is bounded by this context; no assertion is
// about time.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func hashNear(id NodeID, flip int) metainfo.Hash {
	h := metainfo.Hash(id)
	h[19] ^= byte(flip)
	return h
}

var peerA = netip.MustParseAddrPort("10.1.2.3:6881") // a value, never dialled

// checkConverged checks that a lookup heard from the k closest answering
// nodes of the network and that no node saw a query without ro=1.
func checkConverged(t *testing.T, fn *fakeNet, target NodeID, k int) {
	t.Helper()
	for _, n := range fn.closest(target, k) {
		if n.queried() == 0 {
			t.Errorf("node %v (%d bits in common with the target) was never queried", n.addr, target.commonBits(n.id))
		}
	}
	for _, n := range fn.nodes {
		if v := n.notRO.Load(); v != 0 {
			t.Errorf("node %v got %d queries without ro=1", n.addr, v)
		}
	}
}

func TestGetPeersConverges(t *testing.T) {
	fn := newFakeNet(t, 60, 1)
	holder := fn.nodes[17]
	ih := hashNear(holder.id, 1) // the holder is among the closest, as in a real DHT
	holder.configure(func(f *fakeNode) {
		f.peers[NodeID(ih)] = []netip.AddrPort{peerA, netip.MustParseAddrPort("[2001:db8::1]:51413")}
	})
	// The same peer from two nodes is reported once.
	fn.closest(NodeID(ih), 2)[1].configure(func(f *fakeNode) { f.peers[NodeID(ih)] = []netip.AddrPort{peerA} })

	var trace []TraceEvent
	c := newTestClient(t, Config{Trace: func(e TraceEvent) { trace = append(trace, e) }}, fn.nodes[0])
	var got []netip.AddrPort
	st, err := c.GetPeers(testCtx(t), ih, func(p netip.AddrPort) { got = append(got, p) })
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{peerA, netip.MustParseAddrPort("[2001:db8::1]:51413")}
	if !slices.Equal(got, want) {
		t.Errorf("peers %v, want %v", got, want)
	}
	if !st.Converged || st.Peers != 2 || st.Responses == 0 || st.Timeouts != 0 || st.Errors != 0 {
		t.Errorf("stats %+v", st)
	}
	if st.Hops < 2 {
		t.Errorf("hops %d: the fake network needs at least 2", st.Hops)
	}
	checkConverged(t, fn, NodeID(ih), DefaultK)
	if st.Queries >= len(fn.nodes) {
		t.Errorf("%d queries for %d nodes: the lookup flooded instead of converging", st.Queries, len(fn.nodes))
	}
	var q, r int
	for _, e := range trace {
		switch e.Kind {
		case TraceQuery:
			q++
		case TraceReply:
			r++
		}
	}
	if q != st.Queries || r != st.Responses {
		t.Errorf("trace has %d queries and %d replies, stats %+v", q, r, st)
	}
	if good := c.GoodNodes(); len(good) != st.Responses {
		t.Errorf("%d good nodes after %d responses", len(good), st.Responses)
	}
}

// The peer reaches found before a node of the k closest has replied (it
// holds its reply until found runs): peers are streamed as they come, not
// handed over when the lookup ends, which it cannot do without that reply.
func TestGetPeersStreams(t *testing.T) {
	fn := newFakeNet(t, 30, 2)
	target := fn.nodes[5].id
	ih := hashNear(target, 3)
	closest := fn.closest(NodeID(ih), 2)
	closest[1].configure(func(f *fakeNode) { f.peers[NodeID(ih)] = []netip.AddrPort{peerA} })
	release := make(chan struct{})
	var replied atomic.Bool
	closest[0].configure(func(f *fakeNode) {
		f.delay = func(q *message) {
			if q.Q != "get_peers" {
				return
			}
			select {
			case <-release:
			case <-time.After(20 * time.Second):
			}
			replied.Store(true)
		}
	})
	c := newTestClient(t, Config{QueryTimeout: 25 * time.Second}, fn.nodes[0])
	var foundFirst bool
	st, err := c.GetPeers(testCtx(t), ih, func(p netip.AddrPort) {
		foundFirst = !replied.Load()
		close(release)
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Peers != 1 {
		t.Fatalf("stats %+v", st)
	}
	if !foundFirst {
		t.Error("the peer was reported only after the held node answered")
	}
	if !st.Converged || closest[0].queried() == 0 {
		t.Errorf("did not converge through the held node: %+v", st)
	}
}

func TestGetPeersHostileNodes(t *testing.T) {
	for _, b := range []behaviour{silent, wrongTID, otherSource, errorReply, garbage, noID} {
		t.Run(fmt.Sprint(b), func(t *testing.T) {
			t.Parallel()
			fn := newFakeNet(t, 30, 3)
			ih := hashNear(fn.nodes[9].id, 7)
			fn.nodes[9].configure(func(f *fakeNode) { f.peers[NodeID(ih)] = []netip.AddrPort{peerA} })
			// Four of the nodes closest to the target misbehave; the
			// bootstrap node is one of them.
			bad := fn.closest(NodeID(ih), 6)[2:]
			for _, n := range append(bad, fn.nodes[0]) {
				n.configure(func(f *fakeNode) { f.behave = b })
				if b == otherSource {
					n.configure(func(f *fakeNode) {
						f.extra = map[NodeID][]netip.AddrPort{NodeID(ih): {netip.MustParseAddrPort("10.6.6.6:666")}}
					})
				}
			}
			fn.nodes[1].configure(func(f *fakeNode) { f.behave = normal }) // a second way in
			c := newTestClient(t, Config{}, fn.nodes[0], fn.nodes[1])
			var got []netip.AddrPort
			st, err := c.GetPeers(testCtx(t), ih, func(p netip.AddrPort) { got = append(got, p) })
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, []netip.AddrPort{peerA}) {
				t.Errorf("peers %v, want only %v", got, peerA)
			}
			if !st.Converged {
				t.Errorf("did not converge: %+v", st)
			}
			checkConverged(t, fn, NodeID(ih), DefaultK)
			cs := c.Stats()
			switch b {
			case errorReply:
				if st.Errors < 1 {
					t.Errorf("error replies not counted: %+v", st)
				}
			default:
				if st.Timeouts < 1 {
					t.Errorf("bad replies not counted as timeouts: %+v", st)
				}
			}
			switch b {
			case wrongTID:
				if cs.Stray < 1 {
					t.Errorf("stray replies not seen: %+v", cs)
				}
			case otherSource:
				if cs.WrongSource < 1 {
					t.Errorf("replies from another address not seen: %+v", cs)
				}
			case garbage, noID:
				if cs.Malformed < 1 {
					t.Errorf("malformed replies not seen: %+v", cs)
				}
			}
			for _, n := range c.GoodNodes() {
				for _, x := range bad {
					if n == x.addr {
						t.Errorf("bad node %v listed as good", n)
					}
				}
			}
		})
	}
}

func (b behaviour) String() string {
	return [...]string{"normal", "silent", "wrongTID", "otherSource", "errorReply", "garbage", "noID"}[b]
}

// A node that answers with ever-farther nodes, each a real node that does
// the same, cannot keep the lookup going: once k nodes closer than the
// chain have answered, the chain is not followed.
func TestGetPeersFartherChain(t *testing.T) {
	fn := newFakeNet(t, 12, 4)
	ih := hashNear(fn.nodes[3].id, 1)
	fn.nodes[3].configure(func(f *fakeNode) { f.peers[NodeID(ih)] = []netip.AddrPort{peerA} })
	chain := makeChain(t, fn, NodeID(ih), 120, false)
	c := newTestClient(t, Config{}, chain[0], fn.nodes[0])
	st, err := c.GetPeers(testCtx(t), ih, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Converged || st.Peers != 1 {
		t.Errorf("stats %+v", st)
	}
	var followed int
	for _, n := range chain {
		followed += min(1, n.queried())
	}
	if followed > 2*DefaultK+seedBurst {
		t.Errorf("%d chain nodes queried: the chain stretched the lookup (%+v)", followed, st)
	}
}

// A chain of ever-closer nodes (a Sybil) is stopped by MaxQueries.
func TestGetPeersCloserChainBounded(t *testing.T) {
	fn := newFakeNet(t, 4, 5)
	var ih metainfo.Hash
	ih[0] = 0x55
	chain := makeChain(t, fn, NodeID(ih), 120, true)
	c := newTestClient(t, Config{MaxQueries: 20}, chain[0])
	st, err := c.GetPeers(testCtx(t), ih, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Converged || st.Queries != 20 {
		t.Errorf("want a lookup stopped at 20 queries: %+v", st)
	}
	var sent int
	for _, n := range chain {
		sent += n.queried()
	}
	if sent != 20 {
		t.Errorf("the chain saw %d queries, want 20", sent)
	}
}

// makeChain adds n chain nodes. Node i answers with nodes i+1..i+8, each
// farther from target than the last (or closer, if closer is set).
func makeChain(t *testing.T, fn *fakeNet, target NodeID, n int, closer bool) []*fakeNode {
	var chain []*fakeNode
	for i := range n {
		id := target
		// Distance 0x40.. - i (closer), or 0xc0.. + i (farther: most real
		// nodes of fn, at random distances, are nearer than the chain).
		id[0] ^= 0x40
		if !closer {
			id[0] ^= 0x80
		}
		if closer {
			id[1] ^= byte(255 - i)
		} else {
			id[1] ^= byte(i)
		}
		chain = append(chain, fn.add(id, normal))
	}
	for i, node := range chain {
		var next []Node
		for _, x := range chain[i+1 : min(len(chain), i+9)] {
			next = append(next, Node{ID: x.id, Addr: x.addr})
		}
		node.configure(func(f *fakeNode) { f.reply = func(q *message, r *message) { r.Nodes = next } })
	}
	// Chain nodes are not in closest(): the real network's answer.
	for _, node := range chain {
		node.configure(func(f *fakeNode) { f.behave = chainNode })
	}
	return chain
}

const chainNode behaviour = 100

func TestGetPeersMaxNodes(t *testing.T) {
	fn := newFakeNet(t, 10, 6)
	ih := hashNear(fn.nodes[2].id, 1)
	fn.nodes[2].configure(func(f *fakeNode) { f.peers[NodeID(ih)] = []netip.AddrPort{peerA} })
	// The bootstrap node answers with 1,000 nodes nobody runs.
	fn.nodes[0].configure(func(f *fakeNode) {
		f.reply = func(q *message, r *message) {
			for i := range 1000 {
				// Far from the target: held as candidates, never queried
				// (127.9/16 runs nothing: a query would time out).
				id := NodeID(ih)
				id[0] ^= 0x80
				id[1], id[2] = byte(i), byte(i>>8)
				r.Nodes = append(r.Nodes, Node{ID: id, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 9, byte(i >> 8), byte(i)}), 9)})
			}
		}
	})
	c := newTestClient(t, Config{MaxNodes: 100}, fn.nodes[0])
	st, err := c.GetPeers(testCtx(t), ih, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Nodes > 100 {
		t.Errorf("%d nodes held, bound 100", st.Nodes)
	}
	if st.Peers != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestGetPeersConcurrent(t *testing.T) {
	fn := newFakeNet(t, 50, 7)
	c := newTestClient(t, Config{}, fn.nodes[0], fn.nodes[1])
	const lookups = 8
	var wg sync.WaitGroup
	errs := make([]error, lookups)
	for i := range lookups {
		holder := fn.nodes[10+i]
		ih := hashNear(holder.id, 1)
		want := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 1000)
		holder.configure(func(f *fakeNode) { f.peers[NodeID(ih)] = []netip.AddrPort{want} })
		wg.Go(func() {
			var got []netip.AddrPort
			st, err := c.GetPeers(testCtx(t), ih, func(p netip.AddrPort) { got = append(got, p) })
			switch {
			case err != nil:
				errs[i] = err
			case !slices.Equal(got, []netip.AddrPort{want}) || !st.Converged:
				errs[i] = fmt.Errorf("lookup %d: peers %v, stats %+v", i, got, st)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// The limit is checked by counting packets: however slow the machine, no
// more than burst + rate × elapsed packets may leave, for all lookups
// together.
func TestPacketRateShared(t *testing.T) {
	fn := newFakeNet(t, 40, 8)
	for _, n := range fn.nodes[20:] {
		n.configure(func(f *fakeNode) { f.behave = silent }) // timeouts make the lookups ask more nodes
	}
	const rate = 40
	start := time.Now()
	c := newTestClient(t, Config{PacketRate: rate, QueryTimeout: 200 * time.Millisecond}, fn.nodes[0], fn.nodes[1], fn.nodes[21])
	ctx, cancel := context.WithTimeout(testCtx(t), 1500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() { c.GetPeers(ctx, hashNear(fn.nodes[i*5].id, 9), nil) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	sent := c.Stats().Sent
	// The last datagrams may still be on their way to the nodes.
	received := func() int64 {
		var r int64
		for _, n := range fn.nodes {
			r += n.got.Load()
		}
		return r
	}
	waitFor(t, func() bool { return received() >= sent })
	if r := received(); r != sent {
		t.Errorf("client counted %d packets sent, the nodes got %d", sent, r)
	}
	limit := int64(rate/10) + int64(elapsed.Seconds()*rate) + 1
	if sent > limit {
		t.Errorf("%d packets in %v at %d/s: over the limit of %d", sent, elapsed, rate, limit)
	}
	if sent < 5 {
		t.Errorf("only %d packets: the test did not exercise the limit", sent)
	}
}

func TestBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBucket(100, func() time.Time { return now })
	for i := range 10 { // burst of a tenth of the rate
		if d := b.take(); d != 0 {
			t.Fatalf("token %d: wait %v", i, d)
		}
	}
	if d := b.take(); d != 10*time.Millisecond {
		t.Fatalf("empty bucket: wait %v, want 10ms", d)
	}
	now = now.Add(25 * time.Millisecond)
	for i := range 2 {
		if d := b.take(); d != 0 {
			t.Fatalf("after 25ms, token %d: wait %v", i, d)
		}
	}
	if d := b.take(); d == 0 {
		t.Fatal("a third token after 25ms at 100/s")
	}
	now = now.Add(time.Hour)
	n := 0
	for b.take() == 0 {
		n++
	}
	if n != 10 {
		t.Errorf("after an hour idle, %d tokens, want the burst of 10", n)
	}
}

func TestPingAndSample(t *testing.T) {
	fn := newFakeNet(t, 5, 9)
	var h1, h2 metainfo.Hash
	h1[0], h2[0] = 1, 2
	fn.nodes[0].configure(func(f *fakeNode) { f.peers[NodeID(h1)] = []netip.AddrPort{peerA} })
	fn.nodes[0].configure(func(f *fakeNode) { f.peers[NodeID(h2)] = []netip.AddrPort{peerA} })
	c := newTestClient(t, Config{})
	ctx := testCtx(t)
	id, err := c.Ping(ctx, fn.nodes[0].addr)
	if err != nil || id != fn.nodes[0].id {
		t.Fatalf("ping: %v, %v", id, err)
	}
	s, err := c.SampleInfohashes(ctx, fn.nodes[0].addr, NodeID{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Hashes, []metainfo.Hash{h1, h2}) || s.Num != 2 || s.Interval != time.Minute || len(s.Nodes) != 4 || s.ID != fn.nodes[0].id {
		t.Errorf("samples %+v", s)
	}
	fn.nodes[1].configure(func(f *fakeNode) { f.behave = silent })
	if _, err := c.Ping(ctx, fn.nodes[1].addr); !errors.Is(err, ErrTimeout) {
		t.Errorf("ping a silent node: %v, want ErrTimeout", err)
	}
	fn.nodes[2].configure(func(f *fakeNode) { f.behave = errorReply })
	var kerr *Error
	if _, err := c.SampleInfohashes(ctx, fn.nodes[2].addr, NodeID{}); !errors.As(err, &kerr) || kerr.Code != 202 {
		t.Errorf("sample from an error node: %v", err)
	}
	// A node without BEP 51 answers without samples.
	if _, err := c.SampleInfohashes(ctx, fn.nodes[3].addr, NodeID{}); err != nil {
		t.Logf("fake node 3 answers samples: %v", err)
	}
	fn.nodes[4].configure(func(f *fakeNode) { f.reply = func(q *message, r *message) { r.HasSamp = false } })
	if _, err := c.SampleInfohashes(ctx, fn.nodes[4].addr, NodeID{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("sample from a node without BEP 51: %v", err)
	}
	if _, err := c.Ping(ctx, netip.MustParseAddrPort("[::1]:1")); !errors.Is(err, ErrNoSocket) {
		t.Errorf("ping over a family that is off: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Ping(cctx, fn.nodes[0].addr); !errors.Is(err, context.Canceled) {
		t.Errorf("ping with a cancelled ctx: %v", err)
	}
}

func TestGetPeersNoNodes(t *testing.T) {
	c := newTestClient(t, Config{})
	if _, err := c.GetPeers(testCtx(t), metainfo.Hash{}, nil); !errors.Is(err, ErrNoNodes) {
		t.Errorf("no bootstrap: %v, want ErrNoNodes", err)
	}
	fn := newFakeNet(t, 2, 10)
	fn.nodes[0].configure(func(f *fakeNode) { f.behave = silent })
	c = newTestClient(t, Config{}, fn.nodes[0])
	st, err := c.GetPeers(testCtx(t), metainfo.Hash{}, nil)
	if !errors.Is(err, ErrNoAnswer) || st.Timeouts != 1 {
		t.Errorf("silent bootstrap: %v %+v, want ErrNoAnswer", err, st)
	}
}

func TestGetPeersCtxAndClose(t *testing.T) {
	fn := newFakeNet(t, 10, 11)
	for _, n := range fn.nodes {
		n.configure(func(f *fakeNode) { f.behave = silent })
	}
	c := newTestClient(t, Config{QueryTimeout: time.Minute}, fn.nodes...)
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error)
	go func() {
		_, err := c.GetPeers(ctx, metainfo.Hash{}, nil)
		done <- err
	}()
	waitFor(t, func() bool { return fn.nodes[0].got.Load() > 0 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled lookup: %v", err)
	}
	go func() {
		_, err := c.GetPeers(testCtx(t), metainfo.Hash{}, nil)
		done <- err
	}()
	waitFor(t, func() bool { return fn.nodes[0].got.Load() > 1 })
	c.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("lookup on a closed client: %v", err)
	}
}

// waitFor polls cond, for at most 20 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met in 20s")
}

func TestCache(t *testing.T) {
	fn := newFakeNet(t, 6, 12)
	path := filepath.Join(t.TempDir(), "sub", "dht-nodes")
	c := newTestClient(t, Config{CachePath: path}, fn.nodes[0])
	if err := c.SaveCache(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a cache written with no node answered: %v", err)
	}
	if _, err := c.GetPeers(testCtx(t), hashNear(fn.nodes[3].id, 1), nil); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveCache(); err != nil {
		t.Fatal(err)
	}
	good := c.GoodNodes()
	// A new client starts from the cache alone.
	c2 := newTestClient(t, Config{CachePath: path})
	if seeds := c2.seeds(testCtx(t)); !slices.Equal(seeds, good) {
		t.Errorf("seeds from the cache %v, want %v", seeds, good)
	}
	if _, err := c2.GetPeers(testCtx(t), hashNear(fn.nodes[4].id, 1), nil); err != nil {
		t.Errorf("lookup from the cache: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestParseCacheBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString("garbage\n127.0.0.1:0\n0.0.0.0:5\n[::ffff:127.0.0.1]:7\n127.0.0.1:7\n\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "127.1.%d.%d:6881\n", i/256, i%256)
	}
	got := parseCache([]byte(b.String()))
	if len(got) != maxCacheNodes {
		t.Errorf("%d nodes, want the bound %d", len(got), maxCacheNodes)
	}
	if got[0] != netip.MustParseAddrPort("127.0.0.1:7") || got[1] != netip.MustParseAddrPort("127.1.0.0:6881") {
		t.Errorf("first nodes %v", got[:2])
	}
}

// bittorrent-dht ignores "ro" and lists the client to others: a lookup
// never queries itself.
func TestGetPeersSkipsSelf(t *testing.T) {
	fn := newFakeNet(t, 10, 13)
	c := newTestClient(t, Config{}, fn.nodes[0])
	self := Node{ID: c.ID(), Addr: c.LocalAddrs()[0]}
	for _, n := range fn.nodes {
		n.configure(func(f *fakeNode) { f.reply = func(q *message, r *message) { r.Nodes = append(r.Nodes, self) } })
	}
	st, err := c.GetPeers(testCtx(t), hashNear(c.ID(), 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Queries != st.Responses || st.Timeouts != 0 {
		t.Errorf("the client queried itself: %+v", st)
	}
}

// Names are resolved once per client, every address of each; entries that
// are not host:port are skipped. Only "localhost" is resolved here, from
// /etc/hosts.
func TestBootstrapResolve(t *testing.T) {
	c, err := New(Config{Bootstrap: []string{"localhost:6881", "127.0.0.5:7", "no-port", "[::1]:8"}, Listen4: "127.0.0.1:0", Listen6: Off})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seeds := c.seeds(testCtx(t))
	for _, want := range []string{"127.0.0.1:6881", "127.0.0.5:7", "[::1]:8"} {
		if !slices.Contains(seeds, netip.MustParseAddrPort(want)) {
			t.Errorf("seeds %v lack %s", seeds, want)
		}
	}
	c.cfg.Bootstrap = nil // a second resolution would find nothing
	if again := c.seeds(testCtx(t)); !slices.Equal(again, seeds) {
		t.Errorf("second call %v, want the cached %v", again, seeds)
	}
}

// Silent nodes among the closest cost the slow mark, not the query
// timeout: with a timeout of a minute the lookup still converges (the test
// context would end it after 30 s otherwise) and counts them as timeouts.
func TestGetPeersSilentDoNotStall(t *testing.T) {
	fn := newFakeNet(t, 30, 14)
	ih := hashNear(fn.nodes[6].id, 1)
	fn.nodes[6].configure(func(f *fakeNode) { f.peers[NodeID(ih)] = []netip.AddrPort{peerA} })
	silentOnes := fn.closest(NodeID(ih), 5)[1:]
	for _, n := range silentOnes {
		n.configure(func(f *fakeNode) { f.behave = silent })
	}
	c := newTestClient(t, Config{QueryTimeout: time.Minute}, fn.nodes[0])
	st, err := c.GetPeers(testCtx(t), ih, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Converged || st.Peers != 1 || st.Timeouts < len(silentOnes) {
		t.Errorf("want convergence past %d silent nodes: %+v", len(silentOnes), st)
	}
}
