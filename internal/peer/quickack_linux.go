package peer

import (
	"net"
	"syscall"
)

// quickAck asks Linux to ACK at once rather than delay: the flag is not
// sticky, so it is set again before each read.
func quickAck(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
