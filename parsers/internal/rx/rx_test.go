package rx

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// BenchRegex is LoongCollector's benchmark pattern for nginx lines.
const benchRegex = `^([^ ]*) ([^ ]*) ([^ ]*) \[([^\]]*)\] "(\S+) ([^\"]*) (\S*)" ([^ ]*) ([^ ]*) "([^\"]*)" "([^\"]*)"`

var patterns = []string{
	benchRegex,
	`(\w+)\t(\w+).*`,
	`(.*)`,
	`([\d\.]+) \S+ \S+ \[(\S+) \S+\] \"(\w+) ([^\\\"]*)\" ([\d\.]+) (\d+) (\d+) (\d+|-) \"([^\\\"]*)\" \"([^\\\"]*)\"`,
	`.*Mozilla.*`,
	`(\d+)\s+(\d+)`,
	`(.*)(.*)`,
	`(a*)(a*)b`,
	`(.*?)=(.*)`,
	`(\S+) (.*) (\S+)`,
	`^(POST|PUT)$`,
	`^200$`,
	`(\d{2,4})-(\d?)x`,
	`([^,]*),([^,]*),(.*)`,
	`(.*)é(.*)`,
	`(.+)(\S+)`,
	`[a-z]+\.[a-z]+`,
	`()a`,
	`(a)|b`,
	`(?i)abc`,
	`([ab]{1,3})b`,
	`(a{2,3}?)(a+)`,
	`(\d{1,3})1(\d*)`,
	`(a*)(a*)(a*)b`,
}

var inputs = []string{
	``, `a`, `b`, `ab`, `aab`, `abc`, `ABC`, `value1	value2`, `value1	value2 tail`, `line1
line2`,
	`127.0.0.1 - - [07/Jul/2022:10:43:30 +0800] "POST /PutData?Category=YunOsAccountOpLog HTTP/1.1" 200 37 "-" "aliyun-sdk-java"`,
	`127.0.0.1 - - [07/Jul/2022:10:43:30 +0800] "POST /PutData?Category=YunOsAccountOpLog" 0.024 18204 200 37 "-" "aliyun-sdk-java"`,
	`Mozilla/5.0 (X11)`, `12 34`, `12  34`, `k=v=w`, `a b c d`, `POST`, `PUTS`, `200`, `2000-x`, `12-3x`,
	`a,b,c,d`, `aaab`, `aaaab`, `aaaaa`, `1111`, `111`, `xéy`, `é`, `日本語 テキスト`, "\xff\xfe", "a\xffb é", `1.2.3 - - [x y] "GET / H" 1 2 3 "r" "u"`,
}

func TestAgainstRegexp(t *testing.T) {
	for _, p := range patterns {
		r := MustCompile(p)
		t.Logf("%-40.40q %s", p, r.Describe())
		for _, in := range inputs {
			check(t, r, p, []byte(in))
		}
	}
}

func TestBenchRegexIsFast(t *testing.T) {
	if r := MustCompile(benchRegex); !r.Fast() {
		t.Fatalf("the benchmark regex falls back to regexp")
	}
}

func check(t *testing.T, r *Regexp, p string, in []byte) {
	t.Helper()
	want := regexp.MustCompile(`(?s)^(?:` + p + `)$`).FindSubmatchIndex(in)
	var m Matcher
	got, ok := r.Match(&m, in)
	if ok != (want != nil) || (ok && !slices.Equal(got, want)) {
		t.Errorf("pattern %q on %q: got %v %v, want %v", p, in, got, ok, want)
	}
}

func FuzzAgainstRegexp(f *testing.F) {
	for i := range patterns {
		for _, in := range inputs {
			f.Add(i, in)
		}
	}
	f.Fuzz(func(t *testing.T, i int, in string) {
		if i < 0 {
			i = -i
		}
		p := patterns[i%len(patterns)]
		check(t, MustCompile(p), p, []byte(in))
	})
}

// FuzzPatterns fuzzes the pattern too (only those the scanner takes).
func FuzzPatterns(f *testing.F) {
	for _, p := range patterns {
		f.Add(p, inputs[10])
	}
	f.Fuzz(func(t *testing.T, p, in string) {
		r, err := Compile(p)
		if err != nil || !r.Fast() {
			return
		}
		check(t, r, p, []byte(in))
	})
}

