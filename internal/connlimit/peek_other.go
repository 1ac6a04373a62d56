//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package connlimit

import "net"

// requestWaiting cannot peek here: no connection is taken for a waiting
// request.
func requestWaiting(net.Conn, []byte) bool { return false }
