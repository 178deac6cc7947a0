package parsers_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestGolden runs every testdata/golden/<case> through the real binary:
// `wasmtail process --pipeline pipeline.yaml input.log`, and compares each
// output record with expected.jsonl (as JSON objects: LoongCollector's own
// tests compare contents regardless of order). __time__ is compared only
// in the records of expected.jsonl that have it (a record no parser timed
// keeps its read time). The cases reproduce the examples of
// LoongCollector's processor docs and the cases of its processor unit tests
// (each pipeline.yaml says which).
func TestGolden(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent")
	}
	bin := filepath.Join(t.TempDir(), "wasmtail")
	build := exec.Command("go", "build", "-o", bin, "./agent/cmd/wasmtail")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dirs, _ := filepath.Glob("testdata/golden/*")
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cmd := exec.Command(bin, "process", "--pipeline", filepath.Join(dir, "pipeline.yaml"), filepath.Join(dir, "input.log"))
			cmd.Env = append(os.Environ(), "TZ=UTC", "XDG_CACHE_HOME="+t.TempDir())
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("wasmtail process: %v\n%s", err, stderr.String())
			}
			want, err := os.ReadFile(filepath.Join(dir, "expected.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			got := lines(t, stdout.Bytes())
			exp := lines(t, want)
			if len(got) != len(exp) {
				t.Fatalf("got %d records, want %d\ngot:\n%s", len(got), len(exp), stdout.String())
			}
			for i := range got {
				if _, ok := exp[i]["__time__"]; !ok {
					delete(got[i], "__time__")
				}
				if !reflect.DeepEqual(got[i], exp[i]) {
					t.Errorf("record %d:\ngot  %v\nwant %v", i, got[i], exp[i])
				}
			}
		})
	}
}

func lines(t *testing.T, data []byte) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON object of strings: %s: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}
