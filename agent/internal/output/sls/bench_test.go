package sls_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
	"github.com/wasmtail/wasmtail/agent/internal/output/sls"
	"github.com/wasmtail/wasmtail/agent/internal/slslocal"
)

// nginxBatch is a batch of ~256 KiB of nginx access lines, as a reader
// makes them.
func nginxBatch() *batch.Batch {
	b := &batch.Batch{Source: &batch.Source{Pipeline: "p", Path: "/var/log/nginx/access.log",
		Tags: []batch.Tag{{Key: "__path__", Value: "/var/log/nginx/access.log"}, {Key: "__hostname__", Value: "web-1"}}}}
	var offs []int
	for i := 0; len(b.Buf) < 256<<10-300; i++ {
		offs = append(offs, len(b.Buf))
		b.Buf = fmt.Appendf(b.Buf, `10.0.%d.%d - - [26/Nov/2026:10:00:%02d +0000] "GET /api/v1/items/%d?seq=%09d HTTP/1.1" 200 %d "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"`+"\n",
			i%256, i%200, i%60, i%1000, i, 100+i%9000)
	}
	offs = append(offs, len(b.Buf))
	for i := 0; i+1 < len(offs); i++ {
		b.AddRecord(1764151200, 0, b.Buf[offs[i]:offs[i+1]-1])
	}
	b.End = int64(len(b.Buf))
	return b
}

// BenchmarkExport measures Export of 256 KiB nginx batches to the local
// endpoint, per compression and signature. The endpoint discards what it
// accepts but checks every request, in this process: the figures include
// its CPU (agent/e2e's BenchmarkSLSvsBlackhole measures the agent alone).
func BenchmarkExport(b *testing.B) {
	for _, tc := range []struct{ comp, auth string }{{"lz4", "v1"}, {"lz4", "v4"}, {"zstd", "v1"}, {"none", "v1"}} {
		b.Run(tc.comp+"/"+tc.auth, func(b *testing.B) {
			srv := slslocal.Start(b, slslocal.Options{Discard: true})
			cfg := testConfig(srv)
			cfg.CompressType, cfg.AuthVersion = tc.comp, tc.auth
			f, err := sls.New(cfg, sls.Settings{Name: "bench", Pipeline: "p", Credentials: testCreds,
				Metrics: metrics.New(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), HostIP: "10.0.0.1"})
			if err != nil {
				b.Fatal(err)
			}
			if err := f.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer f.Shutdown(context.Background())
			bt := nginxBatch()
			b.SetBytes(int64(len(bt.Buf)))
			b.ReportAllocs()
			for b.Loop() {
				if err := f.Export(context.Background(), bt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
