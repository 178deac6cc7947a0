// Package tail finds the files of an input_file pipeline and reads them.
//
// A Manager owns discovery (fsnotify for speed, a periodic scan for what
// inotify misses) and one reader goroutine per file. Readers read large
// chunks with pread, frame records as slices into the chunk, and push whole
// batches to the pipeline, which acknowledges them; a file's checkpoint moves
// only over acknowledged batches.
//
// Files are followed by identity (device and inode, plus their first bytes),
// not by name, which is what makes rotation safe:
//   - rename-and-create: the renamed file keeps its reader and is read to its
//     end; the new file is a new identity, read from 0;
//   - copytruncate: the reader sees the file shrink (or its first bytes
//     change), looks for the copy in the same directory and reads the copy
//     from where it had stopped, then restarts the original at 0;
//   - deleted while open: the reader still holds the file and reads it to its
//     end;
//   - inode reused by a new file: the first bytes differ, so it is new.
package tail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/checkpoint"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/discover"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
	"github.com/wasmtail/wasmtail/agent/internal/multiline"
)

// Sink receives batches. Push blocks while the pipeline is full (the file on
// disk is the buffer) and returns an error only when ctx is done, in which
// case it did not take the batch.
type Sink interface {
	Push(ctx context.Context, b *batch.Batch) error
}

// Options configure a Manager.
type Options struct {
	Pipeline string
	Input    config.InputFile
	Store    *checkpoint.Store
	Sink     Sink
	Pool     *batch.Pool
	// Tags are agent-wide tags added to every batch (__hostname__, …).
	Tags []batch.Tag
	// ScanInterval is how often files are looked for without an inotify
	// event. Default 1s.
	ScanInterval time.Duration
	// ReleaseQuiet is how long a rotated-away or deleted file must stay
	// unchanged at its end before it is closed. Default 5s.
	ReleaseQuiet time.Duration
	// ReadSize is the chunk size. Default batch.ChunkSize.
	ReadSize int
	Metrics  *metrics.Metrics
	Log      *slog.Logger
	// Container, when set, reads kubelet container logs (input_container_stdio).
	Container *Container
}

// Manager discovers and reads the files of one pipeline.
type Manager struct {
	opts         Options
	container    *Container
	matcher      *discover.Matcher
	watcher      *discover.Watcher
	met          met
	maxLine      int
	flushTimeout time.Duration
	positionMeta bool
	offsetKey    string
	pathTag      string
	inodeTag     string

	mu       sync.Mutex
	readers  map[fileID]*reader
	byPath   map[string]*reader
	orphans  []orphan
	scanErrs map[string]bool
	tailNew  bool // the pipeline runs for the first time: TailSizeKB applies to the first scan

	cancel     context.CancelFunc
	cancelScan context.CancelFunc
	// draining is set by Shutdown: readers read to the end once more, then
	// exit.
	draining atomic.Bool
	scanC    chan struct{}
	wg       sync.WaitGroup // readers
	loop     chan struct{}  // closed when the scan loop exits
	started  bool
}

// orphan is what is left of a file whose content moved: a checkpoint
// without its file (after a restart) or a truncated file's old content. A
// file in the same directory that starts with the same bytes and is long
// enough is the copy, read from offset.
type orphan struct {
	dir      string
	prefix   []byte // nil when only sigLen/sigHash are known (from a checkpoint)
	sigLen   int
	sigHash  uint64
	offset   int64
	deadline time.Time
}

// copyWait is how long a new file that starts like a file being read is
// held (open, with a checkpoint at 0, not read) waiting to be claimed as a
// copytruncate copy before it is read as a new file; an orphan waits as long
// for its copy.
const copyWait = 30 * time.Second

type met struct {
	inBytes, inEvents, truncated prometheus.Counter
	errVec                       *prometheus.CounterVec
	files                        prometheus.Gauge
}

func (m met) errors(reason string) { m.errVec.WithLabelValues(reason).Inc() }

// testHookResumed, when set by a test, runs between resume and the first
// scan.
var testHookResumed func()

