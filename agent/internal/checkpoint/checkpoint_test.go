package checkpoint

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSaveAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "checkpoints.json")
	s, err := Open(path, 10*time.Millisecond, nil)
	require.NoError(t, err)
	assert.False(t, s.Known("p"))
	s.Start()
	s.Register("p")
	s.Register("empty")
	e := Entry{Path: "/var/log/a.log", Dev: 1, Ino: 2, SigLen: 3, SigHash: 4, Offset: 5}
	s.Set("p", e)
	// Saved soon after the change, without waiting for Close.
	// Read the file, not Open it: Open repairs (removes the temporary file
	// of a save in progress), and only one store may own the folder.
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(path)
		var ff fileFormat
		return err == nil && json.Unmarshal(data, &ff) == nil && ff.Pipelines["p"] != nil && len(ff.Pipelines["p"].Files) == 1
	}, 2*time.Second, 10*time.Millisecond)
	s.Set("p", Entry{Path: "/var/log/b.log", Dev: 1, Ino: 3, Offset: 9})
	s.Delete("p", 1, 2)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "idempotent")

	s2, err := Open(path, time.Hour, nil)
	require.NoError(t, err)
	assert.True(t, s2.Known("p"))
	assert.True(t, s2.Known("empty"), "a pipeline with no files is remembered")
	assert.Equal(t, []Entry{{Path: "/var/log/b.log", Dev: 1, Ino: 3, Offset: 9}}, s2.Files("p"))
	var names []string
	ents, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"checkpoints.json", "checkpoints.json.prev"}, names, "the current and previous generations, no temporary files")
}

func TestCorruptFileIsSetAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoints.json")
	require.NoError(t, os.WriteFile(path, []byte("{not json"), 0o644))
	s, err := Open(path, time.Hour, nil)
	require.NoError(t, err, "a corrupt file must not stop the agent")
	assert.True(t, s.Known("p"), "damaged state is not a first run: nothing is tailed")
	_, err = os.Stat(path + ".corrupt")
	assert.NoError(t, err, "kept for inspection")
	require.NoError(t, s.Close())
}

func TestCloseWithoutStart(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "c.json"), time.Hour, nil)
	require.NoError(t, err)
	s.Register("p")
	require.NoError(t, s.Close())
	s2, err := Open(filepath.Join(filepath.Dir(s.path), "c.json"), time.Hour, nil)
	require.NoError(t, err)
	assert.True(t, s2.Known("p"))
}
