package pipeline

import (
	"fmt"
	"sort"

	"github.com/wasmtail/wasmtail/agent/internal/config"
)

// Registry maps processor Types to their factories. main builds it and
// passes it down; there are no init-time globals.
type Registry struct {
	factories map[string]ProcessorFactory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{factories: map[string]ProcessorFactory{}}
}

// Register adds a factory for typ. Registering a Type twice panics: it is a
// programming error.
func (r *Registry) Register(typ string, f ProcessorFactory) {
	if _, dup := r.factories[typ]; dup {
		panic(fmt.Sprintf("processor type %q registered twice", typ))
	}
	r.factories[typ] = f
}

// Known reports whether typ can be built. A nil registry knows nothing.
func (r *Registry) Known(typ string) bool {
	if r == nil {
		return false
	}
	_, ok := r.factories[typ]
	return ok
}

// Types lists the registered Types, sorted.
func (r *Registry) Types() []string {
	if r == nil {
		return nil
	}
	out := make([]string, 0, len(r.factories))
	for t := range r.factories {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Build creates the processor for one config entry.
func (r *Registry) Build(p config.Plugin) (Processor, error) {
	if !r.Known(p.Type) {
		return nil, fmt.Errorf("unknown processor type %q", p.Type)
	}
	return r.factories[p.Type](p)
}
