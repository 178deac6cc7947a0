package rx

import (
	"regexp"
	"slices"
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
}

var inputs = []string{
	``, `a`, `b`, `ab`, `aab`, `abc`, `ABC`, `value1	value2`, `value1	value2 tail`, `line1
line2`,
	`127.0.0.1 - - [07/Jul/2022:10:43:30 +0800] "POST /PutData?Category=YunOsAccountOpLog HTTP/1.1" 200 37 "-" "aliyun-sdk-java"`,
	`127.0.0.1 - - [07/Jul/2022:10:43:30 +0800] "POST /PutData?Category=YunOsAccountOpLog" 0.024 18204 200 37 "-" "aliyun-sdk-java"`,
	`Mozilla/5.0 (X11)`, `12 34`, `12  34`, `k=v=w`, `a b c d`, `POST`, `PUTS`, `200`, `2000-x`, `12-3x`,
	`a,b,c,d`, `xéy`, `é`, `日本語 テキスト`, "\xff\xfe", "a\xffb é", `1.2.3 - - [x y] "GET / H" 1 2 3 "r" "u"`,
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
