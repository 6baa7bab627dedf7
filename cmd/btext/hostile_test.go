package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/peertest"
)

// The hostile-peer suite: each scenario runs the real btext binary (a
// subprocess, so that its peak RSS can be measured with wait4) against a
// scripted fake peer on 127.0.0.1, and checks the exit code, one line on
// stderr naming the cause, no panic, no output file, the time against
// --timeout, and peak RSS (VmHWM, which btext writes to
// $BTEXT_PEAK_RSS_FILE at exit) under 64 MiB. Controls are odd-but-good peers
// that must still succeed.

const (
	hostileTimeout = 2 * time.Second
	maxRSS         = 64 << 20
)

type hostile struct {
	name string
	cmd  string // handshake, fetch or dont-have
	play func(c *peertest.Conn)
	seed *peertest.Seeder // instead of play
	info []byte           // the seeder's info (default: 40000 bytes, 3 pieces)
	code int
	want string // in the stderr line; "" for a control
}

// answer plays a peer that answers the BT handshake and then does f.
func answer(f func(c *peertest.Conn)) func(c *peertest.Conn) {
	return func(c *peertest.Conn) {
		if _, ok := c.Answer("-XX0000-000000000000"); ok {
			f(c)
		}
	}
}

// ext plays a peer that answers and sends payload as its extended handshake.
func ext(payload string) func(c *peertest.Conn) {
	return answer(func(c *peertest.Conn) {
		c.WriteExtended(0, []byte(payload))
		c.Stall()
	})
}

