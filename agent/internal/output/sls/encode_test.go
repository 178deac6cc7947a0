package sls

import (
	"encoding/binary"
	"testing"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/gogo/protobuf/proto"
	"github.com/pierrec/lz4/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
)

// TestEncodeMatchesSDK checks that appendLogGroup writes the very bytes the
// SDK's gogo-protobuf marshaller writes for the same LogGroup.
func TestEncodeMatchesSDK(t *testing.T) {
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'a' + byte(i%26)
	}
	b := &batch.Batch{}
	b.AddRecord(1700000000, 123456789, []byte("GET /index.html 200"))
	b.AddRecord(1700000001, 0, []byte(""))
	b.AddRecord(1700000002, 999999999, long)
	b.AppendToLast(batch.Field{Key: "status", Value: []byte("200")})
	b.AppendToLast(batch.Field{Key: "ключ", Value: []byte("значение")})
	tests := []struct {
		name  string
		meta  groupMeta
		nanos bool
	}{
		{name: "bare"},
		{name: "nanos", nanos: true},
		{name: "topic source tags", meta: groupMeta{topic: "web", source: "10.0.0.1",
			tags: []batch.Tag{{Key: "__path__", Value: "/var/log/a.log"}, {Key: "__pack_id__", Value: "0123456789ABCDEF-1f"}}}, nanos: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lg := &slssdk.LogGroup{}
			if tt.meta.topic != "" {
				lg.Topic = proto.String(tt.meta.topic)
			}
			if tt.meta.source != "" {
				lg.Source = proto.String(tt.meta.source)
			}
			for _, tg := range tt.meta.tags {
				lg.LogTags = append(lg.LogTags, &slssdk.LogTag{Key: proto.String(tg.Key), Value: proto.String(tg.Value)})
			}
			size := tt.meta.len()
			for i := range b.Records {
				r := &b.Records[i]
				l := &slssdk.Log{Time: proto.Uint32(uint32(r.Sec))}
				for _, f := range r.Fields {
					l.Contents = append(l.Contents, &slssdk.LogContent{Key: proto.String(f.Key), Value: proto.String(string(f.Value))})
				}
				if tt.nanos {
					l.TimeNs = proto.Uint32(uint32(r.Nsec))
				}
				lg.Logs = append(lg.Logs, l)
				size += logLen(r, tt.nanos)
			}
			want, err := proto.Marshal(lg)
			require.NoError(t, err)
			var lens []int
			for i := range b.Records {
				lens = append(lens, logBodyLen(&b.Records[i], tt.nanos))
			}
			assert.Equal(t, want, appendLogGroup(nil, b.Records, lens, &tt.meta, tt.nanos))
			assert.Equal(t, len(want), size, "computed size")
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  *slssdk.Error
		want errClass
	}{
		{name: "network", err: &slssdk.Error{HTTPCode: -1, Code: "ClientError"}, want: retryable},
		{name: "503", err: &slssdk.Error{HTTPCode: 503, Code: "ServerBusy"}, want: retryable},
		{name: "500", err: &slssdk.Error{HTTPCode: 500, Code: "InternalServerError"}, want: retryable},
		{name: "quota", err: &slssdk.Error{HTTPCode: 403, Code: "WriteQuotaExceed"}, want: retryable},
		{name: "shard quota", err: &slssdk.Error{HTTPCode: 403, Code: "ShardWriteQuotaExceed"}, want: retryable},
		{name: "401", err: &slssdk.Error{HTTPCode: 401, Code: "Unauthorized"}, want: unauthorized},
		{name: "logstore missing", err: &slssdk.Error{HTTPCode: 404, Code: "LogStoreNotExist"}, want: retryable},
		{name: "too large", err: &slssdk.Error{HTTPCode: 400, Code: "PostBodyTooLarge"}, want: rejected},
		{name: "invalid", err: &slssdk.Error{HTTPCode: 400, Code: "PostBodyInvalid"}, want: rejected},
		{name: "413", err: &slssdk.Error{HTTPCode: 413, Code: "x"}, want: rejected},
		{name: "clock", err: &slssdk.Error{HTTPCode: 400, Code: "RequestTimeTooSkewed"}, want: retryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, classify(tt.err))
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct{ in, sdk, dial string }{
		{"cn-hangzhou.log.aliyuncs.com", "cn-hangzhou.log.aliyuncs.com", ""},
		{"https://cn-hangzhou.log.aliyuncs.com", "https://cn-hangzhou.log.aliyuncs.com", ""},
		{"127.0.0.1:9871", "127.0.0.1:9871", "127.0.0.1:9871"},
		{"http://127.0.0.1:9871", "http://127.0.0.1:9871", "127.0.0.1:9871"},
		{"10.0.0.1", "10.0.0.1", "10.0.0.1:80"},
		{"https://10.0.0.1", "https://10.0.0.1", "10.0.0.1:443"},
		{"localhost:9871", "localhost:9871", "localhost:9871"},
	}
	for _, tt := range tests {
		sdk, dial := parseEndpoint(tt.in)
		assert.Equal(t, tt.sdk, sdk, tt.in)
		assert.Equal(t, tt.dial, dial, tt.in)
	}
}

func TestUvarintLen(t *testing.T) {
	for _, x := range []uint64{0, 1, 127, 128, 16383, 16384, 1<<21 - 1, 1 << 21, 1<<63 + 5} {
		assert.Equal(t, len(binary.AppendUvarint(nil, x)), uvarintLen(x), "x=%d", x)
	}
}

func TestStoreLZ4(t *testing.T) {
	for _, n := range []int{0, 1, 14, 15, 16, 269, 270, 271, 1000, 70000} {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(i*7919 + i/3)
		}
		dst := make([]byte, lz4.CompressBlockBound(n))
		m := storeLZ4(src, dst)
		got := make([]byte, n)
		k, err := lz4.UncompressBlock(dst[:m], got)
		require.NoError(t, err, "n=%d", n)
		assert.Equal(t, src, got[:k], "n=%d", n)
	}
}
