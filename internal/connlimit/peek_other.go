//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package connlimit

import "net"

// peekSocket cannot peek here: connections are ranked by what the server
// read only.
func peekSocket(net.Conn, []byte) (int, bool) { return 0, false }
