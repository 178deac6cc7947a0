package agent

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDataFolderModes: everything the agent makes in its data folder (the
// folder, the lock file, the checkpoints) is 0750 for folders and 0640 for
// files, under umask 0 (set here, so that the modes are exact).
func TestDataFolderModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "var", "data")
	a := newTestAgent(t, testConfig(t, data), nil)
	require.NoError(t, a.Start(ctx))
	a.store.Register("p") // something to save
	require.NoError(t, a.store.Save())
	require.NoError(t, a.Shutdown(ctx))

	seen := map[string]os.FileMode{}
	require.NoError(t, filepath.WalkDir(filepath.Dir(data), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(filepath.Dir(data), p)
		seen[rel] = fi.Mode()
		return nil
	}))
	assert.Contains(t, seen, filepath.Join("data", LockFile))
	assert.Contains(t, seen, filepath.Join("data", "checkpoints.json"))
	for rel, mode := range seen {
		want := os.FileMode(0o640)
		if mode.IsDir() {
			want = 0o750
		}
		assert.Equal(t, want, mode.Perm(), "%s: got %v, want %v", rel, mode.Perm(), want)
	}
}
