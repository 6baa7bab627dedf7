package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// TestRelay: bytes arrive in order and complete in both directions, from
// the client's own source address, and a half close is passed on while the
// other direction goes on. (How long the delay is, is not checked here: no
// timed unit tests on a shared machine.)
func TestRelay(t *testing.T) {
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go serve(ctx, ln, target.Addr().String(), 10*time.Millisecond, 10*time.Second)

	// The target reads everything up to the client's half close, then
	// answers with it reversed and closes.
	from := make(chan net.Addr, 1)
	go func() {
		c, err := target.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		from <- c.RemoteAddr()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		got, _ := io.ReadAll(c)
		for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
			got[i], got[j] = got[j], got[i]
		}
		c.Write(got)
	}()

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 7)}}
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	var sent []byte
	for i := range 200 {
		chunk := bytes.Repeat([]byte{byte(i)}, 1+i*37%5000)
		sent = append(sent, chunk...)
		if _, err := c.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(sent)-1; i < j; i, j = i+1, j-1 {
		sent[i], sent[j] = sent[j], sent[i]
	}
	if !bytes.Equal(got, sent) {
		t.Fatalf("got %d bytes back, want %d (or different bytes)", len(got), len(sent))
	}
	if a := (<-from).(*net.TCPAddr); !a.IP.Equal(net.IPv4(127, 0, 0, 7)) {
		t.Errorf("target saw %v, want the client's 127.0.0.7", a.IP)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, a := range []string{"10.0.0.1:80", "example.com:80", "nohost", "[::1]:1", "127.3.4.5:9"} {
		err := loopback(a)
		if want := a == "[::1]:1" || a == "127.3.4.5:9"; (err == nil) != want {
			t.Errorf("loopback(%q) = %v", a, err)
		}
	}
}
