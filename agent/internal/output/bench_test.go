package output

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmtail/wasmtail/agent/internal/config"
)

var benchRecords = []struct {
	name   string
	fields []kv
}{
	{"raw_line", []kv{{"content", `192.168.1.10 - - [10/Oct/2023:13:55:36 +0800] "GET /api/v1/items?id=123&sort=desc HTTP/1.1" 200 2326 "https://example.com/start" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0 Safari/537.36"`}}},
	{"parsed_nginx", []kv{
		{"remote_addr", "192.168.1.10"}, {"remote_user", "-"}, {"time_local", "10/Oct/2023:13:55:36 +0800"},
		{"method", "GET"}, {"url", "/api/v1/items?id=123&sort=desc"}, {"protocol", "HTTP/1.1"},
		{"status", "200"}, {"body_bytes_sent", "2326"}, {"http_referer", "https://example.com/start"},
		{"http_user_agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0 Safari/537.36"},
	}},
	{"java_stack", []kv{{"content", "2023-10-10 13:55:36.123 ERROR [main] c.e.App - request failed: \"timeout\"\n" +
		strings.Repeat("\tat com.example.service.Handler.handle(Handler.java:42)\n", 8)}}},
	{"cjk", []kv{{"content", strings.Repeat("用户登录成功，会话已建立。", 8)}}},
}

func inputBytes(fields []kv) int64 {
	n := 0
	for _, f := range fields {
		n += len(f.k) + len(f.v)
	}
	return int64(n)
}

// BenchmarkAppendJSON and BenchmarkEncodingJSONMap encode the same records
// (with the standard tags); MB/s counts the record's key and value bytes.
func BenchmarkAppendJSON(b *testing.B) {
	for _, bc := range benchRecords {
		b.Run(bc.name, func(b *testing.B) {
			bt := newBatch(1657354763, stdTags, bc.fields)
			dst := make([]byte, 0, 64<<10)
			b.SetBytes(inputBytes(bc.fields))
			b.ReportAllocs()
			for b.Loop() {
				dst = AppendJSON(dst[:0], bt, &bt.Records[0], true)
			}
		})
	}
}

func BenchmarkEncodingJSONMap(b *testing.B) {
	for _, bc := range benchRecords {
		b.Run(bc.name, func(b *testing.B) {
			m := make(map[string]string, len(bc.fields)+1+len(stdTags))
			for _, f := range bc.fields {
				m[f.k] = f.v
			}
			m[TimeKey] = "1657354763"
			for _, t := range stdTags {
				m[TagPrefix+t.Key] = t.Value
			}
			b.SetBytes(inputBytes(bc.fields))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFileExport writes batches of 512 raw lines to a file.
func BenchmarkFileExport(b *testing.B) {
	recs := make([][]kv, 512)
	for i := range recs {
		recs[i] = benchRecords[0].fields
	}
	bt := newBatch(1657354763, stdTags, recs...)
	f, err := New(config.Flusher{Type: TypeFile, File: &config.FlusherFile{
		FilePath: filepath.Join(b.TempDir(), "out.log"), MaxFileSize: 64 << 20, MaxFiles: 1, Tags: true,
	}}, Settings{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := f.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer f.Shutdown(ctx)
	b.SetBytes(512 * inputBytes(benchRecords[0].fields))
	b.ReportAllocs()
	for b.Loop() {
		if err := f.Export(ctx, bt); err != nil {
			b.Fatal(err)
		}
	}
}
