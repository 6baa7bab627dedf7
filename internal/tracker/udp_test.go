package tracker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/btext/btext/internal/metainfo"
)

func TestUDPRequestBytes(t *testing.T) {
	if got, want := appendConnect(nil, 0xa1b2c3d4),
		[]byte("\x00\x00\x04\x17\x27\x10\x19\x80"+"\x00\x00\x00\x00"+"\xa1\xb2\xc3\xd4"); !bytes.Equal(got, want) {
		t.Errorf("connect:\n got %x\nwant %x", got, want)
	}
	req := Request{
		InfoHash: testHash, PeerID: testPeerID, Port: 0x1ae1,
		Downloaded: 1, Left: 2, Uploaded: 3, Event: Stopped, NumWant: 50, Key: 0xdeadbeef,
	}
	want := "\x01\x02\x03\x04\x05\x06\x07\x08" + "\x00\x00\x00\x01" + "\x00\x00\x00\x07" +
		string(testHash[:]) + string(testPeerID[:]) +
		"\x00\x00\x00\x00\x00\x00\x00\x01" + "\x00\x00\x00\x00\x00\x00\x00\x02" + "\x00\x00\x00\x00\x00\x00\x00\x03" +
		"\x00\x00\x00\x03" + "\x00\x00\x00\x00" + "\xde\xad\xbe\xef" + "\x00\x00\x00\x32" + "\x1a\xe1"
	got := appendAnnounce(nil, 0x0102030405060708, 7, req, "")
	if string(got) != want || len(got) != announceReqLen {
		t.Errorf("announce:\n got %x\nwant %x", got, want)
	}
	// Event numbering differs between BEP 3 order and BEP 15; NumWant 0 is -1.
	for ev, code := range map[Event]byte{None: 0, Completed: 1, Started: 2, Stopped: 3} {
		b := appendAnnounce(nil, 0, 0, Request{Event: ev}, "")
		if b[83] != code || !bytes.Equal(b[92:96], []byte{0xff, 0xff, 0xff, 0xff}) {
			t.Errorf("event %v: bytes %x", ev, b[80:98])
		}
	}
	// BEP 41: URL data split into options of at most 255 bytes.
	data := "/announce?passkey=" + strings.Repeat("k", 300)
	got = appendAnnounce(nil, 0, 0, req, data)
	opts := got[announceReqLen:]
	wantOpts := append(append([]byte{2, 255}, data[:255]...), append([]byte{2, byte(len(data) - 255)}, data[255:]...)...)
	if !bytes.Equal(opts, wantOpts) {
		t.Errorf("url data options:\n got %q\nwant %q", opts, wantOpts)
	}
	u, _ := url.Parse("udp://t:6969/announce?k=v%20w")
	if d := urlData(u); d != "/announce?k=v%20w" {
		t.Errorf("urlData = %q", d)
	}
	h2 := metainfo.Hash{19: 1}
	got = appendScrape(nil, 9, 10, []metainfo.Hash{testHash, h2})
	want = "\x00\x00\x00\x00\x00\x00\x00\x09" + "\x00\x00\x00\x02" + "\x00\x00\x00\x0a" + string(testHash[:]) + string(h2[:])
	if string(got) != want {
		t.Errorf("scrape:\n got %x\nwant %x", got, want)
	}
}

