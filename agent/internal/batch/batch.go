// Package batch defines the unit that moves through the agent: a chunk of a
// file's bytes with the records found in it, kept as slices into that chunk.
//
// A batch is filled by one reader, handed to one pipeline worker, and
// acknowledged as a whole: the reader's checkpoint advances to End only after
// every flusher accepted the batch (or a filter dropped its records on
// purpose). No per-record allocation happens on the hot path: records and
// fields live in slices that are reused when the batch is recycled.
package batch

import (
	"slices"
	"sync"
)

// ContentKey is the key of the raw line (DESIGN.md §3).
const ContentKey = "content"

// ChunkSize is the size of a batch's buffer: how much of a file a reader
// reads at once. 512 KiB, as LoongCollector's file reader: against 256 KiB
// it halves the requests, calls and acknowledgements per byte, which cut
// the agent's CPU per byte into flusher_sls by about a fifth.
const ChunkSize = 512 << 10

// Field is one key/value content of a record. Value usually points into
// Batch.Buf; processors may point it at Batch.Extra or at constants.
type Field struct {
	Key   string
	Value []byte
}

// Record is one log event: a time and an ordered list of contents.
type Record struct {
	// Sec and Nsec are the event time. The reader sets the time the line was
	// read; a timestamp parser may replace it.
	Sec  int64
	Nsec int32
	// Fields is a sub-slice of the batch's field arena.
	Fields []Field
}

// Get returns the value of the first field named key.
func (r *Record) Get(key string) ([]byte, bool) {
	for i := range r.Fields {
		if r.Fields[i].Key == key {
			return r.Fields[i].Value, true
		}
	}
	return nil, false
}

// Tag is a batch-level key/value pair such as __path__ or __hostname__.
type Tag struct {
	Key, Value string
}

// Source describes where a batch came from. It is shared by all batches of one
// file and never mutated after the reader creates it.
type Source struct {
	Pipeline string
	Path     string
	Tags     []Tag
}

// Batch is a chunk of one file and the records found in it.
type Batch struct {
	Source *Source
	// Buf holds the bytes read from the file; records point into it.
	Buf []byte
	// Extra holds bytes that processors create (joined or rewritten values).
	Extra []byte
	// Records in file order.
	Records []Record
	// Begin and End are the file offsets covered by this batch: after it is
	// acknowledged, the file is safe up to End.
	Begin, End int64
	// Lines is the number of physical lines consumed (for metrics).
	Lines int

	fields []Field
	ack    func(error)
}

// AddRecord appends a record whose only content is `content` = line.
// line must point into b.Buf (or stay valid until the batch is released).
func (b *Batch) AddRecord(sec int64, nsec int32, line []byte) {
	n := len(b.fields)
	b.fields = append(b.fields, Field{Key: ContentKey, Value: line})
	b.Records = append(b.Records, Record{Sec: sec, Nsec: nsec, Fields: b.fields[n : n+1 : n+1]})
}

// AppendToLast adds a field to the last record added with AddRecord. Call it
// right after AddRecord, before any other record or field is added.
func (b *Batch) AppendToLast(f Field) {
	r := &b.Records[len(b.Records)-1]
	b.fields = append(b.fields, f)
	n := len(b.fields)
	r.Fields = b.fields[n-len(r.Fields)-1 : n : n]
}

// NewFields returns an empty field slice backed by the batch's arena, for a
// processor building the contents of a record. Append to it with AppendField.
func (b *Batch) NewFields() []Field {
	n := len(b.fields)
	return b.fields[n:n:n]
}

// AllocFields returns n fields from the batch's arena, for a processor to
// fill in by index: the contents of a record whose field count it knows.
func (b *Batch) AllocFields(n int) []Field {
	m := len(b.fields)
	b.fields = slices.Grow(b.fields, n)[:m+n]
	return b.fields[m : m+n : m+n]
}

// AppendField appends f to fs, which must be the last slice returned by
// NewFields/AppendField for this batch, reusing the arena when it can.
func (b *Batch) AppendField(fs []Field, f Field) []Field {
	b.fields = append(b.fields, f)
	n := len(b.fields)
	return b.fields[n-len(fs)-1 : n : n]
}

// SetAck sets the function called once when the batch is acknowledged (err ==
// nil) or abandoned (err != nil, e.g. on shutdown).
func (b *Batch) SetAck(f func(error)) { b.ack = f }

// Ack reports the outcome to the batch's reader. It must be called exactly
// once per batch, after which the batch must not be touched.
func (b *Batch) Ack(err error) {
	if f := b.ack; f != nil {
		b.ack = nil
		f(err)
	}
}

// Bytes is the number of file bytes in the batch (used for queue accounting).
func (b *Batch) Bytes() int64 { return b.End - b.Begin }

// Reset empties the batch for reuse, keeping its capacity.
func (b *Batch) Reset() {
	b.Source = nil
	b.Buf = b.Buf[:0]
	b.Extra = b.Extra[:0]
	clear(b.Records)
	b.Records = b.Records[:0]
	clear(b.fields)
	b.fields = b.fields[:0]
	b.Begin, b.End, b.Lines = 0, 0, 0
	b.ack = nil
}

// Pool recycles batches and their buffers.
type Pool struct {
	p       sync.Pool
	bufSize int
}

// NewPool returns a pool of batches whose buffers start at bufSize bytes.
func NewPool(bufSize int) *Pool {
	return &Pool{bufSize: bufSize}
}

// Get returns an empty batch.
func (p *Pool) Get() *Batch {
	if b, ok := p.p.Get().(*Batch); ok {
		return b
	}
	return &Batch{Buf: make([]byte, 0, p.bufSize)}
}

// Put resets b and returns it to the pool. Buffers that grew far beyond the
// pool's size (a very long line) are dropped so memory does not stay high.
func (p *Pool) Put(b *Batch) {
	if cap(b.Buf) > 4*p.bufSize {
		b.Buf = make([]byte, 0, p.bufSize)
	}
	b.Reset()
	p.p.Put(b)
}
