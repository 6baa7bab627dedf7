package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/btext/btext/internal/bencode"
)

// exampleSources stands in for the tracker and the DHT node that the
// --help examples of peers, tracker and dht name: a tracker on 127.0.0.1
// (HTTP and UDP on one port, BEP 3 and BEP 15) and a DHT node on the UDP
// side of the peer's own port (as libtorrent runs both on one port), each
// of which knows peer (a btext serve) for hash. It returns the tracker's
// host:port.
func exampleSources(t *testing.T, peer string, hash [20]byte) string {
	t.Helper()
	tracker, stop, err := startFakeSources(peer, hash)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return tracker
}

// startFakeSources is exampleSources for any caller: stop ends both.
func startFakeSources(peer string, hash [20]byte) (tracker string, stop func(), err error) {
	ap, err := netip.ParseAddrPort(peer)
	if err != nil {
		return "", nil, err
	}
	a4 := ap.Addr().As4()
	compact := binary.BigEndian.AppendUint16(a4[:], ap.Port())

	var ln net.Listener
	var pc net.PacketConn
	for i := 0; i < 20 && pc == nil; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		if p, err := net.ListenPacket("udp", l.Addr().String()); err == nil {
			ln, pc = l, p
		} else {
			l.Close()
		}
	}
	if pc == nil {
		return "", nil, fmt.Errorf("no port free for TCP and UDP")
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/scrape" {
			fmt.Fprintf(w, "d5:filesd20:%sd8:completei1e10:downloadedi0e10:incompletei0eeee", hash[:])
			return
		}
		fmt.Fprintf(w, "d8:intervali60e8:completei1e10:incompletei0e5:peers6:%se", compact)
	}))
	srv.Listener = ln
	srv.Start()
	go serveUDP(pc, func(req []byte) []byte { return udpTrackerReply(req, compact) })

	dht, err := net.ListenPacket("udp", peer)
	if err != nil {
		srv.Close()
		pc.Close()
		return "", nil, fmt.Errorf("dht node on %s: %v", peer, err)
	}
	id := "btext-example-node!!"
	go serveUDP(dht, func(q []byte) []byte {
		d, err := bencode.DecodeDict(q, bencode.Limits{MaxDepth: 4, MaxValues: 64})
		if err != nil {
			return nil
		}
		switch d["q"] {
		case "ping", "find_node":
			return krpcReply(q, "2:id20:"+id+"5:nodes0:")
		case "get_peers":
			return krpcReply(q, fmt.Sprintf("2:id20:%s5:token2:tk6:valuesl6:%se", id, compact))
		case "sample_infohashes":
			return krpcReply(q, fmt.Sprintf("2:id20:%s8:intervali60e5:nodes0:3:numi1e7:samples20:%s", id, hash[:]))
		}
		return nil
	})
	return ln.Addr().String(), func() { srv.Close(); pc.Close(); dht.Close() }, nil
}

// serveUDP answers each datagram with reply(it), until pc is closed.
func serveUDP(pc net.PacketConn, reply func([]byte) []byte) {
	buf := make([]byte, 2048)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if r := reply(buf[:n]); r != nil {
			pc.WriteTo(r, from)
		}
	}
}

// udpTrackerReply answers BEP 15 connect, announce (one seeder: peer) and
// scrape (one seeder per hash).
func udpTrackerReply(req, peer []byte) []byte {
	if len(req) < 16 {
		return nil
	}
	action, tid := binary.BigEndian.Uint32(req[8:12]), req[12:16]
	r := append(binary.BigEndian.AppendUint32(nil, action), tid...)
	switch action {
	case 0:
		return binary.BigEndian.AppendUint64(r, 0x1234)
	case 1:
		r = binary.BigEndian.AppendUint32(r, 60) // interval
		r = binary.BigEndian.AppendUint32(r, 0)  // leechers
		r = binary.BigEndian.AppendUint32(r, 1)  // seeders
		return append(r, peer...)
	case 2:
		for range (len(req) - 16) / 20 {
			r = binary.BigEndian.AppendUint32(r, 1)
			r = binary.BigEndian.AppendUint32(r, 0)
			r = binary.BigEndian.AppendUint32(r, 0)
		}
		return r
	}
	return nil
}
