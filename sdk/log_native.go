//go:build !wasip1

package sdk

import (
	"context"
	"log/slog"
)

// Log writes a line to the agent's log. Natively it goes to slog.Default().
func Log(level Level, msg string) {
	lv := slog.LevelInfo
	switch level {
	case LevelDebug:
		lv = slog.LevelDebug
	case LevelWarn:
		lv = slog.LevelWarn
	case LevelError:
		lv = slog.LevelError
	}
	slog.Default().Log(context.Background(), lv, msg)
}

// Register makes p the module's processor when compiled to Wasm; natively
// it does nothing (hosts call the processor directly).
func Register(p Processor) {}
