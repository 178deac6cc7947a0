package config_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/config"
)

func defaultAgent(t *testing.T) config.Agent {
	t.Helper()
	host, err := os.Hostname()
	require.NoError(t, err)
	return config.Agent{
		Pipelines:          "/etc/wasmtail/pipelines",
		Modules:            "/etc/wasmtail/modules",
		Data:               "/var/lib/wasmtail",
		HTTP:               "127.0.0.1:9870",
		LogLevel:           "info",
		Hostname:           host,
		CheckpointInterval: 200 * time.Millisecond,
		ScanInterval:       time.Second,
		ShutdownGrace:      25 * time.Second,
	}
}

// fromFile is testdata/agent/agent.yaml decoded.
func fromFile() config.Agent {
	return config.Agent{
		Pipelines:          "/srv/pipelines",
		Modules:            "/srv/modules",
		Data:               "/srv/data",
		HTTP:               "0.0.0.0:8080",
		LogLevel:           "debug",
		Hostname:           "node-1",
		CheckpointInterval: 5 * time.Second,
		ScanInterval:       500 * time.Millisecond,
		ShutdownGrace:      10 * time.Second,
		UserDefinedID:      "group-a",
		UserID:             "1234567890",
	}
}

func TestLoadAgent(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		environ []string
		want    func(a *config.Agent) // edits the expected config
		base    func(t *testing.T) config.Agent
	}{
		{name: "defaults", base: defaultAgent, want: func(*config.Agent) {}},
		{name: "file", path: "testdata/agent/agent.yaml", base: func(*testing.T) config.Agent { return fromFile() }, want: func(*config.Agent) {}},
		{
			name: "env only",
			environ: []string{
				"WASMTAIL_PIPELINES=/p", "WASMTAIL_MODULES=/m", "WASMTAIL_DATA=/d", "WASMTAIL_HTTP=:9000",
				"WASMTAIL_LOG_LEVEL=WARN", "WASMTAIL_HOSTNAME=h", "WASMTAIL_CHECKPOINT_INTERVAL=2s",
				"WASMTAIL_SCAN_INTERVAL=3s", "WASMTAIL_SHUTDOWN_GRACE=1m", "PATH=/usr/bin",
			},
			base: defaultAgent,
			want: func(a *config.Agent) {
				a.Pipelines, a.Modules, a.Data, a.HTTP = "/p", "/m", "/d", ":9000"
				a.LogLevel, a.Hostname = "warn", "h"
				a.CheckpointInterval, a.ScanInterval, a.ShutdownGrace = 2*time.Second, 3*time.Second, time.Minute
			},
		},
		{
			name:    "env overrides file",
			path:    "testdata/agent/agent.yaml",
			environ: []string{"WASMTAIL_DATA=/override", "WASMTAIL_SCAN_INTERVAL=10s"},
			base:    func(*testing.T) config.Agent { return fromFile() },
			want:    func(a *config.Agent) { a.Data, a.ScanInterval = "/override", 10*time.Second },
		},
		{name: "exit when file", environ: []string{"WASMTAIL_EXIT_WHEN_FILE=/var/log/app/.done"}, base: defaultAgent, want: func(a *config.Agent) { a.ExitWhenFile = "/var/log/app/.done" }},
		{name: "empty HTTP disables", environ: []string{"WASMTAIL_HTTP="}, base: defaultAgent, want: func(a *config.Agent) { a.HTTP = "" }},
		{name: "WASMTAIL_CONFIG is not a key", environ: []string{"WASMTAIL_CONFIG=/etc/wasmtail/agent.yaml"}, base: defaultAgent, want: func(*config.Agent) {}},
		{
			name:    "Logtail IDs",
			environ: []string{"ALIYUN_LOGTAIL_USER_ID=42", "ALIYUN_LOGTAIL_USER_DEFINED_ID=group-b"},
			base:    defaultAgent,
			want:    func(a *config.Agent) { a.UserID, a.UserDefinedID = "42", "group-b" },
		},
		{
			name:    "Logtail IDs override the file",
			path:    "testdata/agent/agent.yaml",
			environ: []string{"ALIYUN_LOGTAIL_USER_DEFINED_ID=group-b"},
			base:    func(*testing.T) config.Agent { return fromFile() },
			want:    func(a *config.Agent) { a.UserDefinedID = "group-b" },
		},
		{
			name:    "WASMTAIL_ overrides Logtail IDs",
			environ: []string{"WASMTAIL_USER_DEFINED_ID=mine", "ALIYUN_LOGTAIL_USER_DEFINED_ID=group-b"},
			base:    defaultAgent,
			want:    func(a *config.Agent) { a.UserDefinedID = "mine" },
		},
		{
			name:    "env tags",
			environ: []string{"ALIYUN_LOG_ENV_TAGS=_node_name_|_pod_ip_||missing| ", "_node_name_=n1", "_pod_ip_=10.0.0.1"},
			base:    defaultAgent,
			want: func(a *config.Agent) {
				a.EnvTags = []config.Tag{{Key: "_node_name_", Value: "n1"}, {Key: "_pod_ip_", Value: "10.0.0.1"}, {Key: "missing", Value: ""}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.LoadAgent(tt.path, tt.environ)
			require.NoError(t, err)
			want := tt.base(t)
			tt.want(&want)
			assert.Equal(t, &want, got)
		})
	}
}

