package e2e

// The accounting side of TestChurn (churn_test.go): when the agent ran,
// what happened to each file, which lines the agent owes, and what the
// output holds.
//
// Every time is measured on one clock from the start of the run, and
// recorded on the safe side of the event it stands for: a line counts as
// written when its write returned, a file as matching from when its
// creation returned until just before the rename or delete that ended it,
// and the agent as running from when /readyz answered until just before
// SIGKILL or SIGTERM was sent. So the harness never credits the agent with
// more time than it had.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// keepMin is how long, in total, a file must match the pattern while the
// agent runs after a line was written for the line to be owed.
const keepMin = 500 * time.Millisecond

// clock measures the run's time.
type clock struct{ t0 time.Time }

func (c *clock) now() time.Duration { return time.Since(c.t0) }

// open is the end of a span that has not ended yet.
const open = time.Duration(math.MaxInt64)

// span is the interval [from, to) of the run's time.
type span struct{ from, to time.Duration }

// timeline is when the agent ran, in order.
type timeline struct {
	spans []span
	cum   []time.Duration // cum[i] is the length of spans[:i]
}

func (tl *timeline) begin(at time.Duration) {
	if n := len(tl.spans); n > 0 {
		tl.cum = append(tl.cum, tl.cum[n-1]+tl.spans[n-1].to-tl.spans[n-1].from)
	} else {
		tl.cum = append(tl.cum, 0)
	}
	tl.spans = append(tl.spans, span{at, open})
}

func (tl *timeline) end(at time.Duration) { tl.spans[len(tl.spans)-1].to = at }

// ranBefore is how long the agent ran before t.
func (tl *timeline) ranBefore(t time.Duration) time.Duration {
	i := sort.Search(len(tl.spans), func(i int) bool { return tl.spans[i].from > t }) - 1
	if i < 0 {
		return 0
	}
	s := tl.spans[i]
	return tl.cum[i] + min(t, s.to) - s.from
}

// ran is how long the agent ran within [a, b).
func (tl *timeline) ran(a, b time.Duration) time.Duration {
	if b <= a {
		return 0
	}
	return tl.ranBefore(b) - tl.ranBefore(a)
}

// fileHist is the life of one file (one inode) the writers created.
type fileHist struct {
	id      int // within its stream
	stream  int
	dir     string // its folder
	name    string // its name now
	events  []fileEvent
	matched []span // when its name matched the pattern
	truncs  []truncation
	// gone is when it left the disk (deleted or pruned), open if it did
	// not.
	gone    time.Duration
	goneWhy string
	copyOf  *fileHist // a copytruncate copy's original
}

type fileEvent struct {
	at   time.Duration
	what string
}

// truncation is a truncation to 0; copy holds the lines it removed (nil
// when nothing does).
type truncation struct {
	at   time.Duration
	copy *fileHist
}

func newFileHist(id, stream int, dir, name string, at time.Duration) *fileHist {
	h := &fileHist{id: id, stream: stream, dir: dir, name: name, gone: open}
	h.event(at, "created %s", name)
	if matchesPattern(name) {
		h.matched = append(h.matched, span{at, open})
	}
	return h
}

func (h *fileHist) event(at time.Duration, format string, args ...any) {
	h.events = append(h.events, fileEvent{at, fmt.Sprintf(format, args...)})
}

func (h *fileHist) matching() bool {
	return len(h.matched) > 0 && h.matched[len(h.matched)-1].to == open
}

// renamed records a rename that happened between before and after.
func (h *fileHist) renamed(before, after time.Duration, name string) {
	in := matchesPattern(name)
	switch {
	case h.matching() && !in:
		h.matched[len(h.matched)-1].to = before
	case !h.matching() && in:
		h.matched = append(h.matched, span{after, open})
	}
	where := "out of the pattern"
	if in {
		where = "in the pattern"
	}
	h.event(before, "renamed to %s (%s)", name, where)
	h.name = name
}

func (h *fileHist) removed(before time.Duration, why string) {
	if h.matching() {
		h.matched[len(h.matched)-1].to = before
	}
	h.gone, h.goneWhy = before, why
	h.event(before, "%s (removed)", why)
}

func (h *fileHist) truncated(before time.Duration, cp *fileHist) {
	h.truncs = append(h.truncs, truncation{before, cp})
	if cp != nil {
		h.event(before, "copied to %s, truncated", cp.name)
	} else {
		h.event(before, "truncated in place")
	}
}

// matchedWhileRunning is how long h matched the pattern while the agent
// ran, within [a, b).
func (h *fileHist) matchedWhileRunning(tl *timeline, a, b time.Duration) time.Duration {
	var d time.Duration
	for _, m := range h.matched {
		d += tl.ran(max(a, m.from), min(b, m.to))
	}
	return d
}

// chunk is one write: lines [first, first+n) of a stream, written into
// file after gen truncations of it, the write returning at at.
type chunk struct {
	first int64
	n     int32
	gen   int32
	at    time.Duration
	file  *fileHist
}

// verdict is whether the lines of a chunk are owed, and why (not).
type verdict struct {
	keepable bool
	why      string        // for lines not owed
	holder   *fileHist     // the file holding the lines at the end
	until    time.Duration // when they left the file written into
	matched  time.Duration // matched the pattern while the agent ran, after the write
}

// judge applies the rule: a line is owed when the file holding it stayed
// on disk (under any name, or as a copytruncate's copy) until end, and the
// file it was written into matched the pattern for keepMin in total while
// the agent ran, after the line was written and while the line was in it.
func judge(c chunk, tl *timeline, end time.Duration) verdict {
	f := c.file
	v := verdict{holder: f, until: end}
	if int(c.gen) < len(f.truncs) {
		tr := f.truncs[c.gen]
		v.until = tr.at
		if tr.copy == nil {
			v.why = "truncated in place"
			return v
		}
		v.holder = tr.copy
	}
	if v.holder.gone < end {
		v.why = v.holder.goneWhy
		return v
	}
	v.matched = f.matchedWhileRunning(tl, c.at, v.until)
	if v.matched < keepMin {
		v.why = "matched too briefly while the agent ran"
		return v
	}
	v.keepable = true
	return v
}

// tally counts the records of the output: how many times each line came,
// and the records that are not exactly one written line.
type tally struct {
	lines     *lineMaker
	written   []int64 // lines written per stream
	counts    [][]uint8
	records   int64
	malformed int64
	bad       []string // the first malformed records
}

func newTally(lines *lineMaker, written []int64) *tally {
	t := &tally{lines: lines, written: written, counts: make([][]uint8, len(written))}
	for i, n := range written {
		t.counts[i] = make([]uint8, n)
	}
	return t
}

// record counts one output record (a JSON object with the line as
// "content").
func (t *tally) record(rec []byte) {
	t.records++
	var r struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(rec, &r); err != nil || r.Content == nil {
		t.malformedRecord(string(rec))
		return
	}
	s, q, ok := t.lines.parse(*r.Content)
	if !ok || s >= len(t.counts) || q >= t.written[s] {
		t.malformedRecord(*r.Content)
		return
	}
	if c := &t.counts[s][q]; *c < math.MaxUint8 {
		*c++
	}
}

func (t *tally) malformedRecord(s string) {
	t.malformed++
	if len(t.bad) < 5 {
		t.bad = append(t.bad, fmt.Sprintf("%.300q", s))
	}
}

// outputTail reads an output as it grows, one whole line at a time, from
// where it stopped the last time.
type outputTail struct {
	fetch   func(off int64) (io.ReadCloser, error) // nil, nil: nothing there yet
	off     int64                                  // bytes consumed
	partial []byte                                 // a last line without its newline yet
	consume func(line []byte)
}

// poll reads what was added to the output and returns how many bytes.
func (o *outputTail) poll() (int64, error) {
	rc, err := o.fetch(o.off + int64(len(o.partial)))
	if err != nil || rc == nil {
		return 0, err
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 1<<20)
	var n int64
	for {
		line, err := r.ReadSlice('\n')
		n += int64(len(line))
		switch {
		case err == nil:
			if len(o.partial) > 0 {
				line = append(o.partial, line...)
				o.partial = o.partial[:0]
			}
			o.off += int64(len(line))
			o.consume(bytes.TrimSuffix(line, []byte{'\n'}))
		case err == bufio.ErrBufferFull:
			o.partial = append(o.partial, line...)
		case err == io.EOF:
			o.partial = append(o.partial, line...)
			return n, nil
		default:
			return n, err
		}
	}
}

// account is the comparison of what was written with what arrived.
type account struct {
	written, keepable, delivered  int64
	lostKeepable, lostNotKeepable int64
	duplicates                    int64
	notKeepable                   map[string]*[2]int64 // lines not owed, by reason: how many, how many lost
	lostByFate                    map[string]int64     // owed lines lost, by what became of their file
	perStreamLost                 map[int]int64
	firstLostAt, lastLostAt       time.Duration
	examples                      []lostLine // one per file
	// contents counts the lines of each content of a file (between two
	// truncations), how many of them arrived, and how many owed ones did
	// not.
	contents map[content]*[3]int64
	// lostIn lists owed lines lost by the file that holds them (up to
	// maxCheckedLost in all), to check that they are there.
	lostIn  map[*fileHist][]int64
	nLostIn int
}

// maxCheckedLost bounds how many lost lines are looked for on disk.
const maxCheckedLost = 200_000

// content is what a file held between two truncations.
type content struct {
	file *fileHist
	gen  int32
}

type lostLine struct {
	stream int
	seq    int64
	c      chunk
	v      verdict
}

// settle compares the streams' lines with the tally, with the agent's
// time counted until end.
func settle(streams []*stream, t *tally, tl *timeline, end time.Duration, examples int) *account {
	a := &account{notKeepable: map[string]*[2]int64{}, lostByFate: map[string]int64{}, perStreamLost: map[int]int64{},
		lostIn: map[*fileHist][]int64{}, contents: map[content]*[3]int64{}}
	seenFile := map[*fileHist]bool{}
	for _, s := range streams {
		counts := t.counts[s.id]
		for _, c := range s.chunks {
			v := judge(c, tl, end)
			cs := a.contents[content{c.file, c.gen}]
			if cs == nil {
				cs = new([3]int64)
				a.contents[content{c.file, c.gen}] = cs
			}
			for q := c.first; q < c.first+int64(c.n); q++ {
				a.written++
				cs[0]++
				n := int64(counts[q])
				if n > 0 {
					a.delivered++
					a.duplicates += n - 1
					cs[1]++
				}
				if v.keepable {
					a.keepable++
				} else {
					nk := a.notKeepable[v.why]
					if nk == nil {
						nk = new([2]int64)
						a.notKeepable[v.why] = nk
					}
					nk[0]++
					if n == 0 {
						nk[1]++
					}
				}
				switch {
				case n > 0:
				case !v.keepable:
					a.lostNotKeepable++
				default:
					a.lostKeepable++
					cs[2]++
					a.lostByFate[fate(c.file, c.gen)]++
					a.perStreamLost[s.id]++
					if a.lostKeepable == 1 || c.at < a.firstLostAt {
						a.firstLostAt = c.at
					}
					a.lastLostAt = max(a.lastLostAt, c.at)
					if a.nLostIn < maxCheckedLost {
						a.lostIn[v.holder] = append(a.lostIn[v.holder], q)
						a.nLostIn++
					}
					// One example per file, up to the number asked for.
					if len(a.examples) < examples && !seenFile[c.file] {
						seenFile[c.file] = true
						a.examples = append(a.examples, lostLine{s.id, q, c, v})
					}
				}
			}
		}
	}
	return a
}

// owedArrived tells whether every line owed as of end arrived.
func owedArrived(streams []*stream, t *tally, tl *timeline, end time.Duration) bool {
	for _, s := range streams {
		for _, c := range s.chunks {
			if !judge(c, tl, end).keepable {
				continue
			}
			for _, n := range t.counts[s.id][c.first : c.first+int64(c.n)] {
				if n == 0 {
					return false
				}
			}
		}
	}
	return true
}

// fate is what became of the lines of a file's generation gen, in words.
func fate(h *fileHist, gen int32) string {
	switch {
	case int(gen) < len(h.truncs):
		return "copied by copytruncate"
	case strings.HasSuffix(h.name, ".gone"): // e003.12.log.gone
		return "short-lived file renamed out"
	case !matchesPattern(h.name): // s007.log.12
		return "renamed out of the pattern"
	case strings.Count(h.name, ".") == 2: // s007.12.log
		return "renamed within the pattern"
	default: // s007.log
		return "still live at the end"
	}
}

// history describes a lost line: where it was written, what happened to
// its file, and when the agent ran around that time.
func (l lostLine) history(a *account, tl *timeline) string {
	var b strings.Builder
	f := l.c.file
	cs := a.contents[content{f, l.c.gen}]
	fmt.Fprintf(&b, "line %03d:%09d written at %s into file %d of stream %d in %s/ (its %s content, of whose %d lines %d arrived); matched the pattern %s while the agent ran after the write\n",
		l.stream, l.seq, secs(l.c.at), f.id, f.stream, filepath.Base(f.dir), ordinal(int(l.c.gen)+1), cs[0], cs[1], secs(l.v.matched))
	for _, e := range f.events {
		fmt.Fprintf(&b, "    %s %s\n", secs(e.at), e.what)
	}
	if l.v.holder != f {
		fmt.Fprintf(&b, "    now held by the copy %s\n", l.v.holder.name)
	}
	from, to := l.c.at-2*time.Second, l.v.until+2*time.Second
	var runs []string
	for _, s := range tl.spans {
		if s.to > from && s.from < to {
			runs = append(runs, secs(s.from)+"–"+secs(s.to))
		}
	}
	fmt.Fprintf(&b, "    agent running: %s", strings.Join(runs, ", "))
	return b.String()
}

func secs(d time.Duration) string {
	if d == open {
		return "end"
	}
	return fmt.Sprintf("%.3fs", d.Seconds())
}

func ordinal(n int) string {
	switch n {
	case 1:
		return "1st"
	case 2:
		return "2nd"
	case 3:
		return "3rd"
	}
	return fmt.Sprintf("%dth", n)
}

// checkOnDisk checks the harness's own bookkeeping: every owed line found
// lost must be in the file the harness says holds it. It returns how many
// were checked and a description of those that are not there.
func (a *account) checkOnDisk(lines *lineMaker) (checked int, missing []string) {
	for h, seqs := range a.lostIn {
		b, err := os.ReadFile(filepath.Join(h.dir, h.name))
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s: %v", h.name, err))
			continue
		}
		var line []byte
		for _, q := range seqs {
			checked++
			line = lines.appendLine(line[:0], h.stream, q)
			if !bytes.Contains(b, line) {
				missing = append(missing, fmt.Sprintf("%03d:%09d not in %s", h.stream, q, h.name))
			}
		}
	}
	return checked, missing
}

// notKeepableString lists the lines not owed by reason, with how many of
// them did not arrive.
func (a *account) notKeepableString() string {
	var parts []string
	for why, nk := range a.notKeepable {
		parts = append(parts, fmt.Sprintf("%s %d (%d of them lost)", why, nk[0], nk[1]))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// lostContents splits the owed lines lost between those of file contents
// of which no line arrived, and those of contents that partly arrived.
func (a *account) lostContents() (whole, part int64) {
	for _, cs := range a.contents {
		if cs[1] == 0 {
			whole += cs[2]
		} else {
			part += cs[2]
		}
	}
	return whole, part
}

// TestChurnJudge checks the rule of owed lines on hand-made histories.
func TestChurnJudge(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	const end = 10 * time.Second
	// The agent ran 0–2 s, 2.3–2.5 s, 2.6 s–end.
	var tl timeline
	for _, s := range []span{{0, ms(2000)}, {ms(2300), ms(2500)}, {ms(2600), end}} {
		tl.begin(s.from)
		tl.end(s.to)
	}
	require.Equal(t, ms(300), tl.ran(ms(1800), ms(2400)))
	require.Equal(t, ms(300), tl.ran(ms(2200), ms(2700)))

	// file is created at 1 s and renamed out of the pattern at renameAt.
	file := func(renameAt time.Duration) *fileHist {
		h := newFileHist(0, 0, "logs", "s000.log", ms(1000))
		h.renamed(renameAt, renameAt, "s000.log.1")
		return h
	}
	line := func(h *fileHist, at time.Duration) chunk {
		return chunk{n: 1, gen: int32(len(h.truncs)), at: at, file: h}
	}

	// 0.6 s in the pattern while the agent ran: owed.
	v := judge(line(file(ms(1900)), ms(1300)), &tl, end)
	require.True(t, v.keepable, v.why)
	require.Equal(t, ms(600), v.matched)
	// 0.4 s only: written at 1.8, the agent down 2.0–2.3 and 2.5–2.6,
	// renamed at 2.6: 0.2 + 0.2.
	v = judge(line(file(ms(2600)), ms(1800)), &tl, end)
	require.False(t, v.keepable)
	require.Equal(t, ms(400), v.matched)
	// Pieces add up: renamed at 2.7 gives 0.2 + 0.2 + 0.1.
	v = judge(line(file(ms(2700)), ms(1800)), &tl, end)
	require.True(t, v.keepable, v.why)

	// Truncated in place: not owed, however long it matched.
	h := newFileHist(0, 0, "logs", "s000.log", ms(1000))
	c := line(h, ms(1100))
	h.truncated(ms(5000), nil)
	require.Equal(t, "truncated in place", judge(c, &tl, end).why)
	// copytruncate: owed if it matched long enough before the truncation
	// and the copy stays.
	h = newFileHist(0, 0, "logs", "s000.log", ms(1000))
	early, late := line(h, ms(1100)), line(h, ms(4800))
	cp := newFileHist(1, 0, "logs", "s000.log.1", ms(5000))
	h.truncated(ms(5000), cp)
	after := line(h, ms(5100))
	require.True(t, judge(early, &tl, end).keepable)
	require.Equal(t, cp, judge(early, &tl, end).holder)
	require.False(t, judge(late, &tl, end).keepable, "0.2 s before the truncation")
	require.True(t, judge(after, &tl, end).keepable, "the new content, still in the live file")
	cp.removed(ms(9000), "pruned")
	require.Equal(t, "pruned", judge(early, &tl, end).why)
	// Deleted while open.
	h = newFileHist(0, 0, "logs", "s000.log", ms(1000))
	c = line(h, ms(1100))
	h.removed(ms(5000), "deleted while open")
	require.Equal(t, "deleted while open", judge(c, &tl, end).why)
	// Renamed within the pattern: matches until the end.
	h = newFileHist(0, 0, "logs", "s000.log", ms(1000))
	c = line(h, ms(9400))
	h.renamed(ms(9500), ms(9500), "s000.1.log")
	require.True(t, judge(c, &tl, end).keepable)
}