func TestParseUDPReplies(t *testing.T) {
	hdr := "\x00\x00\x00\x01\x00\x00\x00\x07"
	counts := "\x00\x00\x07\x08" + "\x00\x00\x00\x02" + "\x00\x00\x00\x03" // interval 1800, 2 leechers, 3 seeders
	v4 := "\x7f\x00\x00\x01\x1a\xe1" + "\x7f\x00\x00\x02\x00\x00"
	v6 := "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe2"
	for _, tc := range []struct {
		name string
		p    string
		v6   bool
		want *Response
		err  string
		is   error
	}{
		{name: "v4", p: hdr + counts + v4, want: &Response{Interval: 30 * time.Minute, Leechers: 2, Seeders: 3,
			Peers: []netip.AddrPort{ap("127.0.0.1:6881")}, Notes: []string{"dropped 1 peers on port 0"}}},
		{name: "v6", p: hdr + counts + v6, v6: true, want: &Response{Interval: 30 * time.Minute, Leechers: 2, Seeders: 3,
			Peers: []netip.AddrPort{ap("[::1]:6882")}}},
		{name: "no peers", p: hdr + counts, want: &Response{Interval: 30 * time.Minute, Leechers: 2, Seeders: 3}},
		{name: "header only", p: hdr, is: ErrUnknownTorrent},
		{name: "truncated header", p: hdr + counts[:5], err: "announce reply of 13 bytes, shorter than its 20-byte header"},
		{name: "v4 bad length", p: hdr + counts + v4[:7], err: "peers: 7 bytes is not a multiple of 6"},
		{name: "v4 entries from a v6 tracker", p: hdr + counts + v4, v6: true, want: &Response{Interval: 30 * time.Minute, Leechers: 2, Seeders: 3,
			Peers: []netip.AddrPort{ap("127.0.0.1:6881")}, Notes: []string{"dropped 1 peers on port 0",
				"tracker on IPv6 sent 6-byte IPv4 peers, not BEP 15's 18-byte entries"}}},
		{name: "v6 bad length", p: hdr + counts + v6 + v4[:5], v6: true, err: "peers6: 23 bytes is not a multiple of 18"},
		{name: "interval out of range", p: hdr + "\x80\x00\x00\x00" + counts[4:], err: "interval 2147483648 out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseUDPAnnounce([]byte(tc.p), tc.v6)
			switch {
			case tc.is != nil:
				if !errors.Is(err, tc.is) {
					t.Fatalf("got %+v, %v; want %v", got, err, tc.is)
				}
			case tc.err != "":
				var re *ResponseError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %+v, %v; want *ResponseError %q", got, err, tc.err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("got  %+v\nwant %+v", got, tc.want)
				}
			}
		})
	}

	id, err := parseUDPConnect([]byte("\x00\x00\x00\x00\x00\x00\x00\x07\x01\x02\x03\x04\x05\x06\x07\x08"))
	if err != nil || id != 0x0102030405060708 {
		t.Errorf("connect: %x, %v", id, err)
	}
	if _, err := parseUDPConnect([]byte("\x00\x00\x00\x00\x00\x00\x00\x07\x01\x02")); err == nil {
		t.Error("short connect reply parsed")
	}

	h2 := metainfo.Hash{1}
	res, err := parseUDPScrape([]byte("\x00\x00\x00\x02\x00\x00\x00\x07"+
		"\x00\x00\x00\x05\x00\x00\x00\x32\x00\x00\x00\x0a"+"\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00"),
		[]metainfo.Hash{testHash, h2})
	want := []ScrapeResult{{testHash, 5, 50, 10}, {h2, 1, 0, 0}}
	if err != nil || !reflect.DeepEqual(res, want) {
		t.Errorf("scrape: %+v, %v", res, err)
	}
	if _, err := parseUDPScrape([]byte("\x00\x00\x00\x02\x00\x00\x00\x07\x00\x00\x00\x05"), []metainfo.Hash{testHash}); err == nil ||
		!strings.Contains(err.Error(), "scrape reply of 12 bytes for 1 hashes, want 20") {
		t.Errorf("short scrape: %v", err)
	}
}

// fakeUDP is a UDP tracker on loopback whose answers a test scripts.
type fakeUDP struct {
	t    *testing.T
	conn *net.UDPConn
	url  string

	mu   sync.Mutex
	got  [][]byte
	done chan struct{}
}

// udpHandler answers one datagram; f.reply sends.
type udpHandler func(f *fakeUDP, pkt []byte, from *net.UDPAddr)

func startFakeUDP(t *testing.T, network, addr string, h udpHandler) *fakeUDP {
	t.Helper()
	la, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP(network, la)
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	f := &fakeUDP{t: t, conn: conn, done: make(chan struct{})}
	f.url = "udp://" + conn.LocalAddr().String() + "/announce"
	go func() {
		defer close(f.done)
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			pkt := append([]byte(nil), buf[:n]...)
			f.mu.Lock()
			f.got = append(f.got, pkt)
			f.mu.Unlock()
			h(f, pkt, from)
		}
	}()
	t.Cleanup(func() { conn.Close(); <-f.done })
	return f
}

