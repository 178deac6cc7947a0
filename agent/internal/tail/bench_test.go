package tail

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
)

// chunk is 256 KiB of nginx access lines.
func chunk() []byte {
	var sb strings.Builder
	for i := 0; sb.Len() < 256<<10; i++ {
		fmt.Fprintf(&sb, `10.0.%d.%d - - [26/Nov/2026:10:00:%02d +0800] "GET /api/v1/items/%d HTTP/1.1" 200 %d "-" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"`+"\n",
			i%256, i%199, i%60, i, i*7%5000)
	}
	s := sb.String()
	return []byte(s[:strings.LastIndexByte(s, '\n')+1])
}

func benchReader(b *testing.B, in func(m *Manager)) {
	m, err := New(Options{Pipeline: "bench", Input: defaultInput("/tmp/*.log"), Metrics: metrics.New()})
	if err != nil {
		b.Fatal(err)
	}
	if in != nil {
		in(m)
	}
	r := &reader{m: m}
	data := chunk()
	bt := &batch.Batch{Buf: make([]byte, 0, len(data))}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		bt.Reset()
		bt.Buf = append(bt.Buf, data...)
		r.frame(bt, false)
	}
	b.ReportMetric(float64(len(bt.Records)), "lines/op")
}

// BenchmarkFrameLines measures line splitting into records: no allocation
// and no copy per line (the copy into Buf stands for the read).
func BenchmarkFrameLines(b *testing.B) { benchReader(b, nil) }

// BenchmarkFrameLinesPositionMeta adds __file_offset__ to every record.
func BenchmarkFrameLinesPositionMeta(b *testing.B) {
	benchReader(b, func(m *Manager) { m.positionMeta = true })
}
