package runtime

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmtail/wasmtail/hostabi"
)

// errLogFlood is the panic value of the log import when a guest calls it
// too often in one call; wazero turns it into the call's error.
var errLogFlood = errors.New("too many log calls in one call")

type sinkKey struct{}

// withSink makes the log import of the instance called with ctx write to s.
func withSink(ctx context.Context, s *sink) context.Context {
	return context.WithValue(ctx, sinkKey{}, s)
}

// hostLog is the log import: log(level, ptr, len).
func hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	s, _ := ctx.Value(sinkKey{}).(*sink)
	if s == nil {
		return
	}
	level, ptr, n := int32(stack[0]), uint32(stack[1]), uint32(stack[2])
	n = min(n, hostabi.MaxLogLen)
	msg, ok := mod.Memory().Read(ptr, n)
	if !ok {
		msg = []byte("(log message outside memory)")
	}
	s.log(level, msg)
}

// sink takes one instance's log lines and stdout/stderr. It is used by the
// goroutine that calls the instance only, except its limiter, which is the
// module's and shared.
type sink struct {
	lim   *limiter
	calls int // log calls since the last reset
	max   int // allowed calls until the next reset
}

func newSink(lim *limiter) *sink { return &sink{lim: lim, max: hostabi.MaxLogCallsPerCall} }

// reset starts a call that may log limit times.
func (s *sink) reset(limit int) { s.calls, s.max = 0, limit }

func (s *sink) log(level int32, msg []byte) {
	s.calls++
	if s.calls > s.max {
		panic(errLogFlood)
	}
	s.lim.emit(level, msg)
}

// writer returns the io.Writer for the guest's stdout or stderr: each line
// becomes a log line at level.
func (s *sink) writer(level int32) io.Writer { return &lineWriter{s: s, level: level} }

type lineWriter struct {
	s     *sink
	level int32
	part  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	w.s.calls++
	if w.s.calls > w.s.max {
		// A flood through stdout: the guest gets an error from fd_write; the
		// line is dropped. The log import is where a flood stops a module.
		return 0, errLogFlood
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(w.part)+len(p) <= hostabi.MaxLogLen {
				w.part = append(w.part, p...)
			}
			break
		}
		line := p[:i]
		if len(w.part) > 0 {
			line = append(w.part, line...)
			w.part = w.part[:0]
		}
		w.s.lim.emit(w.level, line)
		p = p[i+1:]
	}
	return n, nil
}

// limiter rate-limits a module's log lines with a token bucket and says how
// many lines it dropped when it lets one through again.
type limiter struct {
	log    *slog.Logger
	module string
	rate   float64 // tokens per second
	burst  float64

	mu      sync.Mutex
	tokens  float64
	last    time.Time
	dropped int
}

func newLimiter(log *slog.Logger, module string) *limiter {
	return &limiter{log: log, module: module, rate: 20, burst: 100, tokens: 100, last: time.Now()}
}

// flush logs how many lines were dropped since the last one let through.
func (l *limiter) flush() {
	l.mu.Lock()
	dropped := l.dropped
	l.dropped = 0
	l.mu.Unlock()
	if dropped > 0 {
		l.log.Warn("guest log lines dropped by the rate limit", "module", l.module, "suppressed", dropped)
	}
}

func (l *limiter) emit(level int32, msg []byte) {
	l.mu.Lock()
	now := time.Now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	if l.tokens < 1 {
		l.dropped++
		l.mu.Unlock()
		return
	}
	l.tokens--
	dropped := l.dropped
	l.dropped = 0
	l.mu.Unlock()

	lv := slog.LevelInfo
	switch {
	case level <= hostabi.LevelDebug:
		lv = slog.LevelDebug
	case level == hostabi.LevelWarn:
		lv = slog.LevelWarn
	case level >= hostabi.LevelError:
		lv = slog.LevelError
	}
	attrs := []any{"module", l.module}
	if dropped > 0 {
		attrs = append(attrs, "suppressed", dropped)
	}
	l.log.Log(context.Background(), lv, "guest: "+string(bytes.ToValidUTF8(msg, []byte("\uFFFD"))), attrs...)
}
