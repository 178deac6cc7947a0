package wasmproc_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/wasmtail/wasmtail/runtime"
)

// sharedRT is one runtime for the package's tests, so each module is
// compiled once (compiling a Go guest under -race takes seconds).
var sharedRT *runtime.Runtime

type mainRun struct{ m *testing.M }

func (r mainRun) Run() int {
	var err error
	sharedRT, err = runtime.New(context.Background(), runtime.Config{})
	if err != nil {
		panic(err)
	}
	defer sharedRT.Close(context.Background())
	return r.m.Run()
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(mainRun{m}) }
