package slslocal_test

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/slslocal"
)

// runMain runs the sls-local command with args. A command that serves is
// stopped with SIGTERM (as a user would) once it says it listens, so it
// returns either way; served reports which.
func runMain(t *testing.T, args ...string) (code int, stderr string, served bool) {
	t.Helper()
	var out, errOut syncWriter
	done := make(chan int, 1)
	go func() { done <- slslocal.Main(args, &out, &errOut) }()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case code := <-done:
			return code, errOut.String(), served
		case <-deadline:
			t.Fatalf("sls-local %v: neither refused nor listening after 10s: %s", args, errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
		// "sls-local listening" is logged once Main handles SIGTERM.
		if !served && strings.Contains(errOut.String(), "sls-local listening") {
			served = true
			require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGTERM))
		}
	}
}

// TestCLIRefusesExposedDefaultKeys: with the well-known keys, a --listen
// address other than loopback is refused before anything listens, with a
// message that says why and what to do.
func TestCLIRefusesExposedDefaultKeys(t *testing.T) {
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"every IPv4 interface", []string{"--listen", "0.0.0.0:0"}},
		{"no host", []string{"--listen", ":0"}},
		{"every IPv6 interface", []string{"--listen", "[::]:0"}},
		{"the default secret given explicitly", []string{"--listen", "0.0.0.0:0", "--access-key-id", "me", "--access-key-secret", slslocal.DefaultAccessKeySecret}},
		{"the tests' secret", []string{"--listen", "0.0.0.0:0", "--access-key-id", "me", "--access-key-secret", slslocal.TestAccessKeySecret}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr, served := runMain(t, tc.args...)
			assert.False(t, served, "sls-local %v listened with the well-known keys", tc.args)
			assert.Equal(t, 2, code, "exit status")
			assert.Contains(t, stderr, "wasmtail sls-local: refusing to listen on "+tc.args[1]+", which is not a loopback address, with the well-known default keys")
			assert.Contains(t, stderr, "Listen on 127.0.0.1")
			assert.Contains(t, stderr, "--access-key-id and --access-key-secret (or ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET)")
		})
	}
}

// TestCLIListens: loopback with the default keys, and any address with
// keys of the user's own (flags or environment), are served.
func TestCLIListens(t *testing.T) {
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
	for _, tc := range []struct {
		name   string
		secret string // ALIBABA_CLOUD_ACCESS_KEY_SECRET
		args   []string
	}{
		{name: "loopback, default keys", args: []string{"--listen", "127.0.0.1:0"}},
		{name: "localhost, default keys", args: []string{"--listen", "localhost:0"}},
		{name: "every interface, own keys", args: []string{"--listen", "0.0.0.0:0", "--access-key-id", "me", "--access-key-secret", "my-own-secret"}},
		{name: "every interface, keys from the environment", secret: "my-own-secret", args: []string{"--listen", "0.0.0.0:0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.secret != "" {
				t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "me")
				t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", tc.secret)
			}
			code, stderr, served := runMain(t, tc.args...)
			assert.True(t, served, "sls-local %v: %s", tc.args, stderr)
			assert.Equal(t, 0, code, stderr)
		})
	}
}

// TestServeRefusesExposedWellKnownKeys: the library refuses too (Serve on
// a listener that is not loopback, with the tests' keys).
func TestServeRefusesExposedWellKnownKeys(t *testing.T) {
	for _, tc := range []struct {
		name    string
		secret  string
		refused bool
	}{
		{"tests' keys", slslocal.TestAccessKeySecret, true},
		{"default keys", slslocal.DefaultAccessKeySecret, true},
		{"own keys", "my-own-secret", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := slslocal.New(slslocal.Options{AccessKeyID: "me", AccessKeySecret: tc.secret})
			require.NoError(t, err)
			ln, err := net.Listen("tcp", "0.0.0.0:0")
			require.NoError(t, err)
			defer ln.Close()
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			select {
			case err := <-done:
				require.True(t, tc.refused, "Serve returned %v", err)
				require.Error(t, err)
				assert.Contains(t, err.Error(), "which is not a loopback address, with the well-known default keys")
				require.NoError(t, srv.Close())
				return
			case <-time.After(300 * time.Millisecond):
			}
			assert.False(t, tc.refused, "Serve on %s with the well-known keys is serving", ln.Addr())
			// Serving: the admin API answers over loopback.
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			resp, err := http.Get("http://127.0.0.1:" + port + "/_local/stats")
			if assert.NoError(t, err) {
				resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode)
			}
			require.NoError(t, srv.Close())
			<-done
		})
	}
}

// TestAdminOnlyFromLoopback: /_local/ (faults, stats, stored logs) answers
// only requests from loopback, whatever address the server listens on.
func TestAdminOnlyFromLoopback(t *testing.T) {
	srv, err := slslocal.New(slslocal.Options{AccessKeyID: "me", AccessKeySecret: "my-own-secret", Data: t.TempDir()})
	require.NoError(t, err)
	defer srv.Close()
	for _, tc := range []struct {
		remote string
		ok     bool
	}{
		{"127.0.0.1:40000", true},
		{"127.8.9.10:40000", true},
		{"[::1]:40000", true},
		{"10.1.2.3:40000", false},
		{"192.168.1.20:40000", false},
		{"[2001:db8::1]:40000", false},
		{"[::ffff:10.1.2.3]:40000", false},
	} {
		for _, req := range []struct{ method, path, body string }{
			{http.MethodGet, "/_local/stats", ""},
			{http.MethodGet, "/_local/faults", ""},
			{http.MethodPost, "/_local/faults", `{"status":503,"count":1}`},
			{http.MethodDelete, "/_local/faults", ""},
			{http.MethodGet, "/_local/logs/p/l", ""},
		} {
			r := httptest.NewRequest(req.method, req.path, strings.NewReader(req.body))
			r.RemoteAddr = tc.remote
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			if tc.ok {
				assert.NotEqual(t, http.StatusForbidden, w.Code, "%s %s from %s", req.method, req.path, tc.remote)
				continue
			}
			assert.Equal(t, http.StatusForbidden, w.Code, "%s %s from %s: got %d %q, want 403", req.method, req.path, tc.remote, w.Code, w.Body.String())
			assert.Contains(t, w.Body.String(), "answers only connections from loopback")
		}
	}
	assert.Empty(t, srv.Faults(), "no fault injected from outside")
}

// syncWriter is a buffer that Main writes to while the test reads it.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
