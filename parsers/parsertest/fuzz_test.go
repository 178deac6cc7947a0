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
}

// FuzzParsers runs every built-in natively over arbitrary lines: no panic,
// no lost record (except where a filter drops it on purpose), and valid
// UTF-8 out wherever the input was valid UTF-8.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{"", "a", `{"a":"b","c":{"d":[1,2]}}`, "x,'y''z',w,v", "pwd=1,pwd=2", "\xff", string(nginxLines(1)[0]), string(jsonLines(1)[0])} {
		f.Add(s)
	}
	builtins := parsers.Builtin()
	f.Fuzz(func(t *testing.T, line string) {
		for _, b := range builtins {
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
	})
}
