//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package ledger

import "os"

// flockExclusive does nothing where flock(2) does not exist: one exporter
// per state file is then the operator's to ensure.
func flockExclusive(*os.File) error { return nil }

// noFollow is not available here: the lock file's directory must be the
// operator's alone.
const noFollow = 0

func isSymlinkError(error) bool { return false }

// nonBlock is not available here.
const nonBlock = 0
