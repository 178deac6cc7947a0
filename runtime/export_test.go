package runtime

// SetFuelPerNs sets the budget's fuel per nanosecond of Timeout for a
// test, and returns a function that restores it.
func SetFuelPerNs(n int64) (restore func()) {
	old := fuelPerNs
	fuelPerNs = n
	return func() { fuelPerNs = old }
}
