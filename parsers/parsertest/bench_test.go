package parsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/wasmtail/wasmtail/hostabi"
	"github.com/wasmtail/wasmtail/parsers"
	"github.com/wasmtail/wasmtail/sdk"
)

// LoongCollector's benchmark regex for nginx lines.
const benchRegex = `^([^ ]*) ([^ ]*) ([^ ]*) \[([^\]]*)\] "(\S+) ([^\"]*) (\S*)" ([^ ]*) ([^ ]*) "([^\"]*)" "([^\"]*)"`

var agents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
	"curl/8.4.0", "aliyun-sdk-java", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15",
}

func nginxLines(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `10.%d.%d.%d - - [07/Jul/2022:10:%02d:%02d +0800] "GET /api/v1/items/%d?page=%d HTTP/1.1" %d %d "https://example.com/ref/%d" "%s"`,
			rng.IntN(256), rng.IntN(256), rng.IntN(256), rng.IntN(60), rng.IntN(60), rng.IntN(100000), rng.IntN(100),
			[]int{200, 200, 200, 404, 500}[rng.IntN(5)], rng.IntN(100000), rng.IntN(1000), agents[rng.IntN(len(agents))])
	}
	return out
}

func jsonLines(n int) [][]byte {
	rng := rand.New(rand.NewPCG(3, 4))
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"time":"2024-07-04T06:59:%02d.078Z","level":"%s","logger":"com.example.OrderService","thread":"http-nio-8080-exec-%d","trace_id":"%016x","msg":"order %d created for user %d","latency_ms":%d,"ok":true,"tags":{"region":"cn-hangzhou","env":"prod"}}`,
			rng.IntN(60), []string{"INFO", "WARN", "ERROR"}[rng.IntN(3)], rng.IntN(200), rng.Uint64(), rng.IntN(1e6), rng.IntN(1e5), rng.IntN(500))
	}
	return out
}

func csvLines(n int) [][]byte {
	rng := rand.New(rand.NewPCG(5, 6))
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `10.%d.%d.%d,07/Jul/2022:10:43:30 +0800,POST,/PutData?Category=YunOsAccountOpLog&id=%d,0.%03d,%d,200,%d,-,"aliyun-sdk-java, v%d"`,
			rng.IntN(256), rng.IntN(256), rng.IntN(256), rng.IntN(1e6), rng.IntN(1000), rng.IntN(1e5), rng.IntN(1e4), rng.IntN(10))
	}
	return out
}

func apsaraLines(n int) [][]byte {
	rng := rand.New(rand.NewPCG(7, 8))
	out := make([][]byte, n)
	for i := range out {
		s := i / 16 // 16 lines a second
		out[i] = fmt.Appendf(nil, "[2024-06-01 %02d:%02d:%02d.%06d]\t[%s]\t[%d]\t[src/server/handler.cpp:%d]\trequest_id:%016x\tuser:%d\tlatency_us:%d\tmsg:request served from cache",
			12+s/3600, s/60%60, s%60, rng.IntN(1e6), []string{"INFO", "WARNING", "ERROR"}[rng.IntN(3)], rng.IntN(1e5), rng.IntN(2000), rng.Uint64(), rng.IntN(1e6), rng.IntN(1e5))
	}
	return out
}

// timeLines are times in order, as a log has them (the parser's cache of
// the last second counts).
func timeLines(n int) [][]byte {
	rng := rand.New(rand.NewPCG(9, 10))
	out := make([][]byte, n)
	for i := range out {
		s := i / 16 // 16 lines a second, as a busy log has them
		out[i] = fmt.Appendf(nil, "2024-06-01 %02d:%02d:%02d.%06d", 12+s/3600, s/60%60, s%60, rng.IntN(1e6))
	}
	return out
}

type stage struct {
	typ string
	cfg map[string]any
}

var benches = []struct {
	name   string
	lines  func(int) [][]byte
	stages []stage
}{
	{"regex+filter", nginxLines, []stage{
		{"processor_parse_regex_native", map[string]any{"SourceKey": "content", "Regex": benchRegex,
			"Keys": []string{"remote_addr", "ident", "remote_user", "time_local", "method", "request", "protocol", "status", "bytes", "referer", "user_agent"}}},
		{"processor_filter_regex_native", map[string]any{"FilterKey": []string{"user_agent"}, "FilterRegex": []string{`.*Mozilla.*`}}},
	}},
	{"json", jsonLines, []stage{{"processor_parse_json_native", map[string]any{"SourceKey": "content"}}}},
	{"delimiter", csvLines, []stage{{"processor_parse_delimiter_native", map[string]any{"SourceKey": "content", "Separator": ",",
		"Keys": []string{"ip", "time", "method", "url", "request_time", "request_length", "status", "length", "ref_url", "browser"}}}}},
	{"nginx", nginxLines, []stage{{"processor_parse_nginx", map[string]any{"SourceKey": "content", "LogFormat": "combined"}}}},
	{"apache", nginxLines, []stage{{"processor_parse_apache", map[string]any{"SourceKey": "content", "LogFormat": "combined"}}}},
	{"timestamp", timeLines, []stage{{"processor_parse_timestamp_native", map[string]any{"SourceKey": "content", "SourceFormat": "%Y-%m-%d %H:%M:%S.%f", "SourceTimezone": "GMT+08:00"}}}},
	{"apsara", apsaraLines, []stage{{"processor_parse_apsara_native", map[string]any{"SourceKey": "content", "Timezone": "GMT+08:00"}}}},
}

const batchLines = 1024

// BenchmarkNative: one core, batches of 1024 lines through the parsers
// called directly (the agent's native path adds only the record copy).
func BenchmarkNative(b *testing.B) {
	for _, bc := range benches {
		b.Run(bc.name, func(b *testing.B) {
			lines := bc.lines(batchLines)
			var procs []sdk.Processor
			for _, s := range bc.stages {
				p := factoryB(b, s.typ).New()
				cfg, _ := json.Marshal(s.cfg)
				if err := p.Init(cfg); err != nil {
					b.Fatal(err)
				}
				procs = append(procs, p)
			}
			size := 0
			for _, l := range lines {
				size += len(l)
			}
			var sb sdk.Batch
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				sb.Reset()
				for _, l := range lines {
					fs := append(sb.Fields(1), sdk.Field{Key: "content", Value: l})
					sb.Records = append(sb.Records, sdk.Record{Fields: fs})
				}
				for _, p := range procs {
					if err := p.Process(&sb); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkWasm: the same through the committed .wasm modules and the
// runtime (encode, call, decode), one stage after the other.
func BenchmarkWasm(b *testing.B) {
	ctx := context.Background()
	w, err := NewWasm(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close(ctx)
	for _, bc := range benches {
		b.Run(bc.name, func(b *testing.B) {
			lines := bc.lines(batchLines)
			in := make([]Record, len(lines))
			size := 0
			for i, l := range lines {
				in[i] = Record{Fields: [][2]string{{"content", string(l)}}}
				size += len(l)
			}
			type mod = interface {
				Process(context.Context, *hostabi.Encoder, func(*hostabi.View)) (int, error)
			}
			var mods []mod
			for _, s := range bc.stages {
				cfg, _ := json.Marshal(s.cfg)
				m, err := w.Load(ctx, "../..", factoryB(b, s.typ), cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close(ctx)
				mods = append(mods, m)
			}
			b.SetBytes(int64(size))
			var enc hostabi.Encoder
			for b.Loop() {
				recs := in
				for _, m := range mods {
					enc.Reset()
					for _, r := range recs {
						enc.AddRecord(r.Sec, r.Nsec)
						for _, kv := range r.Fields {
							enc.AddField(kv[0], []byte(kv[1]))
						}
					}
					var next []Record
					if _, err := m.Process(ctx, &enc, func(v *hostabi.View) {
						if len(mods) == 1 {
							return // the last stage's output is not needed
						}
						j := 0
						for i := range v.Len() {
							h := v.Record(i)
							o := Record{}
							for range h.NFields {
								f := v.Field(j)
								j++
								o.Fields = append(o.Fields, [2]string{string(v.Bytes(f.KeyPtr, f.KeyLen)), string(v.Bytes(f.ValPtr, f.ValLen))})
							}
							next = append(next, o)
						}
					}); err != nil {
						b.Fatal(err)
					}
					recs = next
				}
			}
		})
	}
}

func factoryB(b *testing.B, typ string) parsers.Factory {
	for _, f := range parsers.Builtin() {
		if f.Type == typ {
			return f
		}
	}
	b.Fatalf("no built-in %q", typ)
	return parsers.Factory{}
}
