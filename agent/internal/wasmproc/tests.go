package wasmproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"strings"

	"github.com/wasmtail/wasmtail/hostabi"
	"github.com/wasmtail/wasmtail/runtime"
)

// A module may ship test vectors: NAME.tests.jsonl beside NAME.wasm, one
// JSON object per line (blank lines are skipped):
//
//	{"in": ["line 1", "line 2"], "out": [{"content": "line 1", "v": "1"}, …], "config": {…}}
//
// "in" are input lines, each a record with one field "content" (as
// input_file makes them); "out" are the records the module must return, in
// order, each an object of string fields (field order and the records'
// times are not compared); "config", optional (default {}), is the Config
// handed to wasmtail_init for that line. A module whose vectors fail is
// refused, at start and on reload, like one that fails wasmtail_init.
// See hostabi/ABI.md, "Test vectors".

// TestsSuffix replaces ".wasm" in the name of a module's test vectors file.
const TestsSuffix = ".tests.jsonl"

func testsPath(wasmPath string) string {
	return strings.TrimSuffix(wasmPath, ".wasm") + TestsSuffix
}

type testCase struct {
	In     []string            `json:"in"`
	Out    []map[string]string `json:"out"`
	Config map[string]any      `json:"config"`
	line   int
}

// runTests runs the test vectors beside wasmPath, if there are any, over
// wasm. base gives the name, timeout and memory limit. The vectors are read
// under the rules of module files (files).
func runTests(ctx context.Context, rt *runtime.Runtime, files *moduleFiles, wasmPath string, wasm []byte, base runtime.ModuleConfig) error {
	file := testsPath(wasmPath)
	data, err := files.read(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	refused := func(err error) error {
		return &runtime.Error{Module: base.Name, Kind: runtime.KindRefused, Err: err}
	}
	if err != nil {
		return refused(fmt.Errorf("test vectors: %w", err))
	}
	var cases []testCase
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var c testCase
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return refused(fmt.Errorf("test vectors %s line %d: %w", file, i+1, err))
		}
		c.line = i + 1
		cases = append(cases, c)
	}
	mods := map[string]*runtime.Module{} // by config
	defer func() {
		for _, m := range mods {
			_ = m.Close(ctx)
		}
	}()
	for _, c := range cases {
		cfg := []byte("{}")
		if c.Config != nil {
			cfg, _ = json.Marshal(c.Config)
		}
		mod := mods[string(cfg)]
		if mod == nil {
			mc := base
			mc.Config = cfg
			if mod, err = rt.Load(ctx, wasm, mc); err != nil {
				return refused(fmt.Errorf("test vectors %s line %d: %w", file, c.line, err))
			}
			mods[string(cfg)] = mod
		}
		got, err := runCase(ctx, mod, c.In)
		if err != nil {
			return refused(fmt.Errorf("test vectors %s line %d: %w", file, c.line, err))
		}
		if err := compareRecords(got, c.Out); err != nil {
			return refused(fmt.Errorf("test vectors %s line %d: %w", file, c.line, err))
		}
	}
	return nil
}

func runCase(ctx context.Context, mod *runtime.Module, lines []string) ([]map[string]string, error) {
	var enc hostabi.Encoder
	for _, l := range lines {
		enc.AddRecord(0, 0)
		enc.AddField("content", []byte(l))
	}
	var out []map[string]string
	_, err := mod.Process(ctx, &enc, func(v *hostabi.View) {
		j := 0
		for i := range v.Len() {
			h := v.Record(i)
			r := make(map[string]string, h.NFields)
			for range h.NFields {
				f := v.Field(j)
				j++
				r[string(v.Bytes(f.KeyPtr, f.KeyLen))] = string(v.Bytes(f.ValPtr, f.ValLen))
			}
			out = append(out, r)
		}
	})
	return out, err
}

func compareRecords(got, want []map[string]string) error {
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			return fmt.Errorf("record %d: missing, want %s", i+1, jsonText(want[i]))
		case i >= len(want):
			return fmt.Errorf("record %d: got %s, want no more records", i+1, jsonText(got[i]))
		case !maps.Equal(got[i], want[i]):
			return fmt.Errorf("record %d: got %s, want %s", i+1, jsonText(got[i]), jsonText(want[i]))
		}
	}
	return nil
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
