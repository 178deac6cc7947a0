package agent

import (
	"context"
	"log/slog"
	"os"
	"reflect"
	"time"

	"github.com/wasmtail/wasmtail/agent/internal/config"
)

// WatchSettings re-reads the agent config file every interval until ctx is
// done and applies what can change in a running agent: the log level, at
// once. Any other key that changed is reported as needing a restart (the
// folders, the HTTP address and the intervals are wired in at start). A
// file that fails to load is reported and changes nothing. With path ""
// (configuration from the environment only) there is nothing to watch.
func WatchSettings(ctx context.Context, path string, environ []string, running *config.Agent, level *slog.LevelVar, log *slog.Logger, interval time.Duration) {
	if path == "" {
		return
	}
	var lastMod time.Time
	var lastSize int64
	if fi, err := os.Stat(path); err == nil {
		lastMod, lastSize = fi.ModTime(), fi.Size()
	}
	applied := *running
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fi, err := os.Stat(path)
		if err != nil || (fi.ModTime().Equal(lastMod) && fi.Size() == lastSize) {
			continue
		}
		lastMod, lastSize = fi.ModTime(), fi.Size()
		next, err := config.LoadAgent(path, environ)
		if err != nil {
			log.Error("agent config not reloaded, the running settings stay", "file", path, "err", err)
			continue
		}
		applied = applySettings(applied, *next, level, log)
	}
}

// applySettings applies next over cur and returns what now runs.
func applySettings(cur, next config.Agent, level *slog.LevelVar, log *slog.Logger) config.Agent {
	if next.LogLevel != cur.LogLevel {
		var l slog.Level
		if err := l.UnmarshalText([]byte(next.LogLevel)); err == nil {
			level.Set(l)
			log.Info("agent setting reloaded", "key", "log_level", "value", next.LogLevel)
			cur.LogLevel = next.LogLevel
		}
	}
	// Everything else needs a restart: say which.
	cv, nv := reflect.ValueOf(cur), reflect.ValueOf(next)
	for i := range cv.NumField() {
		f := cv.Type().Field(i)
		if f.Name == "LogLevel" || reflect.DeepEqual(cv.Field(i).Interface(), nv.Field(i).Interface()) {
			continue
		}
		key := f.Tag.Get("koanf")
		if key == "" {
			key = f.Name
		}
		log.Warn("agent setting changed but needs a restart to apply", "key", key)
	}
	return cur
}
