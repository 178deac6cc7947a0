package runtime

import "fmt"

// Kind says why a module failed.
type Kind int

// The kinds of failure. Each is logged with the module's name.
const (
	// KindRefused: the module failed its checks (not Wasm, no or an unknown
	// ABI marker, a missing export, an unknown import) or wasmtail_init
	// failed. It never runs.
	KindRefused Kind = iota + 1
	// KindTrap: the guest trapped or exited.
	KindTrap
	// KindTimeout: a batch took longer than the module's timeout.
	KindTimeout
	// KindMemory: the guest ran out of memory (it trapped at its memory cap).
	KindMemory
	// KindABI: the guest's output broke the ABI (a pointer outside memory,
	// more records than it was given, bad lengths).
	KindABI
	// KindLogFlood: the guest called the log import too often in one call.
	KindLogFlood
	// KindGuest: wasmtail_process returned an error code. Not retried.
	KindGuest
	// KindQuarantined: the module failed too often and is resting.
	KindQuarantined
	// KindCanceled: the caller's context ended (the agent is stopping).
	KindCanceled
	// KindTooLarge: the batch is over hostabi.MaxBatchBytes or MaxRecords.
	KindTooLarge
)

var kindNames = [...]string{
	KindRefused:     "refused",
	KindTrap:        "trap",
	KindTimeout:     "timeout",
	KindMemory:      "out of memory",
	KindABI:         "abi violation",
	KindLogFlood:    "log flood",
	KindGuest:       "module error",
	KindQuarantined: "quarantined",
	KindCanceled:    "canceled",
	KindTooLarge:    "batch too large",
}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is a module failure. Process and Load return it.
type Error struct {
	// Module is the module's name (ModuleConfig.Name).
	Module string
	Kind   Kind
	// Err is the cause, e.g. the wazero trap.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("wasm module %q: %s: %v", e.Module, e.Kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }
