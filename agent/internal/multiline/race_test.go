//go:build race

package multiline

// raceEnabled is true in -race builds, where sync.Pool drops items on purpose
// (so regexp reallocates its matchers) and allocation counts mean nothing.
const raceEnabled = true
