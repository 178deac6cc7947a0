package multiline

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/config"
)

// lines joins lines with '\n', ending with one.
func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

// feed feeds text line by line (a last line without '\n' too, as at the end
// of a rotated file) and returns the records delivered by the lines and then
// by a final Flush, as strings sliced out of text. Discarded ranges are not
// records; every span is checked against the coverage invariants.
func feed(t *testing.T, f *Framer, text string) (got, flushed []string) {
	t.Helper()
	var spans []Span
	for off := 0; off < len(text); {
		n := strings.IndexByte(text[off:], '\n')
		end, next := off+n, off+n+1
		if n < 0 {
			end, next = len(text), len(text)
		}
		spans = f.Line([]byte(text[off:end]), int64(off), int64(next), spans)
		off = next
	}
	beforeFlush := len(spans)
	spans = f.Flush(spans)
	checkSpans(t, text, spans)
	_, pending := f.Pending()
	assert.False(t, pending, "pending after Flush")
	for i, s := range spans {
		if s.Discard {
			continue
		}
		if i < beforeFlush {
			got = append(got, text[s.Start:s.End])
		} else {
			flushed = append(flushed, text[s.Start:s.End])
		}
	}
	return got, flushed
}

// checkSpans asserts that spans are in order and cover every byte of text
// exactly once with their [Start, Next) ranges.
func checkSpans(t testing.TB, text string, spans []Span) {
	t.Helper()
	var at int64
	for i, s := range spans {
		if s.Start != at || s.End < s.Start || s.Next < s.End || s.Next > int64(len(text)) {
			t.Fatalf("span %d = %+v: got start %d, want %d, with start <= end <= next <= %d", i, s, s.Start, at, len(text))
		}
		if s.Next > s.End && (s.Next != s.End+1 || text[s.End] != '\n') {
			t.Fatalf("span %d = %+v: bytes between end and next are %q, want the final \"\\n\"", i, s, text[s.End:s.Next])
		}
		at = s.Next
	}
	if at != int64(len(text)) {
		t.Fatalf("spans cover [0, %d), want [0, %d)", at, len(text))
	}
}

// Lines from LoongCollector's ProcessorSplitMultilineLogStringNativeUnittest.
const (
	lcBegin       = "Exception in thread 'main' java.lang.NullPointerException"
	lcBeginRegex  = `Exception.*`
	lcCont        = "    at com.example.myproject.Book.getTitle(Book.java:16)"
	lcContRegex   = `\s+at\s.*`
	lcEnd         = "    ...23 more"
	lcEndRegex    = `\s*\.\.\.\d+ more`
	lcUnmatch     = "unmatch log"
	single        = "single_line"
	discard       = "discard"
	javaStart     = `\[\d+-\d+-\w+:\d+:\d+.\d+]\s\[\w+]\s.*`
	docStartRegex = `\[\d+-\d+-\w+:\d+:\d+.\d+].*Exception.*`
	docEndRegex   = `.*\.\.\. \d+ more`
)