// benchLines are nginx access-log lines in the shapes the parsers see.
var benchLines = func() [][]byte {
	var out [][]byte
	agents := []string{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", "curl/8.4.0", "aliyun-sdk-java"}
	for i := range 256 {
		out = append(out, fmt.Appendf(nil, `10.%d.%d.%d - - [07/Jul/2022:10:%02d:%02d +0800] "GET /api/v1/items/%d?page=%d HTTP/1.1" %d %d "https://example.com/ref/%d" "%s"`,
			i%256, i*7%256, i*13%256, i%60, i*7%60, i*7919%100000, i%100, []int{200, 200, 404, 500}[i%4], i*31%100000, i%1000, agents[i%len(agents)]))
	}
	return out
}()

// benchPatterns: every line matches each, but the filter's.
var benchPatterns = []struct {
	name, expr string
	filter     bool
}{
	{"nginx", benchRegex, false},
	{"access", `([^ ]*) ([^ ]*) ([^ ]*) \[([^\]]*)\] "(\S+) (\S+) ([^"]*)" (\d+) (\d+) "([^"]*)" "([^"]*)"`, false},
	{"mozilla", `.*Mozilla.*`, true},
	{"split", `(\S+) (.*) (\S+)`, false},
}

func BenchmarkMatch(b *testing.B) {
	for _, bp := range benchPatterns {
		b.Run(bp.name, func(b *testing.B) {
			r := MustCompile(bp.expr)
			if !r.Fast() {
				b.Fatal("not on the scanner")
			}
			var m Matcher
			size := 0
			for _, l := range benchLines {
				size += len(l)
				if _, ok := r.Match(&m, l); !ok && !bp.filter {
					b.Fatalf("no match: %s", l)
				}
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				for _, l := range benchLines {
					r.Match(&m, l)
				}
			}
		})
	}
}

// The pathological shapes: a backtracking scanner without a work budget
// rescans the value once per place it backtracks to (quadratic or worse).
var pathological = []struct{ expr, value string }{
	{`(a*)(a*)b`, "a"},
	{`(a*)(a*)(a*)b`, "a"},
	{`(a*?)(a*?)b`, "a"},
	{`(a+)(a+)(a+)$`, "a"}, // matches
	{`(\S*)(\S*)(\S*)x`, "a"},
	{`(\S*)(\S*)(\S*)x`, "ab"},
	{`(.*)(.*)(.*)z`, "a"},
	{`(.*)(.*)(.*)z`, "a\n"},
	{`((a*)(a*))b`, "a"},
	{`(((a*)a*)(a*)(a*))b`, "a"},
	{`(a*)aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab`, "a"},
	{`(.*) (.*) (.*) (.*)x`, "a "},
	{`(\S+) (.*) (\S+) x`, "a "},
	{`(\d+)(\d*?)(\d+)-`, "1"},
	{`([^,]*),?([^,]*),?([^,]*)!`, "a,"},
	{`(a{1,1000})(a*)b`, "a"},
	{`(a|aa)*c`, "a"}, // not on the scanner: regexp
	{`(a*)*b`, "a"},   // not on the scanner: regexp
}

// maxLineKB is the agent's default MaxLineKB: the longest value a parser
// sees.
const maxLineKB = 512

// TestWorkBound: every pathological shape over a 512 KiB value costs the
// scanner at most maxWork: workPerByte bytes examined per byte of the
// value plus a constant (a count, not a time; without the budget the first
// one alone examines 2^37 bytes, minutes). The result is regexp's.
func TestWorkBound(t *testing.T) {
	for _, c := range pathological {
		value := bytes.Repeat([]byte(c.value), maxLineKB<<10/len(c.value))
		r := MustCompile(c.expr)
		var m Matcher
		got, ok := r.Match(&m, value)
		bound := r.maxWork(len(value))
		t.Logf("%-50q %-26s work %d (%.2f/byte) regexp %v", c.expr, r.Describe(), m.work, float64(m.work)/float64(len(value)), m.slow)
		if m.work > bound {
			t.Errorf("%q over %d × %q: work %d bytes, over the bound %d", c.expr, len(value)/len(c.value), c.value, m.work, bound)
		}
		want := regexp.MustCompile(`(?s)^(?:` + c.expr + `)$`).FindSubmatchIndex(value)
		if ok != (want != nil) || (ok && !slices.Equal(got, want)) {
			t.Errorf("%q over %d × %q: got %v %v, want %v", c.expr, len(value)/len(c.value), c.value, got, ok, want)
		}
	}
}

// TestWorkCountsRescans: without a budget the counter sees the rescans
// (so the budget cannot be dodged by work it does not count): over n a's,
// (a*)(a*)b rescans from each of n places, (a*)(a*)(a*)b from each of
// n²/2.
func TestWorkCountsRescans(t *testing.T) {
	for _, c := range []struct {
		expr string
		n    int
		min  int
	}{
		{`(a*)(a*)b`, 2000, 2000 * 2000 / 2},
		{`(a*?)(a*?)b`, 2000, 2000 * 2000 / 2},
		{`(.*)(.*)z`, 2000, 2000 * 2000 / 2},
		{`(a*)aaaaaaaaaab`, 2000, 2000 * 10},
		{`(a*)(a*)(a*)b`, 300, 300 * 300 * 300 / 6},
	} {
		r := MustCompile(c.expr)
		var m Matcher
		if _, ok, done := r.scan(&m, bytes.Repeat([]byte("a"), c.n), 1<<40); ok || !done {
			t.Fatalf("%q: match %v, done %v", c.expr, ok, done)
		}
		if m.work < c.min {
			t.Errorf("%q over %d a's: work %d, want at least %d", c.expr, c.n, m.work, c.min)
		}
	}
}

// TestCommonStayOnScanner: the access-log patterns stay on the scanner
// (no fallback) at about one byte of work per byte, on real lines and on
// long ones.
func TestCommonStayOnScanner(t *testing.T) {
	long := []byte(strings.Repeat("word ", maxLineKB<<10/5))
	long[len(long)-1] = 'x'
	for _, bp := range benchPatterns {
		r := MustCompile(bp.expr)
		var m Matcher
		for _, l := range benchLines {
			r.Match(&m, l)
			if m.slow || m.work > 2*len(l)+64 {
				t.Fatalf("%s on %q: regexp %v, work %d", bp.name, l, m.slow, m.work)
			}
		}
	}
	for _, expr := range []string{`(\S+) (.*) (\S+)`, `(.*) (\S+)`, `(.*)`, `([^ ]*) (.*)`, `.*wor.*`} {
		r := MustCompile(expr)
		var m Matcher
		if _, ok := r.Match(&m, long); !ok || m.slow || m.work > 2*len(long)+64 || m.work < len(long) {
			t.Errorf("%q on a long line: match %v, regexp %v, work %d for %d bytes", expr, ok, m.slow, m.work, len(long))
		}
	}
}

// Pieces of the patterns FuzzScanner builds from bytes: one-byte atoms
// and literals that overlap each other, quantifiers, groups.
var (
	fuzzAtoms = []string{`a`, `b`, ` `, `x`, `"`, `1`, `é`, `[ab]`, `[^ ]`, `\S`, `\s`, `.`, `\d`, `[^"]`, `[a-z]`, `[^a]`, `\w`, `[^\n]`}
	fuzzQuant = []string{``, ``, `*`, `+`, `?`, `*?`, `+?`, `??`, `{2}`, `{1,3}`, `{0,2}?`, `{2,}`}
	// fuzzAlpha: the bytes of the values FuzzScanner maps (alpha).
	fuzzAlpha = "ab x\"1\n\xc3\xa9"
)

// buildPattern turns fuzzed bytes (the first 256) into a pattern in the
// scanner's language: each byte opens or closes a group (at most 32 deep),
// or adds an atom with the next byte choosing its quantifier.
func buildPattern(b string) string {
	var sb strings.Builder
	depth := 0
	for i := 0; i < min(len(b), 256); i++ {
		switch c := b[i]; {
		case c < 24:
			if depth < 32 {
				sb.WriteByte('(')
				depth++
			}
		case c < 48:
			if depth > 0 {
				sb.WriteByte(')')
				depth--
			}
		default:
			sb.WriteString(fuzzAtoms[int(c)%len(fuzzAtoms)])
			if i+1 < len(b) {
				i++
				sb.WriteString(fuzzQuant[int(b[i])%len(fuzzQuant)])
			}
		}
	}
	for ; depth > 0; depth-- {
		sb.WriteByte(')')
	}
	return sb.String()
}

// FuzzScanner checks the scanner against Go's regexp: the same match or
// no match and the same group spans, and at most workPerByte bytes of work
// per byte of the value (plus workConst). The pattern is expr if the
// scanner takes it, else one built from expr's bytes; the value is value
// repeated rep+1 times (up to 4 KiB), its bytes mapped onto the patterns'
// alphabet when alpha is set. Short values are also scanned with a large
// budget, so the scanner's result is checked where it gives up too.
func FuzzScanner(f *testing.F) {
	for _, p := range patterns {
		for _, in := range inputs {
			f.Add(p, in, uint8(0), false)
		}
	}
	for _, c := range pathological {
		f.Add(c.expr, c.value, uint8(255), false)
		f.Add(c.expr, c.value+"b", uint8(3), true)
	}
	for _, bp := range benchPatterns {
		f.Add(bp.expr, string(benchLines[0]), uint8(3), false)
	}
	f.Add("\x00\x50\x02\x01\x50\x02\x2f\x49\x00", "ab", uint8(40), true)
	f.Fuzz(func(t *testing.T, expr, value string, rep uint8, alpha bool) {
		r, err := Compile(expr)
		if err != nil || !r.Fast() {
			expr = buildPattern(expr)
			if r, err = Compile(expr); err != nil {
				t.Fatalf("built pattern %q: %v", expr, err)
			}
			if !r.Fast() {
				return
			}
		}
		v := []byte(value)
		if alpha {
			for i, c := range v {
				v[i] = fuzzAlpha[int(c)%len(fuzzAlpha)]
			}
		}
		if len(v) > 0 {
			v = bytes.Repeat(v, min(int(rep)+1, 4<<10/len(v)+1))
			v = v[:min(len(v), 4<<10)]
		}
		want := regexp.MustCompile(`(?s)^(?:` + expr + `)$`).FindSubmatchIndex(v)
		var m Matcher
		got, ok := r.Match(&m, v)
		if ok != (want != nil) || (ok && !slices.Equal(got, want)) {
			t.Fatalf("pattern %q on %q: got %v %v, want %v", expr, v, got, ok, want)
		}
		if bound := r.maxWork(len(v)); m.work > bound {
			t.Fatalf("pattern %q on %d bytes: work %d, over %d", expr, len(v), m.work, bound)
		}
		if len(v) <= 256 && !(r.risky && !ascii(v)) {
			got, ok, done := r.scan(&m, v, 1<<22)
			if done && (ok != (want != nil) || (ok && !slices.Equal(got, want))) {
				t.Fatalf("pattern %q on %q, no budget: got %v %v %v, want %v", expr, v, got, ok, done, want)
			}
		}
	})
}

// BenchmarkWorstCase: (a*)(a*)b over a 512 KiB line of a's, on Match (the
// scanner's budget, then regexp) and on regexp alone.
func BenchmarkWorstCase(b *testing.B) {
	const expr = `(a*)(a*)b`
	value := bytes.Repeat([]byte("a"), maxLineKB<<10)
	b.Run("Match", func(b *testing.B) {
		r := MustCompile(expr)
		var m Matcher
		b.SetBytes(int64(len(value)))
		for b.Loop() {
			r.Match(&m, value)
		}
	})
	b.Run("regexp", func(b *testing.B) {
		re := regexp.MustCompile(`(?s)^(?:` + expr + `)$`)
		b.SetBytes(int64(len(value)))
		for b.Loop() {
			re.FindSubmatchIndex(value)
		}
	})
}
