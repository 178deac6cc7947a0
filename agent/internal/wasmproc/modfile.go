package wasmproc

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Module files (DESIGN.md §5, "Isolation"). A pipeline file names a module
// and the agent, often root on a node, reads it: so a Module value is read
// only
//
//   - from the modules folder (a bare name: "logfmt" is
//     <modules>/logfmt.wasm) or, given as a path, from under the modules
//     folder or one of Options.ModuleRoots. A relative path (one with a "/")
//     is relative to the working folder, then held to the same rule. The
//     rule applies to the path as written, cleaned, and again once its
//     symlinks are resolved, so a Kubernetes ConfigMap (NAME -> ..data/NAME,
//     ..data -> ..<timestamp>, all inside the mounted folder) is read while
//     a link out of the roots is not;
//   - never from /dev, /proc or /sys, whatever the roots;
//   - from a regular file: the file is opened without blocking and without
//     following a last symlink swapped in after the check (O_NONBLOCK,
//     O_NOFOLLOW), then the open descriptor is checked (fstat), so a FIFO,
//     a device, a socket or a folder is refused at once;
//   - of at most Options.MaxModuleBytes (64 MiB by default), read through a
//     limit: a file growing while read is cut at the limit and refused.
//
// The same rules apply to the test vectors beside a module, at the first
// load and at every hot reload.

// BuiltinModulesDir is where the agent image keeps its built-in modules
// (the parsers as Wasm, make image), named by path:
// Module: /usr/lib/wasmtail/modules/<name>.wasm.
const BuiltinModulesDir = "/usr/lib/wasmtail/modules"

// DefaultModuleRoots are the folders besides the modules folder that a
// Module path may name when Options.ModuleRoots is nil.
func DefaultModuleRoots() []string { return []string{BuiltinModulesDir} }

// DefaultMaxModuleBytes is the largest module (or test vectors) file read
// when Options.MaxModuleBytes is 0.
const DefaultMaxModuleBytes = 64 << 20

// never are the folders no module is read from, whatever the roots.
var never = []string{"/dev", "/proc", "/sys"}

// moduleFiles reads module files under the rules above.
type moduleFiles struct {
	dir   string   // the modules folder, absolute and clean
	roots []string // the folders modules may be read from, dir first
	max   int64
}

func newModuleFiles(opts Options) *moduleFiles {
	m := &moduleFiles{dir: absClean(opts.ModulesDir), max: opts.MaxModuleBytes}
	if opts.ModulesDir == "" {
		m.dir = DefaultModulesDir
	}
	if m.max <= 0 {
		m.max = DefaultMaxModuleBytes
	}
	roots := opts.ModuleRoots
	if roots == nil {
		roots = DefaultModuleRoots()
	}
	m.roots = []string{m.dir}
	for _, r := range roots {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		if r = absClean(r); !contains(m.roots, r) {
			m.roots = append(m.roots, r)
		}
	}
	return m
}

func absClean(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// A FileError says why a module file (or its test vectors) was not read.
type FileError struct {
	Path   string // the file, absolute
	Reason string
	// Refused is set when the file breaks a rule (place, type, size), as
	// opposed to an error reading it (missing, permission denied).
	Refused bool
	hint    string
	err     error
}

func (e *FileError) Error() string {
	s := e.Path + ": " + e.Reason
	if e.hint != "" {
		s += "; " + e.hint
	}
	return s
}

func (e *FileError) Unwrap() error { return e.err }

func (m *moduleFiles) refuse(path, format string, args ...any) *FileError {
	return &FileError{Path: path, Reason: fmt.Sprintf(format, args...), Refused: true, hint: m.placeHint()}
}

// placeHint says where a module may be put.
func (m *moduleFiles) placeHint() string {
	return fmt.Sprintf("put the module in the modules folder %s or add its folder to module_roots (WASMTAIL_MODULE_ROOTS)", m.dir)
}

// resolve turns a Module value into the absolute, clean path of its file
// (symlinks not resolved: the watcher follows the name, so that a
// ConfigMap update is seen).
func (m *moduleFiles) resolve(module string) string {
	return absClean(ModulePath(m.dir, module))
}

// read returns the content of the module or test vectors file at path (as
// resolve returns it), or a *FileError.
func (m *moduleFiles) read(path string) ([]byte, error) {
	path = absClean(path)
	if under(path, never) != "" {
		return nil, m.refuse(path, "modules are never read from /dev, /proc or /sys")
	}
	real := m.realRoots()
	if under(path, m.roots) == "" && under(path, real) == "" {
		return nil, m.refuse(path, "outside the folders modules are read from (%s)", strings.Join(m.roots, ", "))
	}
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, m.ioError(path, err)
	}
	if err := m.checkResolved(path, resolved, real); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(resolved, openFlags, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, m.refuse(path, "became a symlink while it was being opened")
		}
		return nil, m.ioError(path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, m.ioError(path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, m.refuse(path, "not a regular file but %s: modules are read from regular files only", kindOf(fi.Mode()))
	}
	// What was opened, when the system says (Linux): a folder on the way
	// swapped for a symlink after the check must not lead out of the roots.
	if opened, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd()))); err == nil && filepath.IsAbs(opened) {
		if err := m.checkResolved(path, strings.TrimSuffix(opened, " (deleted)"), real); err != nil {
			return nil, err
		}
	}
	tooBig := func() error {
		return &FileError{Path: path, Refused: true,
			Reason: fmt.Sprintf("larger than the limit of %s for a module file", sizeText(m.max)),
			hint:   "strip its debug sections (wasm-opt --strip-debug; a Go module: go build -ldflags='-s -w')"}
	}
	if fi.Size() > m.max {
		return nil, tooBig()
	}
	b, err := io.ReadAll(io.LimitReader(f, m.max+1))
	if err != nil {
		return nil, m.ioError(path, err)
	}
	if int64(len(b)) > m.max {
		return nil, tooBig()
	}
	return b, nil
}

// checkResolved checks where path leads once its symlinks are resolved.
func (m *moduleFiles) checkResolved(path, resolved string, real []string) error {
	if under(resolved, never) != "" {
		return m.refuse(path, "resolves to %s: modules are never read from /dev, /proc or /sys", resolved)
	}
	if under(resolved, real) == "" && under(resolved, m.roots) == "" {
		return m.refuse(path, "resolves to %s, outside the folders modules are read from (%s)", resolved, strings.Join(m.roots, ", "))
	}
	return nil
}

// realRoots are the roots with their symlinks resolved (those that exist).
func (m *moduleFiles) realRoots() []string {
	out := make([]string, 0, len(m.roots))
	for _, r := range m.roots {
		if rr, err := filepath.EvalSymlinks(r); err == nil {
			out = append(out, rr)
		}
	}
	return out
}

func (m *moduleFiles) ioError(path string, err error) *FileError {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	fe := &FileError{Path: path, Reason: err.Error(), err: err}
	if errors.Is(err, fs.ErrNotExist) {
		fe.Reason, fe.hint = "no such file", m.placeHint()
	}
	return fe
}

// under returns the folder of dirs that holds path (path itself included),
// or "".
func under(path string, dirs []string) string {
	for _, d := range dirs {
		if path == d || strings.HasPrefix(path, strings.TrimSuffix(d, string(filepath.Separator))+string(filepath.Separator)) {
			return d
		}
	}
	return ""
}

func kindOf(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a block device"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode.IsDir():
		return "a folder"
	}
	return "a special file (" + mode.Type().String() + ")"
}

func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
