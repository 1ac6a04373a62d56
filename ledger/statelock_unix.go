//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package ledger

import (
	"errors"
	"os"
	"syscall"
)

// noFollow makes opening a symbolic link fail (ELOOP).
const noFollow = syscall.O_NOFOLLOW

// isSymlinkError reports whether err is opening a symbolic link with
// noFollow.
func isSymlinkError(err error) bool { return errors.Is(err, syscall.ELOOP) }

// flockExclusive takes an exclusive flock of f without waiting.
func flockExclusive(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errStateInUse
		default:
			return err
		}
	}
}

// nonBlock makes opening a FIFO return at once.
const nonBlock = syscall.O_NONBLOCK
