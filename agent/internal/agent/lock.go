package agent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/wasmtail/wasmtail/agent/internal/checkpoint"
)

// LockFile is the file in the data folder that an agent holds an exclusive
// flock(2) on while it runs (DESIGN.md §4: one agent per data folder). It
// holds the PID of the agent that has it. The kernel releases the lock when
// that process ends, however it ends (SIGKILL, OOM kill), so a stale file
// never keeps an agent out; the file itself is left in place.
const LockFile = "wasmtail.lock"

// LockedError is the error of an agent started on a data folder that
// another process holds.
type LockedError struct {
	Dir string
	// PID is the process that holds the folder, as it wrote it in the lock
	// file; 0 when it could not be read (it may not have written it yet).
	// In another PID namespace (another container) it is that
	// namespace's number.
	PID int
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = fmt.Sprintf("another wasmtail (pid %d)", e.PID)
	}
	return fmt.Sprintf("data folder %s is in use by %s: one agent per data folder; stop it or give this agent another data folder (lock file %s)",
		e.Dir, who, filepath.Join(e.Dir, LockFile))
}

// lockData takes the data folder dir (creating it if needed): an exclusive,
// non-blocking flock on dir/LockFile, with this process's PID written into
// it. Close the returned file to release it.
func lockData(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, checkpoint.DirMode); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, checkpoint.FileMode)
	if err != nil {
		return nil, fmt.Errorf("data folder %s: lock: %w", dir, err)
	}
	for {
		err = flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		pid := readPID(f)
		_ = f.Close()
		return nil, &LockedError{Dir: dir, PID: pid}
	}
	if errors.Is(err, unix.ENOLCK) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		_ = f.Close()
		return nil, fmt.Errorf("%w: %w", errNoLocks, err)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("data folder %s: lock %s: %w", dir, path, err)
	}
	// Ours: say who holds it. The lock, not the content, is what counts.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// flock is unix.Flock; tests make it fail.
var flock = unix.Flock

// errNoLocks: the data folder's file system has no flock (some network
// file systems). The agent then runs without the guard, with a warning.
var errNoLocks = errors.New("the file system does not support locks")

// readPID reads the PID the holder wrote in the lock file, 0 if none.
func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(string(bytes.TrimSpace(buf[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// lockData takes the agent's data folder. Where the file system has no
// locks it warns and goes on without.
func (a *Agent) lockData() error {
	f, err := lockData(a.cfg.Data)
	if errors.Is(err, errNoLocks) {
		a.log.Warn("cannot lock the data folder; running without the one-agent-per-folder guard: make sure no other agent uses it",
			"data", a.cfg.Data, "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	a.lock = f
	return nil
}

// unlock releases the data folder, if held.
func (a *Agent) unlock() {
	if a.lock != nil {
		_ = a.lock.Close() // closing the last descriptor releases the flock
		a.lock = nil
	}
}
