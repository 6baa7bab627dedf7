package metadata_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/peertest"
)

func serve(t *testing.T, infos ...[]byte) string {
	t.Helper()
	addr, _ := peertest.Serve(t, metadata.ServerConfig{}, infos...)
	return addr
}

func connect(t *testing.T, addr string, hash peer.Hash) *extensions.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := extensions.Connect(ctx, addr, extensions.Options{InfoHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// readUT reads ut_metadata answers until n have arrived.
func readUT(t *testing.T, s *extensions.Session, n int) (data, rejects int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for data+rejects < n {
		msg, err := s.Conn.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("after %d data %d rejects: %v", data, rejects, err)
		}
		if msg.ID != peer.Extended || msg.Payload[0] != extensions.LocalUTMetadata {
			continue
		}
		var m metadata.UTMessage
		if err := m.UnmarshalBinary(msg.Payload[1:]); err != nil {
			t.Fatal(err)
		}
		switch m.Type {
		case metadata.UTData:
			data++
		case metadata.UTReject:
			rejects++
		}
	}
	return data, rejects
}

// TestServeQueueCap: a burst of requests beyond the reqq serve advertises
// gets the excess rejected, and the connection goes on.
func TestServeQueueCap(t *testing.T) {
	info := peertest.InfoOfSize(40000)
	addr := serve(t, info)
	s := connect(t, addr, peertest.HashOf(info))
	id, _ := s.Registry.ID(extensions.UTMetadata)
	if *s.Ext.Reqq != metadata.DefaultServeReqq {
		t.Fatalf("reqq %v", s.Ext.Reqq)
	}
	// 400 requests in one write arrive together.
	var burst []peer.Message
	for i := range 400 {
		p, _ := metadata.UTMessage{Type: metadata.UTRequest, Piece: int64(i % 3), TotalSize: -1}.AppendBinary(nil)
		burst = append(burst, peer.ExtendedMessage(id, p))
	}
	if err := s.Conn.WriteMessages(context.Background(), burst...); err != nil {
		t.Fatal(err)
	}
	data, rejects := readUT(t, s, 400)
	if data < 1 || rejects < 1 || data > metadata.DefaultServeReqq {
		t.Errorf("%d data, %d rejects", data, rejects)
	}
	t.Logf("burst of 400: %d answered, %d rejected", data, rejects)
	// Still served afterwards.
	p, _ := metadata.UTMessage{Type: metadata.UTRequest, Piece: 2, TotalSize: -1}.AppendBinary(nil)
	if err := s.Conn.WriteMessage(context.Background(), peer.ExtendedMessage(id, p)); err != nil {
		t.Fatal(err)
	}
	if d, _ := readUT(t, s, 1); d != 1 {
		t.Error("not served after the burst")
	}
}

// TestServeValidation: out-of-range, malformed and LT requests.
func TestServeValidation(t *testing.T) {
	info := peertest.InfoOfSize(40000)
	addr := serve(t, info)
	s := connect(t, addr, peertest.HashOf(info))
	ctx := context.Background()
	ut, _ := s.Registry.ID(extensions.UTMetadata)
	lt, _ := s.Registry.ID(extensions.LTMetadata)
	send := func(id uint8, p []byte) {
		if err := s.Conn.WriteMessage(ctx, peer.ExtendedMessage(id, p)); err != nil {
			t.Fatal(err)
		}
	}
	req := func(piece int64) []byte {
		p, _ := metadata.UTMessage{Type: metadata.UTRequest, Piece: piece, TotalSize: -1}.AppendBinary(nil)
		return p
	}
	send(ut, req(3))                    // out of range: reject
	send(ut, []byte("not bencode"))     // ignored
	send(ut, []byte("d8:msg_typei9ee")) // unknown type: ignored
	send(ut, req(2))                    // the short last piece
	if d, r := readUT(t, s, 2); d != 1 || r != 1 {
		t.Errorf("%d data %d rejects", d, r)
	}
	send(lt, []byte{0, 200, 99}) // start+size > 256: ignored
	send(lt, []byte{0, 0})       // not 3 bytes: ignored
	send(lt, []byte{0, 64, 63})  // the second quarter
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		msg, err := s.Conn.ReadMessage(rctx)
		if err != nil {
			t.Fatal(err)
		}
		if msg.ID != peer.Extended || msg.Payload[0] != extensions.LocalLTMetadata {
			continue
		}
		var m metadata.LTMessage
		if err := m.UnmarshalBinary(msg.Payload[1:]); err != nil {
			t.Fatal(err)
		}
		first, last := metadata.LTRange(64, 64, len(info))
		if m.Type != metadata.LTData || int(m.Offset) != first || len(m.Data) != last-first || int(m.Total) != len(info) {
			t.Errorf("LT answer %d %d+%d of %d", m.Type, m.Offset, len(m.Data), m.Total)
		}
		return
	}
}