func TestLoadAgentErrors(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		environ []string
		want    []string
	}{
		{name: "file typo", path: "testdata/agent/typo.yaml", want: []string{`agent config testdata/agent/typo.yaml: unknown key "pipeline" (did you mean "pipelines"?)`}},
		{name: "env typo", environ: []string{"WASMTAIL_PIPELINE=/p"}, want: []string{`environment: unknown variable WASMTAIL_PIPELINE (did you mean "WASMTAIL_PIPELINES"?)`}},
		{name: "env unknown", environ: []string{"WASMTAIL_COLOR=red"}, want: []string{`environment: unknown variable WASMTAIL_COLOR`}},
		{name: "file types", path: "testdata/agent/bad_type.yaml", want: []string{
			`agent config testdata/agent/bad_type.yaml: checkpoint_interval: want a duration such as "1s", got 5`,
			`agent config testdata/agent/bad_type.yaml: hostname: want a string, got a list`,
		}},
		{name: "env duration", environ: []string{"WASMTAIL_SHUTDOWN_GRACE=soon"}, want: []string{`environment: WASMTAIL_SHUTDOWN_GRACE: shutdown_grace: want a duration such as "1s", got "soon"`}},
		{name: "file validation", path: "testdata/agent/invalid.yaml", want: []string{
			`agent config testdata/agent/invalid.yaml: scan_interval: must be greater than 0, got 0s`,
			`agent config testdata/agent/invalid.yaml: shutdown_grace: must be greater than 0, got -1s`,
			`agent config testdata/agent/invalid.yaml: log_level: want one of debug, info, warn, error, got "verbose"`,
			`agent config testdata/agent/invalid.yaml: http: want host:port, got "localhost" (missing port in address)`,
		}},
		{name: "zero checkpoint interval", environ: []string{"WASMTAIL_CHECKPOINT_INTERVAL=0s"}, want: []string{"agent config: checkpoint_interval: must be greater than 0, got 0s"}},
		{name: "bad port", environ: []string{"WASMTAIL_HTTP=127.0.0.1:http"}, want: []string{`http: want host:port with a port number from 0 to 65535, got "127.0.0.1:http"`}},
		{name: "empty data", environ: []string{"WASMTAIL_DATA="}, want: []string{"data: must not be empty"}},
		{name: "missing file", path: "testdata/agent/none.yaml", want: []string{"agent config testdata/agent/none.yaml: ", "no such file or directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := config.LoadAgent(tt.path, tt.environ)
			require.Error(t, err)
			assert.Nil(t, a)
			for _, want := range tt.want {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}
