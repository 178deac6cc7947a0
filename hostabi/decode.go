package hostabi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrEncoding is wrapped by every error Parse returns: the batch breaks the
// ABI (a pointer outside memory, a count over the limit, a bad length).
var ErrEncoding = errors.New("batch encoding")

// View is a parsed, bounds-checked batch in a guest's memory. Every
// pointer in it was checked by Parse, so its accessors cannot fail. A View
// is only valid while the memory it was parsed from is untouched.
type View struct {
	mem     []byte
	base    uint32
	off     uint32 // of the first record, in mem
	count   int
	nfields int
}

// RecordHeader is one record of a View.
type RecordHeader struct {
	Sec  int64
	Nsec int32
	// NFields is how many fields the record has; they follow the previous
	// record's fields in the View.
	NFields int
}

// FieldRef is one field of a View: guest addresses and lengths.
type FieldRef struct {
	KeyPtr, KeyLen, ValPtr, ValLen uint32
}

// Parse checks the batch at guest address ptr, n bytes long, in mem (guest
// memory starting at address base: the host passes all of memory and 0)
// and returns a View of it. The batch may hold at most maxRecords records;
// n must be exactly its encoded length, or 0 for an empty batch. Every
// record's fields, every key and every value must lie inside mem.
//
//	mem[ptr-base:] ─▶ header │ records │ fields     (exactly n bytes)
//	key and value pointers ─▶ anywhere in mem
func Parse(mem []byte, base, ptr, n uint32, maxRecords int) (View, error) {
	return parse(mem, base, ptr, n, maxRecords, false)
}

// ParseInput is Parse for an input batch, which the guest reads: n also
// covers the bytes section after the tables.
func ParseInput(mem []byte, base, ptr, n uint32, maxRecords int) (View, error) {
	return parse(mem, base, ptr, n, maxRecords, true)
}

func parse(mem []byte, base, ptr, n uint32, maxRecords int, input bool) (View, error) {
	if n == 0 {
		return View{mem: mem, base: base}, nil
	}
	memEnd := uint64(base) + uint64(len(mem))
	if ptr < base || uint64(ptr)+uint64(n) > memEnd {
		return View{}, fmt.Errorf("%w: batch [%#x, +%d) outside memory of %d bytes", ErrEncoding, ptr, n, memEnd)
	}
	if ptr%Align != 0 {
		return View{}, fmt.Errorf("%w: batch address %#x not %d-byte aligned", ErrEncoding, ptr, Align)
	}
	if n < HeaderSize {
		return View{}, fmt.Errorf("%w: batch of %d bytes, shorter than its header", ErrEncoding, n)
	}
	le := binary.LittleEndian
	b := mem[ptr-base : uint64(ptr-base)+uint64(n)]
	count, nfields := le.Uint32(b[0:]), le.Uint32(b[4:])
	if int64(count) > int64(maxRecords) {
		return View{}, fmt.Errorf("%w: %d records, more than the %d allowed", ErrEncoding, count, maxRecords)
	}
	if nfields > uint32(MaxFieldsPerRecord)*uint32(MaxRecords) {
		return View{}, fmt.Errorf("%w: %d fields, more than allowed", ErrEncoding, nfields)
	}
	want := uint64(HeaderSize) + uint64(RecordSize)*uint64(count) + uint64(FieldSize)*uint64(nfields)
	if uint64(n) != want && (!input || uint64(n) < want) {
		return View{}, fmt.Errorf("%w: %d records and %d fields take %d bytes, length says %d", ErrEncoding, count, nfields, want, n)
	}
	sum := uint64(0)
	for i := range int(count) {
		r := (*[RecordSize]byte)(b[HeaderSize+RecordSize*i:])
		nsec := int32(le.Uint32(r[8:]))
		nf := le.Uint32(r[12:])
		if nsec < 0 || nsec >= 1e9 {
			return View{}, fmt.Errorf("%w: record %d: nanoseconds %d out of range", ErrEncoding, i, nsec)
		}
		if nf > MaxFieldsPerRecord {
			return View{}, fmt.Errorf("%w: record %d: %d fields, more than %d", ErrEncoding, i, nf, MaxFieldsPerRecord)
		}
		sum += uint64(nf)
	}
	if sum != uint64(nfields) {
		return View{}, fmt.Errorf("%w: records hold %d fields, header says %d", ErrEncoding, sum, nfields)
	}
	fo := HeaderSize + RecordSize*int(count)
	for j := range int(nfields) {
		f := (*[FieldSize]byte)(b[fo+FieldSize*j:])
		kp, kl, vp, vl := le.Uint32(f[0:]), le.Uint32(f[4:]), le.Uint32(f[8:]), le.Uint32(f[12:])
		if kl == 0 || kl > MaxKeyLen {
			return View{}, fmt.Errorf("%w: field %d: key length %d not in 1..%d", ErrEncoding, j, kl, MaxKeyLen)
		}
		if kp < base || uint64(kp)+uint64(kl) > memEnd {
			return View{}, fmt.Errorf("%w: field %d: key [%#x, +%d) outside memory", ErrEncoding, j, kp, kl)
		}
		if vl > 0 && (vp < base || uint64(vp)+uint64(vl) > memEnd) {
			return View{}, fmt.Errorf("%w: field %d: value [%#x, +%d) outside memory", ErrEncoding, j, vp, vl)
		}
	}
	return View{mem: mem, base: base, off: ptr - base + HeaderSize, count: int(count), nfields: int(nfields)}, nil
}

