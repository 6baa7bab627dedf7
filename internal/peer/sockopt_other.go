//go:build !linux

package peer

import "net"

// sockOpts: TCP_QUICKACK and FIONREAD are Linux's (see sockopt_linux.go).
type sockOpts struct{}

func (*sockOpts) quickAck(net.Conn) {}

func (*sockOpts) kernelPending(net.Conn) int { return 0 }
