//go:build wasip1

package sdk

import (
	"unsafe"

	"github.com/wasmtail/wasmtail/hostabi"
)

// The fast path of Lines in a module: it reads the host's tables and
// writes the answer's, with no Record or Field built. In Go's Wasm code a
// store of a Field (two pointers, write barriers) and every loop over
// fields costs tens of nanoseconds, which was half of a parser's time.

// lineState is what processLines keeps between calls.
type lineState struct {
	tpl    []rawField // per key: its address and length, no value
	copies [][]byte   // values Parse made outside its line, alive until the next call; len is what is used
}

var lines lineState

// setKeys records where l's keys are in memory (they stay there: l holds
// them).
func (s *lineState) setKeys(l *Lines) {
	s.tpl = make([]rawField, len(l.keys))
	for k, key := range l.keys {
		s.tpl[k] = rawField{keyPtr: addr(unsafe.StringData(key)), keyLen: uint32(len(key))}
	}
}

// keep returns v's address after copying it where it stays valid until the
// next call.
func (s *lineState) keep(v []byte) uint32 {
	n := len(s.copies)
	if n == 0 || cap(s.copies[n-1])-len(s.copies[n-1]) < len(v) {
		s.copies = append(s.copies, make([]byte, 0, max(len(v), chunkSize)))
		n++
	}
	c := &s.copies[n-1]
	at := len(*c)
	*c = append(*c, v...)
	return addr(&(*c)[at])
}

// processLines is wasmtail_process for a Lines: the input checks are the
// ones of wasmtailProcess.
func processLines(l *Lines, count, nbytes uint32) int64 {
	s := &lines
	if s.tpl == nil {
		if l.keys == nil {
			Log(LevelError, "process: Lines not initialised")
			return -hostabi.ResultError
		}
		s.setKeys(l)
	}
	// The host has read the last answer: its copies may go, and the newest
	// chunk be reused.
	if n := len(s.copies); n > 0 {
		newest := s.copies[n-1][:0]
		clear(s.copies)
		s.copies = append(s.copies[:0], newest)
	}

	recs, fields, ok := input(count, nbytes)
	if !ok {
		return -hostabi.ResultBadInput
	}
	if count == 0 {
		return 0
	}
	base, nf := addr(unsafe.SliceData(inBuf)), uint32(len(fields))

	// The answer has at most every input field plus len(keys) per record.
	nk := uint32(len(s.tpl))
	maxFields := uint64(nf) + uint64(count)*uint64(nk)
	size := uint64(hostabi.HeaderSize) + uint64(hostabi.RecordSize)*uint64(count) + uint64(hostabi.FieldSize)*maxFields
	if uint64(cap(outBuf))*8 < size {
		outBuf = make([]uint64, (size+7)/8)
	}
	op := unsafe.Pointer(unsafe.SliceData(outBuf))
	orecs := unsafe.Slice((*rawRecord)(unsafe.Add(op, hostabi.HeaderSize)), count)
	ofields := unsafe.Slice((*rawField)(unsafe.Add(op, uint64(hostabi.HeaderSize)+uint64(hostabi.RecordSize)*uint64(count))), maxFields)

	var srcPtr uint32 // the address of the source key in this batch, once seen
	srcLen := uint32(len(l.Source))
	vals, tpl := l.vals, s.tpl
	j, o := uint32(0), uint32(0)
	for i := range recs {
		r := &recs[i]
		m := r.nfields
		if uint64(j)+uint64(m) > uint64(nf) {
			Log(LevelError, "input: record fields outside the batch")
			return -hostabi.ResultBadInput
		}
		in := fields[j : j+m : j+m]
		j += m
		at := 0
		if m == 0 || srcPtr == 0 || in[0].keyPtr != srcPtr || in[0].keyLen != srcLen {
			if at, srcPtr = source(in, l.Source, srcPtr, base, nbytes); at < 0 {
				orecs[i] = *r
				o += uint32(copy(ofields[o:], in))
				continue
			}
		}
		f := &in[at]
		lp, ll := f.valPtr, f.valLen
		vp := uint64(lp) - uint64(base)
		if lp < base || vp+uint64(ll) > uint64(nbytes) {
			Log(LevelError, "input: value outside the batch")
			return -hostabi.ResultBadInput
		}
		pn := l.Parser.Parse(inBuf[vp:vp+uint64(ll):vp+uint64(ll)], vals)
		if pn <= 0 { // not parsed: the record as it came
			orecs[i] = *r
			if m == 1 {
				ofields[o] = in[0]
				o++
			} else {
				o += uint32(copy(ofields[o:], in))
			}
			continue
		}
		n := uint32(min(pn, int(nk)))
		orecs[i] = rawRecord{sec: r.sec, nsec: r.nsec, nfields: m - 1 + n}
		if m > 1 { // the other fields first
			o += uint32(copy(ofields[o:], in[:at]))
			o += uint32(copy(ofields[o:], in[at+1:]))
		}
		out := ofields[o : o+n : o+n]
		for k := range out {
			v := vals[k]
			out[k] = tpl[k]
			if len(v) > 0 {
				vp := addr(unsafe.SliceData(v))
				if vp < lp || uint64(vp)+uint64(len(v)) > uint64(lp)+uint64(ll) {
					vp = s.keep(v)
				}
				out[k].valPtr, out[k].valLen = vp, uint32(len(v))
			}
		}
		o += n
	}
	*(*[2]uint32)(op) = [2]uint32{count, o}
	size = uint64(hostabi.HeaderSize) + uint64(hostabi.RecordSize)*uint64(count) + uint64(hostabi.FieldSize)*uint64(o)
	return int64(addr((*byte)(op)))<<32 | int64(size)
}

// source returns the index of the field of in named src, or -1, and the
// address of src in this batch's keys (srcPtr, or the key found).
func source(in []rawField, src string, srcPtr, base, nbytes uint32) (int, uint32) {
	for k := range in {
		f := &in[k]
		if f.keyLen != uint32(len(src)) {
			continue
		}
		if f.keyPtr == srcPtr && srcPtr != 0 {
			return k, srcPtr
		}
		kp := uint64(f.keyPtr) - uint64(base)
		if f.keyPtr >= base && kp+uint64(f.keyLen) <= uint64(nbytes) && string(inBuf[kp:kp+uint64(f.keyLen)]) == src {
			return k, f.keyPtr
		}
	}
	return -1, srcPtr
}
