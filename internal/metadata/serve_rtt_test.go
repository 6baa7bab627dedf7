package metadata_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/peertest"
)

// BenchmarkServeRoundTrips fetches a 2.6 MB info dict (161 pieces) from
// btext's serving side over a relay that adds 25 ms each way (a 50 ms
// round trip, the connect included), and reports the round trips the
// fetching side waited for (flights of answers, plus the connect) and the
// time in round trips. "fetch" is metadata.Fetch with its own request
// window; "burst" asks for every piece in one write as soon as the
// extended handshake is in, which is the fewest round trips serve allows:
// connect, handshakes, pieces. "loopback" is the fetch without the relay,
// the transfer time on this machine.
func BenchmarkServeRoundTrips(b *testing.B) {
	const rtt = 50 * time.Millisecond
	info := peertest.InfoOfSize(2_630_000)
	if n := metadata.PieceCount(len(info)); n != 161 {
		b.Fatalf("%d pieces", n)
	}
	addr, _ := peertest.Serve(b, metadata.ServerConfig{}, info)
	hash := peertest.HashOf(info)
	var f flightCounter
	r := newRelay(b, addr, rtt, &f)
	fetch := func(b *testing.B, addr string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := metadata.Fetch(ctx, metadata.FetchConfig{Target: metainfo.Target{V1: (*metainfo.Hash)(&hash)},
			Peers: metadata.PeerList("arg", netip.MustParseAddrPort(addr))})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Info) != len(info) {
			b.Fatalf("%d bytes", len(res.Info))
		}
	}
	measure := func(b *testing.B, op func(b *testing.B)) {
		flights, n := 0, 0
		var took time.Duration
		for b.Loop() {
			f.reset()
			start := time.Now()
			op(b)
			took += time.Since(start)
			flights += f.n()
			n++
		}
		b.ReportMetric(float64(flights+n)/float64(n), "round-trips/op") // + the connect
		b.ReportMetric(float64(took)/float64(n)/float64(rtt), "rtt/op")
		b.ReportMetric(float64(took.Milliseconds())/float64(n), "ms/op")
	}
	b.Run("loopback", func(b *testing.B) {
		for b.Loop() {
			fetch(b, addr)
		}
	})
	b.Run("fetch", func(b *testing.B) {
		measure(b, func(b *testing.B) { fetch(b, r.Addr()) })
	})
	b.Run("burst", func(b *testing.B) {
		measure(b, func(b *testing.B) { burst(b, r.Addr(), hash, metadata.PieceCount(len(info))) })
	})
}

// burst connects, asks for all n pieces in one write and reads the n
// answers.
func burst(b *testing.B, addr string, hash peer.Hash, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := extensions.Connect(ctx, addr, extensions.Options{InfoHash: hash})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	id, _ := s.Registry.ID(extensions.UTMetadata)
	reqs := make([]peer.Message, n)
	for i := range reqs {
		p, _ := metadata.UTMessage{Type: metadata.UTRequest, Piece: int64(i), TotalSize: -1}.AppendBinary(nil)
		reqs[i] = peer.ExtendedMessage(id, p)
	}
	if err := s.Conn.WriteMessages(ctx, reqs...); err != nil {
		b.Fatal(err)
	}
	for got := 0; got < n; {
		msg, err := s.Conn.ReadMessage(ctx)
		if err != nil {
			b.Fatalf("after %d pieces: %v", got, err)
		}
		if msg.ID == peer.Extended && msg.Payload[0] == extensions.LocalUTMetadata {
			got++
		}
	}
}

// BenchmarkServeFetches: whole metadata fetches of a 100 KB info dict (7
// pieces) from btext's serving side on loopback, 100 at a time, with
// serve logging at info level as btext serve does (to a file, console
// format): the serving side's cost per fetch, connection included.
func BenchmarkServeFetches(b *testing.B) {
	info := peertest.InfoOfSize(100_074)
	f, err := os.Create(filepath.Join(b.TempDir(), "serve.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() }) // after the server stops (cleanups run last first)
	log := zerolog.New(zerolog.ConsoleWriter{Out: f, TimeFormat: "15:04:05.000", NoColor: true}).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	addr, _ := peertest.Serve(b, metadata.ServerConfig{Log: log}, info)
	hash := peertest.HashOf(info)
	ap := netip.MustParseAddrPort(addr)
	b.SetParallelism(50) // 100 fetchers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := metadata.Fetch(ctx, metadata.FetchConfig{Target: metainfo.Target{V1: (*metainfo.Hash)(&hash)},
				Peers: metadata.PeerList("arg", ap), Session: extensions.Options{PeerID: peer.RandomPeerID()}})
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
