package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/peertest"
)

// The hostile-source suite: trackers and DHT nodes are untrusted too. Each
// scenario runs the real binary's bare-magnet fetch against one scripted
// fake source on 127.0.0.1 and checks what the hostile-peer suite checks
// (runHostile): exit 3, one line naming what the source did, the time
// against --timeout, peak RSS under 64 MiB, no file left.

// httpTracker serves h as a tracker and returns its announce URL.
func httpTracker(t *testing.T, h http.HandlerFunc) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/announce"
}

// udpSource answers every datagram to a UDP socket on 127.0.0.1 with
// reply(request) (nil: no answer), and returns the socket's address.
func udpSource(t *testing.T, reply func(req []byte) []byte) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go serveUDP(pc, reply)
	return pc.LocalAddr().String()
}

// udpTracker plays a BEP 15 tracker: connect is answered properly, an
// announce with announce(req).
func udpTracker(t *testing.T, announce func(req []byte) []byte) string {
	return "udp://" + udpSource(t, func(req []byte) []byte {
		if len(req) < 16 {
			return nil
		}
		if binary.BigEndian.Uint32(req[8:12]) == 0 { // connect
			r := binary.BigEndian.AppendUint32(nil, 0)
			r = append(r, req[12:16]...)
			return binary.BigEndian.AppendUint64(r, 0x1234)
		}
		return announce(req)
	}) + "/announce"
}

// krpcReply is a DHT reply to query q carrying r (bencoded dict body).
func krpcReply(q []byte, r string) []byte {
	d, err := bencode.DecodeDict(q, bencode.Limits{MaxDepth: 4, MaxValues: 64})
	if err != nil {
		return nil
	}
	tid, _ := d["t"].(string)
	return []byte(fmt.Sprintf("d1:rd%se1:t%d:%s1:y1:re", r, len(tid), tid))
}

func randomID() string {
	b := make([]byte, 20)
	rand.Read(b)
	return string(b)
}

// fartherNode is a compact node entry for a fresh random id at a port of
// 127.0.0.1 where nothing answers: an endless chain of new nodes.
func fartherNode() string {
	var b bytes.Buffer
	b.WriteString(randomID())
	b.Write([]byte{127, 0, 0, 1})
	binary.Write(&b, binary.BigEndian, uint16(9))
	return b.String()
}

func TestHostileSources(t *testing.T) {
	bin := buildHostile(t)
	hash := peertest.HashOf(peertest.InfoOfSize(40000)).String()
	type source struct {
		name  string
		setup func(t *testing.T) []string // the flags that name the source
		want  string
	}
	tracker := func(u string) []string {
		return []string{"magnet:?xt=urn:btih:" + hash + "&tr=" + url.QueryEscape(u), "--no-dht"}
	}
	dhtNode := func(addr string) []string {
		return []string{hash, "--dht-bootstrap", addr, "--no-trackers"}
	}
	for _, s := range []source{
		{"http: failure reason", func(t *testing.T) []string {
			return tracker(httpTracker(t, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte("d14:failure reason22:torrent not registerede"))
			}))
		}, `announce: "torrent not registered"`},
		{"http: endless body", func(t *testing.T) []string {
			return tracker(httpTracker(t, func(w http.ResponseWriter, r *http.Request) {
				chunk := bytes.Repeat([]byte("x"), 64<<10)
				for range 1 << 10 { // 64 MiB at most
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			}))
		}, "no peers found: "},
		{"http: redirect loop", func(t *testing.T) []string {
			return tracker(httpTracker(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, r.URL.String(), http.StatusFound)
			}))
		}, "redirect"},
		{"http: one byte a second", func(t *testing.T) []string {
			return tracker(httpTracker(t, func(w http.ResponseWriter, r *http.Request) {
				for _, c := range []byte("d8:intervali60e5:peers0:e") {
					w.Write([]byte{c})
					w.(http.Flusher).Flush()
					select {
					case <-time.After(time.Second):
					case <-r.Context().Done():
						return
					}
				}
			}))
		}, "timed out"},
		{"http: compact peers of 7 bytes", func(t *testing.T) []string {
			return tracker(httpTracker(t, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte("d8:intervali60e5:peers7:\x7f\x00\x00\x01\x1a\xe1\x00e"))
			}))
		}, "peers"},
		{"http: not bencode", func(t *testing.T) []string {
			return tracker(httpTracker(t, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte("<html>nope</html>"))
			}))
		}, "no peers found: "},
		{"udp: silence", func(t *testing.T) []string {
			return tracker("udp://" + udpSource(t, func([]byte) []byte { return nil }) + "/announce")
		}, "timed out"},
		{"udp: wrong transaction ids", func(t *testing.T) []string {
			return tracker("udp://" + udpSource(t, func(req []byte) []byte {
				r := append([]byte(nil), req[:16]...)
				r[12] ^= 0xff
				return r
			}) + "/announce")
		}, "no peers found: "},
		{"udp: 8-byte announce reply (opentracker's unknown torrent)", func(t *testing.T) []string {
			return tracker(udpTracker(t, func(req []byte) []byte {
				return append(binary.BigEndian.AppendUint32(nil, 1), req[12:16]...)
			}))
		}, "does not know this torrent"},
		{"udp: error reply", func(t *testing.T) []string {
			return tracker(udpTracker(t, func(req []byte) []byte {
				return append(append(binary.BigEndian.AppendUint32(nil, 3), req[12:16]...), "go away"...)
			}))
		}, `"go away"`},
		{"dht: garbage", func(t *testing.T) []string {
			return dhtNode(udpSource(t, func([]byte) []byte { return []byte("garbage\x00\xff") }))
		}, "no peers found: dht: "},
		{"dht: error replies", func(t *testing.T) []string {
			return dhtNode(udpSource(t, func(q []byte) []byte {
				d, _ := bencode.DecodeDict(q, bencode.Limits{MaxDepth: 4, MaxValues: 64})
				tid, _ := d["t"].(string)
				return []byte(fmt.Sprintf("d1:eli201e7:go awaye1:t%d:%s1:y1:ee", len(tid), tid))
			}))
		}, "no peers found: dht: "},
		{"dht: an endless chain of new nodes", func(t *testing.T) []string {
			return dhtNode(udpSource(t, func(q []byte) []byte {
				var nodes strings.Builder
				for range 8 {
					nodes.WriteString(fartherNode())
				}
				return krpcReply(q, fmt.Sprintf("2:id20:%s5:nodes%d:%s", randomID(), nodes.Len(), nodes.String()))
			}))
		}, "no peers found: dht: "},
		{"dht: nodes of a bad length, values of garbage", func(t *testing.T) []string {
			return dhtNode(udpSource(t, func(q []byte) []byte {
				return krpcReply(q, fmt.Sprintf("2:id20:%s5:nodes5:abcde6:valuesl3:xyz2:abe", randomID()))
			}))
		}, "no peers found: dht: "},
	} {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"fetch-metadata"}, s.setup(t)...)
			runHostile(t, bin, append(args, "-o", "out.torrent"), 3, s.want, true)
		})
	}
}
