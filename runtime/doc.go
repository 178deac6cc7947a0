// Package runtime runs wasmtail's Wasm processor modules. It is the only
// package that imports wazero; nothing of wazero shows in its API.
//
// One Runtime serves the whole agent. It compiles each module once (with a
// compilation cache in memory and, optionally, in a folder, so a restart
// does not compile again) and keeps a pool of instances per module: a
// worker takes an instance for one batch and gives it back, so an instance
// is never used by two goroutines at once.
//
// Every batch runs under a deadline. Modules are rewritten before they are
// compiled (package runtime/internal/meter) so that their code counts down
// a fuel global and traps when it is spent; a watchdog empties it when the
// Timeout passes (fuel.go, RATIONALE.md). Memory is capped per module. Guests
// get WASI with no files, no environment, no arguments and no network;
// their stdout, stderr and the log import go to the agent's log, tagged with
// the module's name and rate-limited.
//
// A trap, a timeout, running out of memory or an output batch that breaks
// the ABI closes that instance (wazero leaves a trapped module open, so
// this package closes it) and the batch is retried once on a fresh
// instance. If that fails too, Process reports the failure and the caller
// passes the records on unparsed. A module whose batches keep failing is
// quarantined for a while: Process fails fast with KindQuarantined.
//
// A Module is a handle: Swap replaces its code atomically (hot reload);
// batches in flight finish on the old version, whose instances are closed
// when they come back.
//
//	rt, _ := runtime.New(ctx, runtime.Config{CacheDir: dir, Log: log})
//	defer rt.Close(ctx)
//	m, err := rt.Load(ctx, wasm, runtime.ModuleConfig{Name: "logfmt", Config: []byte(`{}`)})
//	traps, err := m.Process(ctx, enc, func(out *hostabi.View) { … })
package runtime
