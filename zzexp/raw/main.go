//go:build wasip1

package main

import (
	"unsafe"
)

var inBuf []byte

func addr(p *byte) uint32 { return uint32(uintptr(unsafe.Pointer(p))) }

//go:wasmexport wasmtail_abi_v1
func abiV1() {}

//go:wasmexport wasmtail_buffer
func wasmtailBuffer(size uint32) uint32 {
	if cap(inBuf) < int(size) {
		inBuf = make([]byte, size)
	}
	inBuf = inBuf[:cap(inBuf)]
	return addr(unsafe.SliceData(inBuf))
}

//go:wasmexport wasmtail_init
func wasmtailInit(ptr, n uint32) int32 { return 0 }

type rawRecord struct {
	sec     int64
	nsec    int32
	nfields uint32
}

type rawField struct {
	keyPtr, keyLen, valPtr, valLen uint32
}

var mode = "0"
var sink uint32

//go:wasmexport wasmtail_process
func wasmtailProcess(count, nbytes uint32) int64 {
	p := unsafe.Pointer(&inBuf[0])
	nf := *(*uint32)(unsafe.Add(p, 4))
	tables := 8 + 16*count
	switch mode {
	case "1": // loop over fields, sum lengths
		fields := unsafe.Slice((*rawField)(unsafe.Add(p, tables)), nf)
		s := uint32(0)
		for i := range fields {
			s += fields[i].valLen
		}
		sink = s
	case "2": // loop over bytes of values, count spaces
		fields := unsafe.Slice((*rawField)(unsafe.Add(p, tables)), nf)
		s := uint32(0)
		base := addr(&inBuf[0])
		for i := range fields {
			v := inBuf[fields[i].valPtr-base : fields[i].valPtr-base+fields[i].valLen]
			for _, c := range v {
				if c == ' ' {
					s++
				}
			}
		}
		sink = s
	}
	return int64(addr((*byte)(p)))<<32 | int64(tables+16*nf)
}

func main() {}
