//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package connlimit

import (
	"net"
	"syscall"
)

// peekSocket returns how many bytes (up to len(buf)) wait unread in the
// socket of c, and whether they hold the whole head of a plain HTTP
// request: the client sent it, and only its server goroutine has not read
// it yet. It peeks without consuming and without blocking; buf is scratch
// space. Control, unlike Read, does not wait for a Read in progress on c.
func peekSocket(c net.Conn, buf []byte) (n int, head bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	if err := rc.Control(func(fd uintptr) {
		n, _, _ = syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	}); err != nil || n < 0 {
		return 0, false
	}
	return n, isHead(buf[:n])
}
