package sls

import (
	"strconv"
	"sync"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Header names the SDK signs; see compressBody.
const (
	headerCompressType = "x-log-compresstype"
	headerBodyRawSize  = "x-log-bodyrawsize"
)

// maxPooledBody bounds the compression buffers kept for reuse.
const maxPooledBody = 8 << 20

var (
	bodyPool = sync.Pool{New: func() any { return new([]byte) }}
	lz4Pool  = sync.Pool{New: func() any { return new(lz4.Compressor) }}
	// zstdEncoder is safe for concurrent EncodeAll calls; SpeedFastest is
	// what the SDK uses.
	zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
)

// compressBody compresses raw as f's CompressType says, the same way the
// SDK would (an LZ4 block, incompressible data stored as one literal run; a
// zstd frame), and returns the body, the headers that describe it (the SDK
// sets them before it signs the request) and a function that releases the
// body's buffer after the request.
func (f *Flusher) compressBody(raw []byte) (body []byte, headers map[string]string, release func(), err error) {
	if f.compress == slssdk.Compress_None {
		return raw, nil, func() {}, nil
	}
	bp := bodyPool.Get().(*[]byte)
	release = func() {
		if cap(*bp) <= maxPooledBody {
			bodyPool.Put(bp)
		}
	}
	typ := "lz4"
	switch f.compress {
	case slssdk.Compress_ZSTD:
		typ = "zstd"
		body = zstdEncoder.EncodeAll(raw, (*bp)[:0])
	default:
		bound := lz4.CompressBlockBound(len(raw))
		if cap(*bp) < bound {
			*bp = make([]byte, bound)
		}
		out := (*bp)[:bound]
		c := lz4Pool.Get().(*lz4.Compressor)
		n, cerr := c.CompressBlock(raw, out)
		lz4Pool.Put(c)
		if cerr != nil {
			release()
			return nil, nil, nil, cerr
		}
		if n == 0 { // incompressible: one literal run, as the SDK writes it
			n = storeLZ4(raw, out)
		}
		body = out[:n]
	}
	*bp = body
	return body, map[string]string{headerCompressType: typ, headerBodyRawSize: strconv.Itoa(len(raw))}, release, nil
}

// storeLZ4 writes src to dst as an LZ4 block of one literal run and returns
// its length; dst holds CompressBlockBound(len(src)) bytes.
func storeLZ4(src, dst []byte) int {
	n := len(src)
	i := 0
	if n < 15 {
		dst[0] = byte(n << 4)
		i = 1
	} else {
		dst[0] = 0xF0
		i = 1
		for r := n - 15; ; r -= 255 {
			if r < 255 {
				dst[i] = byte(r)
				i++
				break
			}
			dst[i] = 255
			i++
		}
	}
	return i + copy(dst[i:], src)
}
