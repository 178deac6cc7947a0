package tail

import (
	"bytes"
	"context"
	"errors"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/checkpoint"
	"github.com/wasmtail/wasmtail/agent/internal/multiline"
)

// fileID identifies an open file on this machine.
type fileID struct{ dev, ino uint64 }

// reader follows one file (one inode). It owns one goroutine that reads
// chunks with pread, frames records, and pushes batches to the pipeline. The
// checkpoint of the file moves only as batches are acknowledged, in order.
type reader struct {
	m  *Manager
	id fileID
	f  *os.File

	path   atomic.Pointer[string]
	source atomic.Pointer[batch.Source]
	// released is set by the manager when no matching path leads to the
	// file any more (it was rotated away or deleted): the reader reads it to
	// its end, waits until it stays quiet, then closes it.
	released atomic.Bool
	// held is set while the file may be a copytruncate copy still waiting
	// for its original's truncation: it is not read until the manager's
	// settle says where it starts (heldSince is when it was first seen).
	held      atomic.Bool
	heldSince time.Time
	// pushing is set while the reader waits for room in the pipeline: it
	// cannot look at its file then, so the manager's scan does (watchHead).
	pushing atomic.Bool
	wakeC   chan struct{}

	// Owned by the reader goroutine.
	carry    []byte // bytes read but not yet part of a delivered record
	carryOff int64  // file offset of carry[0]
	readOff  int64  // next offset to read
	fedOff   int64  // lines before this offset were fed to the framer
	lastData time.Time
	framer   *multiline.Framer
	spans    []multiline.Span
	// warnedLong limits the long-line warning to once per file; inLong is
	// set while the rest of a split line is still to come.
	warnedLong bool
	inLong     bool
	// cfmt is the container log format (container mode only).
	cfmt int

	// Ack tracking, shared with pipeline workers.
	ackMu     sync.Mutex
	inflight  []*flight
	committed int64
	// epoch changes when the file is truncated: acknowledgements of batches
	// of the old content no longer move the checkpoint of the new content.
	epoch  int
	idle   chan struct{} // closed and replaced when inflight drains
	closed bool
	// prefix is the first bytes (up to checkpoint.SigMax) of the content
	// the reader reads, as far as the agent has seen them; sigHash is its
	// hash. Both are saved in the checkpoint as soon as prefix grows, so that
	// a restart can tell this content from what replaces it. A new slice
	// each time (headCopy hands it out).
	prefix  []byte
	sigHash uint64
	// unread is the first bytes of content the file held while the reader
	// was pushing, other than the content it reads (watchHead); saved in the
	// checkpoint too.
	unread []byte
}

type flight struct {
	end   int64
	epoch int
	done  bool
}

func (r *reader) wake() {
	select {
	case r.wakeC <- struct{}{}:
	default:
	}
}

func (r *reader) curPath() string { return *r.path.Load() }

// run is the reader goroutine. It returns when ctx is done (shutdown: what
// was not acknowledged is read again after a restart) or when a released file
// was read to its end and stayed quiet.
func (r *reader) run(ctx context.Context) {
	defer r.m.readerDone(r)
	defer r.f.Close()
	if r.held.Load() && !r.settle(ctx) {
		return
	}
	poll := minPoll
	timer := time.NewTimer(poll)
	defer timer.Stop()
	active := false // data was read since the last pause
	for {
		n, err := r.readOnce(ctx, false)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.m.opts.Log.Warn("read file", "pipeline", r.m.opts.Pipeline, "file", r.curPath(), "err", err)
			r.m.met.errors("read")
		}
		if n > 0 {
			active = true
			continue
		}
		// At the end of the file.
		if r.m.draining.Load() {
			return // Shutdown's final read is done for this file
		}
		if active {
			// The file is being written: pause a little so that the next read
			// takes a larger chunk, whatever the writer's pace (one read per
			// pause instead of one per inotify event).
			active = false
			poll = minPoll
			timer.Reset(minPoll)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			select {
			case <-r.wakeC:
			default:
			}
			continue
		}
		if r.checkTruncated(ctx) {
			continue
		}
		if len(r.carry) > 0 && time.Since(r.lastData) >= r.m.flushTimeout {
			// A partial line or record stayed incomplete for FlushTimeoutSecs.
			r.readOnce(ctx, true)
			continue
		}
		if r.released.Load() && time.Since(r.lastData) >= r.m.opts.ReleaseQuiet {
			r.finish(ctx)
			return
		}
		timer.Reset(poll)
		select {
		case <-ctx.Done():
			return
		case <-r.wakeC:
			poll = minPoll
		case <-timer.C:
			if poll < maxPoll {
				poll *= 2
			}
		}
	}
}

