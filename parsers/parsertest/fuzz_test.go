package parsertest

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/wasmtail/wasmtail/parsers"
)

// fuzzConfigs: per built-in, a config that keeps the source on failure, so
// that no record may be lost.
var fuzzConfigs = map[string]map[string]any{
	"processor_parse_regex_native": {"SourceKey": "content", "Regex": benchRegex, "KeepingSourceWhenParseFail": true,
		"Keys": []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}},
	"processor_parse_json_native":      {"SourceKey": "content", "KeepingSourceWhenParseFail": true, "KeepingSourceWhenParseSucceed": true},
	"processor_parse_delimiter_native": {"SourceKey": "content", "Separator": ",", "Quote": "'", "Keys": []string{"a", "b", "c"}, "KeepingSourceWhenParseFail": true, "OverflowedFieldsTreatment": "keep"},
	"processor_filter_regex_native":    {"FilterKey": []string{"content"}, "FilterRegex": []string{`.*a.*`}, "DiscardingNonUTF8": true},
	"processor_desensitize_native":     {"SourceKey": "content", "Method": "md5", "ContentPatternBeforeReplacedString": "pwd=", "ReplacedContentPattern": "[^,]*"},
	"processor_parse_timestamp_native": {"SourceKey": "content", "SourceFormat": "%a %b %e %H:%M:%S.%f %Y %Z", "SourceTimezone": "GMT+08:00"},
	"processor_parse_apsara_native":    {"SourceKey": "content", "KeepingSourceWhenParseFail": true, "KeepingSourceWhenParseSucceed": true, "CopingRawLog": true},
	"processor_parse_nginx":            {"SourceKey": "content", "LogFormat": "main", "KeepingSourceWhenParseFail": true},
	"processor_parse_apache":           {"SourceKey": "content", "LogFormat": "combined", "KeepingSourceWhenParseFail": true},
}

// seeds every fuzz target starts from.
var seeds = []string{"", "a", "\xff", "日本語", string(nginxLines(1)[0]), string(jsonLines(1)[0]), string(csvLines(1)[0]), string(apsaraLines(1)[0])}

// checkParser runs built-in b natively over line: no panic, no lost record
// (except where a filter drops it on purpose), and valid UTF-8 out
// wherever the input was valid UTF-8.
func checkParser(t *testing.T, b parsers.Factory, line string) {
	cfg, _ := json.Marshal(fuzzConfigs[b.Type])
	in := []Record{{Fields: [][2]string{{"content", line}}}}
	out, err := Native(b, cfg, in)
	if err != nil {
		t.Fatalf("%s: %v", b.Type, err)
	}
	if b.Type != "processor_filter_regex_native" && len(out) != 1 {
		t.Fatalf("%s on %q: %d records out", b.Type, line, len(out))
	}
	if utf8.ValidString(line) || b.Type == "processor_filter_regex_native" {
		for _, r := range out {
			for _, kv := range r.Fields {
				if !utf8.ValidString(kv[1]) {
					t.Fatalf("%s on %q: invalid UTF-8 in %s=%q", b.Type, line, kv[0], kv[1])
				}
			}
		}
	}
}

func fuzzParser(f *testing.F, typ string, more ...string) {
	for _, s := range append(append([]string{}, seeds...), more...) {
		f.Add(s)
	}
	var b parsers.Factory
	for _, fb := range parsers.Builtin() {
		if fb.Type == typ {
			b = fb
		}
	}
	if b.New == nil {
		f.Fatalf("no built-in %q", typ)
	}
	f.Fuzz(func(t *testing.T, line string) { checkParser(t, b, line) })
}

// One target per parser (`go test -fuzz FuzzNginx ./parsers/parsertest`);
// `go test` runs each over its seeds.

func FuzzRegex(f *testing.F) {
	fuzzParser(f, "processor_parse_regex_native", `1 2 3 [4] "5 6 7" 8 9 "10" "11"`)
}
func FuzzJSON(f *testing.F) {
	fuzzParser(f, "processor_parse_json_native", `{"a":"b","c":{"d":[1,2]}}`, `{"\u00e9":"\ud83d\ude00"}`, `{"a":1e400}`)
}
func FuzzDelimiter(f *testing.F) {
	fuzzParser(f, "processor_parse_delimiter_native", "x,'y''z',w,v", "'unterminated,", ",,,")
}
func FuzzFilter(f *testing.F) { fuzzParser(f, "processor_filter_regex_native", "abc", "xyz") }
func FuzzDesensitize(f *testing.F) {
	fuzzParser(f, "processor_desensitize_native", "pwd=1,pwd=2", "pwd=")
}
func FuzzTimestamp(f *testing.F) {
	fuzzParser(f, "processor_parse_timestamp_native", "Wed Jan 11 15:05:07.123 2017 UTC", "Wed Jan  1 00:00:00.0 1970 GMT", "Mon Feb 30 25:61:61.9999999999 9999")
}
func FuzzApsara(f *testing.F) {
	fuzzParser(f, "processor_parse_apsara_native", "[1378972170425093]\tA:B", "[2013-03-13 18:14:57.365716]\t[a]\t[b]]\t[", "[]\t[]\t[]", "[1", "[2013-03-13 18:14:57.")
}
func FuzzNginx(f *testing.F) {
	fuzzParser(f, "processor_parse_nginx", `::1 - - [t] "" 400 0 "" "" ""`, `a - b [c] "d" e f "g" "h" "i" tail`)
}
func FuzzApache(f *testing.F) {
	fuzzParser(f, "processor_parse_apache", `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-" "ua"`, `- - - [] "" - - "" ""`)
}

// FuzzParsers runs every built-in over the same lines.
func FuzzParsers(f *testing.F) {
	for _, s := range append(seeds, `{"a":"b","c":{"d":[1,2]}}`, "x,'y''z',w,v", "pwd=1,pwd=2") {
		f.Add(s)
	}
	builtins := parsers.Builtin()
	f.Fuzz(func(t *testing.T, line string) {
		for _, b := range builtins {
			checkParser(t, b, line)
		}
	})
}

// TestFuzzConfigs: every built-in has a fuzz config and a target.
func TestFuzzConfigs(t *testing.T) {
	for _, b := range parsers.Builtin() {
		if _, ok := fuzzConfigs[b.Type]; !ok {
			t.Errorf("%s: no fuzz config", b.Type)
		}
	}
}
