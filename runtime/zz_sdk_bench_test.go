package runtime_test

import "testing"

func BenchmarkGoSDKScale(b *testing.B) {
	for _, n := range []int{1, 16, 256, 4096} {
		b.Run(benchName(n), func(b *testing.B) { benchBoundary(b, "testdata/gonop.wasm", n) })
	}
}
