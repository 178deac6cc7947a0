package output

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
)

// The modes flusher_file (and flusher_stdout with FileName) creates its
// files and folders with, before the umask: the owner writes, the group
// reads, others get nothing.
const (
	FileMode os.FileMode = 0o640
	DirMode  os.FileMode = 0o750
)

// fileFlusher appends JSON lines to a file: flusher_file, and flusher_stdout
// with a FileName (maxSize 0, no rotation).
//
// An acknowledged batch (Export returned nil) is in the file: it survives a
// crash of the agent. With fsync it is also on disk, and survives an OS
// crash or a power loss: each write is fsynced before Export returns, and
// the folder is fsynced whenever a file is created in it (at Start, after a
// rotation), so that the new file's name is on disk too.
type fileFlusher struct {
	name     string
	path     string
	maxSize  int64 // rotate before a write that would go past it; 0 = never
	maxFiles int   // rotated files kept: path.1 … path.<maxFiles>
	tags     bool
	fsync    bool                 // sync after each write, before Export returns
	syncFile func(*os.File) error // (*os.File).Sync; tests record the calls

	mu      sync.Mutex
	file    *os.File // nil before Start, after Shutdown, or after a failed write or rotation
	regular bool     // file is a regular file: trimmed on open, rotated, synced
	size    int64    // bytes in file
	started bool
	closed  bool
}

func newFileFlusher(name, path string, maxSize int64, maxFiles int, tags, fsync bool) *fileFlusher {
	return &fileFlusher{name: name, path: path, maxSize: maxSize, maxFiles: maxFiles, tags: tags,
		fsync: fsync, syncFile: (*os.File).Sync}
}

// Start creates the file and its parent folders if needed, and cuts a partial
// last line off an existing file.
func (f *fileFlusher) Start(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("%s: start after shutdown: %w", f.name, ErrNotRunning)
	}
	if f.started {
		return nil
	}
	if err := f.open(); err != nil {
		return err
	}
	f.started = true
	return nil
}

// Export encodes b into one buffer and appends it with one Write call.
func (f *fileFlusher) Export(ctx context.Context, b *batch.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(b.Records) == 0 {
		return nil
	}
	p := getBuf()
	defer putBuf(p)
	*p = appendBatch((*p)[:0], b, f.tags)
	return f.write(*p)
}

func (f *fileFlusher) write(buf []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started || f.closed {
		return fmt.Errorf("%s: %w", f.name, ErrNotRunning)
	}
	if f.file == nil {
		// A write or a rotation failed: reopen, which also cuts any partial
		// line the failure left.
		if err := f.open(); err != nil {
			return err
		}
	}
	// Rotate before the write, so a batch is never split across files. A
	// batch larger than maxSize goes alone into a file.
	if f.maxSize > 0 && f.regular && f.size > 0 && f.size+int64(len(buf)) > f.maxSize {
		if err := f.rotate(); err != nil {
			return err
		}
	}
	n, err := f.file.Write(buf)
	if err != nil {
		// The batch will be retried: take back what part of it was written,
		// so it does not merge with the next line.
		if n > 0 {
			if terr := f.file.Truncate(f.size); terr != nil {
				_ = f.file.Close()
				f.file = nil
			}
		}
		return fmt.Errorf("%s: write %s: %w", f.name, f.path, err)
	}
	if f.fsync && f.regular {
		if err := f.syncFile(f.file); err != nil {
			// Not known to be on disk, so not acknowledged: take the batch
			// back so the retry does not write it twice, and start again
			// from a fresh handle (after a failed fsync the kernel may
			// report no error for the same pages again).
			_ = f.file.Truncate(f.size)
			_ = f.file.Close()
			f.file = nil
			return fmt.Errorf("%s: sync %s: %w", f.name, f.path, err)
		}
	}
	f.size += int64(n)
	return nil
}

// Shutdown syncs and closes the file.
func (f *fileFlusher) Shutdown(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if f.file == nil {
		return nil
	}
	var errs []error
	if f.regular {
		if err := f.syncFile(f.file); err != nil {
			errs = append(errs, fmt.Errorf("%s: sync %s: %w", f.name, f.path, err))
		}
	}
	if err := f.file.Close(); err != nil {
		errs = append(errs, fmt.Errorf("%s: close %s: %w", f.name, f.path, err))
	}
	f.file = nil
	return errors.Join(errs...)
}

// open opens f.path for appending. A regular file that does not end with a
// newline is truncated to just after its last newline: that tail is part of
// a batch that was never acknowledged and will be written again.
func (f *fileFlusher) open() error {
	if st, err := os.Stat(f.path); err == nil && !st.Mode().IsRegular() {
		// A device or a FIFO, such as /dev/stdout: append only.
		file, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		f.file, f.regular, f.size = file, false, 0
		return nil
	}
	// Logs may hold what only their owners should read: the file and the
	// folders made for it are not for others (FileMode, DirMode).
	if err := os.MkdirAll(filepath.Dir(f.path), DirMode); err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	file, err := os.OpenFile(f.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, FileMode)
	if err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	size, err := trimPartialLine(file)
	if err != nil {
		_ = file.Close()
		return fmt.Errorf("%s: trim partial line of %s: %w", f.name, f.path, err)
	}
	if f.fsync {
		if err := f.syncDir(); err != nil {
			_ = file.Close()
			return err
		}
	}
	f.file, f.regular, f.size = file, true, size
	return nil
}

// syncDir fsyncs the file's folder, so that a file created or renamed in
// it keeps its name after a power loss. A file system that cannot sync a
// folder (EINVAL) is not an error.
func (f *fileFlusher) syncDir() error {
	dir := filepath.Dir(f.path)
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("%s: sync folder %s: %w", f.name, dir, err)
	}
	defer d.Close()
	if err := f.syncFile(d); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("%s: sync folder %s: %w", f.name, dir, err)
	}
	return nil
}

// trimPartialLine truncates file to just after its last '\n' (to 0 if it has
// none) and returns its new size.
func trimPartialLine(file *os.File) (int64, error) {
	st, err := file.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if size == 0 {
		return 0, nil
	}
	var last [1]byte
	if _, err := file.ReadAt(last[:], size-1); err != nil {
		return 0, err
	}
	if last[0] == '\n' {
		return size, nil
	}
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	cut := int64(0)
	for end := size - 1; end > 0; {
		start := max(end-chunk, 0)
		n, err := file.ReadAt(buf[:end-start], start)
		if err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			cut = start + int64(i) + 1
			break
		}
		end = start
	}
	if err := file.Truncate(cut); err != nil {
		return 0, err
	}
	return cut, nil
}

// rotate renames path.<i> to path.<i+1> down to path → path.1, dropping the
// oldest beyond maxFiles, then opens a new path. With maxFiles 0 the full
// file is removed.
func (f *fileFlusher) rotate() error {
	err := f.file.Close()
	f.file = nil
	if err != nil {
		return fmt.Errorf("%s: rotate %s: %w", f.name, f.path, err)
	}
	if f.maxFiles == 0 {
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: rotate: %w", f.name, err)
		}
		return f.open()
	}
	for i := f.maxFiles - 1; i >= 0; i-- {
		from := f.rotated(i)
		if err := os.Rename(from, f.rotated(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: rotate: %w", f.name, err)
		}
	}
	return f.open()
}

// rotated returns the name of the i-th rotated file; 0 is the file itself.
func (f *fileFlusher) rotated(i int) string {
	if i == 0 {
		return f.path
	}
	return f.path + "." + strconv.Itoa(i)
}
