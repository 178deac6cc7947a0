package hostabi

import (
	"encoding/binary"
	"sort"
	"unsafe"
)

// Encoder builds the input batch the host writes into a guest. Records and
// fields are collected first (values are referenced, not copied), then
// Encode writes the whole batch in one pass straight into guest memory.
// After Encode, Value and Key map ranges of the guest's output that lie in
// the input back to the host's own bytes, so they are not copied again.
//
// An Encoder is reused batch after batch; it is not safe for concurrent use.
type Encoder struct {
	recs    []encRecord
	fields  []encField
	keys    []string
	keyLen  int
	dataLen int

	base    uint32
	keyAddr []uint32
	valAddr []uint32
	hint    int
	lastKey int // index of the last field's key
}

type encRecord struct {
	sec     int64
	nsec    int32
	nfields uint32
	first   int // index of its first field
}

type encField struct {
	key   int // index into keys
	value []byte
}

// Reset empties the encoder, keeping its capacity.
func (e *Encoder) Reset() {
	clear(e.fields)
	e.recs, e.fields = e.recs[:0], e.fields[:0]
	e.keys, e.keyAddr, e.valAddr = e.keys[:0], e.keyAddr[:0], e.valAddr[:0]
	e.keyLen, e.dataLen, e.hint, e.lastKey = 0, 0, 0, 0
}

// AddRecord starts a record; the fields added next belong to it.
func (e *Encoder) AddRecord(sec int64, nsec int32) {
	e.recs = append(e.recs, encRecord{sec: sec, nsec: nsec, first: len(e.fields)})
}

// AddField adds a field to the last record. The value is referenced until
// the next Reset and must not change before Encode.
func (e *Encoder) AddField(key string, value []byte) {
	k := e.lastKey
	if k >= len(e.keys) || !same(e.keys[k], key) {
		k = e.keyIndex(key)
		e.lastKey = k
	}
	e.fields = append(e.fields, encField{key: k, value: value})
	e.dataLen += len(value)
	e.recs[len(e.recs)-1].nfields++
}

// keyIndex returns the index of key in e.keys, adding it if new.
func (e *Encoder) keyIndex(key string) int {
	for i, s := range e.keys {
		if s == key {
			return i
		}
	}
	e.keys = append(e.keys, key)
	e.keyLen += len(key)
	return len(e.keys) - 1
}

// same reports whether a == b, without a call when both are the same
// string (records usually share their keys' strings).
func same(a, b string) bool {
	return len(a) == len(b) && (unsafe.StringData(a) == unsafe.StringData(b) || a == b)
}

// Count is the number of records added.
func (e *Encoder) Count() int { return len(e.recs) }

// Size is the length of the encoded batch.
func (e *Encoder) Size() int {
	return HeaderSize + RecordSize*len(e.recs) + FieldSize*len(e.fields) + e.keyLen + e.dataLen
}

// Encode writes the batch into dst, which is guest memory at address base
// and at least Size bytes long.
//
//	base ─▶ header │ records │ fields │ keys │ values
func (e *Encoder) Encode(dst []byte, base uint32) {
	e.base = base
	le := binary.LittleEndian
	n := e.Size()
	dst = dst[:n]
	le.PutUint32(dst[0:], uint32(len(e.recs)))
	le.PutUint32(dst[4:], uint32(len(e.fields)))
	off := HeaderSize
	for _, r := range e.recs {
		rd := (*[RecordSize]byte)(dst[off:])
		le.PutUint64(rd[0:], uint64(r.sec))
		le.PutUint32(rd[8:], uint32(r.nsec))
		le.PutUint32(rd[12:], r.nfields)
		off += RecordSize
	}
	fieldOff := off
	data := fieldOff + FieldSize*len(e.fields)
	e.keyAddr = e.keyAddr[:0]
	for _, k := range e.keys {
		e.keyAddr = append(e.keyAddr, base+uint32(data))
		data += copy(dst[data:], k)
	}
	if cap(e.valAddr) < len(e.fields) {
		e.valAddr = make([]uint32, len(e.fields), 2*len(e.fields))
	}
	e.valAddr = e.valAddr[:len(e.fields)]
	for i, f := range e.fields {
		va := base + uint32(data)
		e.valAddr[i] = va
		data += copy(dst[data:], f.value)
		fd := (*[FieldSize]byte)(dst[fieldOff:])
		le.PutUint32(fd[0:], e.keyAddr[f.key])
		le.PutUint32(fd[4:], uint32(len(e.keys[f.key])))
		le.PutUint32(fd[8:], va)
		le.PutUint32(fd[12:], uint32(len(f.value)))
		fieldOff += FieldSize
	}
}

// Value returns the host bytes behind the guest range [ptr, ptr+n) when it
// lies inside one value of the last encoded batch. Guests usually answer
// with ranges in input order, so the lookup starts where the last one ended.
func (e *Encoder) Value(ptr, n uint32) ([]byte, bool) {
	if n == 0 {
		return nil, true
	}
	if h := e.hint; h < len(e.valAddr) {
		if v, ok := e.within(h, ptr, n); ok {
			return v, true
		}
		if h+1 < len(e.valAddr) {
			if v, ok := e.within(h+1, ptr, n); ok {
				e.hint = h + 1
				return v, true
			}
		}
	}
	i := sort.Search(len(e.valAddr), func(i int) bool { return e.valAddr[i] > ptr }) - 1
	if i < 0 {
		return nil, false
	}
	v, ok := e.within(i, ptr, n)
	if ok {
		e.hint = i
	}
	return v, ok
}

func (e *Encoder) within(i int, ptr, n uint32) ([]byte, bool) {
	a := e.valAddr[i]
	v := e.fields[i].value
	if ptr < a || uint64(ptr)+uint64(n) > uint64(a)+uint64(len(v)) {
		return nil, false
	}
	return v[ptr-a : ptr-a+n : ptr-a+n], true
}

// InputField reports whether f is input field m (counting across records)
// handed back unchanged: same key and same value, at the same addresses.
// A host uses it to keep whole records a guest did not touch.
func (e *Encoder) InputField(f FieldRef) (m int, ok bool) {
	if m, ok = e.exact(e.hint+1, f); ok {
		e.hint = m
		return m, true
	}
	if m, ok = e.exact(e.hint, f); ok {
		return m, true
	}
	i := sort.Search(len(e.valAddr), func(i int) bool { return e.valAddr[i] >= f.ValPtr })
	if m, ok = e.exact(i, f); ok {
		e.hint = m
	}
	return m, ok
}

func (e *Encoder) exact(m int, f FieldRef) (int, bool) {
	if m < 0 || m >= len(e.valAddr) || e.valAddr[m] != f.ValPtr || uint32(len(e.fields[m].value)) != f.ValLen {
		return 0, false
	}
	k := e.fields[m].key
	return m, e.keyAddr[k] == f.KeyPtr && uint32(len(e.keys[k])) == f.KeyLen
}

// RecordFields returns the index of input record k's first field and how
// many fields it has.
func (e *Encoder) RecordFields(k int) (first, n int) {
	return e.recs[k].first, int(e.recs[k].nfields)
}

// Key returns the host string of the input key encoded at exactly
// [ptr, ptr+n), so an output key copied from the input costs nothing.
func (e *Encoder) Key(ptr, n uint32) (string, bool) {
	for i, a := range e.keyAddr {
		if a == ptr && uint32(len(e.keys[i])) == n {
			return e.keys[i], true
		}
	}
	return "", false
}