func hostileScenarios() []hostile {
	deep := "d1:x" + strings.Repeat("l", 100) + strings.Repeat("e", 101)
	many := "d1:xl" + strings.Repeat("i1e", 10001) + "ee"
	return []hostile{
		// The BT handshake.
		{name: "closes at once", cmd: "handshake", play: func(c *peertest.Conn) {}, code: 3, want: "peer closed the connection"},
		{name: "closes after our handshake", cmd: "handshake", play: func(c *peertest.Conn) { c.ReadHandshake() }, code: 3, want: "read handshake: peer closed the connection before answering"},
		{name: "silence", cmd: "handshake", play: func(c *peertest.Conn) { c.Stall() }, code: 3, want: "read handshake: timed out"},
		{name: "one byte a second", cmd: "handshake", play: func(c *peertest.Conn) {
			h, _ := c.ReadHandshake()
			b, _ := peer.Handshake{Reserved: peertest.Extended, InfoHash: h.InfoHash}.AppendBinary(nil)
			c.Dribble(b, time.Second)
		}, code: 3, want: "read handshake: timed out"},
		{name: "wrong pstr", cmd: "handshake", play: func(c *peertest.Conn) {
			c.ReadHandshake()
			c.Write([]byte("\x13BitTorrent protocoI"))
			c.Stall()
		}, code: 4, want: `protocol string "BitTorrent protocoI"`},
		{name: "pstrlen 0", cmd: "handshake", play: func(c *peertest.Conn) { c.ReadHandshake(); c.Write(make([]byte, 68)); c.Stall() }, code: 4, want: "protocol string length 0"},
		{name: "pstrlen 255", cmd: "handshake", play: func(c *peertest.Conn) { c.ReadHandshake(); c.Write(bytes.Repeat([]byte{255}, 68)); c.Stall() }, code: 4, want: "protocol string length 255"},
		{name: "other info hash", cmd: "handshake", play: func(c *peertest.Conn) {
			c.ReadHandshake()
			c.WriteHandshake(peertest.Extended, peer.Hash{1, 2, 3}, "-XX0000-000000000000")
			c.Stall()
		}, code: 4, want: "peer answered for info hash 0102030000"},
		{name: "no 0x10 bit", cmd: "handshake", play: func(c *peertest.Conn) {
			h, _ := c.ReadHandshake()
			c.WriteHandshake(peer.Reserved{7: 0x05}, h.InfoHash, "-TR3000-000000000000")
			c.Stall()
		}, code: 4, want: "extension protocol (BEP 10): not supported by the peer"},
		{name: "no extended handshake", cmd: "handshake", play: answer(func(c *peertest.Conn) { c.Stall() }), code: 3, want: "wait for extended handshake: read message: timed out"},
		{name: "endless keep-alives", cmd: "handshake", play: answer(func(c *peertest.Conn) {
			for range 1000 {
				c.WriteMessage(peer.Message{KeepAlive: true})
				time.Sleep(10 * time.Millisecond)
			}
		}), code: 3, want: "timed out"},
		{name: "closes after the handshake", cmd: "handshake", play: answer(func(c *peertest.Conn) {}), code: 3, want: "wait for extended handshake: read message: peer closed the connection"},

		// Message stream encryption (--encryption require).
		{name: "MSE: closes", cmd: "handshake-mse", play: func(c *peertest.Conn) { c.Read(make([]byte, 96)) }, code: 3, want: "encryption handshake: peer closed the connection"},
		{name: "MSE: silence", cmd: "handshake-mse", play: func(c *peertest.Conn) { c.Stall() }, code: 3, want: "encryption handshake: timed out"},
		{name: "MSE: public key 0", cmd: "handshake-mse", play: func(c *peertest.Conn) { c.Write(make([]byte, 96)); c.Stall() }, code: 4, want: "the peer's public key is out of range"},
		{name: "MSE: garbage after the key", cmd: "handshake-mse", play: func(c *peertest.Conn) { c.Write(bytes.Repeat([]byte{0xee}, 2000)); c.Stall() }, code: 4, want: "no synchronisation within 512 bytes of padding"},

		// Framing.
		{name: "length 0xFFFFFFFF", cmd: "handshake", play: answer(func(c *peertest.Conn) { c.WriteLength(0xFFFFFFFF); c.Stall() }), code: 4, want: "message length 4294967295 exceeds the limit of 1048576 bytes"},
		{name: "length 100 MB", cmd: "handshake", play: answer(func(c *peertest.Conn) { c.WriteLength(100 << 20); c.Stall() }), code: 4, want: "message length 104857600 exceeds"},
		{name: "extended message of length 1", cmd: "handshake", play: answer(func(c *peertest.Conn) { c.WriteMessage(peer.Message{ID: peer.Extended}); c.Stall() }), code: 4, want: "extended message without an extension id"},
		{name: "have of 3 bytes", cmd: "handshake", play: answer(func(c *peertest.Conn) {
			c.WriteMessage(peer.Message{ID: peer.Have, Payload: []byte{1, 2, 3}})
			c.Stall()
		}), code: 4, want: "have message with a 3-byte payload"},
		{name: "have_all without fast", cmd: "handshake", play: answer(func(c *peertest.Conn) { c.WriteMessage(peer.Message{ID: peer.HaveAll}); c.Stall() }), code: 4, want: "fast extension was not negotiated"},

		// Extended handshakes.
		{name: "not bencode", cmd: "handshake", play: ext("hello"), code: 4, want: "extended handshake payload: not a bencoded dictionary"},
		{name: "a list", cmd: "handshake", play: ext("li1ee"), code: 4, want: "value is not a dictionary"},
		{name: "m a list", cmd: "handshake", play: ext("d1:mli1eee"), code: 4, want: "extended handshake payload: m is a list, not a dictionary"},
		{name: "m a string", cmd: "handshake", play: ext("d1:m3:abce"), code: 4, want: "m is a string, not a dictionary"},
		{name: "deep nesting", cmd: "handshake", play: ext(deep), code: 4, want: "nesting deeper than 16"},
		{name: "99999999999-byte string", cmd: "handshake", play: ext("d1:v99999999999:xe"), code: 4, want: "string length 99999999999 exceeds"},
		{name: "more than 10000 values", cmd: "handshake", play: ext(many), code: 4, want: "more than 10000 values"},
		{name: "duplicate keys", cmd: "handshake", play: ext("d1:pi1e1:pi2ee"), code: 4, want: `duplicate dictionary key "p"`},
		{name: "integer overflow", cmd: "handshake", play: ext("d1:pi99999999999999999999ee"), code: 4, want: "out of range"},

		// Metadata exchange.
		{name: "no metadata_size, total_size 2^40", cmd: "fetch", seed: &peertest.Seeder{UT: 3, OmitSize: true, TotalSize: i64(1 << 40)}, code: 5, want: "above the limit of 33554432"},
		{name: "metadata_size 0", cmd: "fetch", seed: &peertest.Seeder{UT: 3, MetadataSize: i64(0)}, code: 5, want: "metadata_size is 0"},
		{name: "metadata_size negative", cmd: "fetch", seed: &peertest.Seeder{UT: 3, MetadataSize: i64(-1)}, code: 5, want: "metadata_size is -1"},
		{name: "metadata_size 2^40", cmd: "fetch", seed: &peertest.Seeder{UT: 3, MetadataSize: i64(1 << 40)}, code: 5, want: "above the limit of 33554432; --max-metadata-size raises the limit"},
		{name: "total_size disagrees", cmd: "fetch", seed: &peertest.Seeder{UT: 3, TotalSize: i64(40001)}, code: 4, want: "total_size 40001 differs from metadata_size 40000"},
		{name: "short piece", cmd: "fetch", seed: &peertest.Seeder{UT: 3, Short: true}, code: 4, want: "bytes, want"},
		{name: "long piece", cmd: "fetch", seed: &peertest.Seeder{UT: 3, Long: true}, code: 4, want: "bytes, want"},
		{name: "oversized data message", cmd: "fetch", seed: &peertest.Seeder{UT: 3, Oversized: true}, code: 4, want: "more than the 17408 a piece needs"},
		{name: "trailing bytes after a reject", cmd: "fetch", seed: &peertest.Seeder{UT: 3, RejectAll: true, Trailing: true}, code: 4, want: "4 bytes after a msg_type 2 dictionary"},
		{name: "data without total_size", cmd: "fetch", seed: &peertest.Seeder{UT: 3, NoTotal: true}, code: 4, want: "without a valid total_size"},
		{name: "unrequested piece", cmd: "fetch", seed: &peertest.Seeder{UT: 3, Unrequest: true}, code: 4, want: "which was not requested"},
		{name: "out-of-range piece", cmd: "fetch", seed: &peertest.Seeder{UT: 3, OutOfRange: true}, code: 4, want: "not requested"},
		{name: "every request rejected", cmd: "fetch", seed: &peertest.Seeder{UT: 3, RejectAll: true}, code: 5, want: "rejected every request"},
		{name: "wrong hash", cmd: "fetch", seed: &peertest.Seeder{UT: 3, Corrupt: true}, code: 5, want: "does not match the info hash"},
		{name: "hash-valid non-dict", cmd: "fetch", seed: &peertest.Seeder{UT: 3}, info: []byte("l" + strings.Repeat("4:spam", 20) + "e"), code: 5, want: "not a bencoded dictionary"},
		{name: "no metadata extension", cmd: "fetch", seed: &peertest.Seeder{}, code: 4, want: "ut_metadata or LT_metadata: not supported by the peer"},
		{name: "stalls on requests", cmd: "fetch", seed: &peertest.Seeder{UT: 3, Stall: true}, code: 3, want: "timed out"},
		{name: "closes mid-fetch", cmd: "fetch", seed: &peertest.Seeder{UT: 3, CloseAfter: 1}, code: 3, want: "peer closed the connection"},
		{name: "LT negative total", cmd: "fetch", seed: &peertest.Seeder{LT: 5, LTNegative: true}, code: 4, want: "total size -5"},
		{name: "LT offset outside", cmd: "fetch", seed: &peertest.Seeder{LT: 5, LTOffset: true}, code: 4, want: "outside the total"},
		{name: "LT total disagrees", cmd: "fetch", seed: &peertest.Seeder{LT: 5, TotalSize: i64(39999)}, code: 4, want: "total size 39999 differs from 40000"},
		{name: "LT only, no metadata_size, silent", cmd: "fetch", seed: &peertest.Seeder{LT: 5, OmitSize: true, Stall: true}, code: 3, want: "no answer to LT_metadata requests: wait for metadata: timed out"},
		{name: "LT don't have", cmd: "fetch", seed: &peertest.Seeder{LT: 5, RejectAll: true}, code: 5, want: "don't have"},
		{name: "LT wrong hash", cmd: "fetch", seed: &peertest.Seeder{LT: 5, Corrupt: true}, code: 5, want: "does not match the info hash"},
		{name: "LT size 2^40", cmd: "fetch", seed: &peertest.Seeder{LT: 5, MetadataSize: i64(1 << 40)}, code: 5, want: "above the limit"},

		// lt_donthave.
		{name: "no lt_donthave", cmd: "dont-have", play: answer(func(c *peertest.Conn) {
			c.WriteExtHandshake(map[string]any{"m": map[string]any{"ut_pex": int64(1)}})
			c.Stall()
		}), code: 4, want: "lt_donthave: not supported by the peer"},
		{name: "closes after the announce", cmd: "dont-have", play: answer(func(c *peertest.Conn) {
			c.WriteExtHandshake(map[string]any{"m": map[string]any{"lt_donthave": int64(7)}})
			fr := peer.FrameReader{R: c, Max: 1 << 20}
			for {
				m, err := fr.Next()
				if err != nil || m.ID == peer.Have {
					return
				}
			}
		}), code: 3, want: "peer closed the connection after our announce"},

		// Controls: odd but good.
		{name: "control: ids 0, negative, over 255, duplicated", cmd: "handshake", play: ext("d1:md1:ai2e1:bi-1e1:ci300e1:di0e11:ut_metadatai2eee"), code: 0},
		{name: "control: keys differing only in case", cmd: "handshake", play: ext("d1:Mi1e1:md11:ut_metadatai2e11:UT_METADATAi3eee"), code: 0},
		{name: "control: messages before the extended handshake", cmd: "handshake", play: answer(func(c *peertest.Conn) {
			c.WriteMessage(peer.Message{ID: peer.Unchoke})
			c.WriteMessage(peer.Message{ID: peer.Bitfield, Payload: make([]byte, 1000)})
			c.WriteMessage(peer.Message{ID: 99, Payload: []byte("?")})
			c.WriteExtended(0, []byte("de"))
			c.Stall()
		}), code: 0},
		{name: "control: unknown msg_type", cmd: "fetch", seed: &peertest.Seeder{UT: 3, Unknown: true}, code: 0},
		{name: "control: slow seeder", cmd: "fetch", seed: &peertest.Seeder{UT: 3, Delay: 200 * time.Millisecond}, code: 0},
		{name: "control: ut_metadata without metadata_size", cmd: "fetch", seed: &peertest.Seeder{UT: 3, OmitSize: true}, code: 0},
		{name: "control: LT_metadata only, no metadata_size", cmd: "fetch", seed: &peertest.Seeder{LT: 5, OmitSize: true}, code: 0},
		{name: "control: reqq 1", cmd: "fetch", seed: &peertest.Seeder{UT: 3, Reqq: 1}, code: 0},
		{name: "control: every answer twice", cmd: "fetch", seed: &peertest.Seeder{UT: 3, Twice: true}, code: 0},
		{name: "control: every LT_metadata answer twice", cmd: "fetch", seed: &peertest.Seeder{LT: 5, Twice: true}, code: 0},
		{name: "one piece always rejected", cmd: "fetch", seed: &peertest.Seeder{UT: 3, Reject: map[int]bool{1: true}}, code: 5, want: "rejected every request"},
	}
}

