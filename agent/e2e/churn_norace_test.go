//go:build !race

package e2e

// raceBuild tells TestChurn that the race detector slows its writers.
const raceBuild = false
