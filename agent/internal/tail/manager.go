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
	deferred map[fileID]time.Time
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

// copyWait is how long a new file that starts like a file being read waits
// to be claimed as a copytruncate copy before it is read as a new file.
const copyWait = 30 * time.Second

type met struct {
	inBytes, inEvents, truncated prometheus.Counter
	errVec                       *prometheus.CounterVec
	files                        prometheus.Gauge
}

func (m met) errors(reason string) { m.errVec.WithLabelValues(reason).Inc() }

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
		deferred:     map[fileID]time.Time{},
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
	m.resume(ctx)
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
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.scanC:
		}
		m.scan(readers)
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

// resume turns the saved checkpoints of the pipeline whose file is no longer
// at a matching path into readers (a file renamed by rotation to a name the
// patterns do not match) or orphans (content that may live on in a copy).
func (m *Manager) resume(ctx context.Context) {
	files, _ := m.matcher.Scan()
	present := map[fileID]bool{}
	for _, f := range files {
		present[fileID{f.Dev, f.Ino}] = true
	}
	for _, e := range m.opts.Store.Files(m.opts.Pipeline) {
		id := fileID{e.Dev, e.Ino}
		if present[id] && sigMatchesPath(e.Path, id, e.SigLen, e.SigHash) {
			continue // the same file at its path: the scan resumes it
		}
		// Same inode, same first bytes, somewhere in the same directory?
		dir := filepath.Dir(e.Path)
		found := false
		ents, _ := os.ReadDir(dir)
		for _, de := range ents {
			p := filepath.Join(dir, de.Name())
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if fid, ok := statID(fi); ok && fid == id {
				if f, err := os.Open(p); err == nil {
					if sigMatches(f, e.SigLen, e.SigHash) && fi.Size() >= e.Offset {
						m.startReader(ctx, f, fid, p, e.Offset, !m.matcher.Match(p))
						found = true
						break
					}
					f.Close()
				}
			}
		}
		if !found {
			m.opts.Store.Delete(m.opts.Pipeline, e.Dev, e.Ino)
			m.orphans = append(m.orphans, orphan{
				dir: dir, sigLen: e.SigLen, sigHash: e.SigHash, offset: e.Offset,
				deadline: time.Now().Add(copyWait),
			})
			// A copy that the patterns do not match is read from here.
			m.claimOrphanInDir(ctx, len(m.orphans)-1)
		}
	}
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
		if err := m.openNew(ctx, f, now); err != nil {
			errs = append(errs, err)
		}
	}
	m.reportScanErrors(errs)
	// Files that no matching path leads to: read to the end, then let go.
	m.mu.Lock()
	for id, r := range m.readers {
		if !seen[id] && !r.released.Load() {
			r.released.Store(true)
			delete(m.byPath, r.curPath())
			r.wake()
		}
	}
	for id := range m.deferred {
		if !seen[id] {
			delete(m.deferred, id)
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
func (m *Manager) openNew(ctx context.Context, df discover.File, now time.Time) error {
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
	head := readHead(f)
	size := fi.Size()

	// 1. A checkpoint of this very file.
	if e, ok := m.opts.Store.Get(m.opts.Pipeline, id.dev, id.ino); ok {
		if len(head) >= e.SigLen && hashBytes(head[:e.SigLen]) == e.SigHash {
			off := e.Offset
			if off > size {
				m.opts.Log.Info("file shorter than its checkpoint, reading from the start", "pipeline", m.opts.Pipeline, "file", df.Path)
				off = 0
			}
			m.startReader(ctx, f, id, df.Path, off, false)
			return nil
		}
		// Same inode, other content: a new file.
		m.opts.Log.Info("inode reused by a new file, reading it from the start", "pipeline", m.opts.Pipeline, "file", df.Path)
		m.opts.Store.Delete(m.opts.Pipeline, e.Dev, e.Ino)
		m.startReader(ctx, f, id, df.Path, 0, false)
		return nil
	}

	// 2. The copy of a file whose content moved (copytruncate).
	m.mu.Lock()
	for i, o := range m.orphans {
		if o.dir == filepath.Dir(df.Path) && o.matches(head) && size >= o.offset {
			m.orphans = append(m.orphans[:i], m.orphans[i+1:]...)
			m.mu.Unlock()
			m.opts.Log.Info("reading the copy of a truncated file from where the original stopped",
				"pipeline", m.opts.Pipeline, "file", df.Path, "offset", o.offset)
			m.startReader(ctx, f, id, df.Path, o.offset, false)
			return nil
		}
	}
	// 3. A file that starts like a file being read in the same directory may
	// be a copy in progress: wait for the original's truncation to claim it.
	for _, r := range m.readers {
		if filepath.Dir(r.curPath()) != filepath.Dir(df.Path) {
			continue
		}
		if p := r.headCopy(); len(p) > 0 && bytes.HasPrefix(p, head) || (len(head) > len(p) && len(p) > 0 && bytes.HasPrefix(head, p)) {
			first, ok := m.deferred[id]
			if !ok {
				m.deferred[id] = now
				first = now
			}
			if now.Sub(first) < copyWait {
				m.mu.Unlock()
				f.Close()
				return nil
			}
			break
		}
	}
	delete(m.deferred, id)
	tail := m.tailNew
	m.mu.Unlock()

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
		return len(head) >= len(o.prefix) && bytes.Equal(head[:len(o.prefix)], o.prefix)
	}
	return len(head) >= o.sigLen && hashBytes(head[:o.sigLen]) == o.sigHash
}

// claimCopy is called by a reader whose file was truncated: the copy of the
// old content, if there is one in dir, is read from offset.
func (m *Manager) claimCopy(ctx context.Context, dir string, prefix []byte, offset int64, self fileID) {
	if len(prefix) == 0 {
		return
	}
	m.mu.Lock()
	m.orphans = append(m.orphans, orphan{
		dir: dir, prefix: prefix, sigLen: len(prefix), sigHash: hashBytes(prefix),
		offset: offset, deadline: time.Now().Add(copyWait),
	})
	i := len(m.orphans) - 1
	m.mu.Unlock()
	m.claimOrphanInDir(ctx, i)
}

// claimOrphanInDir looks in the orphan's directory for its copy, including
// names the patterns do not match, and reads it.
func (m *Manager) claimOrphanInDir(ctx context.Context, i int) {
	m.mu.Lock()
	o := m.orphans[i]
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
		m.mu.Lock()
		_, busy := m.readers[id]
		m.mu.Unlock()
		if busy {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if o.matches(readHead(f)) {
			m.mu.Lock()
			for j := range m.orphans {
				if m.orphans[j].dir == o.dir && m.orphans[j].offset == o.offset && m.orphans[j].sigHash == o.sigHash {
					m.orphans = append(m.orphans[:j], m.orphans[j+1:]...)
					break
				}
			}
			delete(m.deferred, id)
			m.mu.Unlock()
			m.opts.Log.Info("reading the copy of a truncated file from where the original stopped",
				"pipeline", m.opts.Pipeline, "file", p, "offset", o.offset)
			m.startReader(ctx, f, id, p, o.offset, !m.matcher.Match(p))
			return
		}
		f.Close()
	}
}

func readHead(f *os.File) []byte {
	head := make([]byte, checkpoint.SigMax)
	n, _ := f.ReadAt(head, 0)
	return head[:n]
}

// sigMatchesPath reports whether path is still the file id with the same
// first bytes.
func sigMatchesPath(path string, id fileID, sigLen int, sigHash uint64) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	if fid, ok := statID(fi); !ok || fid != id {
		return false
	}
	return sigMatches(f, sigLen, sigHash)
}

func sigMatches(f *os.File, sigLen int, sigHash uint64) bool {
	head := readHead(f)
	return len(head) >= sigLen && hashBytes(head[:sigLen]) == sigHash
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

// startReader registers and starts a reader at offset; released readers read
// a file the patterns no longer lead to, to its end.
func (m *Manager) startReader(ctx context.Context, f *os.File, id fileID, path string, offset int64, released bool) {
	head := readHead(f)
	head = head[:len(head):len(head)]
	r := &reader{
		m:         m,
		id:        id,
		f:         f,
		wakeC:     make(chan struct{}, 1),
		prefix:    append([]byte(nil), head...),
		carryOff:  offset,
		readOff:   offset,
		fedOff:    offset,
		committed: offset,
		idle:      make(chan struct{}),
		lastData:  time.Now(),
		sigLen:    len(head),
		sigHash:   hashBytes(head),
		headSnap:  head,
	}
	if m.opts.Input.Multiline.Enabled() {
		r.framer, _ = multiline.New(m.opts.Input.Multiline) // validated in New
	}
	r.setPath(m, path)
	r.released.Store(released)
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
	return r.headSnap
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