// New validates the options and builds a Manager.
func New(o Options) (*Manager, error) {
	if o.ScanInterval <= 0 {
		o.ScanInterval = time.Second
	}
	if o.ReleaseQuiet <= 0 {
		o.ReleaseQuiet = 5 * time.Second
	}
	if o.ReadSize <= 0 {
		o.ReadSize = batch.ChunkSize
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	in := o.Input
	matcher, err := discover.NewMatcher(discover.Options{
		Patterns:          in.FilePaths,
		MaxDirSearchDepth: in.MaxDirSearchDepth,
		ExcludeFilePaths:  in.ExcludeFilePaths,
		ExcludeFiles:      in.ExcludeFiles,
		ExcludeDirs:       in.ExcludeDirs,
	})
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", o.Pipeline, err)
	}
	if in.Multiline.Enabled() {
		if _, err := multiline.New(in.Multiline); err != nil {
			return nil, fmt.Errorf("pipeline %s: Multiline: %w", o.Pipeline, err)
		}
	}
	maxLine := in.MaxLineKB << 10
	if maxLine <= 0 {
		maxLine = 512 << 10
	}
	flush := time.Duration(in.FlushTimeoutSecs) * time.Second
	if flush <= 0 {
		flush = 5 * time.Second
	}
	mt := o.Metrics
	if mt == nil {
		mt = metrics.New()
	}
	m := &Manager{
		opts:         o,
		container:    o.Container,
		matcher:      matcher,
		maxLine:      maxLine,
		flushTimeout: flush,
		positionMeta: in.AppendingLogPositionMeta,
		offsetKey:    in.FileOffsetKey,
		pathTag:      tagName(in.Tags, "FilePathTagKey", "__path__"),
		inodeTag:     tagName(in.Tags, "FileInodeTagKey", "__inode__"),
		readers:      map[fileID]*reader{},
		byPath:       map[string]*reader{},
		scanErrs:     map[string]bool{},
		scanC:        make(chan struct{}, 1),
		loop:         make(chan struct{}),
		met: met{
			inBytes:   mt.InputBytes.WithLabelValues(o.Pipeline),
			inEvents:  mt.InputEvents.WithLabelValues(o.Pipeline),
			truncated: mt.InputLinesSplit.WithLabelValues(o.Pipeline),
			errVec:    mt.InputErrors.MustCurryWith(prometheus.Labels{"pipeline": o.Pipeline}),
			files:     mt.InputFiles.WithLabelValues(o.Pipeline),
		},
	}
	if m.offsetKey == "" {
		m.offsetKey = "__file_offset__"
	}
	return m, nil
}

// tagName applies input_file's Tags renaming: a key mapped to "" removes the
// tag, to "__default__" keeps the default name.
func tagName(tags map[string]string, key, def string) string {
	v, ok := tags[key]
	switch {
	case !ok, v == "__default__":
		return def
	default:
		return v
	}
}

// Start resolves the saved checkpoints, starts the watcher and the scan
// loop, and returns.
func (m *Manager) Start(ctx context.Context) error {
	// Readers live until Shutdown's final read is over (or cut short);
	// discovery stops as soon as Shutdown starts.
	ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	var scanCtx context.Context
	scanCtx, m.cancelScan = context.WithCancel(ctx)
	m.started = true
	m.tailNew = !m.opts.Store.Known(m.opts.Pipeline)
	m.opts.Store.Register(m.opts.Pipeline)
	w, err := discover.NewWatcher(m.matcher, m.onEvent)
	if err != nil {
		m.opts.Log.Warn("inotify unavailable, relying on periodic scans", "pipeline", m.opts.Pipeline, "err", err)
	} else if err := w.Start(ctx); err != nil {
		m.opts.Log.Warn("inotify unavailable, relying on periodic scans", "pipeline", m.opts.Pipeline, "err", err)
		_ = w.Close()
	} else {
		m.watcher = w
	}
	m.resume(ctx) // every checkpointed file has its reader before the first scan
	if testHookResumed != nil {
		testHookResumed()
	}
	m.scan(ctx)
	m.tailNew = false
	go m.run(scanCtx, ctx)
	return nil
}

// Shutdown stops discovery and every reader. Batches already pushed are
// not waited for: the pipeline drains them. It is idempotent.
func (m *Manager) Shutdown(ctx context.Context) error {
	if !m.started {
		return nil
	}
	// Stop discovery, then let every reader read its file to the current
	// end and hand on the whole lines it finds: in a pod, the emptyDir goes
	// away with the pod, so what the application wrote just before SIGTERM
	// must be read now. Within half of what is left of ctx: the pipeline
	// still has to deliver it.
	m.cancelScan()
	var err error
	if m.watcher != nil {
		err = m.watcher.Close()
	}
	<-m.loop
	m.draining.Store(true)
	m.mu.Lock()
	for _, r := range m.readers {
		r.wake()
	}
	m.mu.Unlock()
	drain := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		drain, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(dl)/2))
		defer cancel()
	}
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		m.cancel()
		return err
	case <-drain.Done():
	}
	// Out of time: stop the readers where they are (what they did not hand
	// on is read again after a restart).
	m.cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return errors.Join(err, fmt.Errorf("pipeline %s: readers did not stop: %w", m.opts.Pipeline, ctx.Err()))
	}
	return err
}

func (m *Manager) run(ctx, readers context.Context) {
	defer close(m.loop)
	t := time.NewTicker(m.opts.ScanInterval)
	defer t.Stop()
	w := time.NewTicker(watchInterval)
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.C:
			m.watchPushing(readers)
			continue
		case <-t.C:
		case <-m.scanC:
		}
		m.scan(readers)
	}
}

// watchInterval is how often the first bytes of the files whose readers
// wait for room in the pipeline are looked at (watchHead): content that a
// file holds for less than this while its reader waits may go unseen.
const watchInterval = 200 * time.Millisecond

// watchPushing runs watchHead for every reader that waits for room in the
// pipeline.
func (m *Manager) watchPushing(ctx context.Context) {
	m.mu.Lock()
	var pushing []*reader
	for _, r := range m.readers {
		if r.pushing.Load() {
			pushing = append(pushing, r)
		}
	}
	m.mu.Unlock()
	for _, r := range pushing {
		r.watchHead(ctx)
	}
}

func (m *Manager) onEvent(path string, op discover.Op) {
	if op == discover.Write || op == discover.Chmod {
		m.mu.Lock()
		r := m.byPath[path]
		m.mu.Unlock()
		if r != nil {
			r.wake()
			return
		}
	}
	select {
	case m.scanC <- struct{}{}:
	default:
	}
}

// resume binds every saved checkpoint of the pipeline to its file before the
// first scan, wherever the file is now: at its path, or renamed within its
// directory (to a name the patterns may not match). A file found with the
// content its checkpoint describes is read from there; a file whose content
// changed while the agent was not running (truncated, or its inode reused)
// is read from 0 and its old content is looked for in a copy beside it; a
// file that is gone leaves an orphan, the content that may live on in a copy.
func (m *Manager) resume(ctx context.Context) {
	dirs := map[string]map[fileID]string{} // directory listings, by identity
	type changed struct {
		e    checkpoint.Entry
		f    *os.File // the file, with other content; nil when gone
		path string
	}
	var later []changed
	for _, e := range m.opts.Store.Files(m.opts.Pipeline) {
		id := fileID{e.Dev, e.Ino}
		f, size, path := openID(e.Path, id)
		if f == nil {
			if p, ok := listDir(dirs, filepath.Dir(e.Path))[id]; ok {
				f, size, path = openID(p, id)
			}
		}
		if f == nil || !m.bind(ctx, f, id, path, size, e) {
			later = append(later, changed{e, f, path})
		}
	}
	// Then the content that moved, so that a file with a checkpoint of its
	// own is read from that checkpoint, not taken for a copy; and each
	// copy is claimed (its checkpoint set) before the checkpoint of the
	// content it came from is replaced.
	for _, c := range later {
		m.opts.Log.Info("file changed or gone since its checkpoint, looking for a copy of its content",
			"pipeline", m.opts.Pipeline, "file", c.e.Path, "offset", c.e.Offset)
		m.rebind(ctx, c.f, c.path, c.e)
	}
}

// rebind looks for the copies of what a checkpoint describes that its file
// no longer holds, then reads the file (if it is still there, f not nil)
// from 0 as new content.
func (m *Manager) rebind(ctx context.Context, f *os.File, path string, e checkpoint.Entry) {
	m.addOrphan(ctx, orphan{dir: filepath.Dir(e.Path), sigLen: e.SigLen, sigHash: e.SigHash, offset: max(e.Offset, 0)})
	var head []byte
	if f != nil {
		head = readHead(f)
	}
	m.unreadGone(ctx, head, e)
	if f == nil {
		if _, bound := m.reader(fileID{e.Dev, e.Ino}); !bound {
			m.opts.Store.Delete(m.opts.Pipeline, e.Dev, e.Ino)
		}
		return
	}
	m.startReader(ctx, f, fileID{e.Dev, e.Ino}, path, 0, !m.matcher.Match(path))
}

// unreadGone looks for the copy of the content a checkpoint says its file
// held while the reader could not look (watchHead), when the file, which now
// starts with head, no longer holds it: it was truncated away unread.
func (m *Manager) unreadGone(ctx context.Context, head []byte, e checkpoint.Entry) {
	if e.UnreadLen > 0 && !sigOf(head, e.UnreadLen, e.UnreadHash) {
		m.addOrphan(ctx, orphan{dir: filepath.Dir(e.Path), sigLen: e.UnreadLen, sigHash: e.UnreadHash})
	}
}

// bind starts the reader of a file that has a checkpoint, when the file
// still holds the content the checkpoint describes: from the checkpoint,
// moved back to the start of its line if it is not at one. It returns false,
// and starts nothing, when the checkpointed content was truncated away or
// replaced (rebind's case).
func (m *Manager) bind(ctx context.Context, f *os.File, id fileID, path string, size int64, e checkpoint.Entry) bool {
	head := readHead(f)
	if !sigOf(head, e.SigLen, e.SigHash) || e.Offset < 0 || e.Offset > size {
		return false
	}
	m.unreadGone(ctx, head, e)
	off := lineStart(f, e.Offset, int64(m.maxLine))
	if off != e.Offset {
		m.met.errors("checkpoint_mid_line")
		m.opts.Log.Warn("checkpoint is not at the start of a line, reading again from the start of its line",
			"pipeline", m.opts.Pipeline, "file", path, "offset", e.Offset, "from", off)
	}
	m.startReader(ctx, f, id, path, off, !m.matcher.Match(path))
	return true
}

// openID opens path if it is still the regular file id, and returns it with
// its size and path; f is nil otherwise.
func openID(path string, id fileID) (f *os.File, size int64, p string) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, ""
	}
	fi, err := f.Stat()
	if err == nil && fi.Mode().IsRegular() {
		if fid, ok := statID(fi); ok && fid == id {
			return f, fi.Size(), path
		}
	}
	f.Close()
	return nil, 0, ""
}

// listDir returns the regular files of dir by identity, listing each
// directory once.
func listDir(dirs map[string]map[fileID]string, dir string) map[fileID]string {
	if l, ok := dirs[dir]; ok {
		return l
	}
	l := map[fileID]string{}
	ents, _ := os.ReadDir(dir)
	for _, de := range ents {
		if !de.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, de.Name())
		if fi, err := os.Stat(p); err == nil {
			if id, ok := statID(fi); ok {
				l[id] = p
			}
		}
	}
	dirs[dir] = l
	return l
}

// lineStart returns where the line that holds offset starts: offset itself
// when the byte before it is a newline; at most maxLine bytes back otherwise
// (a line longer than the bound was split at that bound).
func lineStart(f *os.File, offset, maxLine int64) int64 {
	if offset <= 0 {
		return 0
	}
	buf := make([]byte, 64<<10)
	end := offset
	for end > 0 && offset-end < maxLine {
		start := max(end-int64(len(buf)), 0, offset-maxLine)
		n, _ := f.ReadAt(buf[:end-start], start)
		if n < int(end-start) {
			return offset // cannot read it: keep the checkpoint as it is
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i) + 1
		}
		end = start
	}
	if end == 0 {
		return 0
	}
	return offset
}

func (m *Manager) reader(id fileID) (*reader, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.readers[id]
	return r, ok
}

