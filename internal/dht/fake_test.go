package dht

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/metainfo"
)

// A fake DHT in-process: each node is a UDP socket on its own 127.0.0.x
// address, answering ping, get_peers and sample_infohashes from a routing
// table the test builds, with knobs for the hostile cases.

type behaviour int

const (
	normal      behaviour = iota
	silent                // reads and never answers
	wrongTID              // answers with another transaction id
	otherSource           // answers from another socket
	errorReply            // answers y=e
	garbage               // answers bytes that are not bencode
	noID                  // answers a reply without an id
)

type fakeNode struct {
	id     NodeID
	addr   netip.AddrPort
	conn   *net.UDPConn
	other  *net.UDPConn // for otherSource
	behave behaviour

	mu    sync.Mutex
	table []Node                       // nodes it knows
	peers map[NodeID][]netip.AddrPort  // info hash -> peers it stores
	reply func(q *message, r *message) // edits a reply before it is sent
	delay func(q *message)             // blocks before replying
	extra map[NodeID][]netip.AddrPort  // values sent only by otherSource
	seen  map[netip.AddrPort]int       // queries per source address
	notRO atomic.Int64                 // queries without ro=1
	got   atomic.Int64                 // datagrams received
	gotQ  []string                     // query methods, in order
}

type fakeNet struct {
	t     *testing.T
	nodes []*fakeNode
	next  atomic.Int32
	wg    sync.WaitGroup
}

// newFakeNet starts n nodes with random ids on 127.0.0.2, 127.0.0.3, ...
// Each knows its 8 closest neighbours in id space and 8 random others, so
// a lookup needs several hops and must find the true closest nodes.
func newFakeNet(t *testing.T, n int, seed uint64) *fakeNet {
	t.Helper()
	fn := &fakeNet{t: t}
	fn.next.Store(2)
	rng := rand.New(rand.NewPCG(seed, 1))
	for range n {
		var id NodeID
		for i := range id {
			id[i] = byte(rng.UintN(256))
		}
		fn.add(id, normal)
	}
	fn.link(rng)
	t.Cleanup(fn.close)
	return fn
}

func (fn *fakeNet) add(id NodeID, b behaviour) *fakeNode {
	fn.t.Helper()
	ip := fn.next.Add(1) - 1
	addr := fmt.Sprintf("127.0.%d.%d:0", ip/250, 2+ip%250)
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		fn.t.Fatalf("fake node: %v", err)
	}
	node := &fakeNode{id: id, conn: conn, addr: conn.LocalAddr().(*net.UDPAddr).AddrPort(), behave: b,
		peers: map[NodeID][]netip.AddrPort{}, seen: map[netip.AddrPort]int{}}
	// The second socket answers for otherSource: same host, other port,
	// so only the port tells the reply apart.
	node.other, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(node.addr.Addr(), 0)))
	if err != nil {
		fn.t.Fatalf("fake node: %v", err)
	}
	fn.nodes = append(fn.nodes, node)
	fn.wg.Add(1)
	go func() {
		defer fn.wg.Done()
		node.serve()
	}()
	return node
}

func (fn *fakeNet) link(rng *rand.Rand) {
	for _, a := range fn.nodes {
		others := slices.DeleteFunc(slices.Clone(fn.nodes), func(b *fakeNode) bool { return b == a })
		slices.SortFunc(others, func(x, y *fakeNode) int { return cmpDist(a.id, x.id, y.id) })
		var table []Node
		for i, b := range others {
			if i < 8 || rng.UintN(uint(len(others))) < 8 {
				table = append(table, Node{ID: b.id, Addr: b.addr})
			}
		}
		a.mu.Lock()
		a.table = table
		a.mu.Unlock()
	}
}

func (fn *fakeNet) close() {
	for _, n := range fn.nodes {
		n.conn.Close()
		n.other.Close()
	}
	fn.wg.Wait()
}

func cmpDist(target, a, b NodeID) int {
	da, db := a.xor(target), b.xor(target)
	return bytes.Compare(da[:], db[:])
}

// closest returns the k nodes of behaviour normal closest to target: the
// ones a converged lookup must have heard from.
func (fn *fakeNet) closest(target NodeID, k int) []*fakeNode {
	var ok []*fakeNode
	for _, n := range fn.nodes {
		if n.behaviour() == normal {
			ok = append(ok, n)
		}
	}
	slices.SortFunc(ok, func(x, y *fakeNode) int { return cmpDist(target, x.id, y.id) })
	return ok[:min(k, len(ok))]
}

