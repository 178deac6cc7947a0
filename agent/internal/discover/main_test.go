package discover

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newRoot returns a fresh directory whose path has no glob metacharacters
// (t.TempDir keeps parts of the test name, which may have some).
func newRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "discover")
	require.NoError(t, err)
	dir, err = filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	t.Cleanup(func() {
		// Give back permissions a test took away, or RemoveAll fails.
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if d != nil && d.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
		_ = os.Chmod(dir, 0o755)
		require.NoError(t, os.RemoveAll(dir))
	})
	return dir
}

// mkTree creates entries below root: "a/b.log" is a file (parents are
// created), "a/c/" a directory, "a/l.log -> target" a symbolic link.
func mkTree(t testing.TB, root string, entries ...string) {
	t.Helper()
	for _, e := range entries {
		if name, target, ok := strings.Cut(e, " -> "); ok {
			p := filepath.Join(root, name)
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.Symlink(target, p))
			continue
		}
		p := filepath.Join(root, e)
		if strings.HasSuffix(e, "/") {
			require.NoError(t, os.MkdirAll(p, 0o755))
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(e+"\n"), 0o644))
	}
}

// rooted replaces {root} in each string.
func rooted(root string, ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ReplaceAll(s, "{root}", root)
	}
	return out
}

// relPaths returns the paths of files relative to root.
func relPaths(t testing.TB, root string, files []File) []string {
	t.Helper()
	out := []string{}
	for _, f := range files {
		r, err := filepath.Rel(root, f.Path)
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

// errPaths returns the paths named by errs, relative to root.
func errPaths(t testing.TB, root string, errs []error) []string {
	t.Helper()
	out := []string{}
	for _, err := range errs {
		var pe *os.PathError
		require.ErrorAs(t, err, &pe, "error %v names no path", err)
		r, err := filepath.Rel(root, pe.Path)
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}
