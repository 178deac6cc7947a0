//go:build !unix

package wasmproc

import "os"

// openFlags: elsewhere, a plain read-only open (the descriptor's type is
// still checked before it is read).
const openFlags = os.O_RDONLY
