package apsara_test

import (
	"fmt"
	"testing"

	"github.com/wasmtail/wasmtail/parsers/apsara"
	"github.com/wasmtail/wasmtail/sdk"
)

func run(t *testing.T, cfg string, lines ...string) []sdk.Record {
	t.Helper()
	var p apsara.Parser
	if err := p.Init([]byte(cfg)); err != nil {
		t.Fatalf("Init(%s): %v", cfg, err)
	}
	var b sdk.Batch
	for _, l := range lines {
		b.Records = append(b.Records, sdk.Record{Fields: []sdk.Field{{Key: "content", Value: []byte(l)}}})
	}
	if err := p.Process(&b); err != nil {
		t.Fatal(err)
	}
	return b.Records
}

// TestCache: lines that share their date (the parser's cache) parse as
// they do alone.
func TestCache(t *testing.T) {
	const cfg = `{"SourceKey":"content","Timezone":"GMT+08:00","KeepingSourceWhenParseFail":true}`
	lines := []string{
		"[2013-09-12 22:18:28.819129]\tA:B", "[2013-09-12 22:18:28.1]\tA:B", "[2013-09-12 22:18:28]\tA:B",
		"[2013-09-12 22:18:2]\tA:B", "[2013-09-12 22:18:28,5]\tA:B", "[2013-09-12 22:18:28x]\tA:B", "[2013-09-12 22:18:29.5]\tA:B",
	}
	got := run(t, cfg, lines...)
	for i, l := range lines {
		want := run(t, cfg, l)[0]
		if fmt.Sprint(got[i]) != fmt.Sprint(want) {
			t.Errorf("%q: got %v in a batch, %v alone", l, got[i], want)
		}
	}
}

func TestConfig(t *testing.T) {
	for _, tt := range []struct{ name, cfg string }{
		{"no source", `{"Timezone":"GMT+08:00"}`},
		{"bad zone", `{"SourceKey":"content","Timezone":"GMT+8"}`},
		{"typo", `{"SourceKey":"content","SourceTimezone":"GMT+08:00"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p apsara.Parser
			if err := p.Init([]byte(tt.cfg)); err == nil {
				t.Errorf("Init(%s): got nil error", tt.cfg)
			}
		})
	}
}
