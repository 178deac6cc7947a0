package discover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
)

// Op is what happened to a path, as passed to a [Watcher]'s callback. Each
// call carries exactly one Op.
type Op uint8

// The operations. Create, Remove, Rename and Chmod are reported for paths
// that [Matcher.Match] accepts (Write is never reported: the watcher does
// not ask for writes, see inotify_linux.go; readers poll their files); Overflow, with an empty path, means
// "something may have been missed, rescan": a relevant directory appeared
// or went away, or the kernel's event queue overflowed, or the watcher
// failed.
const (
	Create Op = 1 << iota
	Write
	Remove
	Rename
	Chmod
	Overflow
)

func (o Op) String() string {
	switch o {
	case Create:
		return "create"
	case Write:
		return "write"
	case Remove:
		return "remove"
	case Rename:
		return "rename"
	case Chmod:
		return "chmod"
	case Overflow:
		return "overflow"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

var (
	errStarted = errors.New("discover: watcher already started")
	errClosed  = errors.New("discover: watcher closed")
)

// Watcher watches the directories of a [Matcher] with inotify and reports
// changes through a callback.
//
// One goroutine, started by Start and ended by Close, reads the inotify
// events and calls the callback; the callback is never called concurrently
// with itself. It must be cheap and must not block (hand the work to
// another goroutine) and must not call Close.
type Watcher struct {
	m       *Matcher
	onEvent func(path string, op Op)
	fsw     *inotify
	add     func(string) error // fsw.Add; replaced in tests
	failed  atomic.Uint64

	// watched is the set of directories with a watch; owned by Start, then
	// by the run goroutine.
	watched map[string]struct{}

	mu       sync.Mutex
	started  bool
	closed   bool
	cancel   context.CancelFunc
	done     chan struct{}
	close    sync.Once
	closeErr error
}

// NewWatcher returns a Watcher for m's directories that calls onEvent. It
// allocates the inotify instance but watches nothing until Start.
func NewWatcher(m *Matcher, onEvent func(path string, op Op)) (*Watcher, error) {
	if m == nil || onEvent == nil {
		return nil, errors.New("discover: NewWatcher needs a matcher and a callback")
	}
	fsw, err := newInotify()
	if err != nil {
		return nil, fmt.Errorf("discover: create watcher: %w", err)
	}
	return &Watcher{
		m:       m,
		onEvent: onEvent,
		fsw:     fsw,
		add:     fsw.Add,
		watched: make(map[string]struct{}),
	}, nil
}

// Start adds the watches for the directories that exist now, then returns
// and keeps them up to date in the background until Close. ctx is used for
// its values only: the background work ends with Close, not with ctx.
//
// A directory that cannot be watched (for example because the inotify watch
// limit is reached) is not an error: it is counted in WatchErrors and tried
// again on the next change; the caller's periodic Scan covers it meanwhile.
func (w *Watcher) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed:
		return errClosed
	case w.started:
		return errStarted
	}
	w.started = true
	// Watches first, so that whatever the caller's Scan after Start does
	// not see, an event will.
	w.refresh()
	ctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	w.done = make(chan struct{})
	go w.run(ctx)
	return nil
}

// Close stops the watcher and waits for its goroutine to exit. It is
// idempotent and safe to call without Start.
func (w *Watcher) Close() error {
	w.close.Do(func() {
		w.mu.Lock()
		w.closed = true
		cancel, done := w.cancel, w.done
		w.mu.Unlock()
		// Closing the inotify file wakes the goroutine's Read; wait for it
		// to exit so the callback is never called after Close.
		w.closeErr = w.fsw.Close()
		if cancel != nil {
			cancel()
			<-done
		}
	})
	return w.closeErr
}

// WatchErrors returns how many times adding a watch failed, for example
// because the inotify watch limit was reached.
func (w *Watcher) WatchErrors() uint64 { return w.failed.Load() }

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	buf := make([]byte, 64<<10)
	var evs []fsEvent
	for {
		var err error
		evs, err = w.fsw.read(buf, evs[:0])
		if ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
			return
		}
		for _, ev := range evs {
			w.handle(ev)
		}
		if err != nil {
			// Overflow or a read error: events were lost, directories may
			// have appeared unseen.
			w.refresh()
			w.onEvent("", Overflow)
		}
	}
}

func (w *Watcher) handle(ev fsEvent) {
	if ev.Op == Create {
		if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
			if w.refresh() {
				w.onEvent("", Overflow)
			}
			return
		}
	}
	if ev.Op == Remove || ev.Op == Rename {
		if _, ok := w.watched[ev.Name]; ok {
			// A watched directory went away (the kernel drops its watch);
			// watch whatever should be watched instead, and have the
			// caller look again.
			delete(w.watched, ev.Name)
			_ = w.fsw.Remove(ev.Name)
			w.refresh()
			w.onEvent("", Overflow)
			return
		}
	}
	if !w.m.Match(ev.Name) {
		return
	}
	w.onEvent(ev.Name, ev.Op)
}

// refresh brings the watches in line with the Matcher's watch targets and
// reports whether it tried to watch a directory not watched before.
//
// It repeats until no new watch is added: a directory created between the
// walk and its watch being added would otherwise go unseen.
func (w *Watcher) refresh() (tried bool) {
	for range 8 {
		want := w.m.watchTargets()
		added := 0
		for d := range want {
			if _, ok := w.watched[d]; ok {
				continue
			}
			tried = true
			if err := w.add(d); err != nil {
				w.failed.Add(1)
				continue
			}
			w.watched[d] = struct{}{}
			added++
		}
		// Remove stale watches after adding new ones, so there is no gap
		// (a pending ancestor is dropped only once its child is watched).
		for d := range w.watched {
			if _, ok := want[d]; !ok {
				_ = w.fsw.Remove(d)
				delete(w.watched, d)
			}
		}
		if added == 0 {
			break
		}
	}
	return tried
}
