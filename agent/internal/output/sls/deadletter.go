package sls

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"unsafe"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/jsonstr"
)

// Keys the dead-letter file adds to each record's JSON object.
const (
	deadErrorKey  = "__deadletter_error__"
	deadFileKey   = "__deadletter_file__"
	deadOffsetKey = "__deadletter_offset__"
)

// deadLetter writes record i of b to the dead-letter file, one JSON object
// per line (DESIGN.md §3 form: the contents, __time__, the tags as
// __tag__:<name>, plus why and where from), counts it and logs it. The line
// is written with write(2) before Export returns, so it survives a crash.
func (f *Flusher) deadLetter(b *batch.Batch, i int, e *slssdk.Error) error {
	r := &b.Records[i]
	off := recordOffset(b, r)
	path := sourcePath(b)
	reason := "rejected"
	if e != nil {
		reason = fmt.Sprintf("%d %s: %s", e.HTTPCode, e.Code, e.Message)
	}
	line := appendDeadLetter(nil, b, r, reason, path, off)

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deadFile == nil {
		if err := os.MkdirAll(filepath.Dir(f.deadPath), 0o750); err != nil {
			return fmt.Errorf("dead-letter file: %w", err)
		}
		fh, err := os.OpenFile(f.deadPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("dead-letter file: %w", err)
		}
		f.deadFile = fh
	}
	if _, err := f.deadFile.Write(line); err != nil {
		return fmt.Errorf("dead-letter file %s: %w", f.deadPath, err)
	}
	f.dead.Inc()
	f.log.Error("log rejected by SLS for good, written to the dead-letter file",
		"pipeline", f.set.Pipeline, "file", path, "offset", off, "bytes", logLen(r, false),
		"reason", reason, "deadletter", f.deadPath)
	return nil
}

// recordOffset is the file offset of r's first byte when its first field
// points into the batch's buffer, else the batch's start.
func recordOffset(b *batch.Batch, r *batch.Record) int64 {
	if len(b.Buf) == 0 {
		return b.Begin
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b.Buf)))
	for _, fl := range r.Fields {
		if len(fl.Value) == 0 {
			continue
		}
		p := uintptr(unsafe.Pointer(unsafe.SliceData(fl.Value)))
		if p >= base && p < base+uintptr(len(b.Buf)) {
			return b.Begin + int64(p-base)
		}
	}
	return b.Begin
}

func appendDeadLetter(dst []byte, b *batch.Batch, r *batch.Record, reason, path string, off int64) []byte {
	dst = append(dst, '{')
	for _, fl := range r.Fields {
		dst = jsonstr.Append(dst, fl.Key)
		dst = append(dst, ':')
		dst = jsonstr.Append(dst, string(fl.Value))
		dst = append(dst, ',')
	}
	dst = append(dst, `"__time__":"`...)
	dst = strconv.AppendInt(dst, r.Sec, 10)
	dst = append(dst, `",`...)
	if b.Source != nil {
		for _, t := range b.Source.Tags {
			dst = jsonstr.Append(dst, "__tag__:"+t.Key)
			dst = append(dst, ':')
			dst = jsonstr.Append(dst, t.Value)
			dst = append(dst, ',')
		}
	}
	for _, kv := range [][2]string{{deadErrorKey, reason}, {deadFileKey, path}, {deadOffsetKey, strconv.FormatInt(off, 10)}} {
		dst = jsonstr.Append(dst, kv[0])
		dst = append(dst, ':')
		dst = jsonstr.Append(dst, kv[1])
		dst = append(dst, ',')
	}
	dst[len(dst)-1] = '}'
	return append(dst, '\n')
}
