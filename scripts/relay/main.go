// Command relay is a TCP relay on loopback that delays each direction by
// half a round trip, for benchmarks over an emulated slow network (this
// kernel has no tc netem). Each read is forwarded as one write, in order,
// RTT/2 after it was read, so the peer sees the sender's chunking. The
// connect's round trip is emulated too: nothing the client sends reaches
// the target before 1.5 RTT after the client's connect (the SYN/SYN-ACK
// round trip a real network would cost, then half a trip for the data).
//
// The relay connects to the target from the client's own source address
// (127.x.y.z), so that a seeder which refuses an address that just
// disconnected (Transmission, rtorrent) sees distinct fetchers as distinct.
//
//	relay -to 127.0.0.1:6881 -rtt 50ms
//
// prints "listening on 127.0.0.1:PORT" on stdout once it accepts
// connections, and runs until interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// queueChunks bounds how many chunks one direction holds in flight: a
// sender faster than the delay line blocks instead of growing memory.
const queueChunks = 1024

// readSize is the largest chunk forwarded at once.
const readSize = 64 << 10

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback only)")
	to := flag.String("to", "", "target host:port (loopback only)")
	rtt := flag.Duration("rtt", 50*time.Millisecond, "round trip to emulate (each direction gets half)")
	idle := flag.Duration("idle", 5*time.Minute, "close a connection idle this long in both directions")
	flag.Parse()
	if err := run(*listen, *to, *rtt, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func run(listen, to string, rtt, idle time.Duration) error {
	if err := loopback(listen); err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	if err := loopback(to); err != nil {
		return fmt.Errorf("-to: %w", err)
	}
	if rtt < 0 {
		return errors.New("-rtt must not be negative")
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("listening on %s\n", ln.Addr())
	return serve(ctx, ln, to, rtt, idle)
}

// serve relays every connection ln accepts to to, until ctx is done.
func serve(ctx context.Context, ln net.Listener, to string, rtt, idle time.Duration) error {
	context.AfterFunc(ctx, func() { ln.Close() })
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		go relay(ctx, c.(*net.TCPConn), to, rtt, idle)
	}
}

// loopback checks that addr is host:port with a loopback IP.
func loopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address", host)
	}
	return nil
}

func relay(ctx context.Context, client *net.TCPConn, to string, rtt, idle time.Duration) {
	accepted := time.Now()
	defer client.Close()
	src := client.RemoteAddr().(*net.TCPAddr)
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: src.IP}}
	target, err := d.DialContext(ctx, "tcp", to)
	if err != nil {
		// The client sees a close, as it would see a refused connect.
		fmt.Fprintf(os.Stderr, "relay: dial %s from %s: %v\n", to, src.IP, err)
		return
	}
	defer target.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	context.AfterFunc(ctx, func() {
		client.SetDeadline(time.Unix(1, 0))
		target.SetDeadline(time.Unix(1, 0))
	})
	var wg sync.WaitGroup
	wg.Add(2)
	// A half close is passed on and the other direction goes on; any
	// other end of one direction ends both.
	go func() {
		defer wg.Done()
		if !pipe(target.(*net.TCPConn), client, rtt/2, accepted.Add(rtt+rtt/2), idle) {
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		if !pipe(client, target.(*net.TCPConn), rtt/2, time.Time{}, idle) {
			cancel()
		}
	}()
	wg.Wait()
}

type chunk struct {
	due  time.Time
	data []byte // nil: the sender closed its side
}

// pipe copies src to dst, each read delayed by delay and not released
// before notBefore. It returns true when src ended cleanly and everything
// read has been written (and dst half closed), false when either side failed.
func pipe(dst, src *net.TCPConn, delay time.Duration, notBefore time.Time, idle time.Duration) bool {
	q := make(chan chunk, queueChunks)
	go func() {
		defer close(q)
		for {
			src.SetReadDeadline(time.Now().Add(idle))
			buf := make([]byte, readSize)
			n, err := src.Read(buf)
			if n > 0 {
				due := time.Now().Add(delay)
				if due.Before(notBefore) {
					due = notBefore
				}
				q <- chunk{due: due, data: buf[:n]}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					q <- chunk{due: time.Now().Add(delay)}
				}
				return
			}
		}
	}()
	defer func() {
		// Unblock and drain the reader when the writer stops early (a
		// read after shutdown(SHUT_RD) returns EOF at once).
		src.CloseRead()
		for range q {
		}
	}()
	for c := range q {
		if wait := time.Until(c.due); wait > 0 {
			time.Sleep(wait)
		}
		if c.data == nil {
			return dst.CloseWrite() == nil
		}
		dst.SetWriteDeadline(time.Now().Add(idle))
		if _, err := dst.Write(c.data); err != nil {
			return false
		}
	}
	return false // the reader failed: reset, deadline
}
