package tracker

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/btext/btext/internal/metainfo"
)

var (
	testHash = metainfo.Hash{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf1, 0x23, 0x45,
		0x67, 0x89, 0xab, 0xcd, 0xef, 0x12, 0x34, 0x56, 0x78, 0x9a}
	testPeerID = [20]byte([]byte("-BX0001-abcdefghijkl"))
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestAnnounceURL(t *testing.T) {
	u, _ := url.Parse("http://t.example:6969/announce?passkey=abc#frag")
	req := Request{
		InfoHash: testHash, PeerID: testPeerID, Port: 6881,
		Uploaded: 1, Downloaded: 2, Left: 3, Event: Started, NumWant: 50, Key: 0xdeadbeef,
		TrackerID: "a b",
	}
	want := "http://t.example:6969/announce?passkey=abc" +
		"&info_hash=%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A" +
		"&peer_id=-BX0001-abcdefghijkl&port=6881&uploaded=1&downloaded=2&left=3" +
		"&compact=1&event=started&numwant=50&key=DEADBEEF&trackerid=a+b"
	if got := announceURL(u, req); got != want {
		t.Errorf("announceURL:\n got %s\nwant %s", got, want)
	}
	// No event, no numwant, no tracker id: the parameters are left out.
	u, _ = url.Parse("http://t.example/announce")
	want = "http://t.example/announce?info_hash=%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A" +
		"&peer_id=-BX0001-abcdefghijkl&port=0&uploaded=0&downloaded=0&left=0&compact=1&key=00000000"
	if got := announceURL(u, Request{InfoHash: testHash, PeerID: testPeerID}); got != want {
		t.Errorf("announceURL:\n got %s\nwant %s", got, want)
	}
}

func TestScrapeURL(t *testing.T) {
	h2 := metainfo.Hash{19: 0xff}
	for _, tc := range []struct{ in, want string }{
		{"http://t/announce", "http://t/scrape?info_hash=%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A&info_hash=%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%FF"},
		{"http://t/x/announce.php?k=1", "http://t/x/scrape.php?k=1&info_hash=%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A&info_hash=%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%FF"},
		{"http://t/a", ""},
		{"http://t/announce/x", ""},
	} {
		u, _ := url.Parse(tc.in)
		got, err := scrapeURL(u, []metainfo.Hash{testHash, h2})
		if tc.want == "" {
			if !errors.Is(err, ErrNoScrape) {
				t.Errorf("%s: got %q, %v; want ErrNoScrape", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s:\n got %s, %v\nwant %s", tc.in, got, err, tc.want)
		}
	}
}

func TestParseHTTPAnnounce(t *testing.T) {
	v4 := "\x7f\x00\x00\x01\x1a\xe1" + "\x0a\x00\x00\x02\x00\x50"
	v6 := "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe2"
	for _, tc := range []struct {
		name string
		body string
		want *Response
		err  string
	}{
		{
			name: "compact v4 and v6",
			body: "d8:completei3e10:incompletei4e8:intervali1800e12:min intervali900e5:peers12:" + v4 +
				"6:peers618:" + v6 + "10:tracker id2:xy15:warning message4:slowe",
			want: &Response{
				Interval: 1800 * time.Second, MinInterval: 900 * time.Second, Seeders: 3, Leechers: 4,
				Peers:   []netip.AddrPort{ap("127.0.0.1:6881"), ap("10.0.0.2:80"), ap("[::1]:6882")},
				Warning: "slow", TrackerID: "xy",
			},
		},
		{
			name: "no counts, no peers",
			body: "d8:intervali60ee",
			want: &Response{Interval: time.Minute, Seeders: -1, Leechers: -1},
		},
		{
			name: "dictionary list with a host name, port 0 and a duplicate",
			body: "d8:intervali60e5:peersl" +
				"d2:ip9:127.0.0.17:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti6881ee" +
				"d2:ip3:::14:porti6882ee" +
				"d2:ip11:example.org4:porti1ee" +
				"d2:ip8:10.0.0.14:porti0ee" +
				"d2:ip9:127.0.0.14:porti6881ee" +
				"ee",
			want: &Response{
				Interval: time.Minute, Seeders: -1, Leechers: -1,
				Peers: []netip.AddrPort{ap("127.0.0.1:6881"), ap("[::1]:6882")},
				Notes: []string{"dropped 1 peers on port 0", "dropped 1 duplicate peers",
					"dropped 1 peers whose ip is not an address (a host name is not looked up)"},
			},
		},
		{
			name: "v4-mapped v6 is the same peer as v4",
			body: "d8:intervali60e5:peers6:" + v4[:6] + "6:peers618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x7f\x00\x00\x01\x1a\xe1e",
			want: &Response{
				Interval: time.Minute, Seeders: -1, Leechers: -1,
				Peers: []netip.AddrPort{ap("127.0.0.1:6881")},
				Notes: []string{"dropped 1 duplicate peers"},
			},
		},
		{name: "failure", body: "d14:failure reason21:torrent not permittede", err: `tracker failure: "torrent not permitted"`},
		{name: "failure beats other keys", body: "d14:failure reason1:x8:intervali60ee", err: `tracker failure: "x"`},
		{name: "compact v4 of 7 bytes", body: "d8:intervali60e5:peers7:" + v4[:7] + "e", err: "peers: 7 bytes is not a multiple of 6"},
		{name: "compact v6 of 6 bytes", body: "d8:intervali60e6:peers66:" + v4[:6] + "e", err: "peers6: 6 bytes is not a multiple of 18"},
		{name: "not bencode", body: "<html>", err: "malformed tracker response: bencode: unexpected byte '<' at offset 0"},
		{name: "a list", body: "le", err: "value is not a dictionary"},
		{name: "trailing", body: "de1", err: "trailing data"},
		{name: "interval string", body: "d8:interval2:60e", err: "interval is a string, want an integer"},
		{name: "negative interval", body: "d8:intervali-1ee", err: "interval -1 out of range"},
		{name: "huge interval", body: "d8:intervali4294967296ee", err: "interval 4294967296 out of range"},
		{name: "peers integer", body: "d5:peersi1ee", err: "peers is a integer, want a string or a list"},
		{name: "peers6 list", body: "d6:peers6lee", err: "peers6 is a list, want a string"},
		{name: "peer entry not a dict", body: "d5:peersli1eee", err: "peers[0]: a integer, want a dictionary"},
		{name: "peer port too big", body: "d5:peersld2:ip9:127.0.0.14:porti65536eeee", err: "port 65536 out of range"},
		{name: "peer without port", body: "d5:peersld2:ip9:127.0.0.1eee", err: "peers[0]: no ip or no port"},
		{name: "failure not a string", body: "d14:failure reasoni1ee", err: "failure reason is a integer, want a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHTTPAnnounce([]byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %+v, %v; want error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseHTTPAnnounceErrorTypes(t *testing.T) {
	_, err := ParseHTTPAnnounce([]byte("d14:failure reason3:nahe"))
	var f *FailureError
	if !errors.As(err, &f) || f.Reason != "nah" {
		t.Errorf("failure: got %v", err)
	}
	_, err = ParseHTTPAnnounce([]byte("d5:peers1:xe"))
	var r *ResponseError
	if !errors.As(err, &r) {
		t.Errorf("bad peers: got %T %v, want *ResponseError", err, err)
	}
}

func TestParseHTTPScrape(t *testing.T) {
	other := metainfo.Hash{1}
	missing := metainfo.Hash{2}
	body := "d5:filesd20:" + string(testHash[:]) + "d8:completei5e10:downloadedi50e10:incompletei10ee" +
		"20:" + string(other[:]) + "d8:completei1eeee"
	got, err := ParseHTTPScrape([]byte(body), []metainfo.Hash{testHash, other, missing})
	if err != nil {
		t.Fatal(err)
	}
	want := []ScrapeResult{
		{InfoHash: testHash, Seeders: 5, Completed: 50, Leechers: 10},
		{InfoHash: other, Seeders: 1, Completed: -1, Leechers: -1},
		{InfoHash: missing, Seeders: -1, Completed: -1, Leechers: -1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// bittorrent-tracker 11's keys: each hash byte as a Latin-1 character
	// in UTF-8 (0x12 0x34 0x56 0x78 0x9a -> 12 34 56 78 c2 9a ...).
	var mangledKey []byte
	for _, c := range testHash {
		mangledKey = utf8.AppendRune(mangledKey, rune(c))
	}
	body = fmt.Sprintf("d5:filesd%d:%sd8:completei1e10:downloadedi1e10:incompletei0eeee", len(mangledKey), mangledKey)
	got, err = ParseHTTPScrape([]byte(body), []metainfo.Hash{testHash})
	if want := []ScrapeResult{{testHash, 1, 1, 0}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("latin-1 keys: got %+v, %v; want %+v", got, err, want)
	}
	for _, tc := range []struct{ body, err string }{
		{"de", "no files dictionary"},
		{"d5:filesi1ee", "files is a integer"},
		{"d5:filesd20:" + string(testHash[:]) + "i1eee", "is a integer, want a dictionary"},
		{"d5:filesd20:" + string(testHash[:]) + "d8:completei-1eeee", "complete -1 out of range"},
		{"d14:failure reason4:nopee", `tracker failure: "nope"`},
	} {
		if _, err := ParseHTTPScrape([]byte(tc.body), []metainfo.Hash{testHash}); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: got %v, want %q", tc.body, err, tc.err)
		}
	}
}

// fakeHTTP starts an HTTP tracker on 127.0.0.1 that answers with h.
func fakeHTTP(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func newTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c := NewClient(cfg)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestHTTPAnnounce(t *testing.T) {
	var got url.Values
	base := fakeHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query()
		fmt.Fprint(w, "d8:intervali120e5:peers6:\x7f\x00\x00\x01\x1a\xe1e")
	})
	c := newTestClient(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Announce(ctx, base+"/announce", Request{InfoHash: testHash, PeerID: testPeerID, Port: 1, Event: Stopped})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Interval != 2*time.Minute || !reflect.DeepEqual(resp.Peers, []netip.AddrPort{ap("127.0.0.1:6881")}) {
		t.Errorf("got %+v", resp)
	}
	if got.Get("info_hash") != string(testHash[:]) || got.Get("event") != "stopped" || got.Get("compact") != "1" || got.Get("port") != "1" {
		t.Errorf("tracker got query %v", got)
	}
}

func TestHTTPScrape(t *testing.T) {
	var path string
	base := fakeHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		fmt.Fprint(w, "d5:filesd20:"+string(testHash[:])+"d8:completei5e10:downloadedi50e10:incompletei10eeee")
	})
	c := newTestClient(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Scrape(ctx, base+"/announce", []metainfo.Hash{testHash})
	if err != nil {
		t.Fatal(err)
	}
	if path != "/scrape" || !reflect.DeepEqual(res, []ScrapeResult{{testHash, 5, 50, 10}}) {
		t.Errorf("path %q, got %+v", path, res)
	}
}

// Hostile HTTP trackers: each call must end, within its deadline, with a
// clear error and without reading more than the size limit.
func TestHTTPHostile(t *testing.T) {
	const limit = 4096
	drip := make(chan struct{})
	t.Cleanup(func() { close(drip) })
	// 16 MiB of zeros, gzipped to about 16 KiB.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(make([]byte, 16<<20))
	zw.Close()
	bomb := gz.Bytes()
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		path    string
		err     string
		is      error
		failure bool
	}{
		{
			name: "huge body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				// An endless body: the client must stop at the limit.
				chunk := bytes.Repeat([]byte("x"), 1024)
				for i := 0; i < 100000; i++ {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			},
			err: fmt.Sprintf("response over %d bytes", limit),
		},
		{
			name: "gzip bomb",
			handler: func(w http.ResponseWriter, r *http.Request) {
				// The limit applies to what the transport inflates.
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(bomb)
			},
			err: fmt.Sprintf("response over %d bytes", limit),
		},
		{
			name: "redirect loop",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, r.URL.String(), http.StatusFound)
			},
			err: "more than 3 redirects",
		},
		{
			name: "slow drip",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte("d8:interval"))
				w.(http.Flusher).Flush()
				for {
					select {
					case <-r.Context().Done():
						return
					case <-drip:
						return
					case <-time.After(50 * time.Millisecond):
						if _, err := w.Write([]byte("i")); err != nil {
							return
						}
						w.(http.Flusher).Flush()
					}
				}
			},
			is: context.DeadlineExceeded,
		},
		{
			name: "headers never come",
			handler: func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-drip:
				}
			},
			is: context.DeadlineExceeded,
		},
		{
			name: "failure reason with status 400",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, "d14:failure reason11:unregisterde")
			},
			err:     `tracker failure: "unregisterd"`,
			failure: true,
		},
		{
			name: "html 404",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.NotFound(w, r)
			},
			err: "announce: http status 404",
		},
		{
			name: "bad compact length",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, "d8:intervali60e5:peers5:abcdee")
			},
			err: "peers: 5 bytes is not a multiple of 6",
		},
		{
			name: "truncated bencode",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, "d8:intervali60e5:peers600:abc")
			},
			err: "malformed tracker response: bencode:",
		},
		{
			name: "deep nesting",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, strings.Repeat("l", 3000))
			},
			err: "nesting deeper than",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := fakeHTTP(t, tc.handler)
			c := newTestClient(t, Config{MaxResponse: limit})
			// Cases that must time out get a short deadline; the others a
			// long one, so a loaded machine cannot turn them into timeouts.
			d := 10 * time.Second
			if tc.is == context.DeadlineExceeded {
				d = 500 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			resp, err := c.Announce(ctx, base+"/announce", Request{InfoHash: testHash, PeerID: testPeerID, Port: 1})
			if err == nil {
				t.Fatalf("got %+v, want an error", resp)
			}
			t.Logf("error: %v", err)
			if tc.err != "" && !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %q, want it to contain %q", err, tc.err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v, want errors.Is %v", err, tc.is)
			}
			if tc.failure != isFailure(err) {
				t.Errorf("error %v: is a *FailureError = %v, want %v", err, isFailure(err), tc.failure)
			}
			if strings.Contains(err.Error(), "info_hash") {
				t.Errorf("error %q repeats the URL", err)
			}
		})
	}
}

