package sls

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
)

// okRoundTripper reads each request's body and answers 200, in place of an
// endpoint: what remains is the flusher's own CPU.
type okRoundTripper struct{}

func (okRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return &http.Response{StatusCode: 200, Header: http.Header{"X-Log-Requestid": {"1"}},
		Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

// nginxRegex is the regex agent/e2e's benchmark gives
// processor_parse_regex_native.
var nginxRegex = regexp.MustCompile(`([\d.]+) \S+ \S+ \[(\S+) \S+\] "(\w+) ([^"]*) ([^"]*)" (\d+) (\d+) "([^"]*)" "([^"]*)"`)

// regexBatch is nginxLogGroupBatch as processor_parse_regex_native leaves
// it: the nine captures as fields, no content.
func regexBatch() *batch.Batch {
	src := nginxLogGroupBatch()
	b := &batch.Batch{Buf: src.Buf}
	keys := []string{"ip", "time", "method", "url", "protocol", "status", "size", "referer", "agent"}
	for _, r := range src.Records {
		line := r.Fields[0].Value
		m := nginxRegex.FindSubmatchIndex(line)
		b.AddRecord(r.Sec, 0, nil)
		fs := b.NewFields()
		for i, k := range keys {
			fs = b.AppendField(fs, batch.Field{Key: k, Value: line[m[2+2*i]:m[3+2*i]]})
		}
		b.Records[len(b.Records)-1].Fields = fs
	}
	return b
}

// BenchmarkAgentExport is Export of a 256 KiB batch of nginx lines (raw,
// and as the regex parser leaves them) with the request's body read by a
// stand-in for the endpoint: the flusher's own CPU per byte of file.
func BenchmarkAgentExport(b *testing.B) {
	for _, tc := range []struct {
		name string
		bt   *batch.Batch
	}{{"line", nginxLogGroupBatch()}, {"regex", regexBatch()}} {
		for _, comp := range []string{"lz4", "zstd", "none"} {
			b.Run(tc.name+"/"+comp, func(b *testing.B) {
				cfg := config.FlusherSLS{Project: "proj", Logstore: "store", Endpoint: "127.0.0.1:1", Region: "cn-hangzhou",
					CompressType: comp, AuthVersion: "v1", MaxBatchBytes: 1 << 20, MaxBatchLogs: 4096,
					RequestTimeoutSecs: 5, RetrySecs: 10}
				f, err := New(cfg, Settings{Name: "bench", Pipeline: "p", Credentials: config.SLSCredentials{AccessKeyID: "id", AccessKeySecret: "secret"},
					Metrics: metrics.New(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), HostIP: "10.0.0.1"})
				if err != nil {
					b.Fatal(err)
				}
				f.roundTrip = okRoundTripper{}
				if err := f.Start(context.Background()); err != nil {
					b.Fatal(err)
				}
				defer f.Shutdown(context.Background())
				tc.bt.Source = &batch.Source{Pipeline: "p", Path: "/var/log/nginx/access.log",
					Tags: []batch.Tag{{Key: "__path__", Value: "/var/log/nginx/access.log"}, {Key: "__hostname__", Value: "web-1"}}}
				b.SetBytes(int64(len(tc.bt.Buf)))
				b.ReportAllocs()
				for b.Loop() {
					if err := f.Export(context.Background(), tc.bt); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkEncode is the LogGroup encoding of a 256 KiB batch.
func BenchmarkEncode(b *testing.B) {
	for _, tc := range []struct {
		name string
		bt   *batch.Batch
	}{{"line", nginxLogGroupBatch()}, {"regex", regexBatch()}} {
		b.Run(tc.name, func(b *testing.B) {
			m := &groupMeta{source: "10.0.0.1", tags: []batch.Tag{{Key: "__path__", Value: "/var/log/nginx/access.log"}}}
			lens := make([]int, len(tc.bt.Records))
			for i := range tc.bt.Records {
				lens[i] = logBodyLen(&tc.bt.Records[i], false)
			}
			var buf []byte
			b.SetBytes(int64(len(tc.bt.Buf)))
			for b.Loop() {
				buf = appendLogGroup(buf[:0], tc.bt.Records, lens, m, false)
			}
		})
	}
}

// nginxLogGroupBatch is a 256 KiB batch of generated nginx access lines,
// one "content" field each, as the reader leaves them.
func nginxLogGroupBatch() *batch.Batch {
	var buf []byte
	for i := 0; len(buf) < 256<<10; i++ {
		buf = fmt.Appendf(buf, `10.%d.%d.%d - - [27/Nov/2026:03:%02d:%02d +0000] "GET /api/v1/items/%d?page=%d HTTP/1.1" %d %d "https://example.com/p/%d" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"`+"\n",
			i%256, i/7%256, i/13%256, i/60%60, i%60, i*7919%100000, i%17, []int{200, 200, 200, 304, 404, 500}[i%6], i*37%20000, i%91)
	}
	b := &batch.Batch{Buf: buf}
	for off := 0; off < len(buf); {
		n := bytes.IndexByte(buf[off:], '\n')
		b.AddRecord(1800000000+int64(off%1000), 0, nil)
		fs := b.NewFields()
		fs = b.AppendField(fs, batch.Field{Key: "content", Value: buf[off : off+n]})
		b.Records[len(b.Records)-1].Fields = fs
		off += n + 1
	}
	return b
}
