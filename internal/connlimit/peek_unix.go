//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package connlimit

import (
	"bytes"
	"net"
	"syscall"
)

// requestWaiting reports whether the socket of c holds the whole head of a
// plain HTTP request that nobody has read yet: the client sent it at once,
// and only its server goroutine has not run. It peeks without consuming
// and without blocking; buf is scratch space. Control, unlike Read, does
// not wait for a Read in progress on c.
func requestWaiting(c net.Conn, buf []byte) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	if err := rc.Control(func(fd uintptr) {
		n, _, _ = syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	}); err != nil {
		return false
	}
	return n > 0 && bytes.Contains(buf[:n], []byte("\r\n\r\n"))
}
