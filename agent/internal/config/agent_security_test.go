package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/config"
)

// TestPProfKey: profiles are off unless the pprof key gives them an
// address, which never shares http's port.
func TestPProfKey(t *testing.T) {
	a, err := config.LoadAgent("", nil)
	require.NoError(t, err)
	assert.Empty(t, a.PProf, "pprof is off by default")

	a, err = config.LoadAgent("", []string{"WASMTAIL_PPROF=127.0.0.1:6060"})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:6060", a.PProf)

	file := filepath.Join(t.TempDir(), "agent.yaml")
	require.NoError(t, os.WriteFile(file, []byte("pprof: \":6060\"\nhttp: 0.0.0.0:9870\n"), 0o600))
	a, err = config.LoadAgent(file, nil)
	require.NoError(t, err)
	assert.Equal(t, ":6060", a.PProf)

	for _, tc := range []struct {
		name    string
		environ []string
		want    string
	}{
		{"no port", []string{"WASMTAIL_PPROF=localhost"}, `pprof: want host:port, got "localhost"`},
		{"bad port", []string{"WASMTAIL_PPROF=:pprof"}, `pprof: want host:port with a port number from 0 to 65535, got ":pprof"`},
		{"http's address", []string{"WASMTAIL_HTTP=0.0.0.0:9870", "WASMTAIL_PPROF=0.0.0.0:9870"}, `pprof: "0.0.0.0:9870" shares its port with http "0.0.0.0:9870"`},
		{"http's port", []string{"WASMTAIL_HTTP=0.0.0.0:9870", "WASMTAIL_PPROF=127.0.0.1:9870"}, `pprof: "127.0.0.1:9870" shares its port with http "0.0.0.0:9870"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.LoadAgent("", tc.environ)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestEnvTagsRefuseCredentials: ALIYUN_LOG_ENV_TAGS sends each variable
// it names to SLS as a tag, so a credential named there would sit in the
// logstore: the agent refuses to start, naming the variable and why.
func TestEnvTagsRefuseCredentials(t *testing.T) {
	creds := []string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID=LTAI-id",
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET=the-secret",
		"ALIBABA_CLOUD_SECURITY_TOKEN=the-token",
	}
	for _, tc := range []struct {
		name string
		tags string   // ALIYUN_LOG_ENV_TAGS
		more []string // other variables
		want []string // in the error, besides the variable
	}{
		{name: "access key id", tags: "_pod_name_|ALIBABA_CLOUD_ACCESS_KEY_ID", want: []string{"every ALIBABA_CLOUD_ variable"}},
		{name: "access key secret", tags: "ALIBABA_CLOUD_ACCESS_KEY_SECRET", want: []string{"every ALIBABA_CLOUD_ variable"}},
		{name: "security token", tags: "ALIBABA_CLOUD_SECURITY_TOKEN", want: []string{"every ALIBABA_CLOUD_ variable"}},
		{name: "any ALIBABA_CLOUD_ variable", tags: "ALIBABA_CLOUD_ROLE_ARN", more: []string{"ALIBABA_CLOUD_ROLE_ARN=acs:ram::1:role/x"}, want: []string{"every ALIBABA_CLOUD_ variable"}},
		{name: "lower case", tags: "alibaba_cloud_access_key_secret", want: []string{"every ALIBABA_CLOUD_ variable"}},
		{name: "secret", tags: "DB_SECRET", more: []string{"DB_SECRET=x"}, want: []string{"contains SECRET"}},
		{name: "token", tags: "github_token", more: []string{"github_token=x"}, want: []string{"contains TOKEN"}},
		{name: "password", tags: "MYSQL_ROOT_PASSWORD", want: []string{"contains PASSWORD"}},
		{name: "passwd", tags: "Redis_Passwd", want: []string{"contains PASSWD"}},
		{name: "key secret", tags: "OSS_KEY_SECRET", want: []string{"contains SECRET"}},
		{name: "private key", tags: "TLS_PRIVATE_KEY", want: []string{"contains PRIVATE_KEY"}},
		{name: "credential", tags: "GOOGLE_APPLICATION_CREDENTIALS", want: []string{"contains CREDENTIAL"}},
		{name: "api key", tags: "OPENAI_API_KEY", want: []string{"contains API_KEY"}},
		{name: "a secret's value under another name", tags: "_pod_name_|COPY", more: []string{"COPY=the-secret"}, want: []string{"its value is that of ALIBABA_CLOUD_ACCESS_KEY_SECRET"}},
		{name: "a token's value under another name", tags: "COPY", more: []string{"COPY=the-token"}, want: []string{"its value is that of ALIBABA_CLOUD_SECURITY_TOKEN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			environ := append(append(append([]string{}, creds...), tc.more...), "_pod_name_=p", "ALIYUN_LOG_ENV_TAGS="+tc.tags)
			a, err := config.LoadAgent("", environ)
			require.Error(t, err, "ALIYUN_LOG_ENV_TAGS=%s must be refused", tc.tags)
			assert.Nil(t, a)
			msg := err.Error()
			bad := tc.tags[strings.LastIndex(tc.tags, "|")+1:]
			assert.Contains(t, msg, "ALIYUN_LOG_ENV_TAGS: refusing to send "+bad+" as a tag")
			assert.Contains(t, msg, "readable by anyone who reads the logstore")
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
			assert.NotContains(t, msg, "the-secret", "the error shows no credential")
			assert.NotContains(t, msg, "the-token", "the error shows no credential")
		})
	}

	t.Run("user defined id", func(t *testing.T) {
		_, err := config.LoadAgent("", append(creds, "ALIYUN_LOGTAIL_USER_DEFINED_ID=the-secret"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "user_defined_id: refusing to send it as the tag __user_defined_id__: its value is that of ALIBABA_CLOUD_ACCESS_KEY_SECRET")
		assert.NotContains(t, err.Error(), "the-secret")
	})

	t.Run("ordinary tags pass", func(t *testing.T) {
		a, err := config.LoadAgent("", append(creds,
			"ALIYUN_LOG_ENV_TAGS=_pod_name_|_namespace_|KEYBOARD_LAYOUT|MONKEY|ALIYUN_LOGTAIL_USER_ID",
			"_pod_name_=p", "_namespace_=n", "KEYBOARD_LAYOUT=us", "MONKEY=LTAI-id", "ALIYUN_LOGTAIL_USER_ID=1"))
		require.NoError(t, err, "names without a credential word, and the (not secret) AccessKey ID's value, are tags")
		assert.Len(t, a.EnvTags, 5)
	})
}

func TestIsCredentialName(t *testing.T) {
	for name, want := range map[string]bool{
		"ALIBABA_CLOUD_ACCESS_KEY_ID":     true,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": true,
		"ALIBABA_CLOUD_SECURITY_TOKEN":    true,
		"ALIBABA_CLOUD_OIDC_TOKEN_FILE":   true,
		"Alibaba_Cloud_Region_Id":         true,
		"AWS_SECRET_ACCESS_KEY":           true,
		"VAULT_TOKEN":                     true,
		"PGPASSWORD":                      true,
		"ldap_passwd":                     true,
		"SSH_PRIVATE_KEY":                 true,
		"AZURE_CREDENTIALS":               true,
		"STRIPE_APIKEY":                   true,
		"_pod_name_":                      false,
		"_namespace_":                     false,
		"_node_ip_":                       false,
		"HOSTNAME":                        false,
		"KEY_ID":                          false,
		"ALIYUN_LOGTAIL_USER_DEFINED_ID":  false,
	} {
		if got, _ := config.IsCredentialName(name); got != want {
			t.Errorf("IsCredentialName(%q) = %v, want %v", name, got, want)
		}
	}
}
