package slslocal_test

import (
	"fmt"
	"testing"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/slslocal"
)

// outcomes sends n PutLogs one after the other and returns what each got:
// "ok", "<status> <code>" or "network".
func outcomes(t *testing.T, srv *slslocal.Server, n int) []string {
	t.Helper()
	c := sdkClient(srv, slssdk.AuthV1, slslocal.TestAccessKeySecret, "")
	out := make([]string, n)
	for i := range out {
		err := c.PutLogs("proj", "store", logGroup(fmt.Sprint(i)))
		var se *slssdk.Error
		switch {
		case err == nil:
			out[i] = "ok"
		case errorsAs(err, &se) && se.HTTPCode > 0:
			out[i] = fmt.Sprintf("%d %s", se.HTTPCode, se.Code)
		default:
			out[i] = "network"
		}
	}
	return out
}

func tally(got []string) map[string]int {
	m := map[string]int{}
	for _, g := range got {
		m[g]++
	}
	return m
}

// TestFaultRate: rated faults apply to about their share of requests, a
// request one passes over goes on to the next, they stay until cleared,
// and the same seed gives the same draws.
func TestFaultRate(t *testing.T) {
	const n = 600
	run := func(seed uint64) []string {
		srv := slslocal.Start(t, slslocal.Options{FaultSeed: seed})
		require.NoError(t, srv.InjectFault(slslocal.Fault{Status: 503, Rate: 0.2}))
		require.NoError(t, srv.InjectFault(slslocal.Fault{Status: 403, Code: "WriteQuotaExceed", Rate: 0.25}))
		require.NoError(t, srv.InjectFault(slslocal.Fault{Reset: true, Rate: 0.1, AfterStore: true}))
		got := outcomes(t, srv, n)
		assert.Len(t, srv.Faults(), 3, "rated faults without count or for stay")
		// Every request that got through, and each reset after the store,
		// stored its log.
		c := tally(got)
		assert.Equal(t, int64(c["ok"]+c["network"]), srv.Stats().Logs)
		srv.ClearFaults()
		assert.Equal(t, []string{"ok"}, outcomes(t, srv, 1))
		return got
	}
	a := run(42)
	c := tally(a)
	t.Logf("%d requests: %v", n, c)
	// Expected shares: 503 20 %, 403 25 % of the other 80 % (20 %), reset
	// 10 % of the remaining 60 % (6 %). Bounds are about 4 standard
	// deviations wide; the seed is fixed, so this never flakes.
	assert.InDelta(t, 0.20*n, c["503 ServerBusy"], 40)
	assert.InDelta(t, 0.20*n, c["403 WriteQuotaExceed"], 40)
	assert.InDelta(t, 0.06*n, c["network"], 24)
	assert.Equal(t, n, c["ok"]+c["503 ServerBusy"]+c["403 WriteQuotaExceed"]+c["network"])
	assert.Equal(t, a, run(42), "the same seed, the same faults")
	assert.NotEqual(t, a, run(43), "another seed, other faults")
}

// TestFaultRateCount: a rated fault with Count applies to that many
// requests, then ends.
func TestFaultRateCount(t *testing.T) {
	srv := slslocal.Start(t, slslocal.Options{FaultSeed: 7})
	require.NoError(t, srv.InjectFault(slslocal.Fault{Status: 500, Rate: 0.5, Count: 4}))
	got := outcomes(t, srv, 100)
	assert.Equal(t, 4, tally(got)["500 InternalServerError"])
	assert.Empty(t, srv.Faults())
}

func TestParseFaultRate(t *testing.T) {
	f, err := slslocal.ParseFault("status=503,rate=0.05")
	require.NoError(t, err)
	assert.Equal(t, slslocal.Fault{Status: 503, Code: "ServerBusy", Message: "injected fault: Service Unavailable", Rate: 0.05}, f)
	f, err = slslocal.ParseFault("reset=true,afterStore=true,rate=0.1,count=3")
	require.NoError(t, err)
	assert.Equal(t, slslocal.Fault{Reset: true, AfterStore: true, Rate: 0.1, Count: 3}, f)
	for _, bad := range []string{"status=503,rate=1.5", "status=503,rate=-0.1", "status=503,rate=NaN", "status=503,rate=x"} {
		_, err := slslocal.ParseFault(bad)
		assert.Error(t, err, bad)
	}
}
