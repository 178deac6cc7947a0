package tail

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzDockerLine: whatever the application printed, the json-file line
// docker writes for it decodes back to the same text.
func FuzzDockerLine(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnul\x00", "é 😀 \u2028", "\\n not a newline"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			t.Skip("docker writes valid UTF-8 JSON")
		}
		logv, _ := json.Marshal(s + "\n")
		line := []byte(`{"log":` + string(logv) + `,"stream":"stdout","time":"2026-11-26T10:00:00Z"}`)
		l := parseDocker(line)
		if !l.ok || !l.last {
			t.Fatalf("line %s not parsed as a whole message: %+v", line, l)
		}
		got := string(l.msg)
		if l.escaped {
			got = string(appendUnescaped(nil, l.msg))
		}
		if got != s {
			t.Fatalf("decoded %q, want %q", got, s)
		}
	})
}

// FuzzCRILine: any message survives a CRI line, and parsing never panics on
// garbage.
func FuzzCRILine(f *testing.F) {
	f.Add("hello", "stdout", true)
	f.Add("", "stderr", false)
	f.Fuzz(func(t *testing.T, msg, stream string, last bool) {
		_ = parseCRI([]byte(msg)) // garbage: no panic
		if stream == "" || containsSpaceOrNewline(stream) || containsNewline(msg) {
			return
		}
		tag := "P"
		if last {
			tag = "F"
		}
		l := parseCRI([]byte("2026-11-26T10:00:00Z " + stream + " " + tag + " " + msg))
		if !l.ok || string(l.msg) != msg || string(l.stream) != stream || l.last != last {
			t.Fatalf("got %+v for msg %q stream %q last %v", l, msg, stream, last)
		}
	})
}

func containsNewline(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return true
		}
	}
	return false
}

func containsSpaceOrNewline(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '\n' {
			return true
		}
	}
	return false
}
