//go:build !unix

package sites

import "os"

// openFlags is a plain read: Windows has no FIFO at a file path, and
// js/wasm and wasip1 have no O_NONBLOCK.
const openFlags = os.O_RDONLY
