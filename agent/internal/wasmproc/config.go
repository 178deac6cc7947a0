package wasmproc

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Config is the processor_wasm entry of a pipeline file.
type Config struct {
	// Module is the module to run: a name in the agent's modules folder
	// ("logfmt" or "logfmt.wasm" is <modules>/logfmt.wasm) or a path to a
	// .wasm file (anything with a "/"; relative to the working folder)
	// under the modules folder or one of Options.ModuleRoots. It is read
	// from a regular file only, of at most Options.MaxModuleBytes
	// (modfile.go). Required.
	Module string
	// Config is handed to the module's wasmtail_init as JSON. Default {}.
	Config map[string]any
	// TimeoutMs bounds one batch, 1 to 60000. Default 1000.
	TimeoutMs int
	// MemoryLimitMB caps each instance's memory, 1 to 2048 (results of
	// wasmtail_process address the low 2 GiB). Default 64.
	MemoryLimitMB int
	// Sha256, when set, pins the module: the sha256 of the .wasm file (64
	// hex digits) must be this, or the module is refused. A pinned module
	// is not hot-reloaded to other bytes: a new file is refused until the
	// pipeline's Sha256 is changed too (a pipeline reload).
	Sha256 string
}

var keys = []string{"Config", "MemoryLimitMB", "Module", "Sha256", "TimeoutMs"}

func createDefaultConfig() Config {
	return Config{TimeoutMs: 1000, MemoryLimitMB: 64}
}

// decode reads the raw parameters strictly: an unknown key or a value of
// the wrong type is an error that names the key.
func decode(params map[string]any) (Config, error) {
	c := createDefaultConfig()
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := params[k]
		var err error
		switch k {
		case "Module":
			s, ok := v.(string)
			if !ok {
				err = fmt.Errorf("want a string, got %s", typeName(v))
			}
			c.Module = s
		case "Config":
			switch m := v.(type) {
			case nil:
			case map[string]any:
				c.Config = m
			default:
				err = fmt.Errorf("want a map, got %s", typeName(v))
			}
		case "Sha256":
			s, ok := v.(string)
			if !ok {
				err = fmt.Errorf("want a string, got %s", typeName(v))
			}
			c.Sha256 = strings.ToLower(strings.TrimSpace(s))
		case "TimeoutMs":
			c.TimeoutMs, err = toInt(v)
		case "MemoryLimitMB":
			c.MemoryLimitMB, err = toInt(v)
		default:
			err = fmt.Errorf("unknown key (known: %s)", strings.Join(keys, ", "))
		}
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", k, err)
		}
	}
	return c, c.Validate()
}

// Validate checks the config; errors name the key.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Module) == "" {
		return fmt.Errorf("Module: required")
	}
	if c.TimeoutMs < 1 || c.TimeoutMs > 60000 {
		return fmt.Errorf("TimeoutMs: want 1 to 60000, got %d", c.TimeoutMs)
	}
	if c.MemoryLimitMB < 1 || c.MemoryLimitMB > 2048 {
		return fmt.Errorf("MemoryLimitMB: want 1 to 2048, got %d", c.MemoryLimitMB)
	}
	if c.Sha256 != "" {
		if _, err := hex.DecodeString(c.Sha256); err != nil || len(c.Sha256) != 64 {
			return fmt.Errorf("Sha256: want 64 hex digits (sha256sum of the .wasm file), got %q", c.Sha256)
		}
	}
	if _, err := json.Marshal(c.Config); err != nil {
		return fmt.Errorf("Config: %w", err)
	}
	return nil
}

func toInt(v any) (int, error) {
	switch n := v.(type) {
	case int:
		return n, nil
	case int64:
		return int(n), nil
	case uint64:
		if n > math.MaxInt32 {
			return 0, fmt.Errorf("%d is too large", n)
		}
		return int(n), nil
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > math.MaxInt32 {
			return 0, fmt.Errorf("want an integer, got %v", n)
		}
		return int(n), nil
	}
	return 0, fmt.Errorf("want an integer, got %s", typeName(v))
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("%T", v)
}

// configJSON is the Config as the module sees it: {} when absent.
func (c *Config) configJSON() []byte {
	if c.Config == nil {
		return []byte("{}")
	}
	b, _ := json.Marshal(c.Config)
	return b
}
