package output

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// kv is one expected key/value pair of a decoded JSON object.
type kv struct{ k, v string }

// newBatch returns a batch holding one record per element of records, each
// a list of key/value contents, at time sec.
func newBatch(sec int64, tags []batch.Tag, records ...[]kv) *batch.Batch {
	b := &batch.Batch{Source: &batch.Source{Pipeline: "p", Path: "/var/log/a.log", Tags: tags}}
	for _, fields := range records {
		fs := b.NewFields()
		for _, f := range fields {
			fs = b.AppendField(fs, batch.Field{Key: f.k, Value: []byte(f.v)})
		}
		b.Records = append(b.Records, batch.Record{Sec: sec, Nsec: 123456789, Fields: fs})
	}
	return b
}

var stdTags = []batch.Tag{
	{Key: "__path__", Value: "/var/log/pods/ns_pod_uid/app/0.log"},
	{Key: "__hostname__", Value: "node-1"},
	{Key: "_namespace_", Value: "default"},
	{Key: "_pod_name_", Value: "web-7d9f"},
	{Key: "_container_name_", Value: "app"},
}

var jsonCases = []struct {
	name   string
	fields []kv
	sec    int64
	tags   []batch.Tag
	with   bool // write tags
}{
	{name: "simple", fields: []kv{{"content", "hello world"}}, sec: 1657354763},
	{name: "no_fields", sec: 0},
	{name: "empty_value", fields: []kv{{"content", ""}}, sec: 1},
	{name: "quotes_backslash", fields: []kv{{"content", `say "hi" to C:\tmp\new \" \\`}}, sec: 2},
	{name: "nul_and_controls", fields: []kv{{"content", "a\x00b\x01c\x1f d\x7f\b\f\t\r\n end"}}, sec: 3},
	{name: "invalid_utf8", fields: []kv{{"content", "ok\xffbad\xc3(\xe2\x82 surrogate\xed\xa0\x80 overlong\xc0\xaf end\xe2"}}, sec: 4},
	{name: "multiline", fields: []kv{{"content", "java.lang.Exception: boom\n\tat a.B.c(B.java:10)\r\n\tat a.B.main(B.java:3)\n"}}, sec: 5},
	{name: "unicode", fields: []kv{{"content", "日本語 é 😀 ok\u2028line\u2029para \ufffd 中文日志"}}, sec: 6},
	{name: "keys_need_escaping", fields: []kv{{"we\"ird\nkey\xff", "v"}, {"", "empty key"}}, sec: 7},
	{name: "duplicate_keys", fields: []kv{{"content", "first"}, {"level", "info"}, {"content", "second"}}, sec: 8},
	{name: "parsed_fields", fields: []kv{{"ip", "10.0.0.1"}, {"method", "GET"}, {"url", "/a?b=c&d=<e>"}, {"status", "200"}}, sec: 1700000000},
	{name: "tags", fields: []kv{{"content", "x"}}, sec: 9, tags: stdTags, with: true},
	{name: "tags_off", fields: []kv{{"content", "x"}}, sec: 9, tags: stdTags},
	{name: "tags_need_escaping", fields: []kv{{"content", "x"}}, sec: 10, with: true,
		tags: []batch.Tag{{Key: "k\"ey", Value: "v\x00\xff"}}},
	{name: "negative_time", fields: []kv{{"content", "x"}}, sec: -1},
}

func TestAppendJSON(t *testing.T) {
	for _, tc := range jsonCases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBatch(tc.sec, tc.tags, tc.fields)
			got := AppendJSON([]byte("prefix"), b, &b.Records[0], tc.with)
			require.True(t, bytes.HasPrefix(got, []byte("prefix")), "dst not kept")
			got = got[len("prefix"):]

			golden := filepath.Join("testdata", "json", tc.name+".json")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, append(got, '\n'), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got)+"\n", "got (-) vs golden %s (+)", golden)

			require.True(t, json.Valid(got), "invalid JSON: %s", got)
			var wantPairs []kv
			for _, f := range tc.fields {
				wantPairs = append(wantPairs, kv{fixUTF8(f.k), fixUTF8(f.v)})
			}
			wantPairs = append(wantPairs, kv{TimeKey, itoa(tc.sec)})
			if tc.with {
				for _, tag := range tc.tags {
					wantPairs = append(wantPairs, kv{TagPrefix + fixUTF8(tag.Key), fixUTF8(tag.Value)})
				}
			}
			assert.Equal(t, wantPairs, decodePairs(t, got))
		})
	}
}

