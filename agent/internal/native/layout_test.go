package native

import (
	"reflect"
	"testing"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/sdk"
)

// TestLayout guards the zero-copy conversion between host and SDK records.
func TestLayout(t *testing.T) {
	same := func(a, b reflect.Type) {
		t.Helper()
		if a.Size() != b.Size() || a.NumField() != b.NumField() {
			t.Fatalf("%v and %v differ in size or fields", a, b)
		}
		for i := range a.NumField() {
			fa, fb := a.Field(i), b.Field(i)
			if fa.Name != fb.Name || fa.Offset != fb.Offset || fa.Type.Size() != fb.Type.Size() || fa.Type.Kind() != fb.Type.Kind() {
				t.Fatalf("%v.%s and %v.%s differ", a, fa.Name, b, fb.Name)
			}
		}
	}
	same(reflect.TypeOf(batch.Record{}), reflect.TypeOf(sdk.Record{}))
	same(reflect.TypeOf(batch.Field{}), reflect.TypeOf(sdk.Field{}))
}
