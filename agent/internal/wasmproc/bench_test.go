package wasmproc_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/examples/nginx"
	"github.com/wasmtail/wasmtail/sdk"
)

// refill puts lines back into b as fresh records, as a reader would.
func refill(b *batch.Batch, offs [][2]int) {
	b.Reset()
	for _, o := range offs {
		b.AddRecord(1700000000, 0, b.Buf[o[0]:o[1]])
	}
}

func benchBatch(lines []string) (*batch.Batch, [][2]int, int64) {
	b := newBatch(lines...)
	var offs [][2]int
	n := 0
	for _, l := range lines {
		offs = append(offs, [2]int{n, n + len(l)})
		n += len(l) + 1
	}
	return b, offs, int64(len(b.Buf))
}

// BenchmarkNginx parses the same 256 nginx access lines per op through the
// C guest, the Go guest, and natively (the same Go parser, no Wasm). MB/s
// is line bytes per second on one core.
func BenchmarkNginx(b *testing.B) {
	lines := nginxLines(256)
	for _, c := range []struct{ name, module string }{
		{"c", filepath.Join(repo, "examples", "nginx", "c", "nginx.wasm")},
		{"go", filepath.Join(repo, "examples", "nginx", "nginx.wasm")},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := newEnv(b)
			p := e.build(b, map[string]any{"Module": c.module})
			bt, offs, size := benchBatch(lines)
			buf := bt.Buf
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				bt.Buf = buf
				refill(bt, offs)
				if err := p.Process(context.Background(), bt); err != nil {
					b.Fatal(err)
				}
			}
			if _, ok := bt.Records[0].Get("status"); !ok {
				b.Fatal("not parsed")
			}
		})
	}
	b.Run("native", func(b *testing.B) {
		bt, offs, size := benchBatch(lines)
		buf := bt.Buf
		var sb sdk.Batch
		p := &sdk.Lines{Parser: nginx.Parser{}}
		if err := p.Init(nil); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			bt.Buf = buf
			refill(bt, offs)
			// What a native adapter does: view the records as SDK records,
			// run the parser, take the records back.
			sb.Reset()
			for _, r := range bt.Records {
				fs := sb.Fields(len(r.Fields))
				for _, f := range r.Fields {
					fs = append(fs, sdk.Field{Key: f.Key, Value: f.Value})
				}
				sb.Records = append(sb.Records, sdk.Record{Sec: r.Sec, Nsec: r.Nsec, Fields: fs})
			}
			if err := p.Process(&sb); err != nil {
				b.Fatal(err)
			}
			bt.Records = bt.Records[:0]
			for _, r := range sb.Records {
				fs := bt.NewFields()
				for _, f := range r.Fields {
					fs = bt.AppendField(fs, batch.Field{Key: f.Key, Value: f.Value})
				}
				bt.Records = append(bt.Records, batch.Record{Sec: r.Sec, Nsec: r.Nsec, Fields: fs})
			}
		}
	})
}

// BenchmarkIdentity is the boundary through the whole processor: batch
// records encoded, the identity module called, records rebuilt (pointing
// back into the batch's buffer). ns/record is the overhead per record.
func BenchmarkIdentity(b *testing.B) {
	e := newEnv(b)
	p := e.build(b, map[string]any{"Module": filepath.Join(repo, "runtime", "testdata", "identity.wasm")})
	lines := nginxLines(256)
	bt, offs, size := benchBatch(lines)
	buf := bt.Buf
	// Refilling the batch is the reader's work, not the boundary's: time it
	// alone and take it out of ns/record (StopTimer per op costs more).
	const warm = 2000
	start := time.Now()
	for range warm {
		bt.Buf = buf
		refill(bt, offs)
	}
	refillNs := float64(time.Since(start).Nanoseconds()) / warm
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		bt.Buf = buf
		refill(bt, offs)
		if err := p.Process(context.Background(), bt); err != nil {
			b.Fatal(err)
		}
	}
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric((perOp-refillNs)/float64(len(lines)), "ns/record")
}
