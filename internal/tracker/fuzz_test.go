package tracker

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/metainfo"
)

// FuzzHTTPReply: the HTTP announce and scrape parsers never panic, return
// either a reply or a *FailureError / *ResponseError, and the peers of a
// parsed reply survive being written compactly and parsed again.
func FuzzHTTPReply(f *testing.F) {
	f.Add([]byte("d8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe1e"))
	f.Add([]byte("d8:intervali60e5:peersld2:ip3:::14:porti6882eee"))
	f.Add([]byte("d14:failure reason3:nahe"))
	f.Add([]byte("d5:filesd20:\x124Vx\x9a\xbc\xde\xf1#Eg\x89\xab\xcd\xef\x124Vx\x9ad8:completei5eeee"))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkParseError := func(err error) {
			var fe *FailureError
			var re *ResponseError
			if !errors.As(err, &fe) && !errors.As(err, &re) {
				t.Fatalf("error %T %v is neither *FailureError nor *ResponseError", err, err)
			}
		}
		if res, err := ParseHTTPScrape(body, []metainfo.Hash{testHash}); err != nil {
			checkParseError(err)
		} else if len(res) != 1 || res[0].InfoHash != testHash || res[0].Seeders < -1 || res[0].Completed < -1 || res[0].Leechers < -1 {
			t.Fatalf("scrape result %+v", res)
		}
		r, err := ParseHTTPAnnounce(body)
		if err != nil {
			checkParseError(err)
			return
		}
		if r.Interval < 0 || r.MinInterval < 0 || r.Seeders < -1 || r.Leechers < -1 {
			t.Fatalf("out of range: %+v", r)
		}
		var v4, v6 []byte
		for _, p := range r.Peers {
			if p.Port() == 0 || p.Addr().Is4In6() {
				t.Fatalf("peer %v kept", p)
			}
			if p.Addr().Is4() {
				v4 = append(append(v4, p.Addr().AsSlice()...), byte(p.Port()>>8), byte(p.Port()))
			} else {
				a := p.Addr().As16()
				v6 = binary.BigEndian.AppendUint16(append(v6, a[:]...), p.Port())
			}
		}
		again, err := bencode.Append(nil, map[string]any{"peers": string(v4), "peers6": string(v6)})
		if err != nil {
			t.Fatal(err)
		}
		r2, err := ParseHTTPAnnounce(again)
		if err != nil {
			t.Fatalf("re-encoded peers: %v", err)
		}
		// Re-encoding groups IPv4 before IPv6, so compare as sets.
		if !sameSet(r.Peers, r2.Peers) {
			t.Fatalf("peers %v became %v", r.Peers, r2.Peers)
		}
	})
}

func sameSet(a, b []netip.AddrPort) bool {
	m := func(s []netip.AddrPort) map[netip.AddrPort]bool {
		r := make(map[netip.AddrPort]bool)
		for _, p := range s {
			r[p] = true
		}
		return r
	}
	return len(a) == len(b) && reflect.DeepEqual(m(a), m(b))
}

// FuzzUDPReply: the BEP 15 reply parsers never panic, fail only with
// ErrUnknownTorrent or a *ResponseError, and an announce reply's peers and
// counts survive being written again and parsed.
func FuzzUDPReply(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x01\x00\x00\x00\x07\x00\x00\x07\x08\x00\x00\x00\x02\x00\x00\x00\x03\x7f\x00\x00\x01\x1a\xe1"), false)
	f.Add([]byte("\x00\x00\x00\x01\x00\x00\x00\x07"), false)
	f.Add([]byte("\x00\x00\x00\x01\x00\x00\x00\x07\x00\x00\x07\x08\x00\x00\x00\x02\x00\x00\x00\x03"+
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe2"), true)
	f.Add([]byte("\x00\x00\x00\x02\x00\x00\x00\x07\x00\x00\x00\x05\x00\x00\x00\x32\x00\x00\x00\x0a"), false)
	f.Fuzz(func(t *testing.T, p []byte, v6 bool) {
		check := func(err error) {
			var re *ResponseError
			if !errors.Is(err, ErrUnknownTorrent) && !errors.As(err, &re) {
				t.Fatalf("error %T %v", err, err)
			}
		}
		if _, err := parseUDPConnect(p); err != nil {
			check(err)
		}
		hashes := make([]metainfo.Hash, max(0, len(p)-udpHeader)/scrapeEntryLen)
		if res, err := parseUDPScrape(p, hashes); err != nil {
			check(err)
		} else if len(res) != len(hashes) {
			t.Fatalf("%d results for %d hashes", len(res), len(hashes))
		}
		r, err := parseUDPAnnounce(p, v6)
		if err != nil {
			check(err)
			return
		}
		again := append([]byte(nil), p[:announceHeaderLen]...)
		for _, ap := range r.Peers {
			if ap.Port() == 0 {
				t.Fatalf("peer %v kept", ap)
			}
			if v6 {
				a := ap.Addr().As16()
				again = append(again, a[:]...)
			} else {
				again = append(again, ap.Addr().AsSlice()...)
			}
			again = binary.BigEndian.AppendUint16(again, ap.Port())
		}
		r2, err := parseUDPAnnounce(again, v6)
		if err != nil {
			t.Fatalf("re-encoded: %v", err)
		}
		if r2.Interval != r.Interval || r2.Seeders != r.Seeders || r2.Leechers != r.Leechers || !reflect.DeepEqual(r.Peers, r2.Peers) {
			t.Fatalf("%+v became %+v", r, r2)
		}
	})
}
