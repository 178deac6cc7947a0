//go:build !unix

package discover

import (
	"errors"
	"io/fs"
)

// errNotDir never matches: only unix reports ENOTDIR.
var errNotDir = errors.New("not a directory")

// idOf has no device and inode to offer here; files are not deduplicated.
func idOf(fs.FileInfo) fileID { return fileID{} }

func readable(string, fs.FileInfo) error { return nil }
