package sls_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/slslocal"
)

// TestDeadLetterModes: the dead-letter folder and file are made 0750 and
// 0640 (under umask 0, set here, so that the modes are exact): a rejected
// log is still a log, not for other users of the machine.
func TestDeadLetterModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	e := start(t, slslocal.Options{MaxBodyBytes: 8192}, nil)
	require.NoError(t, e.f.Export(context.Background(), newBatch("small", "BIG "+strings.Repeat("x", 10000))))
	dir := filepath.Join(e.dir, "deadletter")
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o750), st.Mode().Perm(), "%s: got %v", dir, st.Mode().Perm())
	st, err = os.Stat(filepath.Join(dir, "p.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm(), "dead-letter file: got %v", st.Mode().Perm())
}