// TestAppendStringMatchesEncodingJSON checks that strings are escaped byte
// for byte as encoding/json does with HTML escaping off.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	inputs := []string{"", "plain", "<&>", "\x00\x01\x7f", "\u2028\u2029", "a\xffb\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf0\x9f\x98", "€😀", strings.Repeat("0123456\"", 5)}
	for _, tc := range jsonCases {
		for _, f := range tc.fields {
			inputs = append(inputs, f.k, f.v)
		}
	}
	// Every byte value at every position of the 8-byte words the fast path
	// reads, and next to a second special byte (borrows in specialMask).
	const plain = "abcdefghijklmnopq"
	for c := range 256 {
		for pos := range 16 {
			s := []byte(plain)
			s[pos] = byte(c)
			inputs = append(inputs, string(s))
			s[pos+1] = '"'
			inputs = append(inputs, string(s))
		}
	}
	for _, in := range inputs {
		got := appendString(nil, []byte(in))
		want := encodingJSON(t, in)
		assert.Equal(t, want, string(got), "input %q", in)
	}
}

func TestAppendJSONNoAllocs(t *testing.T) {
	b := newBatch(1657354763, stdTags,
		[]kv{{"content", "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326 日本"}},
		[]kv{{"content", "second\x00\xff"}, {"level", "warn"}})
	dst := make([]byte, 0, 64<<10)
	tests := []struct {
		name string
		fn   func()
	}{
		{"AppendJSON", func() { dst = AppendJSON(dst[:0], b, &b.Records[0], true) }},
		{"AppendJSON_escapes", func() { dst = AppendJSON(dst[:0], b, &b.Records[1], true) }},
		{"appendBatch", func() { dst = appendBatch(dst[:0], b, true) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tc.fn); got != 0 {
				t.Errorf("got %v allocs per run, want 0", got)
			}
		})
	}
}

func TestAppendBatchMatchesAppendJSON(t *testing.T) {
	b := newBatch(42, stdTags, []kv{{"content", "a"}}, []kv{{"content", "b\n"}}, []kv{{"k", "v"}, {"content", "c"}})
	for _, tags := range []bool{false, true} {
		var want []byte
		for i := range b.Records {
			want = AppendJSON(want, b, &b.Records[i], tags)
			want = append(want, '\n')
		}
		assert.Equal(t, string(want), string(appendBatch(nil, b, tags)), "tags=%v", tags)
	}
}

func FuzzAppendJSON(f *testing.F) {
	for _, tc := range jsonCases {
		for _, fl := range tc.fields {
			f.Add(fl.k, []byte(fl.v), "__path__", "/a\x00", tc.sec)
		}
	}
	f.Add("content", []byte("\xe2\x80\xa8\xe2\x80"), "k", "\xff", int64(0))
	f.Fuzz(func(t *testing.T, key string, value []byte, tagKey, tagValue string, sec int64) {
		b := newBatch(sec, []batch.Tag{{Key: tagKey, Value: tagValue}}, []kv{{key, string(value)}, {"content", string(value)}})
		out := AppendJSON(nil, b, &b.Records[0], true)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q for key %q value %q", out, key, value)
		}
		got := decodePairs(t, out)
		want := []kv{
			{fixUTF8(key), fixUTF8(string(value))},
			{"content", fixUTF8(string(value))},
			{TimeKey, itoa(sec)},
			{TagPrefix + fixUTF8(tagKey), fixUTF8(tagValue)},
		}
		if utf8.ValidString(key) && utf8.Valid(value) && utf8.ValidString(tagKey) && utf8.ValidString(tagValue) {
			want[0].v, want[1].v = string(value), string(value) // decodes to the input itself
		}
		if len(got) != len(want) {
			t.Fatalf("got %d pairs %q, want %q", len(got), got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("pair %d: got %q, want %q (output %q)", i, got[i], want[i], out)
			}
		}
		if enc := encodingJSON(t, string(value)); enc != string(appendString(nil, value)) {
			t.Fatalf("value %q: got %s, encoding/json gives %s", value, appendString(nil, value), enc)
		}
	})
}

// decodePairs decodes a flat JSON object of strings into its pairs, in order
// and keeping duplicates.
func decodePairs(t testing.TB, data []byte) []kv {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var pairs []kv
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		v, err := dec.Token()
		require.NoError(t, err)
		ks, ok1 := k.(string)
		vs, ok2 := v.(string)
		require.True(t, ok1 && ok2, "non-string pair %v: %v", k, v)
		pairs = append(pairs, kv{ks, vs})
	}
	tok, err = dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('}'), tok)
	_, err = dec.Token()
	require.Error(t, err, "trailing data after object")
	return pairs
}

// fixUTF8 replaces each byte of invalid UTF-8 with U+FFFD, as encoding/json
// does.
func fixUTF8(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			sb.WriteString("\ufffd")
		} else {
			sb.WriteString(s[i : i+size])
		}
		i += size
	}
	return sb.String()
}

// encodingJSON returns s encoded by encoding/json with HTML escaping off.
func encodingJSON(t testing.TB, s string) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(s))
	return strings.TrimSuffix(buf.String(), "\n")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