func (f *fakeUDP) reply(to *net.UDPAddr, parts ...string) {
	f.conn.WriteToUDP([]byte(strings.Join(parts, "")), to)
}

// received returns the actions of the datagrams received so far.
func (f *fakeUDP) received() []uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var a []uint32
	for _, p := range f.got {
		if len(p) >= 12 {
			a = append(a, binary.BigEndian.Uint32(p[8:]))
		}
	}
	return a
}

func (f *fakeUDP) last() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got[len(f.got)-1]
}

func u32(v uint32) string { return string(binary.BigEndian.AppendUint32(nil, v)) }
func u64(v uint64) string { return string(binary.BigEndian.AppendUint64(nil, v)) }

const fakeConnID = 0x1122334455667788

// txOf is the request's transaction id as the reply must carry it.
func txOf(pkt []byte) string { return string(pkt[12:16]) }

// tracker answers like a correct BEP 15 tracker that lists peers (compact,
// for its address family) and checks the connection id; change lets a
// test alter one answer.
func tracker(peers string, change func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool) udpHandler {
	return func(f *fakeUDP, pkt []byte, from *net.UDPAddr) {
		if change != nil && change(f, pkt, from) {
			return
		}
		if len(pkt) < 16 {
			return
		}
		id, action := binary.BigEndian.Uint64(pkt), binary.BigEndian.Uint32(pkt[8:])
		switch {
		case action == actionConnect && id == protocolID:
			f.reply(from, u32(actionConnect), txOf(pkt), u64(fakeConnID))
		case id != fakeConnID:
			// A real tracker drops a request with a bad connection id.
		case action == actionAnnounce && len(pkt) >= announceReqLen:
			f.reply(from, u32(actionAnnounce), txOf(pkt), u32(1800), u32(2), u32(3), peers)
		case action == actionScrape:
			var e strings.Builder
			for i := 16; i+20 <= len(pkt); i += 20 {
				e.WriteString(u32(uint32(pkt[i])) + u32(50) + u32(10))
			}
			f.reply(from, u32(actionScrape), txOf(pkt), e.String())
		}
	}
}

func udpCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestUDPAnnounceAndScrape(t *testing.T) {
	f := startFakeUDP(t, "udp4", "127.0.0.1:0", tracker("\x7f\x00\x00\x05\x1a\xe1", nil))
	c := newTestClient(t, Config{})
	req := Request{InfoHash: testHash, PeerID: testPeerID, Port: 6881, Event: Started}
	r, err := c.Announce(udpCtx(t, 10*time.Second), f.url+"?pk=1", req)
	if err != nil {
		t.Fatal(err)
	}
	want := &Response{Interval: 30 * time.Minute, Leechers: 2, Seeders: 3, Peers: []netip.AddrPort{ap("127.0.0.5:6881")}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got  %+v\nwant %+v", r, want)
	}
	last := f.last()
	if !bytes.Equal(last[16:36], testHash[:]) || last[83] != 2 || !bytes.Equal(last[96:98], []byte{0x1a, 0xe1}) ||
		string(last[98:]) != "\x02\x0e/announce?pk=1" {
		t.Errorf("announce sent %x", last)
	}

	// A second lookup within a minute reuses the connection id.
	req.Event = Stopped
	if _, err := c.Announce(udpCtx(t, 10*time.Second), f.url, req); err != nil {
		t.Fatal(err)
	}
	hashes := make([]metainfo.Hash, 100)
	for i := range hashes {
		hashes[i][0] = byte(i)
	}
	res, err := c.Scrape(udpCtx(t, 10*time.Second), f.url, hashes)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 100 || res[99] != (ScrapeResult{hashes[99], 99, 50, 10}) || res[0] != (ScrapeResult{hashes[0], 0, 50, 10}) {
		t.Errorf("scrape: %+v", res)
	}
	// connect, announce, announce, scrape of 74, scrape of 26.
	if got := f.received(); !reflect.DeepEqual(got, []uint32{0, 1, 1, 2, 2}) {
		t.Errorf("actions received %v", got)
	}

	// An id older than a minute is not used: a new connect comes first.
	c.mu.Lock()
	id := c.connIDs[netip.MustParseAddrPort(f.conn.LocalAddr().String())]
	id.got = id.got.Add(-connIDLifetime)
	c.connIDs[netip.MustParseAddrPort(f.conn.LocalAddr().String())] = id
	c.mu.Unlock()
	if _, err := c.Announce(udpCtx(t, 10*time.Second), f.url, req); err != nil {
		t.Fatal(err)
	}
	if got := f.received(); !reflect.DeepEqual(got[5:], []uint32{0, 1}) {
		t.Errorf("actions received after expiry %v", got)
	}
}

