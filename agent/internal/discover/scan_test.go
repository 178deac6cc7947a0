package discover

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScan(t *testing.T) {
	tests := []struct {
		name    string
		tree    []string
		opts    Options // {root} is replaced in patterns and excludes
		want    []string
		wantErr []string // paths the errors name
	}{
		{
			name: "file glob",
			tree: []string{"a.log", "b.log", "c.txt", "sub/d.log", ".hidden.log"},
			opts: Options{Patterns: []string{"{root}/*.log"}},
			want: []string{".hidden.log", "a.log", "b.log"},
		},
		{
			name: "prefix glob",
			tree: []string{"app-1.log", "app-2.log", "app.log", "other-1.log", "app-3.log.1"},
			opts: Options{Patterns: []string{"{root}/app-*.log"}},
			want: []string{"app-1.log", "app-2.log"},
		},
		{
			name: "literal file",
			tree: []string{"app.log", "app.log.1"},
			opts: Options{Patterns: []string{"{root}/app.log"}},
			want: []string{"app.log"},
		},
		{
			name: "star in a dir component",
			tree: []string{"ns1/app/a.log", "ns2/app/b.log", "ns3/web/c.log", "ns4/app/deep/d.log", "ns5/", "x.log", "file/app.log"},
			opts: Options{Patterns: []string{"{root}/*/app/*.log"}},
			want: []string{"ns1/app/a.log", "ns2/app/b.log"},
		},
		{
			name: "two wildcard dir components",
			tree: []string{"p1/c1/0.log", "p1/c2/0.log", "p2/c1/0.log", "p2/0.log"},
			opts: Options{Patterns: []string{"{root}/p*/c*/*.log"}},
			want: []string{"p1/c1/0.log", "p1/c2/0.log", "p2/c1/0.log"},
		},
		{
			name: "** depth 0 is the base dir only",
			tree: []string{"a.log", "d1/b.log", "d1/d2/c.log"},
			opts: Options{Patterns: []string{"{root}/**/*.log"}},
			want: []string{"a.log"},
		},
		{
			name: "** depth 1",
			tree: []string{"a.log", "d1/b.log", "d1/d2/c.log", "e1/f.log"},
			opts: Options{Patterns: []string{"{root}/**/*.log"}, MaxDirSearchDepth: 1},
			want: []string{"a.log", "d1/b.log", "e1/f.log"},
		},
		{
			name: "** depth 3",
			tree: []string{"a.log", "d1/b.log", "d1/d2/c.log", "d1/d2/d3/d.log", "d1/d2/d3/d4/e.log", "d1/d2/d3/d4/d5/f.log"},
			opts: Options{Patterns: []string{"{root}/**/*.log"}, MaxDirSearchDepth: 3},
			want: []string{"a.log", "d1/b.log", "d1/d2/c.log", "d1/d2/d3/d.log"},
		},
		{
			name: "wildcard dir then **",
			tree: []string{"p1/logs/a.log", "p1/logs/x/b.log", "p1/logs/x/y/c.log", "p2/logs/d.log", "p3/other/e.log"},
			opts: Options{Patterns: []string{"{root}/*/logs/**/*.log"}, MaxDirSearchDepth: 1},
			want: []string{"p1/logs/a.log", "p1/logs/x/b.log", "p2/logs/d.log"},
		},
		{
			name: "ExcludeFilePaths",
			tree: []string{"app/a.log", "app/secret-1.log", "web/secret-2.log", "app/x/secret-3.log"},
			opts: Options{
				Patterns:          []string{"{root}/**/*.log"},
				MaxDirSearchDepth: 2,
				ExcludeFilePaths:  []string{"{root}/*/secret-*.log"},
			},
			want: []string{"app/a.log", "app/x/secret-3.log"},
		},
		{
			name: "ExcludeFilePaths with **",
			tree: []string{"app/a.log", "app/secret-1.log", "app/x/secret-3.log"},
			opts: Options{
				Patterns:          []string{"{root}/**/*.log"},
				MaxDirSearchDepth: 2,
				ExcludeFilePaths:  []string{"{root}/**/secret-*.log"},
			},
			want: []string{"app/a.log"},
		},
		{
			name: "ExcludeFiles",
			tree: []string{"a.log", "debug-1.log", "d/debug-2.log", "d/b.log"},
			opts: Options{
				Patterns:          []string{"{root}/**/*.log"},
				MaxDirSearchDepth: 1,
				ExcludeFiles:      []string{"debug-*"},
			},
			want: []string{"a.log", "d/b.log"},
		},
		{
			name: "ExcludeDirs literal excludes all depths",
			tree: []string{"a.log", "tmp/b.log", "tmp/x/c.log", "tmp2/d.log"},
			opts: Options{
				Patterns:          []string{"{root}/**/*.log"},
				MaxDirSearchDepth: 3,
				ExcludeDirs:       []string{"{root}/tmp"},
			},
			want: []string{"a.log", "tmp2/d.log"},
		},
		{
			name: "ExcludeDirs glob",
			tree: []string{"p1/cache/a.log", "p1/cache/x/b.log", "p1/keep/c.log", "p2/cache/d.log", "cache/e.log"},
			opts: Options{
				Patterns:          []string{"{root}/**/*.log"},
				MaxDirSearchDepth: 3,
				ExcludeDirs:       []string{"{root}/*/cache"},
			},
			want: []string{"cache/e.log", "p1/keep/c.log"},
		},
		{
			name: "ExcludeDirs with **",
			tree: []string{"a/hidden/a.log", "a/b/hidden/b.log", "a/c.log"},
			opts: Options{
				Patterns:          []string{"{root}/**/*.log"},
				MaxDirSearchDepth: 3,
				ExcludeDirs:       []string{"{root}/**/hidden"},
			},
			want: []string{"a/c.log"},
		},
		{
			name: "ExcludeDirs on the wildcard part",
			tree: []string{"ns1/app/a.log", "ns2/app/b.log"},
			opts: Options{Patterns: []string{"{root}/*/app/*.log"}, ExcludeDirs: []string{"{root}/ns2"}},
			want: []string{"ns1/app/a.log"},
		},
		{
			name: "ExcludeDirs above the base",
			tree: []string{"app/a.log"},
			opts: Options{Patterns: []string{"{root}/app/*.log"}, ExcludeDirs: []string{"{root}"}},
			want: []string{},
		},
		{
			name: "several overlapping patterns",
			tree: []string{"a.log", "b.txt", "d/c.log"},
			opts: Options{Patterns: []string{"{root}/*.log", "{root}/**/*.log", "{root}/*.txt"}, MaxDirSearchDepth: 1},
			want: []string{"a.log", "b.txt", "d/c.log"},
		},
		{
			name: "base dir missing is not an error",
			tree: []string{"a.log"},
			opts: Options{Patterns: []string{"{root}/nope/deeper/*.log", "{root}/*/nope/*.log"}},
			want: []string{},
		},
		{
			name: "a file where a dir is expected",
			tree: []string{"app"},
			opts: Options{Patterns: []string{"{root}/app/*.log"}},
			want: []string{},
		},
		{
			name:    "directory named like the file glob",
			tree:    []string{"a.log", "x.log/", "x.log/inner.log", "z.log"},
			opts:    Options{Patterns: []string{"{root}/*.log"}},
			want:    []string{"a.log", "z.log"},
			wantErr: []string{"x.log"},
		},
		{
			name: "directory named like the file glob searched by **",
			tree: []string{"a.log", "x.log/inner.log"},
			opts: Options{Patterns: []string{"{root}/**/*.log"}, MaxDirSearchDepth: 1},
			want: []string{"a.log", "x.log/inner.log"},
		},
		{
			name: "directory named like the file glob but excluded",
			tree: []string{"a.log", "x.log/"},
			opts: Options{Patterns: []string{"{root}/*.log"}, ExcludeFiles: []string{"x.*"}},
			want: []string{"a.log"},
		},
		{
			name:    "dangling symlink",
			tree:    []string{"a.log", "b.log -> nowhere.log"},
			opts:    Options{Patterns: []string{"{root}/*.log"}},
			want:    []string{"a.log"},
			wantErr: []string{"b.log"},
		},
		{
			name:    "symlink loop between files",
			tree:    []string{"a.log", "l1.log -> l2.log", "l2.log -> l1.log"},
			opts:    Options{Patterns: []string{"{root}/*.log"}},
			want:    []string{"a.log"},
			wantErr: []string{"l1.log", "l2.log"},
		},
		{
			name: "symlink to a file is followed",
			tree: []string{"real/data.txt", "logs/a.log -> ../real/data.txt"},
			opts: Options{Patterns: []string{"{root}/logs/*.log"}},
			want: []string{"logs/a.log"},
		},
		{
			name: "symlink to a dir is followed",
			tree: []string{"real/a.log", "logs/d -> ../real"},
			opts: Options{Patterns: []string{"{root}/logs/**/*.log"}, MaxDirSearchDepth: 1},
			want: []string{"logs/d/a.log"},
		},
		{
			name: "same inode via two paths appears once",
			tree: []string{"a.log", "b.log -> a.log", "c.log"},
			opts: Options{Patterns: []string{"{root}/*.log"}},
			want: []string{"a.log", "c.log"},
		},
		{
			name: "non-regular files are skipped",
			tree: []string{"a.log", "fifo.log"}, // replaced by a FIFO below
			opts: Options{Patterns: []string{"{root}/*.log"}},
			want: []string{"a.log"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRoot(t)
			mkTree(t, root, tt.tree...)
			if tt.name == "non-regular files are skipped" {
				p := filepath.Join(root, "fifo.log")
				require.NoError(t, os.Remove(p))
				require.NoError(t, mkfifo(p))
			}
			o := tt.opts
			o.Patterns = rooted(root, o.Patterns)
			o.ExcludeDirs = rooted(root, o.ExcludeDirs)
			o.ExcludeFilePaths = rooted(root, o.ExcludeFilePaths)
			m, err := NewMatcher(o)
			require.NoError(t, err)

			files, errs := m.Scan()
			assert.Equal(t, tt.want, relPaths(t, root, files), "files")
			wantErr := tt.wantErr
			if wantErr == nil {
				wantErr = []string{}
			}
			assert.ElementsMatch(t, wantErr, errPaths(t, root, errs), "errors: %v", errs)
			for _, f := range files {
				fi, err := os.Stat(f.Path)
				require.NoError(t, err)
				assert.Equal(t, fi.Size(), f.Size, "%s size", f.Path)
				assert.True(t, fi.ModTime().Equal(f.ModTime), "%s mtime", f.Path)
				assert.NotZero(t, f.Ino, "%s inode", f.Path)
				assert.True(t, m.Match(f.Path), "Match(%s) for a scanned file", f.Path)
			}
		})
	}
}

func TestScanDirNamedLikeFileReportedOncePerScan(t *testing.T) {
	root := newRoot(t)
	mkTree(t, root, "a.log", "x.log/")
	m, err := NewMatcher(Options{Patterns: []string{root + "/*.log", root + "/*"}})
	require.NoError(t, err)
	for range 2 {
		files, errs := m.Scan()
		assert.Equal(t, []string{"a.log"}, relPaths(t, root, files))
		require.Len(t, errs, 1, "errors: %v", errs)
		assert.ErrorIs(t, errs[0], ErrIsDir)
		assert.Contains(t, errs[0].Error(), filepath.Join(root, "x.log"))
	}
}

func TestScanHardLink(t *testing.T) {
	root := newRoot(t)
	mkTree(t, root, "b.log")
	require.NoError(t, os.Link(filepath.Join(root, "b.log"), filepath.Join(root, "a.log")))
	m, err := NewMatcher(Options{Patterns: []string{root + "/*.log"}})
	require.NoError(t, err)
	files, errs := m.Scan()
	assert.Empty(t, errs)
	assert.Equal(t, []string{"a.log"}, relPaths(t, root, files))
}

func TestScanPermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads everything; the dangling-symlink and loop cases cover unreadable paths as root")
	}
	tests := []struct {
		name    string
		lock    string // chmod 000
		want    []string
		wantErr []string
	}{
		{name: "dir", lock: "locked", want: []string{"a.log", "open/b.log"}, wantErr: []string{"locked"}},
		{name: "file", lock: "open/b.log", want: []string{"a.log", "locked/c.log"}, wantErr: []string{"open/b.log"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRoot(t)
			mkTree(t, root, "a.log", "open/b.log", "locked/c.log")
			require.NoError(t, os.Chmod(filepath.Join(root, tt.lock), 0))
			m, err := NewMatcher(Options{Patterns: []string{root + "/**/*.log"}, MaxDirSearchDepth: 1})
			require.NoError(t, err)
			files, errs := m.Scan()
			assert.Equal(t, tt.want, relPaths(t, root, files))
			assert.Equal(t, tt.wantErr, errPaths(t, root, errs))
			for _, err := range errs {
				assert.ErrorIs(t, err, fs.ErrPermission)
			}
		})
	}
}