// scan looks for new files, follows renamed ones and releases those that no
// matching path leads to any more.
func (m *Manager) scan(ctx context.Context) {
	files, errs := m.matcher.Scan()
	now := time.Now()
	seen := make(map[fileID]bool, len(files))
	for _, f := range files {
		if m.container != nil && !m.container.accept(f.Path) {
			continue
		}
		id := fileID{f.Dev, f.Ino}
		seen[id] = true
		m.mu.Lock()
		r := m.readers[id]
		if r != nil && r.curPath() != f.Path {
			delete(m.byPath, r.curPath())
			r.setPath(m, f.Path)
			m.byPath[f.Path] = r
		}
		m.mu.Unlock()
		if r != nil {
			if r.released.Load() {
				r.released.Store(false)
			}
			continue
		}
		if err := m.openNew(ctx, f); err != nil {
			errs = append(errs, err)
		}
	}
	m.reportScanErrors(errs)
	m.watchPushing(ctx)
	// Files that no matching path leads to: read to the end, then let go.
	m.mu.Lock()
	for id, r := range m.readers {
		if !seen[id] && !r.released.Load() {
			r.released.Store(true)
			delete(m.byPath, r.curPath())
			r.wake()
		}
	}
	kept := m.orphans[:0]
	for _, o := range m.orphans {
		if now.Before(o.deadline) {
			kept = append(kept, o)
		}
	}
	m.orphans = kept
	m.mu.Unlock()
}

func (m *Manager) reportScanErrors(errs []error) {
	cur := make(map[string]bool, len(errs))
	for _, err := range errs {
		msg := err.Error()
		cur[msg] = true
		if !m.scanErrs[msg] {
			reason := "unreadable"
			// a directory whose name matches the pattern
			if errors.Is(err, discover.ErrIsDir) {
				reason = "not_regular"
			}
			m.met.errors(reason)
			m.opts.Log.Warn("cannot collect", "pipeline", m.opts.Pipeline, "err", err)
		}
	}
	m.scanErrs = cur
}

// openNew decides where a file seen for the first time starts, and starts
// its reader.
func (m *Manager) openNew(ctx context.Context, df discover.File) error {
	id := fileID{df.Dev, df.Ino}
	f, err := os.Open(df.Path)
	if err != nil {
		return err // reported once while it lasts, with the scan's errors
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil
	}
	if fid, ok := statID(fi); !ok || fid != id {
		f.Close() // replaced between scan and open: the next scan sees it
		return nil
	}
	size := fi.Size()

	// 1. A checkpoint of this very file.
	if e, ok := m.opts.Store.Get(m.opts.Pipeline, id.dev, id.ino); ok {
		if !m.bind(ctx, f, id, df.Path, size, e) {
			m.rebind(ctx, f, df.Path, e)
		}
		return nil
	}
	head := readHead(f)
	dir := filepath.Dir(df.Path)

	// 2. The copy of a file whose content moved (copytruncate).
	m.mu.Lock()
	if o, ok := m.takeOrphanLocked(dir, head, size); ok {
		m.mu.Unlock()
		m.opts.Log.Info("reading the copy of a truncated file from where the original stopped",
			"pipeline", m.opts.Pipeline, "file", df.Path, "offset", o.offset)
		m.startReader(ctx, f, id, df.Path, o.offset, false)
		return nil
	}
	// 3. A file that starts like a file being read in the same directory
	// may be a copy in progress: hold it (open, so no rename or delete loses
	// it) until the original's truncation claims it or it shows it is not.
	held := m.looksLikeCopyLocked(dir, head, nil)
	tail := m.tailNew && !held
	m.mu.Unlock()
	if held {
		m.startHeld(ctx, f, id, df.Path)
		return nil
	}

	// 4. A new file: from the start, or its tail on the pipeline's first run.
	off := int64(0)
	if tail {
		off = tailOffset(f, size, int64(m.opts.Input.TailSizeKB)<<10)
	}
	m.startReader(ctx, f, id, df.Path, off, false)
	return nil
}

func (o orphan) matches(head []byte) bool {
	if o.prefix != nil {
		return bytes.HasPrefix(head, o.prefix)
	}
	return sigOf(head, o.sigLen, o.sigHash)
}

// sigOf reports whether head starts with the sigLen bytes whose hash is
// sigHash.
func sigOf(head []byte, sigLen int, sigHash uint64) bool {
	return sigLen <= len(head) && hashBytes(head[:sigLen]) == sigHash
}

// takeOrphanLocked removes and returns the orphan of dir whose copy a file
// with these first bytes and this size can be. m.mu must be held.
func (m *Manager) takeOrphanLocked(dir string, head []byte, size int64) (orphan, bool) {
	for i, o := range m.orphans {
		if o.dir == dir && o.matches(head) && size >= o.offset {
			m.orphans = append(m.orphans[:i], m.orphans[i+1:]...)
			return o, true
		}
	}
	return orphan{}, false
}

