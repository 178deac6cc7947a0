package config

import (
	"errors"
	"fmt"
	"net"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Limits of the pipeline config, as LoongCollector documents them where it
// has the key.
const (
	maxDirSearchDepth = 1000
	maxTailSizeKB     = 10 << 20 // 10 GiB, in KiB
	maxLineKB         = 64 << 10 // 64 MiB, in KiB
	maxWorkers        = 64
	maxQueueMB        = 4096
)

// fileTagKeys are the keys of input_file's Tags map, as LoongCollector
// documents them; the container ones only matter with container discovery.
var fileTagKeys = []string{
	"FilePathTagKey", "FileInodeTagKey",
	"K8sNamespaceTagKey", "K8sPodNameTagKey", "K8sPodUidTagKey",
	"ContainerNameTagKey", "ContainerIpTagKey", "ContainerImageTagKey",
}

// Validate checks the whole pipeline. On failure the error joins one
// [*Error] per problem, each naming the file, the plugin and the key.
func (p *Pipeline) Validate() error {
	var errs []error
	add := func(plugin string, found []error) {
		for _, err := range found {
			e := &Error{File: p.File, Plugin: plugin, Err: err}
			var ke *keyError
			if errors.As(err, &ke) {
				e.Key = ke.key
			}
			errs = append(errs, e)
		}
	}
	add("global", p.Global.validate())
	if p.Stdio != nil {
		add(pluginLabel("inputs", 0, TypeInputStdio), p.Stdio.validate())
	} else {
		add(pluginLabel("inputs", 0, TypeInputFile), p.Input.validate())
	}
	if len(p.Flushers) == 0 {
		add("", []error{keyErrorf("flushers", "at least one flusher is required, got none")})
	}
	for _, f := range p.Flushers {
		add(pluginLabel("flushers", f.Index, f.Type), f.validate())
	}
	for _, proc := range p.Processors {
		if proc.Type == "" {
			add(fmt.Sprintf("processors[%d]", proc.Index), []error{fmt.Errorf("missing key %q", "Type")})
		}
	}
	return errors.Join(errs...)
}

// Validate checks the global section; each error names its key.
func (g *Global) Validate() error { return errors.Join(g.validate()...) }

func (g *Global) validate() []error {
	var errs []error
	if g.Workers < 1 || g.Workers > maxWorkers {
		errs = append(errs, keyErrorf("Workers", "must be between 1 and %d, got %d", maxWorkers, g.Workers))
	}
	if g.QueueMB < 1 || g.QueueMB > maxQueueMB {
		errs = append(errs, keyErrorf("QueueMB", "must be between 1 and %d, got %d", maxQueueMB, g.QueueMB))
	}
	return errs
}

// Validate checks input_file's parameters; each error names its key.
func (c *InputFile) Validate() error { return errors.Join(c.validate()...) }

func (c *InputFile) validate() []error {
	var errs []error
	if len(c.FilePaths) == 0 {
		errs = append(errs, keyErrorf("FilePaths", "at least one path is required"))
	}
	for i, p := range c.FilePaths {
		if err := checkFilePath(p); err != nil {
			errs = append(errs, keyErrorf(fmt.Sprintf("FilePaths[%d]", i), "%s", err))
		}
	}
	if c.MaxDirSearchDepth < 0 || c.MaxDirSearchDepth > maxDirSearchDepth {
		errs = append(errs, keyErrorf("MaxDirSearchDepth", "must be between 0 and %d, got %d", maxDirSearchDepth, c.MaxDirSearchDepth))
	}
	for i, p := range c.ExcludeFilePaths {
		if err := checkAbsGlob(p); err != nil {
			errs = append(errs, keyErrorf(fmt.Sprintf("ExcludeFilePaths[%d]", i), "%s", err))
		}
	}
	for i, p := range c.ExcludeDirs {
		if err := checkAbsGlob(p); err != nil {
			errs = append(errs, keyErrorf(fmt.Sprintf("ExcludeDirs[%d]", i), "%s", err))
		}
	}
	for i, p := range c.ExcludeFiles {
		if strings.Contains(p, "/") {
			errs = append(errs, keyErrorf(fmt.Sprintf("ExcludeFiles[%d]", i), "a file name pattern cannot contain \"/\", got %q (use ExcludeFilePaths for paths)", p))
		} else if _, err := path.Match(p, ""); err != nil {
			errs = append(errs, keyErrorf(fmt.Sprintf("ExcludeFiles[%d]", i), "bad pattern %q: %v", p, err))
		}
	}
	switch {
	case c.FileEncoding == "utf8":
	case strings.EqualFold(c.FileEncoding, "gbk"):
		errs = append(errs, keyErrorf("FileEncoding", "gbk is not supported (only utf8)"))
	default:
		errs = append(errs, keyErrorf("FileEncoding", "must be \"utf8\", got %q", c.FileEncoding))
	}
	if c.TailSizeKB < 0 || c.TailSizeKB > maxTailSizeKB {
		errs = append(errs, keyErrorf("TailSizeKB", "must be between 0 and %d, got %d", maxTailSizeKB, c.TailSizeKB))
	}
	errs = append(errs, c.Multiline.validate("Multiline.")...)
	if c.FlushTimeoutSecs < 0 {
		errs = append(errs, keyErrorf("FlushTimeoutSecs", "must not be negative, got %d", c.FlushTimeoutSecs))
	}
	if c.FileOffsetKey == "" {
		errs = append(errs, keyErrorf("FileOffsetKey", "must not be empty"))
	}
	for _, k := range sortedKeys(c.Tags) {
		if !slices.Contains(fileTagKeys, k) {
			errs = append(errs, keyErrorf("Tags."+k, "unknown tag key%s (want one of %s)", didYouMean(k, fileTagKeys), strings.Join(fileTagKeys, ", ")))
		}
	}
	if c.MaxLineKB < 1 || c.MaxLineKB > maxLineKB {
		errs = append(errs, keyErrorf("MaxLineKB", "must be between 1 and %d, got %d", maxLineKB, c.MaxLineKB))
	}
	return errs
}

// stdioTagKeys are the keys of input_container_stdio's Tags map that
// wasmtail fills (from the log path).
var stdioTagKeys = []string{"K8sNamespaceTagKey", "K8sPodNameTagKey", "K8sPodUidTagKey", "ContainerNameTagKey"}

// Validate checks input_container_stdio's parameters; each error names its key.
func (c *InputContainerStdio) Validate() error { return errors.Join(c.validate()...) }

func (c *InputContainerStdio) validate() []error {
	var errs []error
	if !filepath.IsAbs(c.LogsRoot) {
		errs = append(errs, keyErrorf("LogsRoot", "must be an absolute path, got %q", c.LogsRoot))
	}
	if c.TailSizeKB < 0 || c.TailSizeKB > maxTailSizeKB {
		errs = append(errs, keyErrorf("TailSizeKB", "must be between 0 and %d, got %d", maxTailSizeKB, c.TailSizeKB))
	}
	if c.FlushTimeoutSecs < 0 {
		errs = append(errs, keyErrorf("FlushTimeoutSecs", "must not be negative, got %d", c.FlushTimeoutSecs))
	}
	if c.MaxLineKB < 1 || c.MaxLineKB > maxLineKB {
		errs = append(errs, keyErrorf("MaxLineKB", "must be between 1 and %d, got %d", maxLineKB, c.MaxLineKB))
	}
	if c.IgnoringStdout && c.IgnoringStderr {
		errs = append(errs, keyErrorf("IgnoringStderr", "IgnoringStdout and IgnoringStderr both set: nothing would be collected"))
	}
	for key, re := range map[string]string{
		"ContainerFilters.K8sNamespaceRegex": c.ContainerFilters.K8sNamespaceRegex,
		"ContainerFilters.K8sPodRegex":       c.ContainerFilters.K8sPodRegex,
		"ContainerFilters.K8sContainerRegex": c.ContainerFilters.K8sContainerRegex,
	} {
		if _, err := regexp.Compile(re); err != nil {
			errs = append(errs, keyErrorf(key, "bad regular expression %q: %v", re, err))
		}
	}
	for _, k := range sortedKeys(c.Tags) {
		if !slices.Contains(stdioTagKeys, k) {
			errs = append(errs, keyErrorf("Tags."+k, "unknown tag key%s (want one of %s)", didYouMean(k, stdioTagKeys), strings.Join(stdioTagKeys, ", ")))
		}
	}
	return errs
}

// checkFilePath checks one FilePaths entry: absolute, a file name pattern at
// the end, and `**` at most once, as a whole directory element right before
// the file name (LoongCollector's rule: /var/log/**/*.log).
func checkFilePath(p string) error {
	if err := checkAbsGlob(p); err != nil {
		return err
	}
	dir, file := path.Split(p)
	if file == "" {
		return fmt.Errorf("%q has no file name pattern after its last \"/\"", p)
	}
	switch n := strings.Count(p, "**"); {
	case n > 1:
		return fmt.Errorf("%q has \"**\" more than once", p)
	case n == 1 && !strings.HasSuffix(dir, "/**/"):
		return fmt.Errorf("%q: \"**\" must be a whole directory element right before the file name, as in /var/log/**/*.log", p)
	}
	return nil
}

// checkAbsGlob checks that p is an absolute path whose glob syntax is valid.
func checkAbsGlob(p string) error {
	if !path.IsAbs(p) {
		return fmt.Errorf("must be an absolute path, got %q", p)
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("bad pattern %q: %v", p, err)
	}
	return nil
}

// Validate checks the Multiline section; each error names its key.
func (m Multiline) Validate() error { return errors.Join(m.validate("")...) }

func (m Multiline) validate(prefix string) []error {
	var errs []error
	switch m.Mode {
	case "custom", "JSON":
	default:
		errs = append(errs, keyErrorf(prefix+"Mode", "must be \"custom\" or \"JSON\", got %q", m.Mode))
	}
	for _, p := range []struct{ key, re string }{
		{"StartPattern", m.StartPattern}, {"ContinuePattern", m.ContinuePattern}, {"EndPattern", m.EndPattern},
	} {
		if p.re == "" {
			continue
		}
		if _, err := regexp.Compile(p.re); err != nil {
			errs = append(errs, keyErrorf(prefix+p.key, "bad regular expression: %v", err))
		}
	}
	if m.Mode == "custom" {
		start, cont, end := m.StartPattern != "", m.ContinuePattern != "", m.EndPattern != ""
		switch {
		case cont && !start && !end:
			errs = append(errs, keyErrorf(prefix+"ContinuePattern", "needs StartPattern or EndPattern as well"))
		case start && cont && end:
			errs = append(errs, keyErrorf(prefix+"ContinuePattern", "cannot be set with both StartPattern and EndPattern"))
		}
	}
	switch m.UnmatchedContentTreatment {
	case "single_line", "discard":
	default:
		errs = append(errs, keyErrorf(prefix+"UnmatchedContentTreatment", "must be \"single_line\" or \"discard\", got %q", m.UnmatchedContentTreatment))
	}
	return errs
}

// Validate checks the flusher: its typed config matches Type and is valid.
// Each error names its key.
func (f *Flusher) Validate() error { return errors.Join(f.validate()...) }

func (f *Flusher) validate() []error {
	set := 0
	for _, isSet := range []bool{f.Stdout != nil, f.File != nil, f.Blackhole != nil, f.SLS != nil} {
		if isSet {
			set++
		}
	}
	want := map[string]bool{
		TypeFlusherStdout: f.Stdout != nil, TypeFlusherFile: f.File != nil, TypeFlusherBlackhole: f.Blackhole != nil,
		TypeFlusherSLS: f.SLS != nil,
	}
	if set != 1 || !want[f.Type] {
		return []error{keyErrorf("Type", "flusher type %q does not match its config", f.Type)}
	}
	switch {
	case f.Stdout != nil:
		return f.Stdout.validate()
	case f.File != nil:
		return f.File.validate()
	case f.SLS != nil:
		return f.SLS.validate()
	}
	return nil
}

// Validate checks flusher_stdout's parameters.
func (c *FlusherStdout) Validate() error { return errors.Join(c.validate()...) }

func (c *FlusherStdout) validate() []error { return nil }

// Validate checks flusher_file's parameters; each error names its key.
func (c *FlusherFile) Validate() error { return errors.Join(c.validate()...) }

func (c *FlusherFile) validate() []error {
	var errs []error
	if c.FilePath == "" {
		errs = append(errs, keyErrorf("FilePath", "is required"))
	}
	if c.MaxFileSize < 0 {
		errs = append(errs, keyErrorf("MaxFileSize", "must not be negative, got %d", c.MaxFileSize))
	}
	if c.MaxFiles < 0 {
		errs = append(errs, keyErrorf("MaxFiles", "must not be negative, got %d", c.MaxFiles))
	}
	return errs
}

// Validate checks flusher_blackhole, which has no parameters.
func (c *FlusherBlackhole) Validate() error { return nil }

// Validate checks flusher_sls's parameters; each error names its key.
func (c *FlusherSLS) Validate() error { return errors.Join(c.validate()...) }

func (c *FlusherSLS) validate() []error {
	var errs []error
	for _, k := range []struct{ key, val string }{{"Project", c.Project}, {"Logstore", c.Logstore}, {"Endpoint", c.Endpoint}} {
		if strings.TrimSpace(k.val) == "" {
			errs = append(errs, keyErrorf(k.key, "is required"))
		}
	}
	if c.Endpoint != "" {
		if err := checkEndpoint(c.Endpoint); err != nil {
			errs = append(errs, keyErrorf("Endpoint", "%s", err))
		}
	}
	switch c.CompressType {
	case "lz4", "zstd", "none":
	default:
		errs = append(errs, keyErrorf("CompressType", "must be \"lz4\", \"zstd\" or \"none\", got %q", c.CompressType))
	}
	switch c.TelemetryType {
	case "", "logs":
	default:
		errs = append(errs, keyErrorf("TelemetryType", "only \"logs\" is supported, got %q", c.TelemetryType))
	}
	switch c.AuthVersion {
	case "v1":
	case "v4":
		if c.Region == "" {
			errs = append(errs, keyErrorf("Region", "is required with AuthVersion v4"))
		}
	default:
		errs = append(errs, keyErrorf("AuthVersion", "must be \"v1\" or \"v4\", got %q", c.AuthVersion))
	}
	for _, r := range []struct {
		key           string
		val, min, max int
	}{
		{"MaxBatchBytes", c.MaxBatchBytes, 1 << 10, 5 << 20},
		{"MaxBatchLogs", c.MaxBatchLogs, 1, 4096},
		{"RequestTimeoutSecs", c.RequestTimeoutSecs, 1, 600},
		{"RetrySecs", c.RetrySecs, 1, 3600},
	} {
		if r.val < r.min || r.val > r.max {
			errs = append(errs, keyErrorf(r.key, "must be between %d and %d, got %d", r.min, r.max, r.val))
		}
	}
	for i, k := range c.ShardHashKeys {
		if k == "" {
			errs = append(errs, keyErrorf(fmt.Sprintf("ShardHashKeys[%d]", i), "must not be empty"))
		}
	}
	return errs
}

// checkEndpoint checks an SLS endpoint: a host name or address, with an
// optional port and an optional http:// or https:// scheme, nothing else.
func checkEndpoint(ep string) error {
	host := ep
	for _, scheme := range []string{"http://", "https://"} {
		host = strings.TrimPrefix(host, scheme)
	}
	if host == "" || strings.ContainsAny(host, "/?# \t") {
		return fmt.Errorf("want a host name, IP:port or http(s):// URL without a path, got %q", ep)
	}
	if h, port, err := net.SplitHostPort(host); err == nil {
		if h == "" {
			return fmt.Errorf("want a host before the port, got %q", ep)
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("want a port from 1 to 65535, got %q", ep)
		}
	} else if strings.Contains(host, ":") {
		return fmt.Errorf("want host:port, got %q", ep)
	}
	return nil
}
