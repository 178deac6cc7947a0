//go:build unix

package discover

import (
	"io/fs"
	"syscall"
)

var errNotDir error = syscall.ENOTDIR

// idOf returns the device and inode of fi, which came from os.Stat.
func idOf(fi fs.FileInfo) fileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)} //nolint:unconvert // types differ by platform
}

// readable checks that the regular file at path, described by fi, may be
// opened for reading. A file anyone may read (the usual 0644 log) costs
// nothing; others cost one access(2) call rather than an open and a close.
func readable(path string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o004 != 0 {
		return nil
	}
	if err := syscall.Access(path, 4 /* R_OK */); err != nil {
		return &fs.PathError{Op: "access", Path: path, Err: err}
	}
	return nil
}
