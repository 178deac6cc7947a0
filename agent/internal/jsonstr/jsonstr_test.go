package jsonstr

import (
	"encoding/json"
	"testing"
)

func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\`, "nl\n\r\t", "nul\x00\x1f", "é 😀", "bad \xff utf8"} {
		got := string(Append(nil, s))
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Fatalf("%q: invalid JSON %s: %v", s, got, err)
		}
		want := []rune(s)
		if string(want) != back { // invalid bytes decode as U+FFFD on both sides
			t.Errorf("%q: round trip gave %q", s, back)
		}
	}
}
