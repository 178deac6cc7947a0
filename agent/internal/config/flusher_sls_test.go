package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/config"
)

func TestFlusherSLSDefaults(t *testing.T) {
	p, err := config.LoadPipeline("testdata/pipeline/valid/doc_flusher_sls.yaml", knownProcessor)
	require.NoError(t, err)
	require.Len(t, p.Flushers, 2)
	assert.Equal(t, &config.FlusherSLS{
		Project: "test_project", Logstore: "test_logstore", Region: "cn-hangzhou",
		Endpoint: "cn-hangzhou.log.aliyuncs.com", CompressType: "lz4", AuthVersion: "v1",
		MaxBatchBytes: 1 << 20, MaxBatchLogs: 4096, RequestTimeoutSecs: 30, RetrySecs: 30,
	}, p.Flushers[0].SLS)
}

func TestFlusherSLSValidate(t *testing.T) {
	valid := func() config.FlusherSLS {
		return config.FlusherSLS{
			Project: "p", Logstore: "l", Endpoint: "cn-hangzhou.log.aliyuncs.com", CompressType: "lz4",
			AuthVersion: "v1", MaxBatchBytes: 1 << 20, MaxBatchLogs: 4096, RequestTimeoutSecs: 30, RetrySecs: 30,
		}
	}
	tests := []struct {
		name   string
		change func(c *config.FlusherSLS)
		want   string // "" means valid
	}{
		{name: "valid", change: func(*config.FlusherSLS) {}},
		{name: "IP:port", change: func(c *config.FlusherSLS) { c.Endpoint = "127.0.0.1:9871" }},
		{name: "localhost:port", change: func(c *config.FlusherSLS) { c.Endpoint = "localhost:9871" }},
		{name: "https URL", change: func(c *config.FlusherSLS) { c.Endpoint = "https://cn-hangzhou.log.aliyuncs.com" }},
		{name: "zstd", change: func(c *config.FlusherSLS) { c.CompressType = "zstd" }},
		{name: "none", change: func(c *config.FlusherSLS) { c.CompressType = "none" }},
		{name: "v4 with region", change: func(c *config.FlusherSLS) { c.AuthVersion, c.Region = "v4", "cn-hangzhou" }},
		{name: "no project", change: func(c *config.FlusherSLS) { c.Project = "" }, want: "Project: is required"},
		{name: "no logstore", change: func(c *config.FlusherSLS) { c.Logstore = " " }, want: "Logstore: is required"},
		{name: "path in endpoint", change: func(c *config.FlusherSLS) { c.Endpoint = "http://h/x" }, want: "Endpoint: want a host name"},
		{name: "bad port", change: func(c *config.FlusherSLS) { c.Endpoint = "127.0.0.1:99999" }, want: "Endpoint: want a port from 1 to 65535"},
		{name: "gzip", change: func(c *config.FlusherSLS) { c.CompressType = "gzip" }, want: `CompressType: must be "lz4", "zstd" or "none", got "gzip"`},
		{name: "metrics", change: func(c *config.FlusherSLS) { c.TelemetryType = "metrics" }, want: `TelemetryType: only "logs" is supported`},
		{name: "v4 without region", change: func(c *config.FlusherSLS) { c.AuthVersion = "v4" }, want: "Region: is required with AuthVersion v4"},
		{name: "v2", change: func(c *config.FlusherSLS) { c.AuthVersion = "v2" }, want: `AuthVersion: must be "v1" or "v4"`},
		{name: "too many logs", change: func(c *config.FlusherSLS) { c.MaxBatchLogs = 4097 }, want: "MaxBatchLogs: must be between 1 and 4096, got 4097"},
		{name: "too many bytes", change: func(c *config.FlusherSLS) { c.MaxBatchBytes = 6 << 20 }, want: "MaxBatchBytes: must be between 1024 and 5242880"},
		{name: "retry", change: func(c *config.FlusherSLS) { c.RetrySecs = 0 }, want: "RetrySecs: must be between 1 and 3600, got 0"},
		{name: "empty hash key", change: func(c *config.FlusherSLS) { c.ShardHashKeys = []string{""} }, want: "ShardHashKeys[0]: must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
