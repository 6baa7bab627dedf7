package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/peertest"
)

// quietPeer answers the handshakes, then says nothing; it counts the
// keep-alives it receives and closes after closeAfter if that is set.
func quietPeer(keepAlives chan<- int, closeAfter time.Duration) func(c *peertest.Conn) {
	return func(c *peertest.Conn) {
		c.Answer("-XX0000-000000000000")
		c.WriteExtHandshake(map[string]any{"m": map[string]any{"ut_metadata": int64(2)}})
		if closeAfter > 0 {
			time.Sleep(closeAfter)
			return
		}
		// btext's extended handshake, then nothing but keep-alives.
		n := 0
		var hdr [4]byte
		for {
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				break
			}
			l := int(hdr[0])<<24 | int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
			if l == 0 {
				n++
				continue
			}
			if _, err := io.CopyN(io.Discard, c, int64(l)); err != nil {
				break
			}
		}
		select {
		case keepAlives <- n:
		default:
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestWatchQuietPeer: a peer that says nothing does not end --watch D
// before D, however short the per-message read timeout (--timeout); btext
// keeps the connection alive meanwhile.
func TestWatchQuietPeer(t *testing.T) {
	keepAlives := make(chan int, 1)
	addr := peertest.Listen(t, quietPeer(keepAlives, 0))
	code, stdout, stderr, _ := runBtext(t, "handshake", addr, "--info-hash", testHash, "--watch", "2s", "--timeout", "400ms", "--json")
	if code != 0 {
		t.Fatalf("exit %d %s", code, stderr)
	}
	var end watchEnd
	if err := json.Unmarshal([]byte(lastLine(stdout)), &end); err != nil {
		t.Fatalf("%v in %q", err, stdout)
	}
	if end.Type != "end" || end.Reason != "time" || end.T < 2 || end.ExitCode != 0 || end.Error != nil {
		t.Errorf("end %+v, want type end, reason time after 2s", end)
	}
	select {
	case n := <-keepAlives:
		if n == 0 {
			t.Errorf("no keep-alive in a 2 s watch with a 400 ms read timeout")
		}
	case <-time.After(10 * time.Second):
		t.Errorf("the peer's connection was not closed after the watch")
	}
}

// TestWatchClosed: a peer that closes ends the watch with reason closed.
func TestWatchClosed(t *testing.T) {
	addr := peertest.Listen(t, quietPeer(nil, 200*time.Millisecond))
	// "--watch 30s" before the peer: 30s is the duration, not the peer.
	code, stdout, stderr, _ := runBtext(t, "handshake", "--watch", "30s", addr, "--info-hash", testHash)
	if code != 0 || !strings.Contains(lastLine(stdout), "watch ended: closed") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestWatchInterrupted: --watch without a duration watches until Ctrl-C,
// which ends it normally: the end object, exit 0.
func TestWatchInterrupted(t *testing.T) {
	bin, err := exec.LookPath("btext")
	if err != nil {
		t.Fatal(err)
	}
	addr := peertest.Listen(t, quietPeer(make(chan int, 1), 0))
	for _, args := range [][]string{
		{"handshake", addr, "--info-hash", testHash, "--watch", "--json"},
		{"handshake", "--watch", addr, "--info-hash", testHash},
	} {
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.HasPrefix(sc.Text(), `{"peer"`) || strings.HasPrefix(sc.Text(), "watching until Ctrl-C") {
				cmd.Process.Signal(os.Interrupt)
			}
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%v: btext did not stop within 10s of SIGINT", args)
		}
		if code := cmd.ProcessState.ExitCode(); code != 0 || stderr.Len() > 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
		last := ""
		if len(lines) > 0 {
			last = lines[len(lines)-1]
		}
		if !strings.Contains(last, `"type":"end","reason":"interrupted","error":null,"exit_code":0}`) && !strings.HasSuffix(last, "watch ended: interrupted") {
			t.Errorf("%v: last line %q", args, last)
		}
	}
}
