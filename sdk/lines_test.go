package sdk_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/sdk"
	"github.com/wasmtail/wasmtail/sdk/internal/words"
)

// fields renders a record as key=value pairs.
func fields(r sdk.Record) string {
	var sb strings.Builder
	for _, f := range r.Fields {
		fmt.Fprintf(&sb, "%s=%s ", f.Key, f.Value)
	}
	return strings.TrimSpace(sb.String())
}

func rec(kv ...string) sdk.Record {
	var r sdk.Record
	for i := 0; i < len(kv); i += 2 {
		r.Fields = append(r.Fields, sdk.Field{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return r
}

// The rules of Lines, natively (words_test.go checks that a module
// follows them too).
func TestLinesProcess(t *testing.T) {
	l := &sdk.Lines{Parser: &words.Parser{}}
	require.NoError(t, l.Init(nil))
	b := sdk.Batch{Records: []sdk.Record{
		rec("content", "a b c d e"),
		rec("host", "h1", "content", "x UP", "path", "/p"),
		rec("content", "skip this"),
		rec("content", "neg x"),
		rec("host", "h2"),
		rec("content", "all a b c"),
		rec("content", "one UP two NEW"),
		rec("content", "CONST EMPTY z"),
		rec("content", ""),
	}}
	require.NoError(t, l.Process(&b))
	got := make([]string, len(b.Records))
	for i, r := range b.Records {
		got[i] = fields(r)
	}
	assert.Equal(t, []string{
		"w1=a w2=b w3=c w4=d",             // past the keys: ignored
		"host=h1 path=/p w1=x w2=X",       // other fields first, in order; content dropped
		"content=skip this",               // 0: as it was
		"content=neg x",                   // negative: as it was
		"host=h2",                         // no content: as it was
		"w1=all w2=a w3=b w4=c",           // more than the keys: all of them
		"w1=one w2=ONE w3=two w4=new:two", // the reused buffer was copied for each record
		"w1=constant w2= w3=z",            // values from elsewhere, and empty ones
		"content=",                        // nothing found
	}, got)
}

// keyed is a LineParser with the keys it is given.
type keyed struct {
	keys   []string
	config string
}

func (k *keyed) Init(config []byte) error {
	k.config = string(config)
	if k.config == "bad" {
		return errors.New("bad config")
	}
	return nil
}
func (k *keyed) Keys() []string                    { return k.keys }
func (k *keyed) Parse(line []byte, v [][]byte) int { v[0] = line; return 1 }

func TestLinesSource(t *testing.T) {
	k := &keyed{keys: []string{"m"}}
	l := &sdk.Lines{Parser: k, Source: "msg"}
	require.NoError(t, l.Init([]byte(`{"x":1}`)))
	assert.Equal(t, `{"x":1}`, k.config, "Init passes the config on")
	b := sdk.Batch{Records: []sdk.Record{rec("content", "a", "msg", "b c")}}
	require.NoError(t, l.Process(&b))
	assert.Equal(t, "content=a m=b c", fields(b.Records[0]))
}

func TestLinesInit(t *testing.T) {
	for name, keys := range map[string][]string{
		"none":     {},
		"empty":    {"a", ""},
		"repeated": {"a", "b", "a"},
		"long":     {strings.Repeat("k", 257)},
	} {
		err := (&sdk.Lines{Parser: &keyed{keys: keys}}).Init(nil)
		assert.True(t, errors.Is(err, sdk.ErrKeys), "%s: %v", name, err)
	}
	assert.EqualError(t, (&sdk.Lines{Parser: &keyed{keys: []string{"a"}}}).Init([]byte("bad")), "bad config")
	assert.Error(t, (&sdk.Lines{}).Init(nil), "no parser")
	assert.Error(t, (&sdk.Lines{Parser: &keyed{}}).Process(&sdk.Batch{}), "Process before Init")
}