func TestUDPIPv6Peers(t *testing.T) {
	peer := "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1"
	f := startFakeUDP(t, "udp6", "[::1]:0", tracker(peer, nil))
	c := newTestClient(t, Config{})
	r, err := c.Announce(udpCtx(t, 10*time.Second), f.url, Request{InfoHash: testHash, Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Peers, []netip.AddrPort{ap("[::1]:6881")}) {
		t.Errorf("peers %v", r.Peers)
	}
}

// A cached id the tracker no longer accepts (it restarted) costs one
// unanswered send, or one error reply, then the client connects again. An
// error to a request with a fresh id is the tracker's answer.
func TestUDPStaleConnID(t *testing.T) {
	idError := func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool {
		if binary.BigEndian.Uint64(pkt) != fakeConnID && binary.BigEndian.Uint64(pkt) != protocolID {
			f.reply(from, u32(actionError), txOf(pkt), "Connection ID missmatch.\x00")
			return true
		}
		return false
	}
	for _, tc := range []struct {
		name   string
		change func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool
		id     uint64
		err    string
	}{
		{name: "dropped", id: 42},
		{name: "error reply", change: idError, id: 42},
		{name: "error reply to a fresh id", change: func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool {
			if binary.BigEndian.Uint32(pkt[8:]) == actionAnnounce {
				f.reply(from, u32(actionError), txOf(pkt), "go away")
				return true
			}
			return false
		}, id: fakeConnID, err: `tracker failure: "go away"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFakeUDP(t, "udp4", "127.0.0.1:0", tracker("", tc.change))
			c := newTestClient(t, Config{})
			c.storeConnID(netip.MustParseAddrPort(f.conn.LocalAddr().String()), connID{id: tc.id, got: time.Now()})
			_, err := c.Announce(udpCtx(t, 3*time.Second), f.url, Request{InfoHash: testHash, Port: 1})
			if tc.err != "" {
				if err == nil || err.Error() != "announce: "+tc.err {
					t.Errorf("got %v, want %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got := f.received(); !reflect.DeepEqual(got, []uint32{1, 0, 1}) {
				t.Errorf("actions received %v", got)
			}
		})
	}
}

// A lost packet is sent again before the deadline.
func TestUDPRetransmit(t *testing.T) {
	var n int
	f := startFakeUDP(t, "udp4", "127.0.0.1:0", tracker("", func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool {
		n++
		return n == 1 || n == 3 // drop the first connect and the first announce
	}))
	c := newTestClient(t, Config{})
	if _, err := c.Announce(udpCtx(t, 4*time.Second), f.url, Request{InfoHash: testHash, Port: 1}); err != nil {
		t.Fatal(err)
	}
	if got := f.received(); !reflect.DeepEqual(got, []uint32{0, 0, 1, 1}) {
		t.Errorf("actions received %v", got)
	}
}

func TestAttemptWait(t *testing.T) {
	for _, tc := range []struct {
		n         int
		remaining time.Duration
		want      time.Duration
	}{
		{0, time.Hour, 15 * time.Second},
		{3, time.Hour, 120 * time.Second},
		{8, 100 * time.Hour, 3840 * time.Second},
		{0, 9 * time.Second, 3 * time.Second},
		{2, 600 * time.Millisecond, minAttemptWait},
	} {
		if got := attemptWait(tc.n, tc.remaining); got != tc.want {
			t.Errorf("attemptWait(%d, %v) = %v, want %v", tc.n, tc.remaining, got, tc.want)
		}
	}
}

// Hostile UDP trackers: each call ends by its deadline or sooner with a
// clear error.
func TestUDPHostile(t *testing.T) {
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	for _, tc := range []struct {
		name    string
		change  func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool
		scrape  bool
		err     string
		is      error
		failure bool
	}{
		{
			name: "wrong transaction ids",
			change: func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool {
				f.reply(from, u32(actionConnect), "\x00\x00\x00\x00", u64(fakeConnID))
				return true
			},
			is:  context.DeadlineExceeded,
			err: "datagrams dropped",
		},
		{
			name: "reply from another port",
			change: func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool {
				other.WriteToUDP([]byte(u32(actionConnect)+txOf(pkt)+u64(fakeConnID)), from)
				return true
			},
			is: context.DeadlineExceeded,
		},
		{
			name: "spoofed failure, then the real reply",
			change: func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool {
				other.WriteToUDP([]byte(u32(actionError)+txOf(pkt)+"spoofed"), from)
				return false
			},
		},
		{
			name: "error reply",
			change: func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool {
				if binary.BigEndian.Uint32(pkt[8:]) == actionAnnounce {
					f.reply(from, u32(actionError), txOf(pkt), "torrent not registered")
					return true
				}
				return false
			},
			err:     `tracker failure: "torrent not registered"`,
			failure: true,
		},
		{
			name: "unknown torrent",
			change: func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool {
				if binary.BigEndian.Uint32(pkt[8:]) == actionAnnounce {
					f.reply(from, u32(actionAnnounce), txOf(pkt))
					return true
				}
				return false
			},
			is:  ErrUnknownTorrent,
			err: "announce: tracker does not know this torrent",
		},
		{
			name: "truncated connect reply",
			change: func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool {
				f.reply(from, u32(actionConnect), txOf(pkt), "\x11\x22")
				return true
			},
			err: "connect: malformed tracker response: connect reply of 10 bytes, want 16",
		},
		{
			name: "truncated announce reply",
			change: func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool {
				if binary.BigEndian.Uint32(pkt[8:]) == actionAnnounce {
					f.reply(from, u32(actionAnnounce), txOf(pkt), u32(1800), "\x00")
					return true
				}
				return false
			},
			err: "announce reply of 13 bytes",
		},
		{
			name: "bad compact length",
			change: func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool {
				if binary.BigEndian.Uint32(pkt[8:]) == actionAnnounce {
					f.reply(from, u32(actionAnnounce), txOf(pkt), u32(1800), u32(0), u32(0), "\x7f\x00\x00\x01\x1a")
					return true
				}
				return false
			},
			err: "peers: 5 bytes is not a multiple of 6",
		},
		{
			name: "wrong action",
			change: func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool {
				f.reply(from, u32(actionScrape), txOf(pkt), u64(fakeConnID))
				return true
			},
			err: "action 2 in reply to action 0",
		},
		{
			name: "short scrape reply",
			change: func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool {
				if binary.BigEndian.Uint32(pkt[8:]) == actionScrape {
					f.reply(from, u32(actionScrape), txOf(pkt), u32(1))
					return true
				}
				return false
			},
			scrape: true,
			err:    "scrape reply of 12 bytes for 1 hashes, want 20",
		},
		{
			name: "flood of garbage, never an answer",
			change: func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool {
				for i := 0; i < 200; i++ {
					f.reply(from, "\x00\x00")
					f.reply(from, u32(actionConnect), u32(binary.BigEndian.Uint32(pkt[12:])+1), u64(1))
				}
				return true
			},
			is: context.DeadlineExceeded,
		},
		{
			name:   "silence",
			change: func(f *fakeUDP, pkt []byte, from *net.UDPAddr) bool { return true },
			is:     context.DeadlineExceeded,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFakeUDP(t, "udp4", "127.0.0.1:0", tracker("\x7f\x00\x00\x05\x1a\xe1", tc.change))
			c := newTestClient(t, Config{})
			// Cases that must time out get a short deadline; the others a
			// long one, so a loaded machine cannot turn them into timeouts.
			d := 10 * time.Second
			if tc.is == context.DeadlineExceeded {
				d = time.Second
			}
			ctx := udpCtx(t, d)
			var err error
			if tc.scrape {
				var res []ScrapeResult
				res, err = c.Scrape(ctx, f.url, []metainfo.Hash{testHash})
				if err == nil {
					err = fmt.Errorf("no error: %+v", res)
				}
			} else {
				var r *Response
				r, err = c.Announce(ctx, f.url, Request{InfoHash: testHash, Port: 1})
				if err == nil && (tc.err != "" || tc.is != nil) {
					err = fmt.Errorf("no error: %+v", r)
				}
			}
			if tc.err == "" && tc.is == nil {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				return
			}
			t.Logf("error: %v", err)
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("error %v, want it to contain %q", err, tc.err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v, want errors.Is %v", err, tc.is)
			}
			if tc.failure != isFailure(err) {
				t.Errorf("error %v: is a *FailureError = %v, want %v", err, isFailure(err), tc.failure)
			}
		})
	}
}

func TestUDPRefused(t *testing.T) {
	// Find a port nobody listens on: bind, note, close.
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := l.LocalAddr().String()
	l.Close()
	c := newTestClient(t, Config{})
	_, err = c.Announce(udpCtx(t, 5*time.Second), "udp://"+addr, Request{InfoHash: testHash, Port: 1})
	if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "nothing listens on the tracker's port") {
		t.Errorf("got %v, want connection refused", err)
	}
}

func TestUDPURL(t *testing.T) {
	c := newTestClient(t, Config{})
	for _, u := range []string{"udp://127.0.0.1/announce", "udp://127.0.0.1:0", "udp://127.0.0.1:x"} {
		if _, err := c.Announce(udpCtx(t, time.Second), u, Request{}); err == nil {
			t.Errorf("%s: no error", u)
		}
	}
}

// One Client serves many lookups at once (the batch mode shares one): the
// UDP ones share one connect and its id, each gets its own reply.
func TestConcurrentLookups(t *testing.T) {
	var mu sync.Mutex
	connects := 0
	f := startFakeUDP(t, "udp4", "127.0.0.1:0", func(f *fakeUDP, pkt []byte, from *net.UDPAddr) {
		if len(pkt) < 16 {
			return
		}
		switch binary.BigEndian.Uint32(pkt[8:]) {
		case actionConnect:
			mu.Lock()
			connects++
			mu.Unlock()
			f.reply(from, u32(actionConnect), txOf(pkt), u64(fakeConnID))
		case actionAnnounce:
			// The peer's port is the announcer's, so each reply is its own.
			f.reply(from, u32(actionAnnounce), txOf(pkt), u32(60), u32(0), u32(0), "\x7f\x00\x00\x01", string(pkt[96:98]))
		}
	})
	base := fakeHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		port, _ := strconv.Atoi(r.URL.Query().Get("port"))
		fmt.Fprintf(w, "d8:intervali60e5:peers6:\x7f\x00\x00\x01%se", u16(uint16(port)))
	})
	c := newTestClient(t, Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := f.url
			if i%2 == 1 {
				u = base + "/announce"
			}
			port := uint16(10000 + i)
			r, err := c.Announce(udpCtx(t, 10*time.Second), u, Request{InfoHash: testHash, Port: port})
			if err == nil && !reflect.DeepEqual(r.Peers, []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)}) {
				err = fmt.Errorf("lookup %d got peers %v", i, r.Peers)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if connects != 1 {
		t.Errorf("%d connects, want 1", connects)
	}
}

func u16(v uint16) string { return string(binary.BigEndian.AppendUint16(nil, v)) }
