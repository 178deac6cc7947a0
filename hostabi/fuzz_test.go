package hostabi_test

import (
	"encoding/binary"
	"testing"

	"github.com/wasmtail/wasmtail/hostabi"
)

// FuzzEncode builds a batch from arbitrary bytes (records, keys and
// values cut out of data), encodes it, parses it back as a guest would and
// checks every record, field and the host's mapping of values.
func FuzzEncode(f *testing.F) {
	f.Add([]byte("\x02\x01content\x00a=1\x01content\x00b"), uint32(0x10000))
	f.Add([]byte("\x00"), uint32(8))
	f.Add([]byte("\x01\x03k\x00\x00k\x00v\x00x\x00yy"), uint32(0x7fff0000))
	f.Fuzz(func(t *testing.T, data []byte, base uint32) {
		base &^= 7
		type field struct{ k, v string }
		var recs [][]field
		var e hostabi.Encoder
		// Grammar: a record count byte, then per record a field count byte,
		// then fields as key\0value\0 (a missing key becomes "k").
		if len(data) == 0 {
			return
		}
		nrec := int(data[0] % 8)
		data = data[1:]
		next := func() string {
			for i, c := range data {
				if c == 0 {
					s := string(data[:i])
					data = data[i+1:]
					return s
				}
			}
			s := string(data)
			data = nil
			return s
		}
		for r := range nrec {
			e.AddRecord(int64(r)-3, int32(r))
			nf := 0
			if len(data) > 0 {
				nf = int(data[0] % 5)
				data = data[1:]
			}
			var fs []field
			for range nf {
				k, v := next(), next()
				if k == "" || len(k) > hostabi.MaxKeyLen {
					k = "k"
				}
				e.AddField(k, []byte(v))
				fs = append(fs, field{k, v})
			}
			recs = append(recs, fs)
		}
		if uint64(base)+uint64(e.Size()) > 1<<32 {
			return
		}
		buf := make([]byte, e.Size())
		e.Encode(buf, base)
		v, err := hostabi.ParseInput(buf, base, base, uint32(len(buf)), nrec)
		if err != nil {
			t.Fatalf("parse of an encoded batch: %v", err)
		}
		if v.Len() != nrec {
			t.Fatalf("got %d records, want %d", v.Len(), nrec)
		}
		j := 0
		for i, fs := range recs {
			h := v.Record(i)
			if h.Sec != int64(i)-3 || h.Nsec != int32(i) || h.NFields != len(fs) {
				t.Fatalf("record %d: got %+v", i, h)
			}
			for _, want := range fs {
				f := v.Field(j)
				j++
				if k := string(v.Bytes(f.KeyPtr, f.KeyLen)); k != want.k {
					t.Fatalf("key: got %q, want %q", k, want.k)
				}
				if got := string(v.Bytes(f.ValPtr, f.ValLen)); got != want.v {
					t.Fatalf("value: got %q, want %q", got, want.v)
				}
				hv, ok := e.Value(f.ValPtr, f.ValLen)
				if !ok || string(hv) != want.v {
					t.Fatalf("Value(%#x, %d) = %q, %v; want %q", f.ValPtr, f.ValLen, hv, ok, want.v)
				}
				if k, ok := e.Key(f.KeyPtr, f.KeyLen); !ok || k != want.k {
					t.Fatalf("Key: got %q, %v", k, ok)
				}
			}
		}
		// The output layout is the input minus its bytes.
		if _, err := hostabi.Parse(buf, base, base, uint32(hostabi.HeaderSize+hostabi.RecordSize*nrec+hostabi.FieldSize*j), nrec); err != nil {
			t.Fatalf("the input's tables are not a valid output: %v", err)
		}
	})
}

// FuzzParse hands Parse arbitrary guest memory and results, as a hostile
// guest would: it must never panic, and whatever it accepts must be safe to
// read through the View.
func FuzzParse(f *testing.F) {
	seed := make([]byte, 128)
	le := binary.LittleEndian
	le.PutUint32(seed[0:], 1)
	le.PutUint32(seed[4:], 1)
	le.PutUint32(seed[20:], 1)
	copy(seed[24:], []byte{100, 0, 0, 0, 3, 0, 0, 0, 110, 0, 0, 0, 4, 0, 0, 0})
	f.Add(seed, uint32(0), uint32(40), uint8(1))
	f.Add(seed, uint32(8), uint32(8), uint8(0))
	f.Add([]byte{}, uint32(0), uint32(0), uint8(0))
	f.Add(seed, uint32(0xfffffff8), uint32(16), uint8(4))
	f.Fuzz(func(t *testing.T, mem []byte, ptr, n uint32, max uint8) {
		v, err := hostabi.Parse(mem, 0, ptr, n, int(max))
		if err != nil {
			return
		}
		if v.Len() > int(max) {
			t.Fatalf("%d records accepted, max %d", v.Len(), max)
		}
		j := 0
		for i := range v.Len() {
			h := v.Record(i)
			for range h.NFields {
				f := v.Field(j)
				j++
				_ = v.Bytes(f.KeyPtr, f.KeyLen)
				_ = v.Bytes(f.ValPtr, f.ValLen)
			}
		}
		if j != v.NumFields() {
			t.Fatalf("walked %d fields, view has %d", j, v.NumFields())
		}
	})
}