// TestServeManyPeers: many fetches at once, all served.
func TestServeManyPeers(t *testing.T) {
	info := peertest.InfoOfSize(100000)
	addr := serve(t, info)
	hash := peertest.HashOf(info)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res, err := metadata.Fetch(ctx, metadata.FetchConfig{Target: metainfo.Target{V1: (*metainfo.Hash)(&hash)}, Peers: metadata.PeerList("arg", netip.MustParseAddrPort(addr))})
			if err == nil && len(res.Info) != len(info) {
				err = context.DeadlineExceeded
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestServeMaxPeers: connections over the cap are closed at once; the
// ones inside it are served.
func TestServeMaxPeers(t *testing.T) {
	info := peertest.InfoOfSize(1000)
	addr, srv := peertest.Serve(t, metadata.ServerConfig{MaxPeers: 2}, info)
	hash := peertest.HashOf(info)
	a := connect(t, addr, hash)
	connect(t, addr, hash)
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ccancel()
	if _, err := extensions.Connect(cctx, addr, extensions.Options{InfoHash: hash}); err == nil {
		t.Fatal("third peer served with --max-peers 2")
	}
	if st := srv.Stats(); st.Refused != 1 || st.Active != 2 {
		t.Errorf("stats %+v", st)
	}
	a.Close()
	// Once a slot frees, a new peer is served (bounded wait for the server
	// to notice the close).
	for i := range 100 {
		if srv.Stats().Active < 2 {
			break
		}
		if i == 99 {
			t.Fatal("slot never freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	connect(t, addr, hash)
}

// BenchmarkFetch fetches a 2.6 MB info dictionary from btext's serving
// side on loopback: metadata throughput of the whole stack.
func BenchmarkFetch(b *testing.B) {
	info := peertest.InfoOfSize(2_600_000)
	addr, _ := peertest.Serve(b, metadata.ServerConfig{}, info)
	hash := peertest.HashOf(info)
	ctx := context.Background()
	b.SetBytes(int64(len(info)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := metadata.Fetch(ctx, metadata.FetchConfig{Target: metainfo.Target{V1: (*metainfo.Hash)(&hash)}, Peers: metadata.PeerList("arg", netip.MustParseAddrPort(addr))}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestServeAnswerPolicy: ut_metadata and LT_metadata requests meet the one
// answer policy: a private torrent, a range out of range and requests over
// the reqq are refused, the rest served.
func TestServeAnswerPolicy(t *testing.T) {
	public := peertest.InfoOfSize(40000) // 3 pieces
	private, err := metainfo.BuildInfo("secret", []metainfo.File{{Path: []string{"f"}, Data: []byte("hello")}}, 16384, true)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := peertest.Serve(t, metadata.ServerConfig{}, public, private)
	ut := func(piece int64) []byte {
		p, _ := metadata.UTMessage{Type: metadata.UTRequest, Piece: piece, TotalSize: -1}.AppendBinary(nil)
		return p
	}
	lt := func(start, size int) []byte {
		p, _ := metadata.LTMessage{Type: metadata.LTRequest, Start: start, Size: size}.AppendBinary(nil)
		return p
	}
	tests := []struct {
		name    string
		info    []byte
		ext     uint8
		payload []byte
		n       int // requests sent together
		served  int
	}{
		{"ut ok", public, extensions.LocalUTMetadata, ut(1), 1, 1},
		{"lt ok", public, extensions.LocalLTMetadata, lt(0, 256), 1, 1},
		{"ut private", private, extensions.LocalUTMetadata, ut(0), 1, 0},
		{"lt private", private, extensions.LocalLTMetadata, lt(0, 256), 1, 0},
		{"ut out of range", public, extensions.LocalUTMetadata, ut(3), 1, 0},
		{"ut over reqq", public, extensions.LocalUTMetadata, ut(0), metadata.DefaultServeReqq + 50, metadata.DefaultServeReqq},
		{"lt over reqq", public, extensions.LocalLTMetadata, lt(0, 1), metadata.DefaultServeReqq + 50, metadata.DefaultServeReqq},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := connect(t, addr, peertest.HashOf(tt.info))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			burst := make([]peer.Message, tt.n)
			for i := range burst {
				burst[i] = peer.ExtendedMessage(tt.ext, tt.payload)
			}
			if err := s.Conn.WriteMessages(ctx, burst...); err != nil {
				t.Fatal(err)
			}
			served := 0
			for range tt.n {
				var msg peer.Message
				for msg.ID != peer.Extended || msg.Payload[0] != tt.ext {
					if msg, err = s.Conn.ReadMessage(ctx); err != nil {
						t.Fatal(err)
					}
				}
				var ok bool
				if tt.ext == extensions.LocalUTMetadata {
					var m metadata.UTMessage
					err, ok = m.UnmarshalBinary(msg.Payload[1:]), m.Type == metadata.UTData
				} else {
					var m metadata.LTMessage
					err, ok = m.UnmarshalBinary(msg.Payload[1:]), m.Type == metadata.LTData
				}
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					served++
				}
			}
			// A burst may arrive in more than one read, so over the
			// reqq at least the excess is refused, not exactly it.
			if served > tt.served || tt.n == 1 && served != tt.served || served == 0 && tt.served > 0 {
				t.Errorf("%d of %d served, want %d", served, tt.n, tt.served)
			}
		})
	}
}

// TestServeStopEndsConnections: when the server's context is done, Serve
// returns without waiting for the idle timeout of its connections, one
// waiting for a BT handshake and one idle after its handshakes, and both
// peers see their connection closed.
func TestServeStopEndsConnections(t *testing.T) {
	info := peertest.InfoOfSize(1000)
	srv := peertest.NewServer(t, metadata.ServerConfig{}, info)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	idle := connect(t, ln.Addr().String(), peertest.HashOf(info))
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second): // the idle timeout is 3 min
		t.Fatal("Serve still waits for its connections 30 s after its context is done")
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	if _, err := idle.Conn.ReadMessage(rctx); !errors.Is(err, peer.ErrClosedByPeer) {
		t.Errorf("idle peer's read: %v, want the connection closed", err)
	}
	silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("silent peer's read: %d bytes, %v; want EOF", n, err)
	}
}

// TestServeExtHandshake: serve's extended handshake, encoded once a
// torrent, carries each peer's own yourip and the listener's port.
func TestServeExtHandshake(t *testing.T) {
	info := peertest.InfoOfSize(1000)
	addr, _ := peertest.Serve(t, metadata.ServerConfig{Client: "btext test"}, info)
	port := netip.MustParseAddrPort(addr).Port()
	for _, local := range []string{"127.0.0.1", "127.0.0.2"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := extensions.Connect(ctx, addr, extensions.Options{InfoHash: peertest.HashOf(info), Peer: peer.Config{LocalAddr: local}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		h := s.Ext
		s.Close()
		if h.P == nil || *h.P != int64(port) || extensions.Addr(h.YourIP) != local ||
			h.MetadataSize == nil || *h.MetadataSize != 1000 || h.V == nil || *h.V != "btext test" || h.Reqq == nil || *h.Reqq != metadata.DefaultServeReqq {
			t.Errorf("from %s: extended handshake %+v, want p %d, yourip %s, metadata_size 1000, v \"btext test\", reqq %d", local, h, port, local, metadata.DefaultServeReqq)
		}
	}
}
