package agent

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// get fetches url and returns its status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err, "GET %s", url)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "GET %s", url)
	return resp.StatusCode, string(body)
}

// pprofPaths are what a client of Go's profiles asks for.
var pprofPaths = []string{
	"/debug/pprof/",
	"/debug/pprof/heap",
	"/debug/pprof/goroutine?debug=2",
	"/debug/pprof/cmdline",
	"/debug/pprof/profile?seconds=1",
	"/debug/pprof/trace?seconds=1",
}

// TestPProfNotOnTheHTTPAddress: the probe and metrics address serves
// /healthz, /readyz and /metrics and no profile, whatever pprof says
// (DESIGN.md §6). Without the pprof key no profile is served anywhere;
// with it, they are served on its own address, loopback when the key
// gives only a port, and nothing else is served there.
func TestPProfNotOnTheHTTPAddress(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pprof string
	}{
		{name: "no pprof key", pprof: ""},
		{name: "pprof on its own address", pprof: "127.0.0.1:0"},
		{name: "pprof given a port only", pprof: ":0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := testConfig(t, t.TempDir())
			cfg.HTTP = "127.0.0.1:0"
			cfg.PProf = tc.pprof
			a := newTestAgent(t, cfg, nil)
			require.NoError(t, a.Start(ctx))
			defer func() { require.NoError(t, a.Shutdown(ctx)) }()

			base := "http://" + a.HTTPAddr()
			for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
				code, _ := get(t, base+path)
				assert.Equal(t, http.StatusOK, code, "GET %s on the http address", path)
			}
			for _, path := range pprofPaths {
				code, body := get(t, base+path)
				assert.Equal(t, http.StatusNotFound, code, "GET %s on the http address (pprof %q): got %d, want 404; body starts %.80q", path, tc.pprof, code, body)
			}

			if tc.pprof == "" {
				assert.Empty(t, a.PProfAddr(), "no pprof listener without the key")
				return
			}
			addr := a.PProfAddr()
			require.NotEmpty(t, addr, "pprof %q opens a listener", tc.pprof)
			assert.NotEqual(t, a.HTTPAddr(), addr)
			host, _, err := net.SplitHostPort(addr)
			require.NoError(t, err)
			assert.Equal(t, "127.0.0.1", host, "pprof %q listens on loopback", tc.pprof)
			pbase := "http://" + addr
			code, body := get(t, pbase+"/debug/pprof/")
			assert.Equal(t, http.StatusOK, code)
			assert.Contains(t, body, "goroutine")
			code, body = get(t, pbase+"/debug/pprof/goroutine?debug=1")
			assert.Equal(t, http.StatusOK, code)
			assert.True(t, strings.HasPrefix(body, "goroutine profile:"), "got %.80q", body)
			code, _ = get(t, pbase+"/debug/pprof/heap")
			assert.Equal(t, http.StatusOK, code)
			for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
				code, _ := get(t, pbase+path)
				assert.Equal(t, http.StatusNotFound, code, "GET %s on the pprof address", path)
			}
		})
	}
}

// TestPProfAddressTakenFailsTheStart: a pprof address that cannot be
// listened on fails the start, naming it, and leaves the data folder free.
func TestPProfAddressTakenFailsTheStart(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	data := t.TempDir()
	cfg := testConfig(t, data)
	cfg.HTTP = "127.0.0.1:0"
	cfg.PProf = ln.Addr().String()
	err = newTestAgent(t, cfg, nil).Start(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pprof "+ln.Addr().String())

	next := newTestAgent(t, testConfig(t, data), nil)
	require.NoError(t, next.Start(ctx), "the failed start released the data folder")
	require.NoError(t, next.Shutdown(ctx))
}

func TestPProfListenAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{":6060", "127.0.0.1:6060"},
		{"127.0.0.1:6060", "127.0.0.1:6060"},
		{"0.0.0.0:6060", "0.0.0.0:6060"},
		{"[::1]:6060", "[::1]:6060"},
		{"localhost:6060", "localhost:6060"},
	} {
		if got := pprofListenAddr(tc.in); got != tc.want {
			t.Errorf("pprofListenAddr(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