// looksLikeCopyLocked reports whether a file of dir that starts with head
// may be a copy of a file being read there (one starts with the other).
// m.mu must be held.
func (m *Manager) looksLikeCopyLocked(dir string, head []byte, self *reader) bool {
	for _, r := range m.readers {
		if r == self || r.held.Load() || filepath.Dir(r.curPath()) != dir {
			continue
		}
		if p := r.headCopy(); len(p) > 0 && (bytes.HasPrefix(p, head) || bytes.HasPrefix(head, p)) {
			return true
		}
	}
	return false
}

// settle decides where a held file starts: at the offset of the content
// it turns out to be a copy of, or at 0 once it no longer looks like a copy
// or waited copyWait. ok is false while it is still undecided.
func (m *Manager) settle(r *reader, head []byte, size int64) (offset int64, ok bool) {
	dir := filepath.Dir(r.curPath())
	m.mu.Lock()
	defer m.mu.Unlock()
	// Orphans first: a truncated original adds its orphan before it forgets
	// its first bytes, so a copy is never taken for a new file.
	if o, ok := m.takeOrphanLocked(dir, head, size); ok {
		return o.offset, true
	}
	if time.Since(r.heldSince) < copyWait && m.looksLikeCopyLocked(dir, head, r) {
		return 0, false
	}
	return 0, true
}

// claimCopy is called by a reader whose file was truncated: the copy of the
// old content, if there is one in dir, is read from offset.
func (m *Manager) claimCopy(ctx context.Context, dir string, prefix []byte, offset int64) {
	if len(prefix) == 0 {
		return
	}
	m.addOrphan(ctx, orphan{dir: dir, prefix: prefix, sigLen: len(prefix), sigHash: hashBytes(prefix), offset: offset})
}

// addOrphan remembers content that may live on in a copy for copyWait, and
// looks for the copy in the orphan's directory at once, including names the
// patterns do not match; a held file there decides for itself.
func (m *Manager) addOrphan(ctx context.Context, o orphan) {
	o.deadline = time.Now().Add(copyWait)
	m.mu.Lock()
	m.orphans = append(m.orphans, o)
	m.mu.Unlock()
	ents, err := os.ReadDir(o.dir)
	if err != nil {
		return
	}
	for _, de := range ents {
		p := filepath.Join(o.dir, de.Name())
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() < o.offset {
			continue
		}
		id, ok := statID(fi)
		if !ok {
			continue
		}
		if r, busy := m.reader(id); busy {
			if r.held.Load() {
				r.wake()
			}
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		head := readHead(f)
		m.mu.Lock()
		got, ok := m.takeOrphanLocked(o.dir, head, fi.Size())
		mine := ok && got.deadline == o.deadline && got.offset == o.offset && got.sigHash == o.sigHash
		m.mu.Unlock()
		if !ok {
			f.Close()
			continue
		}
		m.opts.Log.Info("reading the copy of a truncated file from where the original stopped",
			"pipeline", m.opts.Pipeline, "file", p, "offset", got.offset)
		m.startReader(ctx, f, id, p, got.offset, !m.matcher.Match(p))
		if mine {
			return
		}
		// The copy of another orphan: this one's may be further on.
	}
}

func readHead(f *os.File) []byte {
	head := make([]byte, checkpoint.SigMax)
	n, _ := f.ReadAt(head, 0)
	return head[:n]
}

// tailOffset returns where to start a file seen on the pipeline's first run:
// tailBytes before its end, moved forward to the start of a line.
func tailOffset(f *os.File, size, tailBytes int64) int64 {
	if size <= tailBytes {
		return 0
	}
	off := size - tailBytes
	buf := make([]byte, 64<<10)
	for off < size {
		n, _ := f.ReadAt(buf, off-1)
		if n == 0 {
			return size
		}
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return off + int64(i)
		}
		off += int64(n)
	}
	return size
}

// startHeld registers and starts a reader that holds its file without
// reading it until settle decides where it starts. Its checkpoint is at 0
// meanwhile: a restart reads it whole rather than lose it.
func (m *Manager) startHeld(ctx context.Context, f *os.File, id fileID, path string) {
	m.opts.Log.Debug("holding a file that may be a copy of another", "pipeline", m.opts.Pipeline, "file", path)
	m.start(ctx, f, id, path, 0, false, true)
}

