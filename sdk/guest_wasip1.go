//go:build wasip1

package sdk

import (
	"unsafe"

	"github.com/wasmtail/wasmtail/hostabi"
)

// The guest side of hostabi: these exports are the whole ABI; a module
// author never sees them.

var (
	proc   Processor
	inBuf  []byte
	outBuf []uint64 // 8-byte aligned output table
	theB   Batch
	keys   = map[string]string{}
)

// Register makes p the module's processor. Call it from an init function
// of the main package.
func Register(p Processor) { proc = p }

//go:wasmimport wasmtail log
func hostLog(level int32, ptr uint32, n uint32)

// Log writes a line to the agent's log, tagged with the module's name.
func Log(level Level, msg string) {
	if msg == "" {
		return
	}
	hostLog(int32(level), addr(unsafe.StringData(msg)), uint32(len(msg)))
}

func addr(p *byte) uint32 { return uint32(uintptr(unsafe.Pointer(p))) }

//go:wasmexport wasmtail_abi_v1
func abiV1() {}

//go:wasmexport wasmtail_buffer
func wasmtailBuffer(size uint32) uint32 {
	if cap(inBuf) < int(size) {
		// Large Go allocations are 8-byte aligned, as the ABI wants.
		inBuf = make([]byte, size)
	}
	inBuf = inBuf[:cap(inBuf)]
	return addr(unsafe.SliceData(inBuf))
}

//go:wasmexport wasmtail_init
func wasmtailInit(ptr, n uint32) int32 {
	if proc == nil {
		Log(LevelError, "no processor: call sdk.Register in an init function of package main")
		return hostabi.ResultError
	}
	base := addr(unsafe.SliceData(inBuf))
	if ptr < base || uint64(ptr-base)+uint64(n) > uint64(len(inBuf)) {
		Log(LevelError, "config outside the buffer")
		return hostabi.ResultError
	}
	cfg := append([]byte(nil), inBuf[ptr-base:ptr-base+n]...)
	if err := proc.Init(cfg); err != nil {
		Log(LevelError, "init: "+err.Error())
		return hostabi.ResultBadConfig
	}
	return hostabi.ResultOK
}

//go:wasmexport wasmtail_process
func wasmtailProcess(count, nbytes uint32) int64 {
	base := addr(unsafe.SliceData(inBuf))
	if uint64(nbytes) > uint64(len(inBuf)) {
		Log(LevelError, "batch larger than the buffer")
		return -hostabi.ResultBadInput
	}
	v, err := hostabi.ParseInput(inBuf[:nbytes], base, base, nbytes, int(count))
	if err != nil {
		Log(LevelError, "input: "+err.Error())
		return -hostabi.ResultBadInput
	}
	b := &theB
	b.Reset()
	j := 0
	for i := range v.Len() {
		h := v.Record(i)
		fs := b.Fields(h.NFields)
		for range h.NFields {
			f := v.Field(j)
			j++
			fs = append(fs, Field{Key: key(v.Bytes(f.KeyPtr, f.KeyLen)), Value: v.Bytes(f.ValPtr, f.ValLen)})
		}
		b.Records = append(b.Records, Record{Sec: h.Sec, Nsec: h.Nsec, Fields: fs})
	}
	if err := proc.Process(b); err != nil {
		Log(LevelError, "process: "+err.Error())
		return -hostabi.ResultError
	}
	if len(b.Records) > int(count) {
		Log(LevelError, "Process returned more records than it was given")
		return -hostabi.ResultError
	}
	return encode(b.Records)
}

// key interns an input key so a processor may keep it.
func key(b []byte) string {
	if s, ok := keys[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(keys) < 4096 {
		keys[s] = s
	}
	return s
}

// encode writes the output table; its fields point at the records' own
// bytes, wherever they live in memory. Everything it points at stays alive
// until the next call: the records are in theB, the table in outBuf.
func encode(recs []Record) int64 {
	nf := 0
	for i := range recs {
		nf += len(recs[i].Fields)
	}
	size := hostabi.HeaderSize + hostabi.RecordSize*len(recs) + hostabi.FieldSize*nf
	if cap(outBuf)*8 < size {
		outBuf = make([]uint64, (size+7)/8+len(recs)*2)
	}
	out := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(outBuf))), size)
	hostabi.PutHeader(out, uint32(len(recs)), uint32(nf))
	o := hostabi.HeaderSize
	fo := o + hostabi.RecordSize*len(recs)
	for i := range recs {
		r := &recs[i]
		hostabi.PutRecord(out[o:], hostabi.RecordHeader{Sec: r.Sec, Nsec: r.Nsec, NFields: len(r.Fields)})
		o += hostabi.RecordSize
		for _, f := range r.Fields {
			var vp uint32
			if len(f.Value) > 0 {
				vp = addr(unsafe.SliceData(f.Value))
			}
			hostabi.PutField(out[fo:], hostabi.FieldRef{
				KeyPtr: addr(unsafe.StringData(f.Key)), KeyLen: uint32(len(f.Key)),
				ValPtr: vp, ValLen: uint32(len(f.Value)),
			})
			fo += hostabi.FieldSize
		}
	}
	if size == hostabi.HeaderSize && len(recs) == 0 {
		return 0 // no records
	}
	return int64(addr(&out[0]))<<32 | int64(size)
}
