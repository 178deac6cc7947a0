package e2e

// The writing side of TestChurn (churn_test.go): the lines, and the
// goroutines that write and rotate the log files. Every decision a writer
// makes (what to write, which rotation, when, for how long) comes from a
// generator seeded by the run's seed and the stream's number, so a seed
// replays the same decisions; only their timing against the agent's kills
// differs between runs.

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// matchesPattern tells whether a file name matches the pipeline's pattern
// (<logs>/*.log). Every name the writers use is built to match or not on
// purpose: a live file is s007.log, a rotated one s007.log.12 (out of the
// pattern) or s007.12.log (still in it).
func matchesPattern(name string) bool { return strings.HasSuffix(name, ".log") }

// rotKind is a way a writer rotates its file.
type rotKind int

const (
	rotRenameOut    rotKind = iota // rename to a name the pattern does not match, create a new file
	rotRenameIn                    // rename to another name the pattern matches, create a new file
	rotCopyTruncate                // copy to a name out of the pattern, truncate in place, write on
	rotDeleteOpen                  // delete, write on into the deleted file for a while, create a new file
	rotTruncate                    // truncate in place, no copy
	rotEphemeral                   // (blinkers) create at a matching name, rename out within 0.1–1 s
	numRotKinds
)

// writerKinds are the rotations a stream writer draws from.
const writerKinds = rotTruncate + 1

func (k rotKind) String() string {
	return [...]string{"rename-out", "rename-in", "copytruncate", "delete-open", "truncate", "ephemeral"}[k]
}

// lineMaker makes the content of line (stream, seq): "007:000001234:"
// then 16 to 400 bytes of padding, all derived from the seed, so that any
// record in the output can be checked to be exactly one written line.
type lineMaker struct {
	seed uint64
	pool []byte // the padding is a slice of it
}

const (
	minPad, maxPad = 16, 400
	idLen          = len("007:000001234:")
)

func newLineMaker(seed uint64) *lineMaker {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .-_/=+"
	rng := rand.New(rand.NewPCG(seed, 0x70ad))
	pool := make([]byte, 8192)
	for i := range pool {
		pool[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return &lineMaker{seed: seed, pool: pool}
}

// padding returns the padding of line (stream, seq).
func (m *lineMaker) padding(stream int, seq int64) []byte {
	h := splitmix(m.seed ^ uint64(stream)<<48 ^ uint64(seq))
	n := minPad + int(h%(maxPad-minPad+1))
	off := int((h >> 32) % uint64(len(m.pool)-maxPad))
	return m.pool[off : off+n]
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// appendLine appends line (stream, seq) and its newline to dst.
func (m *lineMaker) appendLine(dst []byte, stream int, seq int64) []byte {
	dst = appendPadded(dst, int64(stream), 3)
	dst = append(dst, ':')
	dst = appendPadded(dst, seq, 9)
	dst = append(dst, ':')
	dst = append(dst, m.padding(stream, seq)...)
	return append(dst, '\n')
}

func appendPadded(dst []byte, v int64, width int) []byte {
	s := strconv.FormatInt(v, 10)
	for range width - len(s) {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// parse returns the id of a record's content, and whether the content is
// exactly that line (without its newline).
func (m *lineMaker) parse(content string) (stream int, seq int64, ok bool) {
	if len(content) < idLen+minPad || content[3] != ':' || content[idLen-1] != ':' {
		return 0, 0, false
	}
	s, err1 := strconv.Atoi(content[:3])
	q, err2 := strconv.ParseInt(content[4:idLen-1], 10, 64)
	if err1 != nil || err2 != nil || s < 0 || q < 0 {
		return 0, 0, false
	}
	return s, q, content[idLen:] == string(m.padding(s, q))
}

// stream is what one writing goroutine (a streamWriter or a blinker) did:
// its lines, numbered from 0, and the files it created. Only its goroutine
// touches it until the writers stop.
type stream struct {
	id     int
	short  bool // a blinker's
	clk    *clock
	lines  *lineMaker
	dir    string // its folder
	keep   int    // rotated generations kept on disk; 0 keeps all
	rng    *rand.Rand
	seq    int64   // lines written so far
	chunks []chunk // every write, in line order
	files  []*fileHist
	kept   []*fileHist // rotated generations still on disk, oldest first
	rots   [numRotKinds]int
	buf    []byte
}

func newStream(id int, seed uint64, clk *clock, lines *lineMaker, dir string, keep int) *stream {
	return &stream{id: id, clk: clk, lines: lines, dir: dir, keep: keep,
		rng: rand.New(rand.NewPCG(seed, uint64(id)+1))}
}

// between returns a random duration in [lo, hi).
func (s *stream) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)))
}

// create creates a new empty file at name (in the logs folder).
func (s *stream) create(name string) (*os.File, *fileHist, error) {
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	h := newFileHist(len(s.files), s.id, s.dir, name, s.clk.now())
	s.files = append(s.files, h)
	return f, h, nil
}

// write appends n lines to f (file h) in one write call.
func (s *stream) write(f *os.File, h *fileHist, n int) error {
	if n == 0 {
		return nil
	}
	s.buf = s.buf[:0]
	for i := range n {
		s.buf = s.lines.appendLine(s.buf, s.id, s.seq+int64(i))
	}
	if _, err := f.Write(s.buf); err != nil {
		return err
	}
	s.chunks = append(s.chunks, chunk{first: s.seq, n: int32(n), gen: int32(len(h.truncs)), at: s.clk.now(), file: h})
	s.seq += int64(n)
	return nil
}

// rename renames file h to name.
func (s *stream) rename(h *fileHist, name string) error {
	before := s.clk.now()
	if err := os.Rename(filepath.Join(s.dir, h.name), filepath.Join(s.dir, name)); err != nil {
		return err
	}
	h.renamed(before, s.clk.now(), name)
	return nil
}

// remove deletes file h (why: "deleted while open" or "pruned").
func (s *stream) remove(h *fileHist, why string) error {
	before := s.clk.now()
	if err := os.Remove(filepath.Join(s.dir, h.name)); err != nil {
		return err
	}
	h.removed(before, why)
	return nil
}

// rotated records that h became a rotated generation, and deletes the
// oldest generations past the ones to keep.
func (s *stream) rotated(h *fileHist) error {
	s.kept = append(s.kept, h)
	for s.keep > 0 && len(s.kept) > s.keep {
		old := s.kept[0]
		s.kept = s.kept[1:]
		if err := s.remove(old, "pruned"); err != nil {
			return err
		}
	}
	return nil
}

// streamWriter writes one stream's lines into its live file (s007.log) at
// a steady rate, and rotates the file every 0.5–3 s in a way drawn at
// random. It is the only one to write or rotate that file.
type streamWriter struct {
	*stream
	live   string // the live file's name
	f      *os.File
	cur    *fileHist
	rate   float64       // bytes per second
	budget float64       // bytes it may write now
	last   time.Duration // when the budget was last topped up
	next   time.Duration // next rotation
	// deletedUntil, while not zero, is when the writer stops writing into
	// its deleted file and creates a new one.
	deletedUntil time.Duration
}

// writerTick is how often a writer writes (each time one write call).
const writerTick = 50 * time.Millisecond

func (w *streamWriter) run(stop <-chan struct{}) error {
	w.live = fmt.Sprintf("s%03d.log", w.id)
	var err error
	if w.f, w.cur, err = w.create(w.live); err != nil {
		return err
	}
	w.last = w.clk.now()
	w.next = w.last + w.between(500*time.Millisecond, 3*time.Second)
	tick := time.NewTicker(writerTick)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return w.f.Close()
		case <-tick.C:
		}
		if err := w.step(); err != nil {
			w.f.Close()
			return fmt.Errorf("stream %d: %w", w.id, err)
		}
	}
}

// step writes what the rate allows since the last step, then rotates if
// it is time.
func (w *streamWriter) step() error {
	now := w.clk.now()
	if w.deletedUntil != 0 && now >= w.deletedUntil {
		if err := w.reopen(); err != nil {
			return err
		}
	}
	// Top the budget up for the time elapsed, at most half a second's worth
	// (a writer starved of CPU does not then write in a burst).
	w.budget = min(w.budget+w.rate*(now-w.last).Seconds(), w.rate/2)
	w.last = now
	n := 0
	for w.budget > 0 {
		w.budget -= float64(idLen + len(w.lines.padding(w.id, w.seq+int64(n))) + 1)
		n++
	}
	if err := w.write(w.f, w.cur, n); err != nil {
		return err
	}
	if w.deletedUntil == 0 && now >= w.next {
		if err := w.rotate(rotKind(w.rng.IntN(int(writerKinds)))); err != nil {
			return err
		}
		w.next = w.clk.now() + w.between(500*time.Millisecond, 3*time.Second)
	}
	return nil
}

// reopen closes the current file and creates a new live file.
func (w *streamWriter) reopen() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	w.deletedUntil = 0
	var err error
	w.f, w.cur, err = w.create(w.live)
	return err
}

func (w *streamWriter) rotate(k rotKind) error {
	w.rots[k]++
	gen := w.rots[rotRenameOut] + w.rots[rotRenameIn] + w.rots[rotCopyTruncate] + w.rots[rotDeleteOpen] + w.rots[rotTruncate]
	switch k {
	case rotRenameOut, rotRenameIn:
		name := fmt.Sprintf("%s.%d", w.live, gen) // s007.log.12
		if k == rotRenameIn {
			name = fmt.Sprintf("s%03d.%d.log", w.id, gen) // s007.12.log
		}
		old := w.cur
		if err := w.rename(old, name); err != nil {
			return err
		}
		if err := w.reopen(); err != nil {
			return err
		}
		return w.rotated(old)
	case rotCopyTruncate:
		cp, err := w.copyLive(fmt.Sprintf("%s.%d", w.live, gen))
		if err != nil {
			return err
		}
		if err := w.truncate(cp); err != nil {
			return err
		}
		return w.rotated(cp)
	case rotDeleteOpen:
		w.deletedUntil = w.clk.now() + w.between(200*time.Millisecond, 1500*time.Millisecond)
		return w.remove(w.cur, "deleted while open")
	case rotTruncate:
		return w.truncate(nil)
	}
	return fmt.Errorf("writer rotation %v", k)
}

// copyLive copies the live file to name, as copytruncate does.
func (w *streamWriter) copyLive(name string) (*fileHist, error) {
	src, err := os.Open(filepath.Join(w.dir, w.live))
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, h, err := w.create(name)
	if err != nil {
		return nil, err
	}
	h.copyOf = w.cur
	_, err = io.Copy(dst, src)
	return h, errors.Join(err, dst.Close())
}

// truncate truncates the live file in place; cp is the copy that holds
// its lines, nil for none.
func (w *streamWriter) truncate(cp *fileHist) error {
	before := w.clk.now()
	if err := w.f.Truncate(0); err != nil {
		return err
	}
	w.cur.truncated(before, cp)
	return nil
}

// blinker creates short-lived files: empty at a matching name (e003.12.log),
// sometimes given a few lines, and renamed out of the pattern
// (e003.12.log.gone) 0.1–1 s after they were created; then it waits 0.5–3 s.
type blinker struct {
	*stream
}

func (b *blinker) run(stop <-chan struct{}) error {
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-stop:
			return false
		case <-t.C:
			return true
		}
	}
	for k := 0; ; k++ {
		if !wait(b.between(500*time.Millisecond, 3*time.Second)) {
			return nil
		}
		// Once started, a blink runs to its end even when told to stop: it
		// is short.
		if err := b.blink(k); err != nil {
			return fmt.Errorf("blinker %d: %w", b.id, err)
		}
	}
}

func (b *blinker) blink(k int) error {
	name := fmt.Sprintf("e%03d.%d.log", b.id, k)
	life := b.between(100*time.Millisecond, time.Second)
	lines, at := 0, time.Duration(0)
	if b.rng.IntN(2) == 0 {
		lines, at = 1+b.rng.IntN(5), b.between(0, life/2+1)
	}
	b.rots[rotEphemeral]++
	f, h, err := b.create(name)
	if err != nil {
		return err
	}
	born := time.Now()
	if lines > 0 {
		time.Sleep(time.Until(born.Add(at))) // a scheduled action, not a wait for a condition
		if err := b.write(f, h, lines); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	time.Sleep(time.Until(born.Add(life)))
	if err := b.rename(h, name+".gone"); err != nil {
		return err
	}
	return b.rotated(h)
}

// TestChurnWritersReplay: the writers' decisions (which rotation, when,
// what names, how many lines into a short-lived file) depend on the seed
// only, so that a failing seed can be replayed.
func TestChurnWritersReplay(t *testing.T) {
	cfg := churnConfig{seed: 12345, rate: 256 << 10, folders: []churnFolder{{"busy", 4, 2}, {"calm", 1, 1}}}
	run := func() [][]string {
		dir := t.TempDir()
		w := startChurnWriters(t, cfg, &clock{t0: time.Now()}, dir)
		time.Sleep(4 * time.Second)
		var out [][]string
		for _, s := range w.stop(t) {
			var evs []fileEvent
			for _, f := range s.files {
				evs = append(evs, f.events...)
			}
			sort.SliceStable(evs, func(i, j int) bool { return evs[i].at < evs[j].at })
			var whats []string
			for _, e := range evs {
				whats = append(whats, e.what)
			}
			out = append(out, whats)
		}
		return out
	}
	a, b := run(), run()
	require.Equal(t, len(a), len(b))
	total := 0
	for i := range a {
		n := min(len(a[i]), len(b[i]))
		require.Equal(t, a[i][:n], b[i][:n], "stream %d", i)
		total += n
	}
	// 4 s of rotations every 0.5–3 s in 9 streams: at least a few each.
	require.Greater(t, total, 30, "events compared")
}
