package discover

import (
	"io/fs"
	"os"
	"path/filepath"
	"fmt"
	"testing"
	"syscall"
)

func BenchmarkBaseline(b *testing.B) {
	root := newRoot(b)
	for p := range 100 {
		for c := range 5 {
			dir := filepath.Join(root, "pods", fmt.Sprintf("ns_pod-%03d", p), fmt.Sprintf("c%d", c))
			os.MkdirAll(dir, 0o755)
			for n := range 10 {
				os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.log", n)), nil, 0o644)
				os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.log.gz", n)), nil, 0o644)
			}
		}
	}
	b.Run("walkdir", func(b *testing.B) {
		for b.Loop() {
			filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error { return nil })
		}
	})
	b.Run("walkdir+stat", func(b *testing.B) {
		for b.Loop() {
			filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if filepath.Ext(p) == ".log" { os.Stat(p) }
				return nil })
		}
	})
	b.Run("walkdir+stat+access", func(b *testing.B) {
		for b.Loop() {
			filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if filepath.Ext(p) == ".log" { os.Stat(p); syscall.Access(p, 4) }
				return nil })
		}
	})
}
