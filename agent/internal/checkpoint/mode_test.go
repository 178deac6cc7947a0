package checkpoint

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestModes: the data folder and the checkpoint files are made 0750 and
// 0640, less the umask (the test sets it, so the modes are exact).
func TestModes(t *testing.T) {
	for _, tc := range []struct {
		umask         int
		file, folders os.FileMode
	}{
		{umask: 0, file: 0o640, folders: 0o750},
		{umask: 0o022, file: 0o640, folders: 0o750},
		{umask: 0o077, file: 0o600, folders: 0o700},
	} {
		t.Run(fmt.Sprintf("umask %03o", tc.umask), func(t *testing.T) {
			old := syscall.Umask(tc.umask)
			defer syscall.Umask(old)
			data := filepath.Join(t.TempDir(), "data")
			path := filepath.Join(data, "state", "checkpoints.json")
			s, err := Open(path, time.Hour, nil)
			require.NoError(t, err)
			s.Register("p")
			s.Set("p", Entry{Path: "/var/log/a.log", Dev: 1, Ino: 2, Offset: 5})
			require.NoError(t, s.Save())
			s.Set("p", Entry{Path: "/var/log/a.log", Dev: 1, Ino: 2, Offset: 9})
			require.NoError(t, s.Close()) // the second save: a .prev

			for _, dir := range []string{data, filepath.Dir(path)} {
				st, err := os.Stat(dir)
				require.NoError(t, err)
				assert.Equal(t, tc.folders, st.Mode().Perm(), "%s: got %v, want %v", dir, st.Mode().Perm(), tc.folders)
			}
			for _, f := range []string{path, path + prevSuffix} {
				st, err := os.Stat(f)
				require.NoError(t, err)
				assert.Equal(t, tc.file, st.Mode().Perm(), "%s: got %v, want %v", f, st.Mode().Perm(), tc.file)
			}
		})
	}
}