// buildHostile builds the binary a user runs, without the race detector
// (whose shadow memory alone is over 100 MiB), so that its RSS is the real
// one.
func buildHostile(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "btext")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runHostile runs the binary with args (plus --timeout hostileTimeout) in
// a fresh directory and checks the exit code, one stderr line containing
// want (unless want is ""), no panic, the time against --timeout and the
// peak RSS. With output, it also checks that out.torrent was written on
// success and that nothing at all was left on failure.
func runHostile(t *testing.T, bin string, args []string, code int, want string, output bool) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(bin, append(args, "--timeout", hostileTimeout.String())...)
	cmd.Dir = dir
	rssFile := filepath.Join(t.TempDir(), "rss")
	cmd.Env = append(os.Environ(), "BTEXT_PEAK_RSS_FILE="+rssFile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(hostileTimeout + 10*time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running %v after --timeout %v", time.Since(start), hostileTimeout)
	}
	took := time.Since(start)
	got := cmd.ProcessState.ExitCode()
	// btext writes its own VmHWM at exit: wait4's ru_maxrss would include
	// this test process's peak, which Linux carries across the exec.
	kib, err := os.ReadFile(rssFile)
	if err != nil {
		t.Fatalf("no peak RSS written: %v", err)
	}
	rss, _ := strconv.ParseInt(strings.TrimSpace(string(kib)), 10, 64)
	rss *= 1024
	t.Logf("exit %d in %v, peak RSS %.1f MiB: %s", got, took.Round(time.Millisecond), float64(rss)/(1<<20), strings.TrimSpace(stderr.String()))
	if got != code {
		t.Errorf("exit code %d, want %d; stderr %q", got, code, stderr.String())
	}
	if s := stderr.String(); strings.Contains(s, "panic") || strings.Contains(s, "goroutine ") {
		t.Errorf("panic: %s", s)
	}
	if want != "" {
		s := stderr.String()
		if !strings.HasPrefix(s, "btext: ") || strings.Count(s, "\n") != 1 || !strings.Contains(s, want) {
			t.Errorf("stderr %q, want one line containing %q", s, want)
		}
	}
	if took > hostileTimeout+3*time.Second {
		t.Errorf("took %v with --timeout %v", took, hostileTimeout)
	}
	if rss > maxRSS {
		t.Errorf("peak RSS %d MiB, over 64 MiB", rss>>20)
	}
	if output {
		_, err := os.Stat(filepath.Join(dir, "out.torrent"))
		if entries, _ := os.ReadDir(dir); code != 0 && len(entries) != 0 {
			t.Errorf("files left: %v", entries)
		} else if code == 0 && err != nil {
			t.Errorf("no output: %v", err)
		}
	}
}

func TestHostilePeers(t *testing.T) {
	bin := buildHostile(t)
	info := peertest.InfoOfSize(40000)
	for _, h := range hostileScenarios() {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			var hash peer.Hash
			play := h.play
			if h.seed != nil {
				s := *h.seed
				s.Info = info
				if h.info != nil {
					s.Info = h.info
				}
				hash = peertest.HashOf(s.Info)
				play = s.Play
			} else {
				hash = peertest.HashOf(info)
			}
			addr := peertest.Listen(t, play)
			args := map[string][]string{
				"handshake":     {"handshake", addr, "--info-hash", hash.String()},
				"handshake-mse": {"handshake", addr, "--info-hash", hash.String(), "--encryption", "require"},
				"fetch":         {"fetch-metadata", hash.String(), addr, "-o", "out.torrent"},
				"dont-have":     {"dont-have", hash.String(), addr, "1", "--linger", "200ms"},
			}[h.cmd]
			runHostile(t, bin, args, h.code, h.want, h.cmd == "fetch")
		})
	}
}
