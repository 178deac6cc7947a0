package parsertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wasmtail/wasmtail/parsers"
)

// corpusCase is one parser config and the records it runs over.
type corpusCase struct {
	name   string
	typ    string
	config []byte
	in     []Record
}

// corpus takes every golden case with one processor (its config and input
// lines), each also over mutated copies of its lines, and over the
// extra lines of testdata/extra.txt.
func corpus(t *testing.T) []corpusCase {
	dirs, _ := filepath.Glob("../testdata/golden/*")
	extra := readLines(t, "testdata/extra.txt")
	var out []corpusCase
	rng := rand.New(rand.NewPCG(4, 4))
	for _, dir := range dirs {
		var pl struct {
			Processors []map[string]any `yaml:"processors"`
		}
		data, err := os.ReadFile(filepath.Join(dir, "pipeline.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, &pl); err != nil {
			t.Fatal(err)
		}
		lines := readLines(t, filepath.Join(dir, "input.log"))
		for i, p := range pl.Processors {
			typ, _ := p["Type"].(string)
			delete(p, "Type")
			cfg, _ := json.Marshal(p)
			var in []Record
			all := append(append([]string{}, lines...), extra...)
			for _, l := range lines {
				all = append(all, mutate(rng, l), mutate(rng, l))
			}
			for k, l := range all {
				r := Record{Sec: 1700000000 + int64(k), Nsec: int32(k), Fields: [][2]string{{"content", l}}}
				if k%3 == 0 {
					r.Fields = append(r.Fields, [2]string{"__file_offset__", "42"})
				}
				in = append(in, r)
			}
			out = append(out, corpusCase{name: filepath.Base(dir) + "/" + typ + "#" + string(rune('0'+i)), typ: typ, config: cfg, in: in})
		}
	}
	return append(out, extraCases(rng)...)
}

// extraCases run parsers over generated lines, and the timestamp parser
// (whose golden cases read keys other parsers made) over times.
func extraCases(rng *rand.Rand) []corpusCase {
	times := []string{"2017-1-11 15:05:07.012", "[2017-1-11 15:05:07.0123]", "11 Jan 17 15:05 MST", "Tuesday, 11-Jan-17 15:05:07.0123 MST",
		"2017-01-11T15:05:07.012999999Z07:00", "1484147107", "1484147107123", "15:05:07.012 2017-1-11", "2017-1-11 15:05:07.012 +0700 (UTC)",
		"01-01 15:05:00.999999999", "Wed Jan 11 03:05:07 PM 2017", "0", "-5", "1969-12-31 23:59:59"}
	for _, l := range timeLines(64) {
		times = append(times, string(l))
	}
	var cases []corpusCase
	add := func(name, typ string, cfg map[string]any, lines []string) {
		var in []Record
		all := append([]string{}, lines...)
		for _, l := range lines {
			all = append(all, mutate(rng, l))
		}
		for k, l := range all {
			in = append(in, Record{Sec: 1700000000 + int64(k), Nsec: int32(k), Fields: [][2]string{{"content", l}, {"__file_offset__", "42"}}})
		}
		c, _ := json.Marshal(cfg)
		cases = append(cases, corpusCase{name: name, typ: typ, config: c, in: in})
	}
	for i, f := range []string{"%Y-%m-%d %H:%M:%S.%f", "[%Y-%m-%d %H:%M:%S.%f", "%d %b %y %H:%M", "%A, %d-%b-%y %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f",
		"%s", "%s.%f", "%H:%M:%S.%f %Y-%m-%d", "%Y-%m-%d %H:%M:%S.%f %z (%Z)", "%m-%d %H:%M:%S.%f", "%c", "%a %b %d %r %Y"} {
		cfg := map[string]any{"SourceKey": "content", "SourceFormat": f}
		switch i % 3 {
		case 1:
			cfg["SourceTimezone"] = "GMT+08:00"
		case 2:
			cfg["SourceTimezone"] = "GMT-03:30"
			cfg["SourceYear"] = 2020
		}
		add(fmt.Sprintf("extra/timestamp#%d", i), "processor_parse_timestamp_native", cfg, times)
	}
	lines := func(ls [][]byte) []string {
		var out []string
		for _, l := range ls {
			out = append(out, string(l))
		}
		return out
	}
	add("extra/apsara", "processor_parse_apsara_native", map[string]any{"SourceKey": "content", "KeepingSourceWhenParseFail": true}, lines(apsaraLines(100)))
	add("extra/nginx", "processor_parse_nginx", map[string]any{"SourceKey": "content", "KeepingSourceWhenParseFail": true}, lines(nginxLines(200)))
	add("extra/nginx_custom", "processor_parse_nginx", map[string]any{"SourceKey": "content", "LogFormat": `$remote_addr $remote_user [$time_local] "$request" $status`}, lines(nginxLines(50)))
	add("extra/apache", "processor_parse_apache", map[string]any{"SourceKey": "content", "LogFormat": "combined", "KeepingSourceWhenParseSucceed": true}, lines(nginxLines(200)))
	return cases
}

func mutate(rng *rand.Rand, s string) string {
	b := []byte(s)
	for range 1 + rng.IntN(4) {
		if len(b) == 0 {
			b = append(b, byte(rng.IntN(256)))
			continue
		}
		i := rng.IntN(len(b))
		switch rng.IntN(4) {
		case 0:
			b[i] = byte(rng.IntN(256))
		case 1:
			b = append(b[:i], b[i+1:]...)
		case 2:
			b = append(b[:i], append([]byte{"\"', |\\{}[]:\t"[rng.IntN(12)]}, b[i:]...)...)
		default:
			b = b[:i]
		}
	}
	return string(b)
}

func readLines(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func factory(t *testing.T, typ string) parsers.Factory {
	for _, f := range parsers.Builtin() {
		if f.Type == typ {
			return f
		}
	}
	t.Fatalf("no built-in %q", typ)
	return parsers.Factory{}
}

// TestNativeEqualsWasm is the acceptance suite: every parser, natively and
// as its committed .wasm through the runtime, gives identical records.
func TestNativeEqualsWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the Wasm modules")
	}
	ctx := context.Background()
	w, err := NewWasm(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	seen := map[string]bool{}
	for _, c := range corpus(t) {
		t.Run(c.name, func(t *testing.T) {
			f := factory(t, c.typ)
			seen[f.Type] = true
			want, err := Native(f, c.config, c.in)
			if err != nil {
				t.Fatalf("native: %v", err)
			}
			m, err := w.Load(ctx, "../..", f, c.config)
			if err != nil {
				t.Fatalf("wasm: %v", err)
			}
			defer m.Close(ctx)
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			got, err := Run(cctx, m, c.in)
			if err != nil {
				t.Fatalf("wasm: %v", err)
			}
			if d := Diff(want, got); d != "" {
				t.Fatal(d)
			}
		})
	}
	for _, f := range parsers.Builtin() {
		if !seen[f.Type] {
			t.Errorf("%s: no corpus case", f.Type)
		}
	}
}

// TestTimezoneIsUTC: the Wasm guest's local time is UTC; the suite runs
// natively in UTC too, so that parsers reading local time agree.
func TestMain(m *testing.M) {
	time.Local = time.UTC
	os.Exit(m.Run())
}