func TestScanSymlinkLoopTerminates(t *testing.T) {
	tests := []struct {
		name  string
		depth int
		tree  []string
		want  []string
		loops []string
	}{
		{
			name:  "link to the base",
			depth: 1000,
			tree:  []string{"a.log", "d/b.log", "d/up -> .."},
			want:  []string{"a.log", "d/b.log"},
			loops: []string{"d/up"},
		},
		{
			name:  "link to itself",
			depth: 1000,
			tree:  []string{"a.log", "d/self -> ../d"},
			want:  []string{"a.log"},
			loops: []string{"d/self"},
		},
		{
			name:  "two links into each other",
			depth: 50,
			tree:  []string{"x/a.log", "y/b.log", "x/toy -> ../y", "y/tox -> ../x"},
			want:  []string{"x/a.log", "x/toy/b.log"},
			loops: []string{"x/toy/tox"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRoot(t)
			mkTree(t, root, tt.tree...)
			m, err := NewMatcher(Options{Patterns: []string{root + "/**/*.log"}, MaxDirSearchDepth: tt.depth})
			require.NoError(t, err)
			files, errs := m.Scan()
			assert.Equal(t, tt.want, relPaths(t, root, files))
			assert.Equal(t, tt.loops, errPaths(t, root, errs))
			for _, err := range errs {
				assert.ErrorIs(t, err, ErrLoop)
			}
			assert.NotEmpty(t, m.Dirs())
		})
	}
}

