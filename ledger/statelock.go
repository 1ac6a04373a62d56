package ledger

import (
	"errors"
	"fmt"
	"os"
)

// errStateInUse is returned by lockState when another process holds the
// state file's lock.
var errStateInUse = errors.New("in use by another exporter")

// stateLock is the exclusive lock of one state file, held from Open until
// Close. Two exporters writing one state file would overwrite each other's
// counts and delete each other's temporary files; the second to start
// refuses to.
//
// The lock is flock(2) on a file of its own beside the state (path.lock):
// the state file itself is replaced at every save, so a lock on it would
// be a lock on a file that no longer has the name. The lock file is never
// removed: removing it would let a third process lock a new file of the
// same name while the second still waits on the old one. The kernel drops
// the lock when its holder dies, kill -9 included, so no stale lock
// survives a crash.
type stateLock struct {
	f *os.File
}

// lockPath names the lock file of the state file path.
func lockPath(path string) string { return path + ".lock" }

// lockState takes the lock of the state file path (its symlinks resolved by
// the caller), or fails at once, wrapping errStateInUse if another process
// holds it.
func lockState(path string) (*stateLock, error) {
	name := lockPath(path)
	// O_NOFOLLOW: the state's symlinks are resolved, but a symlink planted
	// as the lock file would make the exporter create (or lock) whatever it
	// points to, with the exporter's rights.
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|noFollow, 0o600) // #nosec G304 -- beside the state file, from the operator's configuration
	if err != nil {
		if isSymlinkError(err) {
			return nil, fmt.Errorf("lock file %s is a symbolic link; remove it (the exporter creates its own)", name)
		}
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := flockExclusive(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return &stateLock{f: f}, nil
}

// unlock releases the lock; nil-safe.
func (l *stateLock) unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases flock
	l.f = nil
	return err
}
