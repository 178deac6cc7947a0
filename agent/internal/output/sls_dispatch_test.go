package output_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/output"
)

// TestNewSLS: New builds flusher_sls, and its "not running" error is
// ErrNotRunning like every flusher's.
func TestNewSLS(t *testing.T) {
	cfg := config.Flusher{Type: output.TypeSLS, SLS: &config.FlusherSLS{
		Project: "p", Logstore: "l", Endpoint: "127.0.0.1:1", CompressType: "lz4", AuthVersion: "v1",
		MaxBatchBytes: 1 << 20, MaxBatchLogs: 4096, RequestTimeoutSecs: 1, RetrySecs: 1,
	}}
	f, err := output.New(cfg, output.Settings{Pipeline: "p", DataDir: t.TempDir(),
		SLSCredentials: config.SLSCredentials{AccessKeyID: "id", AccessKeySecret: "secret"}})
	require.NoError(t, err)
	require.NoError(t, f.Start(context.Background()))
	require.NoError(t, f.Shutdown(context.Background()))
	b := &batch.Batch{Source: &batch.Source{Path: "/x"}}
	b.AddRecord(1, 0, []byte("a"))
	assert.ErrorIs(t, f.Export(context.Background(), b), output.ErrNotRunning)

	_, err = output.New(config.Flusher{Type: output.TypeSLS}, output.Settings{})
	assert.ErrorContains(t, err, "missing config")
}
