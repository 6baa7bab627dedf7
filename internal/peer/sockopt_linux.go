package peer

import (
	"net"
	"syscall"
	"unsafe"
)

// sockOpts sets TCP_QUICKACK and reads FIONREAD on a connection's socket,
// once per read for a fetch: the socket's RawConn is looked up once (each
// SyscallConn call allocates one), and the FIONREAD callback is made once,
// so that neither allocates per call. The zero value is ready; it belongs
// to the Conn's goroutine.
type sockOpts struct {
	looked  bool
	rc      syscall.RawConn // nil: not a socket
	pending int
	inq     func(fd uintptr)
}

func (s *sockOpts) raw(nc net.Conn) syscall.RawConn {
	if !s.looked {
		s.looked = true
		if sc, ok := nc.(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil {
				s.rc = rc
				s.inq = func(fd uintptr) {
					var v int32
					if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&v))); e == 0 {
						s.pending = int(v)
					}
				}
			}
		}
	}
	return s.rc
}

// quickAck asks Linux to ACK at once rather than delay: the flag is not
// sticky, so it is set again before each read.
func (s *sockOpts) quickAck(nc net.Conn) {
	if rc := s.raw(nc); rc != nil {
		_ = rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
}

// kernelPending is the number of bytes received and not yet read (FIONREAD).
func (s *sockOpts) kernelPending(nc net.Conn) int {
	rc := s.raw(nc)
	if rc == nil {
		return 0
	}
	s.pending = 0
	_ = rc.Control(s.inq)
	return s.pending
}
