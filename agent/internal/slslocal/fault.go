package slslocal

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is a failure the endpoint injects into PutLogs requests. A fault
// with Count applies to that many requests; with For, to every request for
// that long from when it was injected; with neither, to one request. The
// first active fault, in injection order, applies to a request.
//
// A fault with Rate applies to each request it reaches with that
// probability (drawn from the server's generator, seeded by
// Options.FaultSeed); a request it passes over goes on to the next fault.
// Count then counts the requests it applied to, and a rated fault with
// neither Count nor For stays until the faults are cleared.
type Fault struct {
	// Status answers with this HTTP status and SLS's JSON error. 0 with
	// Delay set means the request is served normally after the delay.
	Status int `json:"status,omitempty"`
	// Code and Message fill the JSON error. Default: a code that SLS uses
	// for Status (ServerBusy for 503, WriteQuotaExceed for 403,
	// Unauthorized for 401, InternalServerError for 500, PostBodyInvalid for
	// 400).
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Delay waits this long before answering (before reading the logs, or
	// with AfterStore after storing them).
	Delay time.Duration `json:"-"`
	// Reset closes the connection without an answer (a TCP RST).
	Reset bool `json:"reset,omitempty"`
	// AfterStore applies the fault after the logs were stored, as when a
	// response is lost: the client sees a failure for data that arrived.
	AfterStore bool `json:"afterStore,omitempty"`
	// Count is how many requests the fault applies to.
	Count int `json:"count,omitempty"`
	// After lets this many requests through before the fault starts.
	After int `json:"after,omitempty"`
	// For is how long the fault stays active.
	For time.Duration `json:"-"`
	// Rate, between 0 and 1, is the probability that the fault applies to
	// a request it reaches. 0 means always.
	Rate float64 `json:"rate,omitempty"`

	// DelayMs and ForMs are Delay and For in the JSON form.
	DelayMs int64 `json:"delayMs,omitempty"`
	ForMs   int64 `json:"forMs,omitempty"`

	until time.Time
}

func (f *Fault) normalize() error {
	if f.DelayMs != 0 {
		f.Delay = time.Duration(f.DelayMs) * time.Millisecond
	}
	if f.ForMs != 0 {
		f.For = time.Duration(f.ForMs) * time.Millisecond
	}
	f.DelayMs, f.ForMs = f.Delay.Milliseconds(), f.For.Milliseconds()
	switch {
	case f.Status != 0 && (f.Status < 300 || f.Status > 599):
		return fmt.Errorf("fault status %d: want 300 to 599", f.Status)
	case f.Status == 0 && f.Delay == 0 && !f.Reset:
		return fmt.Errorf("fault does nothing: set status, delay or reset")
	case f.Count < 0 || f.For < 0 || f.Delay < 0 || f.After < 0:
		return fmt.Errorf("fault count, after, for and delay must not be negative")
	case !(f.Rate >= 0 && f.Rate <= 1): // also NaN
		return fmt.Errorf("fault rate %v: want 0 to 1", f.Rate)
	}
	if f.Count == 0 && f.For == 0 && f.Rate == 0 {
		f.Count = 1
	}
	if f.Status != 0 && f.Code == "" {
		f.Code = defaultCode(f.Status)
	}
	if f.Status != 0 && f.Message == "" {
		f.Message = "injected fault: " + http.StatusText(f.Status)
	}
	return nil
}

func defaultCode(status int) string {
	switch status {
	case 400:
		return "PostBodyInvalid"
	case 401:
		return "Unauthorized"
	case 403:
		return "WriteQuotaExceed"
	case 404:
		return "LogStoreNotExist"
	case 500:
		return "InternalServerError"
	case 502, 503, 504:
		return "ServerBusy"
	}
	return "InjectedFault"
}

// ParseFault reads the command-line form of a fault: comma-separated
// key=value pairs with keys status, code, message, count, after, for,
// delay, reset, afterStore and rate:
//
//	status=503,for=30s
//	status=403,code=WriteQuotaExceed,count=20
//	delay=2s,for=1m
//	reset=true,count=5
//	status=503,rate=0.05          (5 % of requests, until cleared)
func ParseFault(s string) (Fault, error) {
	var f Fault
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return Fault{}, fmt.Errorf("fault %q: want key=value, got %q", s, kv)
		}
		var err error
		switch k {
		case "status":
			f.Status, err = strconv.Atoi(v)
		case "code":
			f.Code = v
		case "message":
			f.Message = v
		case "count":
			f.Count, err = strconv.Atoi(v)
		case "after":
			f.After, err = strconv.Atoi(v)
		case "for":
			f.For, err = time.ParseDuration(v)
		case "delay":
			f.Delay, err = time.ParseDuration(v)
		case "reset":
			f.Reset, err = strconv.ParseBool(v)
		case "afterStore":
			f.AfterStore, err = strconv.ParseBool(v)
		case "rate":
			f.Rate, err = strconv.ParseFloat(v, 64)
		default:
			return Fault{}, fmt.Errorf("fault %q: unknown key %q (want status, code, message, count, after, for, delay, reset, afterStore or rate)", s, k)
		}
		if err != nil {
			return Fault{}, fmt.Errorf("fault %q: %s: %w", s, k, err)
		}
	}
	if err := f.normalize(); err != nil {
		return Fault{}, fmt.Errorf("fault %q: %w", s, err)
	}
	return f, nil
}

// InjectFault adds a fault after those already active.
func (s *Server) InjectFault(f Fault) error {
	if err := f.normalize(); err != nil {
		return err
	}
	if f.For > 0 {
		f.until = time.Now().Add(f.For)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
	return nil
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Faults returns the faults still active.
func (s *Server) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(time.Now())
	return append([]Fault(nil), s.faults...)
}

func (s *Server) expireLocked(now time.Time) {
	live := s.faults[:0]
	for _, f := range s.faults {
		if (f.For > 0 && now.After(f.until)) || (f.For == 0 && f.Count <= 0 && f.Rate == 0) {
			continue
		}
		live = append(live, f)
	}
	s.faults = live
}

// takeFault returns the fault that applies to the request arriving now.
func (s *Server) takeFault() (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(time.Now())
	for i := range s.faults {
		f := &s.faults[i]
		if f.After > 0 {
			f.After--
			continue
		}
		if f.Rate > 0 && s.rng.Float64() >= f.Rate {
			continue
		}
		taken := *f
		if f.For == 0 && f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				// Used up (a rated fault with Count 0 would never end).
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
		}
		return taken, true
	}
	return Fault{}, false
}

// newRand returns the generator of rated faults: seeded by seed, or at
// random when seed is 0.
func newRand(seed uint64) *rand.Rand {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}