func TestSchemes(t *testing.T) {
	c := newTestClient(t, Config{})
	for _, u := range []string{"wss://t/announce", "ftp://t/", "t:80"} {
		if _, err := c.Announce(context.Background(), u, Request{}); !errors.Is(err, ErrUnsupportedScheme) {
			t.Errorf("%s: got %v, want ErrUnsupportedScheme", u, err)
		}
	}
	if err := CheckURL("wss://t/announce"); !errors.Is(err, ErrUnsupportedScheme) {
		t.Errorf("CheckURL(wss): got %v, want ErrUnsupportedScheme", err)
	}
	for _, u := range []string{"udp://t:6969", "http://t/announce", "https://t:443/a?x=1"} {
		if err := CheckURL(u); err != nil {
			t.Errorf("CheckURL(%s): %v", u, err)
		}
	}
	if _, err := c.Announce(context.Background(), "http:///announce", Request{}); err == nil || !strings.Contains(err.Error(), "no host") {
		t.Errorf("no host: got %v", err)
	}
	if _, err := c.Announce(context.Background(), "http://127.0.0.1:1/announce", Request{Event: 4}); err == nil || err.Error() != "announce: unknown event(4)" {
		t.Errorf("event 4: got %v", err)
	}
	c.Close()
	if _, err := c.Announce(context.Background(), "http://127.0.0.1:1/announce", Request{}); !errors.Is(err, ErrClosed) {
		t.Errorf("after close: got %v", err)
	}
}