func TestFramer(t *testing.T) {
	const (
		B, C, E, U = lcBegin, lcCont, lcEnd, lcUnmatch
	)
	sc := func(treat string) config.Multiline {
		return config.Multiline{StartPattern: lcBeginRegex, ContinuePattern: lcContRegex, UnmatchedContentTreatment: treat}
	}
	se := func(treat string) config.Multiline {
		return config.Multiline{StartPattern: lcBeginRegex, EndPattern: lcEndRegex, UnmatchedContentTreatment: treat}
	}
	s := func(treat string) config.Multiline {
		return config.Multiline{StartPattern: lcBeginRegex, UnmatchedContentTreatment: treat}
	}
	ce := func(treat string) config.Multiline {
		return config.Multiline{ContinuePattern: lcContRegex, EndPattern: lcEndRegex, UnmatchedContentTreatment: treat}
	}
	e := func(treat string) config.Multiline {
		return config.Multiline{EndPattern: lcEndRegex, UnmatchedContentTreatment: treat}
	}
	join := func(ls ...string) string { return strings.Join(ls, "\n") }
	docJava := lines(
		"[2022-07-07T10:43:27.360266763] [INFO] java.lang.Exception: exception happened",
		"    at com.aliyun.sls.devops.logGenerator.type.RegexMultiLog.f2(RegexMultiLog.java:108)",
		"    at java.base/java.lang.Thread.run(Thread.java:833)",
	)
	docComplex := []string{
		"[2022-07-07T10:43:27.360266763] [ERROR] java.lang.Exception: exception happened",
		"[2022-07-07T10:43:27.360266763]    at com.aliyun.sls.devops.logGenerator.type.RegexMultiLog.f2(RegexMultiLog.java:108)",
		"[2022-07-07T10:43:27.360266763]    at java.base/java.lang.Thread.run(Thread.java:833)",
		"[2022-07-07T10:43:27.360266763]    ... 23 more",
		"[2022-07-07T10:43:27.360266763] Some user custom log",
		"[2022-07-07T10:43:27.360266763] Some user custom log",
		"[2022-07-07T10:43:27.360266763] [ERROR] java.lang.Exception: exception happened",
	}
	jsonMode := func(treat string) config.Multiline {
		return config.Multiline{Mode: "JSON", UnmatchedContentTreatment: treat}
	}
	lcFirst := "{\n    \"key\": \"first value\"\n}"
	lcSecond := "{\n    \"key\": {\n        \"nested_key\": \"second value\"\n    }\n}"

	tests := []struct {
		name    string
		cfg     config.Multiline
		in      string
		want    []string // delivered as the lines arrive
		flushed []string // delivered by the final Flush
	}{
		// The doc examples (input-file.md).
		{name: "doc/java exception, start only", cfg: config.Multiline{StartPattern: javaStart}, in: docJava,
			flushed: []string{strings.TrimSuffix(docJava, "\n")}},
		{name: "doc/java exception then next start", cfg: config.Multiline{StartPattern: javaStart},
			in:      docJava + "[2022-07-07T10:43:28.1] [INFO] next\n",
			want:    []string{strings.TrimSuffix(docJava, "\n")},
			flushed: []string{"[2022-07-07T10:43:28.1] [INFO] next"}},
		{name: "doc/start and end", cfg: config.Multiline{StartPattern: docStartRegex, EndPattern: docEndRegex},
			in:      lines(docComplex...),
			want:    []string{join(docComplex[:4]...), docComplex[4], docComplex[5]},
			flushed: []string{docComplex[6]}},

		// LoongCollector unit tests, discard: start + continue.
		{name: "sc/discard/unmatch unmatch", cfg: sc(discard), in: lines(U, U)},
		{name: "sc/discard/start unmatch", cfg: sc(discard), in: lines(B, U), want: []string{B}},
		{name: "sc/discard/unmatch start cont cont unmatch", cfg: sc(discard), in: lines(U, B, C, C, U),
			want: []string{join(B, C, C)}},
		{name: "sc/discard/unmatch start start", cfg: sc(discard), in: lines(U, B, B),
			want: []string{B}, flushed: []string{B}},
		{name: "sc/discard/unmatch start cont cont", cfg: sc(discard), in: lines(U, B, C, C),
			flushed: []string{join(B, C, C)}},
		{name: "sc/discard/cont", cfg: sc(discard), in: lines(C)},
		// start + continue, single_line.
		{name: "sc/single/unmatch unmatch", cfg: sc(single), in: lines(U, U), want: []string{U, U}},
		{name: "sc/single/start unmatch", cfg: sc(single), in: lines(B, U), want: []string{B, U}},
		{name: "sc/single/unmatch start cont cont unmatch", cfg: sc(single), in: lines(U, B, C, C, U),
			want: []string{U, join(B, C, C), U}},
		{name: "sc/single/cont", cfg: sc(single), in: lines(C), want: []string{C}},

		// start + end, discard.
		{name: "se/discard/unmatch unmatch", cfg: se(discard), in: lines(U, U)},
		{name: "se/discard/unmatch start unmatch", cfg: se(discard), in: lines(U, B, U)},
		{name: "se/discard/unmatch start end unmatch", cfg: se(discard), in: lines(U, B, E, U),
			want: []string{join(B, E)}},
		{name: "se/discard/start start", cfg: se(discard), in: lines(B, B)},
		{name: "se/discard/unmatch start end", cfg: se(discard), in: lines(U, B, E), want: []string{join(B, E)}},
		{name: "se/discard/unmatch start unmatch end unmatch", cfg: se(discard), in: lines(U, B, U, E, U),
			want: []string{join(B, U, E)}},
		// start + end, single_line.
		{name: "se/single/unmatch start unmatch", cfg: se(single), in: lines(U, B, U),
			want: []string{U}, flushed: []string{B, U}},
		{name: "se/single/start start", cfg: se(single), in: lines(B, B), flushed: []string{B, B}},
		{name: "se/single/unmatch start end unmatch", cfg: se(single), in: lines(U, B, E, U),
			want: []string{U, join(B, E), U}},
		{name: "se/start line is not tested for the end", cfg: config.Multiline{StartPattern: "S", EndPattern: ".*E"},
			in: lines("S1 E", "S2 E"), want: []string{join("S1 E", "S2 E")}},
		{name: "sce/continue is ignored with start and end",
			cfg: config.Multiline{StartPattern: lcBeginRegex, ContinuePattern: lcContRegex, EndPattern: lcEndRegex},
			in:  lines(B, U, C, E), want: []string{join(B, U, C, E)}},

		// start only, discard.
		{name: "s/discard/unmatch start", cfg: s(discard), in: lines(U, B), flushed: []string{B}},
		{name: "s/discard/unmatch", cfg: s(discard), in: lines(U)},
		{name: "s/discard/start start", cfg: s(discard), in: lines(B, B), want: []string{B}, flushed: []string{B}},
		{name: "s/discard/start unmatch", cfg: s(discard), in: lines(B, U), flushed: []string{join(B, U)}},
		{name: "s/discard/unmatch start unmatch unmatch", cfg: s(discard), in: lines(U, B, U, U),
			flushed: []string{join(B, U, U)}},
		// start only, single_line: unmatched content before the first start.
		{name: "s/single/unmatch unmatch start", cfg: s(single), in: lines(U, U, B),
			want: []string{U, U}, flushed: []string{B}},

		// continue + end, discard.
		{name: "ce/discard/unmatch", cfg: ce(discard), in: lines(U)},
		{name: "ce/discard/cont unmatch", cfg: ce(discard), in: lines(C, U)},
		{name: "ce/discard/cont cont end", cfg: ce(discard), in: lines(C, C, E), want: []string{join(C, C, E)}},
		{name: "ce/discard/cont", cfg: ce(discard), in: lines(C)},
		{name: "ce/discard/end", cfg: ce(discard), in: lines(E), want: []string{E}},
		// continue + end, single_line.
		{name: "ce/single/cont unmatch", cfg: ce(single), in: lines(C, U), want: []string{C, U}},
		{name: "ce/single/cont cont", cfg: ce(single), in: lines(C, C), flushed: []string{C, C}},
		{name: "ce/single/unmatch cont end end", cfg: ce(single), in: lines(U, C, E, E),
			want: []string{U, join(C, E), E}},

		// end only.
		{name: "e/discard/end", cfg: e(discard), in: lines(E), want: []string{E}},
		{name: "e/discard/unmatch", cfg: e(discard), in: lines(U)},
		{name: "e/discard/unmatch end unmatch", cfg: e(discard), in: lines(U, E, U), want: []string{join(U, E)}},
		{name: "e/single/unmatch end unmatch unmatch", cfg: e(single), in: lines(U, E, U, U),
			want: []string{join(U, E)}, flushed: []string{U, U}},
		{name: "e/single/end end", cfg: e(single), in: lines(E, E), want: []string{E, E}},

		// Pattern semantics: anchored at the line start, not at its end.
		{name: "regex/prefix match", cfg: config.Multiline{StartPattern: `\d{4}-\d{2}-\d{2}`},
			in:      lines("2024-01-02 first", "  detail", "x 2024-01-02 not a start", "2024-01-03 second"),
			want:    []string{join("2024-01-02 first", "  detail", "x 2024-01-02 not a start")},
			flushed: []string{"2024-01-03 second"}},
		{name: "regex/trailing dollar is dropped", cfg: config.Multiline{StartPattern: `start$`},
			in: lines("start here", "more", "start"), want: []string{join("start here", "more")},
			flushed: []string{"start"}},
		{name: "regex/escaped dollar is kept", cfg: config.Multiline{StartPattern: `cost \$`},
			in: lines("cost $", "cost 5", "cost $5"), want: []string{join("cost $", "cost 5")},
			flushed: []string{"cost $5"}},
		{name: "regex/alternation is anchored as a whole", cfg: config.Multiline{StartPattern: `a|b`},
			in: lines("a1", "xb", "b2"), want: []string{join("a1", "xb")}, flushed: []string{"b2"}},
		{name: "no pattern/every line a record", cfg: config.Multiline{},
			in: lines("one", "", "two"), want: []string{"one", "", "two"}},
		{name: "start .* alone/every line a record", cfg: config.Multiline{StartPattern: `.*`},
			in: lines("one", "two"), want: []string{"one", "two"}},
		{name: "last line without newline", cfg: s(single), in: B + "\n" + C,
			flushed: []string{join(B, C)}},

		// JSON mode.
		{name: "json/one object per line", cfg: jsonMode(""),
			in:   lines(`{"key": "first value"}`, `{"key": "second value"}`, `{"key": "third value"}`),
			want: []string{`{"key": "first value"}`, `{"key": "second value"}`, `{"key": "third value"}`}},
		{name: "json/nested multiline", cfg: jsonMode(""), in: lcFirst + "\n" + lcSecond + "\n",
			want: []string{lcFirst, lcSecond}},
		{name: "json/braces in strings", cfg: jsonMode(""),
			in:   lines(`{"msg": "a } b {{",`, `"x": "}"}`, `{"y": 1}`),
			want: []string{join(`{"msg": "a } b {{",`, `"x": "}"}`), `{"y": 1}`}},
		{name: "json/escaped quotes", cfg: jsonMode(""),
			in:   lines(`{"msg": "say \"}\" now",`, `"k": "\\"}`, `{"z": "\"{"}`),
			want: []string{join(`{"msg": "say \"}\" now",`, `"k": "\\"}`), `{"z": "\"{"}`}},
		{name: "json/leading spaces and tabs", cfg: jsonMode(""), in: lines(" \t{\"a\": 1}"),
			want: []string{" \t{\"a\": 1}"}},
		{name: "json/text after the closing brace", cfg: jsonMode(""), in: lines(`{"a": 1} trailing`),
			want: []string{`{"a": 1} trailing`}},
		{name: "json/garbage between objects single_line", cfg: jsonMode(single),
			in:   lines(`{"a": 1}`, "not a json at all.", "{", `"b": 2`, "}", "also not"),
			want: []string{`{"a": 1}`, "not a json at all.", join("{", `"b": 2`, "}"), "also not"}},
		{name: "json/garbage between objects discard", cfg: jsonMode(discard),
			in:   lines(`{"a": 1}`, "not a json at all.", "{", `"b": 2`, "}", "also not"),
			want: []string{`{"a": 1}`, join("{", `"b": 2`, "}")}},
		{name: "json/object then garbage", cfg: jsonMode(""), in: lcSecond + "\nnot a json at all.\nnot a json at all.\n",
			want: []string{lcSecond, "not a json at all.", "not a json at all."}},
		{name: "json/partial object flushed line by line", cfg: jsonMode(""),
			in:      "not a json at all.\nnot a json at all.\n{partial json\n",
			want:    []string{"not a json at all.", "not a json at all."},
			flushed: []string{"{partial json"}},
		{name: "json/truncated nested object flushed", cfg: jsonMode(""),
			in:      lcFirst + "\n{\n    \"key\": {\n        \"nested_key\": \"second value\"\n    }\n",
			want:    []string{lcFirst},
			flushed: []string{"{", `    "key": {`, `        "nested_key": "second value"`, "    }"}},
		{name: "json/truncated object discarded", cfg: jsonMode(discard), in: lines("{", `"a": 1`)},
		{name: "json/extra closing brace", cfg: jsonMode(""), in: lines(`{"a": 1}}`, `{"b": 2}`),
			want: []string{`{"a": 1}}`, `{"b": 2}`}},
		{name: "json/extra closing brace on a later line", cfg: jsonMode(""), in: lines("{", "}}", `{"b": 2}`),
			want: []string{"{", "}}", `{"b": 2}`}},
		{name: "json/blank lines join the next object", cfg: jsonMode(""), in: lines(`{"a": 1}`, "", "  ", `{"b": 2}`),
			want: []string{`{"a": 1}`, join("", "  ", `{"b": 2}`)}},
		{name: "json/blank lines before garbage", cfg: jsonMode(""), in: lines("", "garbage"),
			want: []string{"", "garbage"}},
		{name: "json/trailing blank line flushed", cfg: jsonMode(""), in: lines(`{"a": 1}`, ""),
			want: []string{`{"a": 1}`}, flushed: []string{""}},
		{name: "json/backslash escapes the newline", cfg: jsonMode(""), in: lines(`{"a": 1}\`, `{"b": 2}`),
			want: []string{join(`{"a": 1}\`, `{"b": 2}`)}},
		{name: "json/lower-case mode", cfg: config.Multiline{Mode: "json"}, in: lines("{", "}"),
			want: []string{join("{", "}")}},
		{name: "json/patterns are ignored", cfg: config.Multiline{Mode: "JSON", StartPattern: "x"},
			in: lines(`{"a": 1}`), want: []string{`{"a": 1}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(tt.cfg)
			require.NoError(t, err)
			got, flushed := feed(t, f, tt.in)
			assert.Equal(t, tt.want, got, "records delivered by Line")
			assert.Equal(t, tt.flushed, flushed, "records delivered by Flush")
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     config.Multiline
		wantErr string
	}{
		{name: "continue alone", cfg: config.Multiline{ContinuePattern: `\s+at`}, wantErr: "ContinuePattern needs"},
		{name: "bad start pattern", cfg: config.Multiline{StartPattern: `(unclosed`}, wantErr: "StartPattern"},
		{name: "look-ahead is not RE2", cfg: config.Multiline{EndPattern: `x(?=y)`}, wantErr: "EndPattern"},
		{name: "unknown mode", cfg: config.Multiline{Mode: "JSNO"}, wantErr: `unknown Mode "JSNO"`},
		{name: "unknown treatment", cfg: config.Multiline{StartPattern: "x", UnmatchedContentTreatment: "single-line"},
			wantErr: `unknown UnmatchedContentTreatment "single-line"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(tt.cfg)
			require.Error(t, err)
			assert.Nil(t, f)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
	_, err := New(config.Multiline{ContinuePattern: "x"})
	assert.ErrorIs(t, err, ErrContinueOnly)
}

func TestNewKind(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.Multiline
		want kind
	}{
		{name: "empty", cfg: config.Multiline{}, want: kindLine},
		{name: "custom mode any case", cfg: config.Multiline{Mode: "Custom", StartPattern: "a"}, want: kindStart},
		{name: "start continue", cfg: config.Multiline{StartPattern: "a", ContinuePattern: "b"}, want: kindStartContinue},
		{name: "start end", cfg: config.Multiline{StartPattern: "a", EndPattern: "c"}, want: kindStartEnd},
		{name: "all three", cfg: config.Multiline{StartPattern: "a", ContinuePattern: "b", EndPattern: "c"}, want: kindStartEnd},
		{name: "continue end", cfg: config.Multiline{ContinuePattern: "b", EndPattern: "c"}, want: kindContinueEnd},
		{name: "end", cfg: config.Multiline{EndPattern: "c"}, want: kindEnd},
		{name: "start .* and end is end only", cfg: config.Multiline{StartPattern: ".*", EndPattern: "c"}, want: kindEnd},
		{name: "json", cfg: config.Multiline{Mode: "JSON"}, want: kindJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(tt.cfg)
			require.NoError(t, err)
			assert.Equal(t, tt.want, f.kind, "got %v, want %v", f.kind, tt.want)
		})
	}
}

func TestTrimPattern(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: `abc`, want: `abc`},
		{in: `abc.*`, want: `abc`},
		{in: `abc.*.*`, want: `abc`},
		{in: `abc.*$`, want: `abc`},
		{in: `abc$`, want: `abc`},
		{in: `abc\$`, want: `abc\$`},
		{in: `abc\\$`, want: `abc\\`},
		{in: `abc\.*`, want: `abc\.*`},
		{in: `abc\\.*`, want: `abc\\`},
		{in: `.*`, want: ``},
		{in: `abc.*?`, want: `abc.*?`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, trimPattern(tt.in))
		})
	}
}

func TestPending(t *testing.T) {
	f, err := New(config.Multiline{StartPattern: "S"})
	require.NoError(t, err)
	_, ok := f.Pending()
	assert.False(t, ok, "pending before any line")

	out := f.Line([]byte("junk"), 0, 5, nil)
	_, ok = f.Pending()
	assert.False(t, ok, "pending after an unmatched line")
	out = f.Line([]byte("S1"), 5, 8, out)
	out = f.Line([]byte(" c"), 8, 11, out)
	at, ok := f.Pending()
	assert.True(t, ok)
	assert.Equal(t, int64(5), at)
	assert.Equal(t, []Span{{Start: 0, End: 4, Next: 5}}, out)

	out = f.Line([]byte("S2"), 11, 14, out[:0])
	assert.Equal(t, []Span{{Start: 5, End: 10, Next: 11}}, out)
	at, ok = f.Pending()
	assert.True(t, ok)
	assert.Equal(t, int64(11), at)

	// Flush in the middle of the stream, then go on.
	out = f.Flush(out[:0])
	assert.Equal(t, []Span{{Start: 11, End: 13, Next: 14}}, out)
	_, ok = f.Pending()
	assert.False(t, ok)
	assert.Empty(t, f.Flush(nil), "a second Flush has nothing to deliver")

	out = f.Line([]byte("S3"), 14, 17, out[:0])
	f.Reset()
	_, ok = f.Pending()
	assert.False(t, ok, "pending after Reset")
	out = f.Line([]byte("S4"), 0, 3, out)
	assert.Equal(t, []Span{{Start: 0, End: 2, Next: 3}}, f.Flush(out[:0]))
}

func TestResetJSON(t *testing.T) {
	f, err := New(config.Multiline{Mode: "JSON"})
	require.NoError(t, err)
	out := f.Line([]byte(`{"a": "open`), 0, 12, nil)
	assert.Empty(t, out)
	f.Reset()
	out = f.Line([]byte(`{"b": 1}`), 0, 9, out)
	assert.Equal(t, []Span{{Start: 0, End: 8, Next: 9}}, out, "no quote or depth state survives Reset")
}

// TestManyUnmatchedLines checks that a pending record longer than
// maxTrackedLines still covers all its bytes when it is unmatched.
func TestManyUnmatchedLines(t *testing.T) {
	f, err := New(config.Multiline{EndPattern: "END"})
	require.NoError(t, err)
	var b strings.Builder
	for i := 0; i < maxTrackedLines+10; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	_, flushed := feed(t, f, b.String())
	require.Len(t, flushed, maxTrackedLines+1)
	assert.Equal(t, "line 0", flushed[0])
	assert.Equal(t, "line 4096\nline 4097\nline 4098\nline 4099\nline 4100\nline 4101\nline 4102\nline 4103\nline 4104\nline 4105",
		flushed[maxTrackedLines])
}

// benchConfigs are the modes measured by the allocation test and the
// benchmarks, with a log that exercises them.
var benchConfigs = []struct {
	name string
	cfg  config.Multiline
	log  string
}{
	{name: "start", cfg: config.Multiline{StartPattern: javaStart}, log: javaLog},
	{name: "start+continue", cfg: config.Multiline{StartPattern: javaStart, ContinuePattern: `\s+(at|\.\.\.)\s.*`}, log: javaLog},
	{name: "start+end", cfg: config.Multiline{StartPattern: javaStart, EndPattern: `\s+\.\.\. \d+ more`}, log: javaLog},
	{name: "continue+end", cfg: config.Multiline{ContinuePattern: `\[\d+-\d+-\w+:\d+:\d+.\d+]\s\[\w+]\s.*|\s+at\s.*`, EndPattern: `\s+\.\.\. \d+ more`}, log: javaLog},
	{name: "end", cfg: config.Multiline{EndPattern: `\s+\.\.\. \d+ more`}, log: javaLog},
	{name: "json", cfg: config.Multiline{Mode: "JSON"}, log: jsonLog},
	{name: "none", cfg: config.Multiline{}, log: javaLog},
}

const javaLog = `[2022-07-07T10:43:27.360266763] [INFO] started
[2022-07-07T10:43:27.360266763] [ERROR] java.lang.Exception: exception happened
    at com.aliyun.sls.devops.logGenerator.type.RegexMultiLog.f2(RegexMultiLog.java:108)
    at com.aliyun.sls.devops.logGenerator.type.RegexMultiLog.f1(RegexMultiLog.java:90)
    at java.base/java.lang.Thread.run(Thread.java:833)
    ... 23 more
[2022-07-07T10:43:27.360266763] [INFO] request served in 12 ms
`

const jsonLog = `{"level": "info", "msg": "started"}
{
    "level": "error",
    "msg": "a \"quoted\" {brace}",
    "ctx": {"user": "u1", "tags": ["a", "b"]}
}
{"level": "info", "msg": "served", "ms": 12}
`

// splitLines returns the lines of log with their offsets.
func splitLines(log string) (ls [][]byte, starts, nexts []int64) {
	b := []byte(log)
	for off := 0; off < len(b); {
		n := bytes.IndexByte(b[off:], '\n')
		ls = append(ls, b[off:off+n])
		starts = append(starts, int64(off))
		nexts = append(nexts, int64(off+n+1))
		off += n + 1
	}
	return ls, starts, nexts
}

func TestZeroAllocsPerLine(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful with -race")
	}
	for _, bc := range benchConfigs {
		t.Run(bc.name, func(t *testing.T) {
			f, err := New(bc.cfg)
			require.NoError(t, err)
			ls, starts, nexts := splitLines(bc.log)
			out := make([]Span, 0, 64)
			var base int64
			pass := func() {
				out = out[:0]
				for i, l := range ls {
					out = f.Line(l, base+starts[i], base+nexts[i], out)
				}
				base += int64(len(bc.log))
			}
			pass() // warm up: grow the tracked-lines slice
			allocs := testing.AllocsPerRun(100, pass)
			assert.Zero(t, allocs, "got %v allocations per pass, want 0", allocs)
		})
	}
}

func BenchmarkFramer(b *testing.B) {
	for _, bc := range benchConfigs {
		b.Run(bc.name, func(b *testing.B) {
			f, err := New(bc.cfg)
			require.NoError(b, err)
			ls, starts, nexts := splitLines(bc.log)
			out := make([]Span, 0, 64)
			var base int64
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.log)))
			b.ResetTimer()
			for range b.N {
				out = out[:0]
				for i, l := range ls {
					out = f.Line(l, base+starts[i], base+nexts[i], out)
				}
				base += int64(len(bc.log))
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ls)), "ns/line")
		})
	}
}

