package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/config"
)

// TestFlusherFileFsync: flusher_file's Fsync is a declared key (unknown
// keys are errors), a boolean, false by default.
func TestFlusherFileFsync(t *testing.T) {
	dir := t.TempDir()
	load := func(extra string) (*config.Pipeline, error) {
		path := filepath.Join(dir, "p.yaml")
		body := "inputs:\n  - Type: input_file\n    FilePaths: [/var/log/*.log]\nflushers:\n  - Type: flusher_file\n    FilePath: /tmp/out.log\n" + extra
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
		return config.LoadPipeline(path, knownProcessor)
	}
	p, err := load("    Fsync: true\n")
	require.NoError(t, err)
	assert.True(t, p.Flushers[0].File.Fsync)

	p, err = load("")
	require.NoError(t, err)
	assert.False(t, p.Flushers[0].File.Fsync, "off by default")

	_, err = load("    Fsync: \"yes\"\n")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Fsync")

	_, err = load("    FSync: true\n")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown key "FSync" (did you mean "Fsync"?)`)
}
