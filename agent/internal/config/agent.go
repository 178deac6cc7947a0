package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts the environment variables that override agent config
// keys: WASMTAIL_<KEY>, the key in upper case (WASMTAIL_PIPELINES,
// WASMTAIL_CHECKPOINT_INTERVAL).
const EnvPrefix = "WASMTAIL_"

// The Logtail sidecar variables the agent honours.
const (
	EnvUserID        = "ALIYUN_LOGTAIL_USER_ID"
	EnvUserDefinedID = "ALIYUN_LOGTAIL_USER_DEFINED_ID"
	EnvEnvTags       = "ALIYUN_LOG_ENV_TAGS"
)

// envReserved are WASMTAIL_ variables that are not agent config keys but are
// not typos either: WASMTAIL_CONFIG names the agent config file itself.
var envReserved = []string{EnvPrefix + "CONFIG"}

// logLevels are the values of Agent.LogLevel.
var logLevels = []string{"debug", "info", "warn", "error"}

// Agent is the agent config: one YAML file whose every key an environment
// variable WASMTAIL_<KEY> overrides. Precedence, lowest first: defaults, the
// file, the Logtail variables (ALIYUN_LOGTAIL_USER_ID,
// ALIYUN_LOGTAIL_USER_DEFINED_ID), WASMTAIL_ variables.
type Agent struct {
	// Pipelines is the folder of pipeline config files. Default
	// /etc/wasmtail/pipelines.
	Pipelines string `koanf:"pipelines"`
	// Modules is the folder of Wasm modules. Default /etc/wasmtail/modules;
	// empty means no modules folder.
	Modules string `koanf:"modules"`
	// ModuleRoots are the folders, besides Modules, that processor_wasm may
	// read a module from when a pipeline names it by path (Module:
	// /path/to/x.wasm): the path must lie under one of them as written and
	// once its symlinks are resolved; /dev, /proc and /sys never do. A list
	// of absolute folders; in WASMTAIL_MODULE_ROOTS, separated by ":" or
	// ",". Default (unset): /usr/lib/wasmtail/modules, the image's built-in
	// modules; an empty list ([] or WASMTAIL_MODULE_ROOTS=): the modules
	// folder only.
	ModuleRoots []string `koanf:"module_roots"`
	// Data is the folder for checkpoints and other state. Default
	// /var/lib/wasmtail.
	Data string `koanf:"data"`
	// HTTP is the host:port that serves /healthz, /readyz and /metrics.
	// Default 127.0.0.1:9870; empty disables the server.
	HTTP string `koanf:"http"`
	// PProf is the host:port of a listener of its own that serves Go's
	// profiles, /debug/pprof/ (heap, goroutines, CPU, execution traces),
	// unauthenticated. Default empty: no profiles anywhere. A port alone
	// (":6060") listens on 127.0.0.1; any other host must be written out.
	// Never on http's port, which the kubelet and Prometheus reach.
	PProf string `koanf:"pprof"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `koanf:"log_level"`
	// Hostname is sent as the tag __hostname__. Default os.Hostname().
	Hostname string `koanf:"hostname"`
	// CheckpointInterval is the longest a saved checkpoint lags behind the
	// acknowledged data, as a Go duration ("1s", "500ms"): checkpoints are
	// written soon after they move, at most once per interval. It bounds what
	// a crash sends twice. Default 200ms.
	CheckpointInterval time.Duration `koanf:"checkpoint_interval"`
	// ScanInterval is how often the file patterns are rescanned for files
	// that inotify missed. Default 1s.
	ScanInterval time.Duration `koanf:"scan_interval"`
	// ShutdownGrace bounds the drain on SIGTERM. Default 25s, inside
	// Kubernetes' 30s.
	ShutdownGrace time.Duration `koanf:"shutdown_grace"`
	// ExitWhenFile names a file whose appearance makes the agent stop as it
	// does on SIGTERM (read what was written, deliver, save checkpoints) and
	// exit 0: for a classic sidecar next to a Job's application, which
	// creates the file once it has written its last line, so that the Job
	// completes on clusters without native sidecars. Checked every 500ms.
	// Default empty: never.
	ExitWhenFile string `koanf:"exit_when_file"`
	// UserDefinedID is sent as the tag __user_defined_id__. Default empty;
	// ALIYUN_LOGTAIL_USER_DEFINED_ID sets it.
	UserDefinedID string `koanf:"user_defined_id"`
	// UserID is the Alibaba Cloud account ID. Default empty;
	// ALIYUN_LOGTAIL_USER_ID sets it.
	UserID string `koanf:"user_id"`
	// EnvTags come from ALIYUN_LOG_ENV_TAGS, a "|"-separated list of
	// environment variable names: each gives a tag named after the variable
	// with its value (empty when the variable is unset), in list order.
	// There is no file key. A credential is never a tag: Validate refuses
	// a name that IsCredentialName, and a variable whose value is the SLS
	// AccessKey secret or security token.
	EnvTags []Tag `koanf:"-"`
	// SLSCredentialsFile is a JSON file with the SLS credentials,
	// {"AccessKeyId": …, "AccessKeySecret": …, "SecurityToken": …}, read
	// again when it changes (so STS tokens rotate without a restart). Default
	// empty: the credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID,
	// ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN.
	SLSCredentialsFile string `koanf:"sls_credentials_file"`
	// SLSCredentials come from the ALIBABA_CLOUD_* variables. There is no
	// file key: credentials never sit in the agent config.
	SLSCredentials SLSCredentials `koanf:"-"`
}

// The variables that hold SLS credentials.
const (
	EnvAccessKeyID     = "ALIBABA_CLOUD_ACCESS_KEY_ID"
	EnvAccessKeySecret = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	EnvSecurityToken   = "ALIBABA_CLOUD_SECURITY_TOKEN"
)

// SLSCredentials are an AccessKey pair and, for STS, a security token.
type SLSCredentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	AccessKeySecret string `json:"AccessKeySecret"`
	SecurityToken   string `json:"SecurityToken,omitempty"`
}

// Tag is a key and a value added to every batch.
type Tag struct {
	Key   string
	Value string
}

// defaultAgent is the agent config with every default set.
func defaultAgent() *Agent {
	host, _ := os.Hostname()
	return &Agent{
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

// agentKeys maps each koanf key of Agent to its field's type.
func agentKeys() map[string]reflect.Type {
	keys := map[string]reflect.Type{}
	t := reflect.TypeFor[Agent]()
	for i := range t.NumField() {
		if k := t.Field(i).Tag.Get("koanf"); k != "" && k != "-" {
			keys[k] = t.Field(i).Type
		}
	}
	return keys
}

// LoadAgent builds the agent config from defaults, the YAML file at path
// (none when path is empty) and environ, a list of KEY=value strings as
// os.Environ returns, then validates it. The file decodes strictly: an
// unknown key is an error naming the file and the key, and so is a
// WASMTAIL_ variable that names no key.
func LoadAgent(path string, environ []string) (*Agent, error) {
	a := defaultAgent()
	keys := agentKeys()
	k := koanf.New(".")
	source := "agent config"
	if path != "" {
		source = "agent config " + path
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		var errs []error
		for _, key := range sortedKeys(k.Raw()) {
			if err := checkAgentValue(key, k.Raw()[key], keys); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", source, err))
			}
		}
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
	}

	vars := map[string]string{}
	for _, kv := range environ {
		if name, val, ok := strings.Cut(kv, "="); ok {
			vars[name] = val
		}
	}
	// The Logtail variables rank below WASMTAIL_ ones, which load next.
	for name, key := range map[string]string{EnvUserID: "user_id", EnvUserDefinedID: "user_defined_id"} {
		if v, ok := vars[name]; ok {
			if err := k.Set(key, v); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", source, name, err)
			}
		}
	}

	var errs []error
	var names []string
	for key := range keys {
		names = append(names, EnvPrefix+strings.ToUpper(key))
	}
	for _, name := range sortedKeys(vars) {
		if !strings.HasPrefix(name, EnvPrefix) || slices.Contains(envReserved, name) {
			continue
		}
		key := strings.ToLower(strings.TrimPrefix(name, EnvPrefix))
		if _, ok := keys[key]; !ok {
			errs = append(errs, fmt.Errorf("environment: unknown variable %s%s", name, didYouMean(name, names)))
			continue
		}
		if err := checkAgentValue(key, vars[name], keys); err != nil {
			errs = append(errs, fmt.Errorf("environment: %s: %w", name, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	envProvider := env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, val string) (string, any) {
			key := strings.ToLower(strings.TrimPrefix(name, EnvPrefix))
			if _, ok := keys[key]; !ok {
				return "", nil // WASMTAIL_CONFIG
			}
			return key, val
		},
	})
	if err := k.Load(envProvider, nil); err != nil {
		return nil, fmt.Errorf("%s: environment: %w", source, err)
	}

	err := k.UnmarshalWithConf("", a, koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook:       mapstructure.ComposeDecodeHookFunc(mapstructure.StringToTimeDurationHookFunc(), stringToList),
			ErrorUnused:      true,
			WeaklyTypedInput: true, // numbers to strings, checked above
			Result:           a,
			TagName:          "koanf",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	a.LogLevel = strings.ToLower(a.LogLevel)
	a.EnvTags = envTags(vars)
	a.SLSCredentials = SLSCredentials{
		AccessKeyID:     vars[EnvAccessKeyID],
		AccessKeySecret: vars[EnvAccessKeySecret],
		SecurityToken:   vars[EnvSecurityToken],
	}
	if err := a.Validate(); err != nil {
		return nil, prefixEach(source, err)
	}
	return a, nil
}

// prefixEach puts prefix in front of each of the errors err joins, so that
// every line of the message names the source.
func prefixEach(prefix string, err error) error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	var errs []error
	for _, e := range joined.Unwrap() {
		errs = append(errs, fmt.Errorf("%s: %w", prefix, e))
	}
	return errors.Join(errs...)
}

// SplitList splits a list given as one string (WASMTAIL_MODULE_ROOTS) at
// ":" and ",", dropping blanks. It returns an empty list, not nil, for "".
func SplitList(s string) []string {
	out := []string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ',' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// stringToList decodes a string into a list key with SplitList.
func stringToList(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to != reflect.TypeFor[[]string]() {
		return data, nil
	}
	return SplitList(data.(string)), nil
}

// checkAgentValue checks that val suits key, naming the key on error.
func checkAgentValue(key string, val any, keys map[string]reflect.Type) error {
	typ, ok := keys[key]
	if !ok {
		var names []string
		for k := range keys {
			names = append(names, k)
		}
		return unknownKey("", key, names)
	}
	if typ == reflect.TypeFor[time.Duration]() {
		s, ok := val.(string)
		if !ok {
			return keyErrorf(key, "want a duration such as \"1s\", got %s", describe(val))
		}
		if _, err := time.ParseDuration(s); err != nil {
			return keyErrorf(key, "want a duration such as \"1s\", got %q", s)
		}
		return nil
	}
	if typ == reflect.TypeFor[[]string]() {
		if list, ok := val.([]any); ok {
			for _, v := range list {
				if _, ok := v.(string); !ok {
					return keyErrorf(key, "want a list of strings, got %s in the list", describe(v))
				}
			}
			return nil
		}
		if _, ok := val.(string); !ok {
			return keyErrorf(key, "want a list of strings, got %s", describe(val))
		}
		return nil
	}
	switch val.(type) {
	case string, int, int64, uint64: // a numeric ID is read as its digits
		return nil
	}
	return keyErrorf(key, "want a string, got %s", describe(val))
}

// envTags reads ALIYUN_LOG_ENV_TAGS from vars.
func envTags(vars map[string]string) []Tag {
	var tags []Tag
	for _, name := range strings.Split(vars[EnvEnvTags], "|") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		tags = append(tags, Tag{Key: name, Value: vars[name]})
	}
	return tags
}

// Validate checks the agent config; each error names its key.
func (a *Agent) Validate() error {
	var errs []error
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"checkpoint_interval", a.CheckpointInterval},
		{"scan_interval", a.ScanInterval},
		{"shutdown_grace", a.ShutdownGrace},
	} {
		if d.val <= 0 {
			errs = append(errs, keyErrorf(d.key, "must be greater than 0, got %s", d.val))
		}
	}
	if !slices.Contains(logLevels, a.LogLevel) {
		errs = append(errs, keyErrorf("log_level", "want one of %s, got %q", strings.Join(logLevels, ", "), a.LogLevel))
	}
	errs = append(errs, a.checkTags()...)
	if a.HTTP != "" {
		if err := checkHostPort(a.HTTP); err != nil {
			errs = append(errs, keyErrorf("http", "%s", err))
		}
	}
	if a.PProf != "" {
		if err := checkHostPort(a.PProf); err != nil {
			errs = append(errs, keyErrorf("pprof", "%s", err))
		} else if samePort(a.PProf, a.HTTP) {
			errs = append(errs, keyErrorf("pprof", "%q shares its port with http %q: the profiles get a listener of their own, never the probe and metrics address", a.PProf, a.HTTP))
		}
	}
	if a.Pipelines == "" {
		errs = append(errs, keyErrorf("pipelines", "must not be empty"))
	}
	if a.Data == "" {
		errs = append(errs, keyErrorf("data", "must not be empty"))
	}
	for _, r := range a.ModuleRoots {
		if !strings.HasPrefix(r, "/") {
			errs = append(errs, keyErrorf("module_roots", "want absolute folders, got %q", r))
		}
	}
	return errors.Join(errs...)
}

// credentialWords are the parts of a variable name that say it holds a
// credential, upper case.
var credentialWords = []string{"SECRET", "TOKEN", "PASSWORD", "PASSWD", "KEY_SECRET", "PRIVATE_KEY", "CREDENTIAL", "API_KEY", "APIKEY"}

// IsCredentialName reports whether the environment variable name is, or is
// named like, a credential: every ALIBABA_CLOUD_ variable (the AccessKey
// pair, the STS token, the RAM role and OIDC settings) and any name that
// contains, in any case, one of SECRET, TOKEN, PASSWORD, PASSWD,
// KEY_SECRET, PRIVATE_KEY, CREDENTIAL, API_KEY or APIKEY. The reason is
// returned for the error message.
func IsCredentialName(name string) (bool, string) {
	upper := strings.ToUpper(name)
	if strings.HasPrefix(upper, "ALIBABA_CLOUD_") {
		return true, "every ALIBABA_CLOUD_ variable holds Alibaba Cloud credentials or their settings"
	}
	for _, w := range credentialWords {
		if strings.Contains(upper, w) {
			return true, fmt.Sprintf("its name contains %s, so it is taken for a credential", w)
		}
	}
	return false, ""
}

// checkTags refuses tag sources that would send a credential to SLS,
// where a tag travels with every log group and anyone who can read the
// logstore reads it.
func (a *Agent) checkTags() []error {
	var errs []error
	secrets := map[string]string{
		a.SLSCredentials.AccessKeySecret: EnvAccessKeySecret,
		a.SLSCredentials.SecurityToken:   EnvSecurityToken,
	}
	delete(secrets, "")
	for _, t := range a.EnvTags {
		if bad, why := IsCredentialName(t.Key); bad {
			errs = append(errs, keyErrorf(EnvEnvTags, "refusing to send %s as a tag: %s; tags go to SLS with every log group, readable by anyone who reads the logstore; take it out of the list (if it holds no secret, copy its value into a variable named otherwise)", t.Key, why))
		} else if v, ok := secrets[t.Value]; ok {
			errs = append(errs, keyErrorf(EnvEnvTags, "refusing to send %s as a tag: its value is that of %s, a credential; tags go to SLS with every log group, readable by anyone who reads the logstore", t.Key, v))
		}
	}
	if v, ok := secrets[a.UserDefinedID]; ok {
		errs = append(errs, keyErrorf("user_defined_id", "refusing to send it as the tag __user_defined_id__: its value is that of %s, a credential", v))
	}
	if v, ok := secrets[a.Hostname]; ok {
		errs = append(errs, keyErrorf("hostname", "refusing to send it as the tag __hostname__: its value is that of %s, a credential", v))
	}
	return errs
}

// checkHostPort checks a listen address such as 127.0.0.1:9870 or :9870.
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return fmt.Errorf("want host:port, got %q (%s)", addr, ae.Err)
		}
		return fmt.Errorf("want host:port, got %q", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("want host:port with a port number from 0 to 65535, got %q", addr)
	}
	return nil
}

// samePort reports whether the listen addresses a and b (host:port) name
// the same non-zero port.
func samePort(a, b string) bool {
	_, pa, errA := net.SplitHostPort(a)
	_, pb, errB := net.SplitHostPort(b)
	return errA == nil && errB == nil && pa == pb && pa != "0"
}