// Len is the number of records.
func (v *View) Len() int { return v.count }

// NumFields is the number of fields of all records.
func (v *View) NumFields() int { return v.nfields }

// Record returns record i's header. Its fields are the NFields after those
// of the records before it.
func (v *View) Record(i int) RecordHeader {
	r := (*[RecordSize]byte)(v.mem[v.off+uint32(RecordSize*i):])
	le := binary.LittleEndian
	return RecordHeader{Sec: int64(le.Uint64(r[:])), Nsec: int32(le.Uint32(r[8:])), NFields: int(le.Uint32(r[12:]))}
}

// Field returns field j of the batch, counting across records.
func (v *View) Field(j int) FieldRef {
	f := (*[FieldSize]byte)(v.mem[v.off+uint32(RecordSize*v.count+FieldSize*j):])
	le := binary.LittleEndian
	return FieldRef{KeyPtr: le.Uint32(f[:]), KeyLen: le.Uint32(f[4:]), ValPtr: le.Uint32(f[8:]), ValLen: le.Uint32(f[12:])}
}

// Bytes returns the memory at [ptr, ptr+n), a range taken from a FieldRef
// of this View. The slice aliases guest memory: copy what you keep.
func (v *View) Bytes(ptr, n uint32) []byte {
	if n == 0 {
		return nil
	}
	return v.mem[ptr-v.base : ptr-v.base+n : ptr-v.base+n]
}

// PutHeader writes a batch header at b[0:HeaderSize].
func PutHeader(b []byte, count, nfields uint32) {
	binary.LittleEndian.PutUint32(b[0:], count)
	binary.LittleEndian.PutUint32(b[4:], nfields)
}

// PutRecord writes a record at b[0:RecordSize].
func PutRecord(b []byte, h RecordHeader) {
	binary.LittleEndian.PutUint64(b[0:], uint64(h.Sec))
	binary.LittleEndian.PutUint32(b[8:], uint32(h.Nsec))
	binary.LittleEndian.PutUint32(b[12:], uint32(h.NFields))
}

// PutField writes a field at b[0:FieldSize].
func PutField(b []byte, f FieldRef) {
	binary.LittleEndian.PutUint32(b[0:], f.KeyPtr)
	binary.LittleEndian.PutUint32(b[4:], f.KeyLen)
	binary.LittleEndian.PutUint32(b[8:], f.ValPtr)
	binary.LittleEndian.PutUint32(b[12:], f.ValLen)
}