// fuzzConfigs are the configurations the fuzz target picks from: small
// patterns over the letters the fuzzer is likely to produce.
var fuzzConfigs = []config.Multiline{
	{},
	{StartPattern: `a.*`},
	{StartPattern: `a`, ContinuePattern: `b`},
	{StartPattern: `a`, EndPattern: `.*c`},
	{ContinuePattern: `b`, EndPattern: `.*c`},
	{EndPattern: `.*c$`},
	{StartPattern: `a`, ContinuePattern: `b`, EndPattern: `c`},
	{Mode: "JSON"},
}

func FuzzFramer(f *testing.F) {
	f.Add([]byte("a1\nb\nx\na2\nc\n"), uint8(1), false, uint8(0))
	f.Add([]byte("b\nb\nc\nx\nc"), uint8(4), true, uint8(3))
	f.Add([]byte("{\"a\":\n\"}\\\"{\"}\n\n{}}\nx\n{\n"), uint8(7), false, uint8(2))
	f.Add([]byte(lines(lcUnmatch, lcBegin, lcCont, lcEnd)), uint8(3), true, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8, drop bool, flushEvery uint8) {
		cfg := fuzzConfigs[int(mode)%len(fuzzConfigs)]
		if drop {
			cfg.UnmatchedContentTreatment = discard
		}
		fr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var spans []Span
		var fed int64
		for off, n := 0, 0; off < len(data); n++ {
			i := bytes.IndexByte(data[off:], '\n')
			end, next := off+i, off+i+1
			if i < 0 {
				end, next = len(data), len(data)
			}
			spans = fr.Line(data[off:end], int64(off), int64(next), spans)
			fed = int64(next)
			off = next
			if flushEvery > 0 && n%int(flushEvery) == 0 {
				spans = fr.Flush(spans)
			}
			// Everything before the pending record is delivered, and nothing after it.
			covered := int64(0)
			if len(spans) > 0 {
				covered = spans[len(spans)-1].Next
			}
			if at, ok := fr.Pending(); ok {
				if at != covered {
					t.Fatalf("pending from %d, want %d (end of the delivered spans)", at, covered)
				}
			} else if covered != fed {
				t.Fatalf("nothing pending but spans cover [0, %d), want [0, %d)", covered, fed)
			}
		}
		spans = fr.Flush(spans)
		checkSpans(t, string(data), spans)
		if _, ok := fr.Pending(); ok {
			t.Fatal("pending after Flush")
		}
		if !drop {
			for i, s := range spans {
				if s.Discard {
					t.Fatalf("span %d = %+v is discarded in single_line mode", i, s)
				}
			}
		}
	})
}
