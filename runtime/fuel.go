package runtime

import (
	"math"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// Deadlines. Every module is rewritten by package meter before it is
// compiled: its code counts down a fuel global at function entries, loop
// headers and every few dozen instructions, and traps once the fuel is
// negative. Each call gets a budget and a watchdog:
//
//   - the watchdog empties the fuel when the call's Timeout has passed, so
//     the guest traps at its next check (nanoseconds later): that is the
//     deadline, in wall-clock time as ModuleConfig.Timeout says;
//   - the budget, fuelPerNs times the Timeout in nanoseconds, is the
//     backstop for when the watchdog cannot run: the guest's code is not a
//     Go safe point, so while every P runs guest code, or a stop-the-world
//     waits for this goroutine, no timer fires. fuelPerNs is above what the
//     fastest code burns (a tight loop, ~15 per ns here), so the budget
//     never cuts a call before its Timeout, and a call that spins while the
//     watchdog cannot run ends within about the Timeout (tight code) to
//     seven times it (Go guests burn ~3 per ns).
//
// RATIONALE.md says why this replaces wazero's WithCloseOnContextDone.
// (A variable so that a test can take the budget out of the way.)
var fuelPerNs int64 = 20

// emptyFuel is what the watchdog stores: negative, and far enough from
// the minimum that no charge can wrap it around.
var emptyFuel int64 = math.MinInt64 / 2

// refire is how often an expired watchdog empties the fuel again: the
// guest's check reads, subtracts and stores, and a store racing with the
// watchdog's can undo it once.
const refire = time.Millisecond

// watchdog is one instance's deadline; its mutex orders the host's
// accesses to the fuel global (the guest's are its own).
type watchdog struct {
	mu       sync.Mutex
	fuel     api.MutableGlobal // the instance's wasmtail_fuel
	t        *time.Timer
	armed    bool
	deadline time.Time
}

// arm gives the guest a budget for d and starts the watchdog.
func (in *instance) arm(d time.Duration) {
	w := &in.dog
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fuel.Set(uint64(budget(d)))
	w.armed = true
	w.deadline = time.Now().Add(d)
	if w.t == nil {
		w.t = time.AfterFunc(d, w.fire)
	} else {
		w.t.Reset(d)
	}
}

// disarm stops the watchdog; after it the fuel is the guest's alone.
func (in *instance) disarm() {
	w := &in.dog
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = false
	if w.t != nil {
		w.t.Stop()
	}
}

// outOfFuel reports whether the guest's last trap was its fuel running
// out: the watchdog's deadline or the budget.
func (in *instance) outOfFuel() bool {
	w := &in.dog
	w.mu.Lock()
	defer w.mu.Unlock()
	return int64(w.fuel.Get()) < 0
}

func (w *watchdog) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.armed {
		return // a call that ended; or a late fire, and arm reset the timer
	}
	if left := time.Until(w.deadline); left > 0 {
		w.t.Reset(left) // fired for an earlier call
		return
	}
	w.fuel.Set(uint64(emptyFuel))
	w.t.Reset(refire)
}

func budget(d time.Duration) int64 {
	if d <= 0 || d.Nanoseconds() > math.MaxInt64/4/fuelPerNs {
		return math.MaxInt64 / 4
	}
	return d.Nanoseconds() * fuelPerNs
}
