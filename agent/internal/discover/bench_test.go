package discover

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkScan scans a DaemonSet-like tree of 5000 log files:
// pods/<ns_pod>/<container>/<n>.log, 100 pods x 5 containers x 10 files,
// plus as many non-matching files.
func BenchmarkScan(b *testing.B) {
	root := newRoot(b)
	for p := range 100 {
		for c := range 5 {
			dir := filepath.Join(root, "pods", fmt.Sprintf("ns_pod-%03d", p), fmt.Sprintf("c%d", c))
			require.NoError(b, os.MkdirAll(dir, 0o755))
			for n := range 10 {
				require.NoError(b, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.log", n)), nil, 0o644))
				require.NoError(b, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.log.gz", n)), nil, 0o644))
			}
		}
	}
	for _, bb := range []struct {
		name string
		opts Options
	}{
		{name: "wildcard dirs", opts: Options{Patterns: []string{root + "/pods/*/*/*.log"}}},
		{name: "recursive", opts: Options{Patterns: []string{root + "/pods/**/*.log"}, MaxDirSearchDepth: 2}},
		{name: "recursive with excludes", opts: Options{
			Patterns:          []string{root + "/pods/**/*.log"},
			MaxDirSearchDepth: 2,
			ExcludeDirs:       []string{root + "/pods/*/c4"},
			ExcludeFiles:      []string{"9.*"},
		}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			m, err := NewMatcher(bb.opts)
			require.NoError(b, err)
			b.ReportAllocs()
			for b.Loop() {
				files, errs := m.Scan()
				if len(files) < 3000 || len(errs) != 0 {
					b.Fatalf("got %d files, %v", len(files), errs)
				}
			}
		})
		b.Run(bb.name+"/dirs", func(b *testing.B) {
			m, err := NewMatcher(bb.opts)
			require.NoError(b, err)
			b.ReportAllocs()
			for b.Loop() {
				if n := len(m.Dirs()); n < 500 {
					b.Fatalf("got %d dirs", n)
				}
			}
		})
	}
}

func BenchmarkMatch(b *testing.B) {
	m, err := NewMatcher(Options{
		Patterns:          []string{"/var/log/pods/*/*/*.log", "/var/log/app/**/*.log"},
		MaxDirSearchDepth: 3,
		ExcludeDirs:       []string{"/var/log/app/tmp"},
	})
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if !m.Match("/var/log/app/a/b/x.log") || m.Match("/var/log/pods/ns_pod/c/0.log.gz") {
			b.Fatal("wrong match")
		}
	}
}
