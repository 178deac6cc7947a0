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

// rawRecord and rawField are the ABI's record and field, as laid out in
// memory (hostabi.RecordSize, hostabi.FieldSize).
type rawRecord struct {
	sec     int64
	nsec    int32
	nfields uint32
}

type rawField struct {
	keyPtr, keyLen, valPtr, valLen uint32
}

// keyCache maps the host's key addresses in the current batch to interned
// strings: the host writes each distinct key once per batch, so a batch
// costs one lookup per distinct key instead of one per field.
type keyCache struct {
	ptr, n uint32
	s      string
}

var (
	kc    [8]keyCache
	kcLen int
)

// In Go's Wasm code every function call and taken branch passes through
// a dispatch loop, so this path avoids calls and loops where it can: it
// reads and writes the ABI's tables as Go structs in place.
//
//go:wasmexport wasmtail_process
func wasmtailProcess(count, nbytes uint32) int64 {
	if l, ok := proc.(*Lines); ok {
		return processLines(l, count, nbytes)
	}
	recs, fields, ok := input(count, nbytes)
	if !ok {
		return -hostabi.ResultBadInput
	}
	base, p, nf := addr(unsafe.SliceData(inBuf)), unsafe.Pointer(&inBuf[0]), uint32(len(fields))
	// The host lays out each batch's keys afresh: an address seen in the
	// last batch may hold another key now.
	kc, kcLen = [len(kc)]keyCache{}, 0
	b := &theB
	b.Reset()
	if cap(b.Records) < int(count) {
		b.Records = make([]Record, 0, count)
	}
	if cap(b.fields) < int(nf) {
		b.fields = make([]Field, 0, max(int(nf), 2*cap(b.fields)))
	}
	b.Records = b.Records[:count]
	all := b.fields[:nf]
	b.fields = all
	j := uint32(0)
	for i := range recs {
		r := &recs[i]
		n := r.nfields
		if uint64(j)+uint64(n) > uint64(nf) {
			Log(LevelError, "input: record fields outside the batch")
			return -hostabi.ResultBadInput
		}
		fs := all[j : j+n : j+n]
		if n == 1 { // the common case, without an inner loop
			f := &fields[j]
			if f.valPtr < base || uint64(f.valPtr-base)+uint64(f.valLen) > uint64(nbytes) {
				Log(LevelError, "input: value outside the batch")
				return -hostabi.ResultBadInput
			}
			fs[0].Value = unsafe.Slice((*byte)(unsafe.Add(p, f.valPtr-base)), f.valLen)
			if c := &kc[0]; c.ptr == f.keyPtr && c.n == f.keyLen {
				fs[0].Key = c.s
			} else {
				fs[0].Key = internKey(f, base, nbytes)
			}
		} else {
			for k := range fs {
				f := &fields[j+uint32(k)]
				if f.valPtr < base || uint64(f.valPtr-base)+uint64(f.valLen) > uint64(nbytes) {
					Log(LevelError, "input: value outside the batch")
					return -hostabi.ResultBadInput
				}
				fs[k].Value = unsafe.Slice((*byte)(unsafe.Add(p, f.valPtr-base)), f.valLen)
				fs[k].Key = internKey(f, base, nbytes)
			}
		}
		j += n
		b.Records[i] = Record{Sec: r.sec, Nsec: r.nsec, Fields: fs}
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

// input returns the record and field tables of the batch the host wrote
// to inBuf, after checking that they lie in it.
func input(count, nbytes uint32) ([]rawRecord, []rawField, bool) {
	tables := uint64(hostabi.HeaderSize) + uint64(hostabi.RecordSize)*uint64(count)
	if uint64(nbytes) > uint64(len(inBuf)) || tables > uint64(nbytes) {
		Log(LevelError, "input: batch larger than the buffer")
		return nil, nil, false
	}
	nf := *(*uint32)(unsafe.Pointer(&inBuf[4]))
	if tables+uint64(hostabi.FieldSize)*uint64(nf) > uint64(nbytes) {
		Log(LevelError, "input: fields outside the batch")
		return nil, nil, false
	}
	p := unsafe.Pointer(&inBuf[0])
	return unsafe.Slice((*rawRecord)(unsafe.Add(p, hostabi.HeaderSize)), count),
		unsafe.Slice((*rawField)(unsafe.Add(p, tables)), nf), true
}

// internKey returns the key of f as a string the processor may keep.
func internKey(f *rawField, base, nbytes uint32) string {
	for i := range kcLen {
		if c := &kc[i]; c.ptr == f.keyPtr && c.n == f.keyLen {
			return c.s
		}
	}
	if f.keyPtr < base || uint64(f.keyPtr-base)+uint64(f.keyLen) > uint64(nbytes) {
		return ""
	}
	s := key(inBuf[f.keyPtr-base : f.keyPtr-base+f.keyLen])
	if kcLen == len(kc) {
		kcLen = 0
	}
	kc[kcLen] = keyCache{ptr: f.keyPtr, n: f.keyLen, s: s}
	kcLen++
	return s
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
	if len(recs) == 0 {
		return 0 // no records
	}
	size := hostabi.HeaderSize + hostabi.RecordSize*len(recs) + hostabi.FieldSize*nf
	if cap(outBuf)*8 < size {
		outBuf = make([]uint64, (size+7)/8+len(recs)*2)
	}
	p := unsafe.Pointer(unsafe.SliceData(outBuf))
	*(*[2]uint32)(p) = [2]uint32{uint32(len(recs)), uint32(nf)}
	orecs := unsafe.Slice((*rawRecord)(unsafe.Add(p, hostabi.HeaderSize)), len(recs))
	ofields := unsafe.Slice((*rawField)(unsafe.Add(p, hostabi.HeaderSize+hostabi.RecordSize*len(recs))), nf)
	j := 0
	for i := range recs {
		r := &recs[i]
		orecs[i] = rawRecord{sec: r.Sec, nsec: r.Nsec, nfields: uint32(len(r.Fields))}
		for _, f := range r.Fields {
			var vp uint32
			if len(f.Value) > 0 {
				vp = addr(unsafe.SliceData(f.Value))
			}
			ofields[j] = rawField{keyPtr: addr(unsafe.StringData(f.Key)), keyLen: uint32(len(f.Key)), valPtr: vp, valLen: uint32(len(f.Value))}
			j++
		}
	}
	return int64(addr((*byte)(p)))<<32 | int64(size)
}
