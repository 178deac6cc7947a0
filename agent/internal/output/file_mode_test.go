package output

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/config"
)

// TestFileModes: flusher_file creates its files 0640 and the folders it
// makes 0750, less the umask (set here, so that the modes are exact), on
// Start and after each rotation.
func TestFileModes(t *testing.T) {
	for _, tc := range []struct {
		umask        int
		file, folder os.FileMode
	}{
		{umask: 0, file: 0o640, folder: 0o750},
		{umask: 0o022, file: 0o640, folder: 0o750},
		{umask: 0o077, file: 0o600, folder: 0o700},
	} {
		t.Run(fmt.Sprintf("umask %03o", tc.umask), func(t *testing.T) {
			old := syscall.Umask(tc.umask)
			defer syscall.Umask(old)
			root := t.TempDir()
			path := filepath.Join(root, "a", "b", "out.log")
			const L = 100
			f := newFile(t, config.FlusherFile{FilePath: path, MaxFileSize: 2 * L, MaxFiles: 2})
			ctx := context.Background()
			require.NoError(t, f.Start(ctx))
			for id := 1; id <= 5; id++ { // rotated twice
				require.NoError(t, f.Export(ctx, newBatch(1, nil, recordOfSize(id, L))))
			}
			require.NoError(t, f.Shutdown(ctx))

			for _, dir := range []string{filepath.Join(root, "a"), filepath.Join(root, "a", "b")} {
				st, err := os.Stat(dir)
				require.NoError(t, err)
				assert.Equal(t, tc.folder, st.Mode().Perm(), "%s: got %v, want %v", dir, st.Mode().Perm(), tc.folder)
			}
			for _, p := range []string{path, path + ".1", path + ".2"} {
				st, err := os.Stat(p)
				require.NoError(t, err)
				assert.Equal(t, tc.file, st.Mode().Perm(), "%s: got %v, want %v", p, st.Mode().Perm(), tc.file)
			}
		})
	}
}
