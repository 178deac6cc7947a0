//go:build !race

package multiline

// raceEnabled is true in -race builds; see race_test.go.
const raceEnabled = false