// TestMatchAgreesWithScan checks, for every regular file of a tree, that
// Match says yes exactly when Scan lists it.
func TestMatchAgreesWithScan(t *testing.T) {
	root := newRoot(t)
	mkTree(t, root,
		"a.log", "a.txt", "app-1.log", "app-2.log.gz",
		"ns1/app/x.log", "ns1/app/y.txt", "ns1/app/deep/z.log", "ns1/app/deep/er/w.log", "ns1/app/deep/er/still/v.log",
		"ns2/app/x.log", "ns2/web/x.log", "ns2/app/tmp/t.log", "ns2/app/cache/c.log",
		"d1/d2/d3/d4/d5/f.log", "d1/debug-1.log", "d1/secret.log", "d1/d2/secret.log",
	)
	tests := []struct {
		name string
		opts Options
	}{
		{name: "file glob", opts: Options{Patterns: []string{"{root}/*.log"}}},
		{name: "prefix glob", opts: Options{Patterns: []string{"{root}/app-*"}}},
		{name: "dir glob", opts: Options{Patterns: []string{"{root}/*/app/*.log"}}},
		{name: "** 0", opts: Options{Patterns: []string{"{root}/**/*.log"}}},
		{name: "** 2", opts: Options{Patterns: []string{"{root}/**/*.log"}, MaxDirSearchDepth: 2}},
		{name: "** 4", opts: Options{Patterns: []string{"{root}/**/*"}, MaxDirSearchDepth: 4}},
		{name: "dir glob and **", opts: Options{Patterns: []string{"{root}/*/app/**/*.log"}, MaxDirSearchDepth: 2}},
		{name: "excludes", opts: Options{
			Patterns:          []string{"{root}/**/*.log"},
			MaxDirSearchDepth: 10,
			ExcludeFiles:      []string{"debug-*"},
			ExcludeFilePaths:  []string{"{root}/d1/secret.log"},
			ExcludeDirs:       []string{"{root}/*/app/tmp", "{root}/**/cache"},
		}},
	}
	var all []string
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			all = append(all, p)
		}
		return err
	}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.Patterns = rooted(root, o.Patterns)
			o.ExcludeDirs = rooted(root, o.ExcludeDirs)
			o.ExcludeFilePaths = rooted(root, o.ExcludeFilePaths)
			m, err := NewMatcher(o)
			require.NoError(t, err)
			files, errs := m.Scan()
			for _, err := range errs {
				// "**/*" matches the directories beyond the depth too.
				require.ErrorIs(t, err, ErrIsDir)
			}
			scanned := map[string]bool{}
			for _, f := range files {
				scanned[f.Path] = true
			}
			require.NotEmpty(t, scanned)
			for _, p := range all {
				assert.Equal(t, scanned[p], m.Match(p), "Match(%s) vs Scan", p)
			}
		})
	}
}

