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
// The relay itself is internal/relay, which documents its bounds.
//
//	relay -to 127.0.0.1:6881 -rtt 50ms
//
// prints "listening on 127.0.0.1:PORT" on stdout once it accepts
// connections, and runs until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/btext/btext/internal/relay"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback only)")
	to := flag.String("to", "", "target host:port (loopback only)")
	rtt := flag.Duration("rtt", 50*time.Millisecond, "round trip to emulate (each direction gets half)")
	idle := flag.Duration("idle", relay.DefaultIdle, "close a connection idle this long in both directions")
	flag.Parse()
	if err := run(*listen, *to, *rtt, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func run(listen, to string, rtt, idle time.Duration) error {
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: "15:04:05.000", NoColor: true}).With().Timestamp().Logger()
	r, err := relay.Start(to, rtt, relay.Options{Listen: listen, Idle: idle, Log: log})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("listening on %s\n", r.Addr())
	<-ctx.Done()
	return r.Close()
}