func (n *fakeNode) serve() {
	buf := make([]byte, 65535)
	for {
		k, from, err := n.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		n.got.Add(1)
		q, err := parseMessage(buf[:k])
		if err != nil || q.Y != 'q' {
			continue
		}
		if !q.ReadOnly {
			n.notRO.Add(1)
		}
		n.mu.Lock()
		n.seen[from]++
		n.gotQ = append(n.gotQ, q.Q)
		delay := n.delay
		n.mu.Unlock()
		if delay != nil {
			delay(q)
		}
		out, conn := n.answer(q)
		if out != nil {
			conn.WriteToUDPAddrPort(out, from)
		}
	}
}

// configure changes a node's knobs while it runs.
func (n *fakeNode) configure(f func(n *fakeNode)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f(n)
}

func (n *fakeNode) behaviour() behaviour {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.behave
}

func (n *fakeNode) answer(q *message) ([]byte, *net.UDPConn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	conn := n.conn
	switch n.behave {
	case silent:
		return nil, nil
	case garbage:
		return []byte("\x00\xffnot bencode at all"), conn
	case errorReply:
		b, _ := bencode.Encode(map[string]any{"t": q.T, "y": "e", "e": []any{int64(202), "Server Error"}})
		return b, conn
	case noID:
		b, _ := bencode.Encode(map[string]any{"t": q.T, "y": "r", "r": map[string]any{"token": "x"}})
		return b, conn
	case otherSource:
		conn = n.other
	}
	r := &message{T: q.T, Y: 'r', ID: n.id, HasID: true}
	if n.behave == wrongTID {
		r.T = q.T + "x"
	}
	switch q.Q {
	case "get_peers":
		r.Token = "tok"
		r.Values = slices.Clone(n.peers[q.Target])
		if n.behave == otherSource {
			r.Values = append(r.Values, n.extra[q.Target]...)
		}
		r.Nodes = n.closestKnown(q.Target, 8)
	case "sample_infohashes":
		r.HasSamp = true
		for h := range n.peers {
			r.Samples = append(r.Samples, metainfo.Hash(h))
		}
		slices.SortFunc(r.Samples, func(a, b metainfo.Hash) int { return bytes.Compare(a[:], b[:]) })
		r.Num, r.Interval = int64(len(r.Samples)), 60
		r.Nodes = n.closestKnown(q.Target, 8)
	case "ping":
	default:
		b, _ := bencode.Encode(map[string]any{"t": q.T, "y": "e", "e": []any{int64(204), "Method Unknown"}})
		return b, conn
	}
	if n.reply != nil {
		n.reply(q, r)
	}
	b, err := encodeReply(r)
	if err != nil {
		panic(err)
	}
	return b, conn
}

func (n *fakeNode) closestKnown(target NodeID, k int) []Node {
	t := slices.Clone(n.table)
	slices.SortFunc(t, func(x, y Node) int { return cmpDist(target, x.ID, y.ID) })
	return t[:min(k, len(t))]
}

func (n *fakeNode) queried() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := 0
	for _, c := range n.seen {
		s += c
	}
	return s
}

// newTestClient returns a Client on loopback that starts from the given
// nodes only: tests never reach a real bootstrap router.
func newTestClient(t *testing.T, cfg Config, boot ...*fakeNode) *Client {
	t.Helper()
	cfg.Bootstrap = []string{}
	for _, b := range boot {
		cfg.Bootstrap = append(cfg.Bootstrap, b.addr.String())
	}
	if cfg.Listen4 == "" {
		cfg.Listen4 = "127.0.0.1:0"
	}
	if cfg.Listen6 == "" {
		cfg.Listen6 = Off
	}
	if cfg.QueryTimeout == 0 {
		// Generous: the machine is shared and -race is slow, and a good
		// node that times out would fail the convergence checks.
		cfg.QueryTimeout = 2 * time.Second
	}
	if cfg.PacketRate == 0 {
		cfg.PacketRate = 100000 // the rate test sets its own
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("close: %v", err)
		}
	})
	return c
}
