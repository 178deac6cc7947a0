package logfmt

import (
	"bytes"
	"testing"
)

// tokens reads a test format: %x is a field named x, the rest literal.
func tokens(format string) []Token {
	var toks []Token
	for i := 0; i < len(format); i++ {
		if format[i] == '%' && i+1 < len(format) {
			toks = append(toks, Token{Name: format[i+1 : i+2]})
			i++
			continue
		}
		toks = append(toks, Token{Lit: format[i : i+1]})
	}
	return toks
}

// FuzzMatch: a match splits the line exactly: the prefix, each value and
// the literal after it put back together are the line, and no value holds
// the literal that ends it.
func FuzzMatch(f *testing.F) {
	f.Add(`%a - %b [%c] "%d" %e %f "%g" "%h"`, `1.2.3.4 - - [t] "GET / HTTP/1.1" 200 5 "-" "ua"`)
	f.Add(`[%a]%b`, `[x]]y`)
	f.Add(`%a""%b""`, `x""""y""`)
	f.Add(`%a`, ``)
	f.Fuzz(func(t *testing.T, format, line string) {
		fm, err := Build(tokens(format))
		if err != nil {
			return
		}
		vals := make([][]byte, len(fm.fields))
		if !fm.Match([]byte(line), vals) {
			return
		}
		var sb bytes.Buffer
		sb.Write(fm.prefix)
		for i, fl := range fm.fields {
			if len(fl.next) > 0 && bytes.Contains(vals[i], fl.next) {
				t.Fatalf("%q on %q: %s=%q holds %q", format, line, fl.name, vals[i], fl.next)
			}
			sb.Write(vals[i])
			sb.Write(fl.next)
		}
		if sb.String() != line {
			t.Fatalf("%q on %q: put back together: %q", format, line, sb.String())
		}
	})
}

func TestBuild(t *testing.T) {
	if _, err := Build(tokens("%a%b")); err == nil {
		t.Error("adjacent fields: got nil error")
	}
	if _, err := Build(tokens("abc")); err == nil {
		t.Error("no fields: got nil error")
	}
	f, err := Build(tokens("<%a|%b>"))
	if err != nil {
		t.Fatal(err)
	}
	vals := make([][]byte, 2)
	for _, tt := range []struct {
		line string
		ok   bool
		a, b string
	}{
		{"<x|y>", true, "x", "y"},
		{"<|>", true, "", ""},
		{"<x|y|z>", true, "x", "y|z"},
		{"<x|y>>", false, "", ""},
		{"<x>", false, "", ""},
		{"x|y>", false, "", ""},
	} {
		ok := f.Match([]byte(tt.line), vals)
		if ok != tt.ok || (ok && (string(vals[0]) != tt.a || string(vals[1]) != tt.b)) {
			t.Errorf("%q: got %v %q %q, want %v %q %q", tt.line, ok, vals[0], vals[1], tt.ok, tt.a, tt.b)
		}
	}
}