const (
	// minPoll is the pause between reads of a file being written, and the
	// first interval of the idle backoff; maxPoll caps the backoff for files
	// inotify says nothing about.
	minPoll = 50 * time.Millisecond
	maxPoll = 800 * time.Millisecond
)

// settle waits until the manager decides where a held file starts, then
// starts it there. It returns false when the reader must stop first
// (shutdown): the file's checkpoint, at 0, still holds it.
func (r *reader) settle(ctx context.Context) bool {
	t := time.NewTicker(heldPoll)
	defer t.Stop()
	for {
		head := readHead(r.f)
		if fi, err := r.f.Stat(); err == nil {
			if off, ok := r.m.settle(r, head, fi.Size()); ok {
				r.startAt(off)
				return true
			}
		}
		// Still held: its checkpoint (at 0) carries the first bytes as they
		// grow, so that a restart after the file was copytruncated knows
		// the content it held and looks for its copy.
		r.ackMu.Lock()
		if len(head) > len(r.prefix) && bytes.HasPrefix(head, r.prefix) {
			r.adoptLocked(head)
		}
		r.ackMu.Unlock()
		if r.m.draining.Load() {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-r.wakeC:
		case <-t.C:
		}
	}
}

// heldPoll is how often a held file is looked at again (its writes raise no
// event).
const heldPoll = 100 * time.Millisecond

// startAt moves a reader that has not read anything yet to offset, with the
// file's first bytes as they are now, and saves its checkpoint.
func (r *reader) startAt(off int64) {
	r.held.Store(false)
	if off > 0 {
		r.m.opts.Log.Info("reading the copy of a truncated file from where the original stopped",
			"pipeline", r.m.opts.Pipeline, "file", r.curPath(), "offset", off)
	}
	r.carryOff, r.readOff, r.fedOff = off, off, off
	r.ackMu.Lock()
	r.prefix, r.sigHash = nil, hashBytes(nil)
	r.committed = off
	r.ackMu.Unlock()
	r.checkSignature()
	r.ackMu.Lock()
	r.saveLocked()
	r.ackMu.Unlock()
}

// finish hands on what is left of a released file, waits until every batch
// of it was acknowledged, then forgets its checkpoint.
func (r *reader) finish(ctx context.Context) {
	if len(r.carry) > 0 {
		r.readOnce(ctx, true)
	}
	for {
		r.ackMu.Lock()
		idle := r.idle
		n := len(r.inflight)
		if n == 0 {
			r.closed = true
		}
		r.ackMu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return
		}
	}
	r.m.opts.Store.Delete(r.m.opts.Pipeline, r.id.dev, r.id.ino)
	r.m.opts.Log.Info("file done", "pipeline", r.m.opts.Pipeline, "file", r.curPath(), "offset", r.committedOffset())
}

func (r *reader) committedOffset() int64 {
	r.ackMu.Lock()
	defer r.ackMu.Unlock()
	return r.committed
}

// readOnce reads one chunk after the carried bytes, frames it and pushes a
// batch. With final, it reads nothing and flushes the carried bytes as
// records (flush timeout or end of a released file).
func (r *reader) readOnce(ctx context.Context, final bool) (int, error) {
	m := r.m
	b := m.opts.Pool.Get()
	need := len(r.carry) + m.opts.ReadSize
	if cap(b.Buf) < need {
		b.Buf = make([]byte, 0, need)
	}
	b.Buf = append(b.Buf[:0], r.carry...)
	n := 0
	var err error
	if !final {
		n, err = r.f.ReadAt(b.Buf[len(r.carry):need], r.readOff)
		if errors.Is(err, io.EOF) {
			err = nil
		}
		if n == 0 {
			m.opts.Pool.Put(b)
			return 0, err
		}
		if !r.checkSignature() {
			// The file was truncated or replaced under us: what we just
			// read may belong to the new content; start over from 0.
			m.opts.Pool.Put(b)
			r.truncated(ctx, "content replaced")
			return 1, nil
		}
		r.lastData = time.Now()
	}
	b.Buf = b.Buf[:len(r.carry)+n]
	b.Begin = r.carryOff
	consumed := r.frame(b, final)
	r.readOff += int64(n)
	m.met.inBytes.Add(float64(n))

	// Keep the bytes after the last delivered record for the next chunk.
	r.carry = append(r.carry[:0], b.Buf[consumed:]...)
	r.fedOff = max(r.fedOff, r.carryOff) // fedOff never precedes carryOff
	b.Buf = b.Buf[:consumed]
	b.End = r.carryOff + int64(consumed)
	r.carryOff = b.End
	if b.End == b.Begin {
		m.opts.Pool.Put(b)
		return n, err
	}
	m.met.inEvents.Add(float64(len(b.Records)))
	b.Source = r.source.Load()
	f := r.track(b.End)
	b.SetAck(func(err error) { r.ack(f, err) })
	r.pushing.Store(true)
	perr := m.opts.Sink.Push(ctx, b)
	r.pushing.Store(false)
	if perr != nil {
		// Shutdown while waiting for room: the batch was not taken and the
		// checkpoint stays before it, so it is read again after a restart.
		b.Ack(perr)
		m.opts.Pool.Put(b)
		return n, nil
	}
	return n, err
}

// frame turns b.Buf into records and returns how many leading bytes of it
// are consumed (delivered or discarded on purpose).
func (r *reader) frame(b *batch.Batch, final bool) int {
	if r.m.container != nil {
		return r.frameContainer(b, final)
	}
	if r.framer != nil {
		return r.frameMulti(b, final)
	}
	m := r.m
	buf := b.Buf
	sec, nsec := now()
	maxLine := m.maxLine
	pos := 0
	for pos < len(buf) {
		i := bytes.IndexByte(buf[pos:], '\n')
		if i < 0 {
			break
		}
		if i > maxLine || r.inLong {
			// (The rest of) a line longer than the bound.
			r.noteLong(b.Begin + int64(pos))
			r.emitSplit(b, sec, nsec, pos, pos+i)
			r.inLong = false
		} else {
			r.emit(b, sec, nsec, pos, pos+i)
		}
		b.Lines++
		pos += i + 1
	}
	rest := len(buf) - pos
	if rest > maxLine || (final && rest > 0) {
		// A line longer than the bound without its newline yet (keep its
		// last piece until the newline, so no empty record follows), or a
		// partial line flushed after the timeout.
		end := len(buf)
		if !final {
			end = pos + ((rest-1)/maxLine)*maxLine
			r.noteLong(b.Begin + int64(pos))
			r.inLong = true
		} else {
			if rest > maxLine {
				r.noteLong(b.Begin + int64(pos))
			}
			r.inLong = false
		}
		r.emitSplit(b, sec, nsec, pos, end)
		pos = end
	}
	return pos
}

// noteLong counts a line longer than the bound, once per line, and warns
// once per file.
func (r *reader) noteLong(offset int64) {
	if r.inLong {
		return
	}
	r.m.met.truncated.Inc()
	if !r.warnedLong {
		r.warnedLong = true
		r.m.opts.Log.Warn("line longer than the bound, split into several records",
			"pipeline", r.m.opts.Pipeline, "file", r.curPath(), "offset", offset, "max_line_bytes", r.m.maxLine)
	}
}

// emit adds buf[start:end] as a record.
func (r *reader) emit(b *batch.Batch, sec int64, nsec int32, start, end int) {
	b.AddRecord(sec, nsec, b.Buf[start:end])
	if r.m.positionMeta {
		n := len(b.Extra)
		b.Extra = strconv.AppendInt(b.Extra, b.Begin+int64(start), 10)
		b.AppendToLast(batch.Field{Key: r.m.offsetKey, Value: b.Extra[n:len(b.Extra):len(b.Extra)]})
	}
}

// emitSplit adds buf[start:end] as records of at most maxLine bytes, cut on
// UTF-8 boundaries where possible.
func (r *reader) emitSplit(b *batch.Batch, sec int64, nsec int32, start, end int) {
	maxLine := r.m.maxLine
	for start < end {
		cut := min(start+maxLine, end)
		if cut < end {
			// Do not cut a UTF-8 sequence in two if a boundary is near.
			for k := 0; k < utf8.UTFMax && cut-k > start; k++ {
				if utf8.RuneStart(b.Buf[cut-k]) {
					if k > 0 {
						cut -= k
					}
					break
				}
			}
		}
		r.emit(b, sec, nsec, start, cut)
		start = cut
	}
}

// frameMulti feeds the complete lines not yet fed to the framer and turns
// finished spans into records.
func (r *reader) frameMulti(b *batch.Batch, final bool) int {
	m := r.m
	buf := b.Buf
	base := b.Begin
	sec, nsec := now()
	spans := r.spans[:0]
	pos := int(r.fedOff - base)
	if pos < 0 {
		pos = 0
	}
	for pos < len(buf) {
		i := bytes.IndexByte(buf[pos:], '\n')
		if i < 0 {
			break
		}
		line := buf[pos : pos+i]
		if i > m.maxLine {
			// Keep the framer bounded: a giant line ends the pending record.
			spans = r.framer.Flush(spans)
			spans = r.framer.Line(line[:0], base+int64(pos), base+int64(pos), spans)
		}
		spans = r.framer.Line(line, base+int64(pos), base+int64(pos+i+1), spans)
		b.Lines++
		pos += i + 1
	}
	r.fedOff = base + int64(pos)
	rest := len(buf) - pos
	if final && rest > 0 {
		spans = r.framer.Line(buf[pos:], base+int64(pos), base+int64(len(buf)), spans)
		pos = len(buf)
		r.fedOff = base + int64(pos)
	}
	if ps, ok := r.framer.Pending(); ok && (final || int(base+int64(len(buf))-ps) >= m.maxLine) {
		spans = r.framer.Flush(spans)
	}
	consumed := 0
	for _, s := range spans {
		if !s.Discard {
			start, end := int(s.Start-base), int(s.End-base)
			if end-start > m.maxLine {
				r.noteLong(s.Start)
				r.emitSplit(b, sec, nsec, start, end)
			} else {
				r.emit(b, sec, nsec, start, end)
			}
		}
		consumed = int(s.Next - base)
	}
	r.spans = spans[:0]
	if _, ok := r.framer.Pending(); !ok && rest > m.maxLine && !final {
		// No record pending and a partial line beyond the bound: split it.
		end := pos + ((rest-1)/m.maxLine)*m.maxLine
		if consumed == pos || consumed == int(r.fedOff-base) {
			r.noteLong(base + int64(pos))
			r.emitSplit(b, sec, nsec, pos, end)
			consumed = end
			r.fedOff = base + int64(end)
		}
	}
	return consumed
}

func now() (int64, int32) {
	t := time.Now()
	return t.Unix(), int32(t.Nanosecond())
}

// track registers a batch ending at end as in flight.
func (r *reader) track(end int64) *flight {
	r.ackMu.Lock()
	f := &flight{end: end, epoch: r.epoch}
	r.inflight = append(r.inflight, f)
	r.ackMu.Unlock()
	return f
}

// ack is called by a pipeline worker when a batch was delivered (err ==
// nil) or abandoned. The checkpoint moves to the end of the longest prefix of
// delivered batches.
func (r *reader) ack(f *flight, err error) {
	r.ackMu.Lock()
	defer r.ackMu.Unlock()
	if err != nil {
		// Abandoned on shutdown: everything from here on is read again.
		return
	}
	f.done = true
	moved := false
	for len(r.inflight) > 0 && r.inflight[0].done {
		if r.inflight[0].epoch == r.epoch {
			r.committed = r.inflight[0].end
		}
		r.inflight[0] = nil
		r.inflight = r.inflight[1:]
		moved = true
	}
	if len(r.inflight) == 0 {
		close(r.idle)
		r.idle = make(chan struct{})
	}
	if moved && !r.closed {
		r.saveLocked()
	}
}

func (r *reader) saveLocked() {
	e := checkpoint.Entry{
		Path:    r.curPath(),
		Dev:     r.id.dev,
		Ino:     r.id.ino,
		SigLen:  len(r.prefix),
		SigHash: r.sigHash,
		Offset:  r.committed,
		Updated: time.Now().Unix(),
	}
	if len(r.unread) > 0 {
		e.UnreadLen, e.UnreadHash = len(r.unread), hashBytes(r.unread)
	}
	r.m.opts.Store.Set(r.m.opts.Pipeline, e)
}

// adoptLocked makes head, which starts with prefix, the reader's prefix and
// saves it. r.ackMu must be held.
func (r *reader) adoptLocked(head []byte) {
	r.prefix = append([]byte(nil), head...)
	r.sigHash = hashBytes(r.prefix)
	if !r.closed {
		r.saveLocked()
	}
}

// checkSignature re-reads the file's first bytes and reports whether they
// still start with the bytes seen before (the file was neither truncated nor
// replaced). It grows the signature while the file is shorter than SigMax.
func (r *reader) checkSignature() bool {
	var head [checkpoint.SigMax]byte
	n, _ := r.f.ReadAt(head[:], 0)
	r.ackMu.Lock()
	defer r.ackMu.Unlock()
	if n < len(r.prefix) || !bytes.Equal(head[:len(r.prefix)], r.prefix) {
		return false
	}
	if n > len(r.prefix) {
		r.adoptLocked(head[:n])
	}
	return true
}

// checkTruncated looks at the file's size at the end of the file: smaller
// than what was read means truncated (copytruncate, or `> file`).
func (r *reader) checkTruncated(ctx context.Context) bool {
	fi, err := r.f.Stat()
	if err != nil {
		return false
	}
	if fi.Size() < r.readOff {
		r.truncated(ctx, "file shrank")
		return true
	}
	if fi.Size() > r.readOff {
		// Grown since the read hit EOF: nothing to do, the next read sees it.
		return false
	}
	if !r.checkSignature() {
		r.truncated(ctx, "content replaced")
		return true
	}
	return false
}

// truncated restarts the file from 0. The bytes of the old content that
// were not read yet may live on in a copy (copytruncate): the manager looks
// for it and reads it from where this reader stopped.
func (r *reader) truncated(ctx context.Context, why string) {
	m := r.m
	r.ackMu.Lock()
	oldPrefix, acked, gone := r.prefix, r.committed, r.unread
	r.ackMu.Unlock()
	m.opts.Log.Info("file truncated, reading it again from the start", "pipeline", m.opts.Pipeline,
		"file", r.curPath(), "reason", why, "offset", r.carryOff, "acknowledged", acked)
	m.met.errors("truncated")
	// First the copies, each with a checkpoint of its own: the old content
	// from where the original's checkpoint is, not from where it was read
	// to (the batches in flight may never be acknowledged: a crash), and
	// content the file held in between, seen by watchHead, unless it is
	// what the file holds now.
	dir := filepath.Dir(r.curPath())
	m.claimCopy(ctx, dir, oldPrefix, acked)
	if len(gone) > 0 && !related(gone, readHead(r.f)) {
		m.claimCopy(ctx, dir, gone, 0)
	}
	// Then the checkpoint moves to the new content, at 0, in one step.
	// Batches in flight from the old content still ack in order, but no
	// longer move it (epoch).
	r.carry = r.carry[:0]
	r.carryOff, r.readOff, r.fedOff = 0, 0, 0
	if r.framer != nil {
		r.framer.Reset()
	}
	r.ackMu.Lock()
	r.epoch++
	r.committed = 0
	r.prefix, r.sigHash, r.unread = nil, hashBytes(nil), nil
	r.saveLocked()
	r.ackMu.Unlock()
	r.checkSignature()
}

// watchHead is called by the manager's scan while the reader waits for room
// in the pipeline. The file may be truncated and written again, more than
// once, before the reader looks at it: content that was there only in
// between would never be looked for, and its copytruncate copy never read.
// watchHead notes the first bytes of content other than the reader's; when
// they change again, that content is gone from the file (read nothing of),
// and its copy is looked for.
func (r *reader) watchHead(ctx context.Context) {
	head := readHead(r.f)
	if len(head) == 0 {
		return
	}
	r.ackMu.Lock()
	if related(head, r.prefix) {
		// The content the reader reads (or has read nothing of yet): its
		// first bytes, as far as they go now, are saved at once.
		r.unread = nil
		if len(head) > len(r.prefix) {
			r.adoptLocked(head)
		}
		r.ackMu.Unlock()
		return
	}
	gone := r.unread
	if len(gone) > 0 && related(head, gone) {
		if len(head) > len(gone) {
			r.unread = head
			r.saveLocked()
		}
		r.ackMu.Unlock()
		return
	}
	r.ackMu.Unlock()
	// The copy of the content that went is claimed (and has its own
	// checkpoint) before the checkpoint forgets that content.
	r.m.claimCopy(ctx, filepath.Dir(r.curPath()), gone, 0)
	r.ackMu.Lock()
	r.unread = head
	r.saveLocked()
	r.ackMu.Unlock()
}

// related reports whether one of a and b starts with the other.
func related(a, b []byte) bool {
	return bytes.HasPrefix(a, b) || bytes.HasPrefix(b, a)
}

func hashBytes(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

func statID(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{uint64(st.Dev), uint64(st.Ino)}, true
}
