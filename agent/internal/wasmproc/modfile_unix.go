//go:build unix

package wasmproc

import "syscall"

// openFlags open a module file for reading without blocking on a FIFO and
// without following a symlink in last place.
const openFlags = syscall.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
