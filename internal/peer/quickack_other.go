//go:build !linux

package peer

import "net"

func quickAck(net.Conn) {}
