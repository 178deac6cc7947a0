package batch

import "testing"

// TestFieldsDoNotOverlap: fields handed out by AddRecord, AllocFields and
// AppendField never share memory, so filling one record cannot change
// another, even when the arena grows.
func TestFieldsDoNotOverlap(t *testing.T) {
	var b Batch
	b.AddRecord(1, 0, []byte("line"))
	a := b.AllocFields(3)
	for i := range a {
		a[i] = Field{Key: "a", Value: []byte{byte(i)}}
	}
	c := b.NewFields()
	for i := range 100 { // grows the arena
		c = b.AppendField(c, Field{Key: "c", Value: []byte{byte(i)}})
	}
	d := b.AllocFields(2)
	d[0], d[1] = Field{Key: "d"}, Field{Key: "d"}
	if len(a) != 3 || cap(a) != 3 || len(d) != 2 || cap(d) != 2 {
		t.Fatalf("AllocFields: len/cap %d/%d and %d/%d", len(a), cap(a), len(d), cap(d))
	}
	if got := string(b.Records[0].Fields[0].Value); got != "line" {
		t.Errorf("record's content is %q", got)
	}
	for i, f := range a {
		if f.Key != "a" || f.Value[0] != byte(i) {
			t.Errorf("a[%d] = %+v", i, f)
		}
	}
	for i, f := range c {
		if f.Key != "c" || f.Value[0] != byte(i) {
			t.Errorf("c[%d] = %+v", i, f)
		}
	}
}
