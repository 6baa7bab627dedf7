//go:build !linux

package peer

import "net"

func quickAck(net.Conn) {}

func kernelPending(net.Conn) int { return 0 }