// startReader registers and starts a reader at offset; released readers read
// a file the patterns no longer lead to, to its end.
func (m *Manager) startReader(ctx context.Context, f *os.File, id fileID, path string, offset int64, released bool) {
	m.start(ctx, f, id, path, offset, released, false)
}

func (m *Manager) start(ctx context.Context, f *os.File, id fileID, path string, offset int64, released, held bool) {
	head := readHead(f)
	head = head[:len(head):len(head)]
	r := &reader{
		m:         m,
		id:        id,
		f:         f,
		wakeC:     make(chan struct{}, 1),
		prefix:    head,
		carryOff:  offset,
		readOff:   offset,
		fedOff:    offset,
		committed: offset,
		idle:      make(chan struct{}),
		lastData:  time.Now(),
		sigHash:   hashBytes(head),
	}
	if m.opts.Input.Multiline.Enabled() {
		r.framer, _ = multiline.New(m.opts.Input.Multiline) // validated in New
	}
	r.setPath(m, path)
	r.released.Store(released)
	if held {
		r.held.Store(true)
		r.heldSince = time.Now()
	}
	m.mu.Lock()
	if _, dup := m.readers[id]; dup {
		m.mu.Unlock()
		f.Close()
		return
	}
	m.readers[id] = r
	if !released {
		m.byPath[path] = r
	}
	m.mu.Unlock()
	r.ackMu.Lock()
	r.saveLocked()
	r.ackMu.Unlock()
	m.met.files.Inc()
	m.opts.Log.Debug("reading file", "pipeline", m.opts.Pipeline, "file", path, "offset", offset)
	m.wg.Add(1)
	go r.run(ctx)
}

func (m *Manager) readerDone(r *reader) {
	m.mu.Lock()
	if m.readers[r.id] == r {
		delete(m.readers, r.id)
	}
	if m.byPath[r.curPath()] == r {
		delete(m.byPath, r.curPath())
	}
	m.mu.Unlock()
	m.met.files.Dec()
	m.wg.Done()
}

// setPath records the file's current name and rebuilds its tags.
func (r *reader) setPath(m *Manager, path string) {
	r.path.Store(&path)
	tags := make([]batch.Tag, 0, len(m.opts.Tags)+2)
	if m.pathTag != "" {
		tags = append(tags, batch.Tag{Key: m.pathTag, Value: path})
	}
	tags = append(tags, m.opts.Tags...)
	if m.container != nil {
		tags = append(tags, m.container.tags(path)...)
	}
	if m.positionMeta && m.inodeTag != "" {
		tags = append(tags, batch.Tag{Key: m.inodeTag, Value: fmt.Sprint(r.id.ino)})
	}
	r.source.Store(&batch.Source{Pipeline: m.opts.Pipeline, Path: path, Tags: tags})
}

// headCopy returns the first bytes of the reader's file as last seen.
func (r *reader) headCopy() []byte {
	r.ackMu.Lock()
	defer r.ackMu.Unlock()
	return r.prefix
}

// Files returns the paths being read (for tests and /readyz detail).
func (m *Manager) Files() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.readers))
	for _, r := range m.readers {
		out = append(out, r.curPath())
	}
	return out
}

// Frame frames data as a reader of this manager would frame a file with
// that content (lines, the line bound, Multiline, container log formats),
// as if the file ended there: `wasmtail process` uses it so that what it
// prints is what the agent would send.
func (m *Manager) Frame(data []byte, path string) *batch.Batch {
	r := &reader{m: m}
	if m.opts.Input.Multiline.Enabled() {
		r.framer, _ = multiline.New(m.opts.Input.Multiline)
	}
	r.setPath(m, path)
	b := &batch.Batch{Buf: data, Source: r.source.Load()}
	n := r.frame(b, false)
	if n < len(data) {
		// The rest, as the flush timeout would hand it on.
		rest := &batch.Batch{Buf: data[n:], Begin: int64(n), Source: b.Source}
		r.frame(rest, true)
		for i := range rest.Records {
			rec := rest.Records[i]
			fs := b.NewFields()
			for _, f := range rec.Fields {
				fs = b.AppendField(fs, f)
			}
			b.Records = append(b.Records, batch.Record{Sec: rec.Sec, Nsec: rec.Nsec, Fields: fs})
		}
	}
	b.End = int64(len(data))
	return b
}
