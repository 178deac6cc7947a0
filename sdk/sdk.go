package sdk

// Level is a log level.
type Level int32

// Log levels, as the host's log import takes them.
const (
	LevelDebug Level = 0
	LevelInfo  Level = 1
	LevelWarn  Level = 2
	LevelError Level = 3
)

// Field is one key/value content of a record.
type Field struct {
	Key   string
	Value []byte
}

// Record is one log event: a time and its fields in order. The raw line is
// the field "content".
type Record struct {
	// Sec and Nsec are the event time (seconds and nanoseconds since the
	// Unix epoch); a timestamp parser sets them.
	Sec  int64
	Nsec int32
	// Fields are the record's contents, in order.
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

// Processor is a parser or filter. Init is called once per instance (per
// worker), Process once per batch; they are never called concurrently on
// one value.
type Processor interface {
	// Init receives the processor's Config from the pipeline file as JSON
	// ("{}" when there is none). An error refuses the config; say why.
	Init(config []byte) error
	// Process rewrites b.Records in place. An error leaves the batch as it
	// came in (the host tags its records with the error).
	Process(b *Batch) error
}

// Batch is the records of one call plus arenas for what a processor
// creates. A host reuses a Batch: call Reset between batches.
type Batch struct {
	// Records are the batch's records, in order.
	Records []Record
	// Allocator, when set, provides Alloc's bytes instead of the batch's
	// arena (a host that keeps values past Reset points it at memory it
	// owns).
	Allocator func(n int) []byte

	fields []Field
	chunk  []byte
}

const chunkSize = 64 << 10

// Alloc returns n bytes for the caller to fill (not zeroed), which
// stay valid until Reset.
func (b *Batch) Alloc(n int) []byte {
	if b.Allocator != nil {
		return b.Allocator(n)
	}
	if cap(b.chunk)-len(b.chunk) < n {
		b.chunk = make([]byte, 0, max(n, chunkSize))
	}
	s := b.chunk[len(b.chunk) : len(b.chunk)+n : len(b.chunk)+n]
	b.chunk = b.chunk[:len(b.chunk)+n]
	return s
}

// Append returns the concatenation of parts in bytes from Alloc.
func (b *Batch) Append(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	s := b.Alloc(n)
	n = 0
	for _, p := range parts {
		n += copy(s[n:], p)
	}
	return s
}

// Fields returns an empty field slice with room for n fields, from the
// batch's arena: append to it (past n it reallocates, which is fine).
func (b *Batch) Fields(n int) []Field {
	if cap(b.fields)-len(b.fields) < n {
		b.fields = make([]Field, 0, max(n, 2*cap(b.fields), 1024))
	}
	l := len(b.fields)
	b.fields = b.fields[: l+n : cap(b.fields)]
	return b.fields[l : l : l+n]
}

// Reset empties the batch for the next one. What Alloc and Fields returned
// before may be reused after it.
func (b *Batch) Reset() {
	clear(b.Records)
	b.Records = b.Records[:0]
	clear(b.fields)
	b.fields = b.fields[:0]
	b.chunk = b.chunk[:0]
}
