//go:build unix

package sites

import (
	"os"
	"syscall"
)

// openFlags opens the building file without blocking: a FIFO at the path
// would otherwise block the open until something writes to it. O_NONBLOCK
// changes nothing for a regular file.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK
