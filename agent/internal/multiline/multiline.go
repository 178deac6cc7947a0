package multiline

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/wasmtail/wasmtail/agent/internal/config"
)

// ErrContinueOnly is returned by [New] for a ContinuePattern given without a
// StartPattern or an EndPattern: such lines cannot be grouped.
var ErrContinueOnly = errors.New("multiline: ContinuePattern needs a StartPattern or an EndPattern")

// maxTrackedLines bounds how many lines of a pending record are remembered
// one by one, so that the record can still be split into single-line records
// if it turns out to be unmatched. Lines beyond it are delivered as one span.
const maxTrackedLines = 4096

// Span is a finished record, or a discarded range, as file offsets.
type Span struct {
	// Start and End delimit the record's bytes: from its first line's start to
	// its last line's end, excluding the final '\n'. The lines inside keep
	// their '\n' separators.
	Start, End int64
	// Next is the offset just after the record's last '\n': the file is safe
	// up to here once this record is delivered.
	Next int64
	// Discard marks unmatched content dropped in discard mode: deliver
	// nothing, but the offset may advance to Next.
	Discard bool
}

// kind is the grouping rule a Framer applies.
type kind uint8

const (
	kindLine          kind = iota // no pattern: every line is a record
	kindStart                     // StartPattern
	kindStartContinue             // StartPattern + ContinuePattern
	kindStartEnd                  // StartPattern + EndPattern
	kindContinueEnd               // ContinuePattern + EndPattern
	kindEnd                       // EndPattern
	kindJSON                      // Mode JSON
)

var kindNames = [...]string{"line", "start", "start+continue", "start+end", "continue+end", "end", "json"}

func (k kind) String() string { return kindNames[k] }

// Framer groups lines into records. It is not safe for concurrent use; a
// reader owns one Framer per file.
type Framer struct {
	kind              kind
	start, cont, end  *regexp.Regexp
	discard           bool
	track             bool // remember the lines of the pending record
	pending           bool
	recStart          int64
	lastEnd, lastNext int64
	lines             []Span // the pending record's lines, when track

	// JSON mode.
	inObject bool // a '{' was seen: not just blank lines
	depth    int
	inQuote  bool
	escNL    bool // the last line ended in a backslash that escapes its '\n'
}

// New returns a Framer for cfg, with its patterns compiled once. It fails on
// an unknown Mode or UnmatchedContentTreatment, a pattern RE2 cannot compile,
// or a ContinuePattern alone ([ErrContinueOnly]).
func New(cfg config.Multiline) (*Framer, error) {
	f := &Framer{}
	switch t := cfg.UnmatchedContentTreatment; {
	case t == "" || strings.EqualFold(t, "single_line"):
	case strings.EqualFold(t, "discard"):
		f.discard = true
	default:
		return nil, fmt.Errorf("multiline: unknown UnmatchedContentTreatment %q (want single_line or discard)", t)
	}
	switch m := cfg.Mode; {
	case strings.EqualFold(m, "json"):
		f.kind = kindJSON
		f.track = true
		return f, nil
	case m == "" || strings.EqualFold(m, "custom"):
	default:
		return nil, fmt.Errorf("multiline: unknown Mode %q (want custom or JSON)", m)
	}
	if cfg.ContinuePattern != "" && cfg.StartPattern == "" && cfg.EndPattern == "" {
		return nil, ErrContinueOnly
	}
	var err error
	if f.start, err = compile("StartPattern", cfg.StartPattern); err != nil {
		return nil, err
	}
	if f.cont, err = compile("ContinuePattern", cfg.ContinuePattern); err != nil {
		return nil, err
	}
	if f.end, err = compile("EndPattern", cfg.EndPattern); err != nil {
		return nil, err
	}
	switch s, c, e := f.start != nil, f.cont != nil, f.end != nil; {
	case s && e:
		f.kind, f.cont = kindStartEnd, nil // LoongCollector ignores Continue here
	case s && c:
		f.kind = kindStartContinue
	case s:
		f.kind = kindStart
	case c && e:
		f.kind = kindContinueEnd
	case e:
		f.kind = kindEnd
	default: // no pattern left, or Continue with a Start that was only ".*"
		f.kind, f.cont = kindLine, nil
	}
	f.track = f.end != nil
	return f, nil
}

// compile compiles a pattern as LoongCollector runs it: anchored at the start
// of the line but not at its end, without a trailing "$" or ".*". It returns
// nil for a pattern that is empty after that.
func compile(name, pattern string) (*regexp.Regexp, error) {
	p := trimPattern(pattern)
	if p == "" {
		return nil, nil
	}
	re, err := regexp.Compile(`^(?:` + p + `)`)
	if err != nil {
		return nil, fmt.Errorf("multiline: %s %q: %w", name, pattern, err)
	}
	return re, nil
}

// trimPattern drops one trailing "$", then every trailing ".*", as
// LoongCollector's MultilineOptions::ParseRegex does; an escaped "\$" or "\.*"
// is kept (LoongCollector would break the pattern there).
func trimPattern(p string) string {
	if strings.HasSuffix(p, "$") && unescaped(p, len(p)-1) {
		p = p[:len(p)-1]
	}
	for strings.HasSuffix(p, ".*") && unescaped(p, len(p)-2) {
		p = p[:len(p)-2]
	}
	return p
}

// unescaped reports whether p[i] is preceded by an even number of backslashes.
func unescaped(p string, i int) bool {
	n := 0
	for i > 0 && p[i-1] == '\\' {
		n++
		i--
	}
	return n%2 == 0
}

// Line feeds one complete line: line is its bytes (no '\n'), start its
// offset, next the offset after its '\n'. Finished records (and discarded
// ranges) are appended to out, which is returned. line is not retained.
func (f *Framer) Line(line []byte, start, next int64, out []Span) []Span {
	end := start + int64(len(line))
	switch f.kind {
	case kindLine:
		return append(out, Span{Start: start, End: end, Next: next})

	case kindStart:
		switch {
		case f.start.Match(line):
			out = f.emit(out)
			f.begin(start, end, next)
		case f.pending:
			f.extend(start, end, next)
		default:
			out = f.unmatchedLine(out, start, end, next)
		}

	case kindStartContinue:
		if f.pending {
			if f.cont.Match(line) {
				f.extend(start, end, next)
				return out
			}
			out = f.emit(out)
		}
		if f.start.Match(line) {
			f.begin(start, end, next)
		} else {
			out = f.unmatchedLine(out, start, end, next)
		}

	case kindStartEnd:
		// The start line itself is not tested against the end pattern.
		if !f.pending {
			if f.start.Match(line) {
				f.begin(start, end, next)
			} else {
				out = f.unmatchedLine(out, start, end, next)
			}
			return out
		}
		f.extend(start, end, next)
		if f.end.Match(line) {
			out = f.emit(out)
		}

	case kindContinueEnd:
		if !f.pending {
			switch {
			case f.cont.Match(line):
				f.begin(start, end, next)
			case f.end.Match(line):
				out = append(out, Span{Start: start, End: end, Next: next})
			default:
				out = f.unmatchedLine(out, start, end, next)
			}
			return out
		}
		f.extend(start, end, next)
		switch {
		case f.cont.Match(line):
		case f.end.Match(line):
			out = f.emit(out)
		default:
			out = f.unmatched(out)
		}

	case kindEnd:
		if f.pending {
			f.extend(start, end, next)
		} else {
			f.begin(start, end, next)
		}
		if f.end.Match(line) {
			out = f.emit(out)
		}

	case kindJSON:
		out = f.jsonLine(line, start, end, next, out)
	}
	return out
}

// jsonLine is Line in the JSON mode.
func (f *Framer) jsonLine(line []byte, start, end, next int64, out []Span) []Span {
	i := 0
	if !f.inObject {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == 0) {
			i++
		}
		if i == len(line) {
			// A blank line: kept in front of the object that may follow.
			if f.pending {
				f.extend(start, end, next)
			} else {
				f.begin(start, end, next)
			}
			if len(f.lines) >= maxTrackedLines {
				out = f.unmatched(out)
			}
			return out
		}
		if line[i] != '{' {
			out = f.unmatched(out) // the blank lines before it
			return f.unmatchedLine(out, start, end, next)
		}
		f.inObject = true
	}
	if f.pending {
		f.extend(start, end, next)
	} else {
		f.begin(start, end, next)
	}
	f.escNL = false
	for ; i < len(line); i++ {
		switch line[i] {
		case '{':
			if !f.inQuote {
				f.depth++
			}
		case '}':
			if !f.inQuote {
				f.depth--
				if f.depth < 0 {
					return f.unmatched(out) // an extra '}': not an object
				}
			}
		case '"':
			f.inQuote = !f.inQuote
		case '\\':
			if i++; i == len(line) {
				f.escNL = true
			}
		}
	}
	if f.depth == 0 && !f.escNL {
		out = f.emit(out)
	}
	return out
}

// begin starts a pending record with one line.
func (f *Framer) begin(start, end, next int64) {
	f.pending = true
	f.recStart = start
	f.extend(start, end, next)
}

// extend adds a line to the pending record.
func (f *Framer) extend(start, end, next int64) {
	f.lastEnd, f.lastNext = end, next
	if f.track && len(f.lines) < maxTrackedLines {
		f.lines = append(f.lines, Span{Start: start, End: end, Next: next})
	}
}

// emit appends the pending record, if any, as a matched record.
func (f *Framer) emit(out []Span) []Span {
	if f.pending {
		out = append(out, Span{Start: f.recStart, End: f.lastEnd, Next: f.lastNext})
		f.clear()
	}
	return out
}

// unmatched appends the pending record, if any, as unmatched content: one
// discarded range, or one record per line.
func (f *Framer) unmatched(out []Span) []Span {
	if !f.pending {
		return out
	}
	switch n := len(f.lines); {
	case f.discard:
		out = append(out, Span{Start: f.recStart, End: f.lastEnd, Next: f.lastNext, Discard: true})
	case n == 0:
		out = append(out, Span{Start: f.recStart, End: f.lastEnd, Next: f.lastNext})
	default:
		out = append(out, f.lines...)
		if rest := f.lines[n-1].Next; rest < f.lastNext { // lines past maxTrackedLines
			out = append(out, Span{Start: rest, End: f.lastEnd, Next: f.lastNext})
		}
	}
	f.clear()
	return out
}

// unmatchedLine appends one unmatched line outside any record.
func (f *Framer) unmatchedLine(out []Span, start, end, next int64) []Span {
	return append(out, Span{Start: start, End: end, Next: next, Discard: f.discard})
}

// clear forgets the pending record.
func (f *Framer) clear() {
	f.pending = false
	f.lines = f.lines[:0]
	f.inObject, f.depth, f.inQuote, f.escNL = false, 0, false, false
}

// Pending returns the start offset of the record being built and true, if
// any: the reader keeps the file bytes from there (it cannot release them
// yet).
func (f *Framer) Pending() (int64, bool) {
	return f.recStart, f.pending
}

// Flush finishes the pending record as it is (flush timeout, end of a rotated
// file, too much pending data) and appends it to out. A record that needs no
// end line (Start only, Start + Continue) is delivered; one still waiting for
// its end line or its closing brace (End patterns, JSON) is unmatched content
// and follows UnmatchedContentTreatment. Flush may be called at any time.
func (f *Framer) Flush(out []Span) []Span {
	if f.kind == kindStart || f.kind == kindStartContinue {
		return f.emit(out)
	}
	return f.unmatched(out)
}

// Reset forgets all state (file truncated or replaced).
func (f *Framer) Reset() {
	f.clear()
	f.recStart, f.lastEnd, f.lastNext = 0, 0, 0
	if cap(f.lines) > 256 {
		f.lines = nil
	}
}