func TestDirs(t *testing.T) {
	tests := []struct {
		name string
		tree []string
		opts Options
		want []string
	}{
		{
			name: "plain base",
			tree: []string{"app/a.log", "app/sub/"},
			opts: Options{Patterns: []string{"{root}/app/*.log"}},
			want: []string{"app"},
		},
		{
			name: "missing base",
			tree: []string{"other/"},
			opts: Options{Patterns: []string{"{root}/app/*.log"}},
			want: []string{},
		},
		{
			name: "wildcard dirs and what they expand through",
			tree: []string{"ns1/app/", "ns2/", "ns3/web/", "file"},
			opts: Options{Patterns: []string{"{root}/*/app/*.log"}},
			want: []string{".", "ns1", "ns1/app", "ns2", "ns3"},
		},
		{
			name: "** within depth",
			tree: []string{"d1/d2/d3/", "e1/"},
			opts: Options{Patterns: []string{"{root}/**/*.log"}, MaxDirSearchDepth: 2},
			want: []string{".", "d1", "d1/d2", "e1"},
		},
		{
			name: "excluded dirs are left out",
			tree: []string{"d1/d2/", "tmp/x/"},
			opts: Options{Patterns: []string{"{root}/**/*.log"}, MaxDirSearchDepth: 2, ExcludeDirs: []string{"{root}/tmp"}},
			want: []string{".", "d1", "d1/d2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRoot(t)
			mkTree(t, root, tt.tree...)
			o := tt.opts
			o.Patterns = rooted(root, o.Patterns)
			o.ExcludeDirs = rooted(root, o.ExcludeDirs)
			m, err := NewMatcher(o)
			require.NoError(t, err)
			got := []string{}
			for _, d := range m.Dirs() {
				r, err := filepath.Rel(root, d)
				require.NoError(t, err)
				got = append(got, r)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestWatchTargetsPendingAncestor(t *testing.T) {
	root := newRoot(t)
	mkTree(t, root, "a/")
	m, err := NewMatcher(Options{Patterns: []string{root + "/a/b/c/*.log"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]struct{}{root + "/a": {}}, m.watchTargets())
}

func mkfifo(path string) error {
	err := mkfifoImpl(path)
	if errors.Is(err, errNoFIFO) {
		return os.WriteFile(path, nil, 0o644)
	}
	return err
}
