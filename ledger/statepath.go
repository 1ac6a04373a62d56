package ledger

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// maxSymlinks is how many symbolic links resolveLinks follows, as Linux
// does (ELOOP past 40).
const maxSymlinks = 40

// resolveLinks returns the file that path names once its symbolic links are
// followed: a save replaces that file, so that a state file kept elsewhere
// through a link stays a link (a rename over the link itself would replace
// it with a regular file and leave the target behind, stale). The target
// need not exist yet: a link to a file not written yet is a first start.
func resolveLinks(path string) (string, error) {
	p := path
	for range maxSymlinks {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		target, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		p = target
	}
	return "", fmt.Errorf("more than %d symbolic links", maxSymlinks)
}
