package sls_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
	"github.com/wasmtail/wasmtail/agent/internal/output/sls"
	"github.com/wasmtail/wasmtail/agent/internal/slslocal"
)

var testCreds = config.SLSCredentials{AccessKeyID: slslocal.TestAccessKeyID, AccessKeySecret: slslocal.TestAccessKeySecret}

func testConfig(srv *slslocal.Server) config.FlusherSLS {
	return config.FlusherSLS{
		Project: "proj", Logstore: "store", Endpoint: srv.Addr(), Region: "cn-hangzhou",
		CompressType: "lz4", AuthVersion: "v1", MaxBatchBytes: 1 << 20, MaxBatchLogs: 4096,
		RequestTimeoutSecs: 5, RetrySecs: 10,
	}
}

// newBatch returns a batch of lines read from /var/log/app.log at offset 1000.
func newBatch(lines ...string) *batch.Batch {
	b := &batch.Batch{Source: &batch.Source{Pipeline: "p", Path: "/var/log/app.log",
		Tags: []batch.Tag{{Key: "__path__", Value: "/var/log/app.log"}, {Key: "__hostname__", Value: "host-1"}}}}
	for _, l := range lines {
		b.Buf = append(b.Buf, l...)
		b.Buf = append(b.Buf, '\n')
	}
	pos := 0
	for i, l := range lines {
		b.AddRecord(1700000000+int64(i), int32(i), b.Buf[pos:pos+len(l)])
		pos += len(l) + 1
	}
	b.Begin, b.End = 1000, 1000+int64(len(b.Buf))
	return b
}

func numbered(n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("line %06d GET /index.html HTTP/1.1 200", i)
	}
	return lines
}

type env struct {
	t   *testing.T
	srv *slslocal.Server
	f   *sls.Flusher
	m   *metrics.Metrics
	dir string
}

func start(t *testing.T, srvOpts slslocal.Options, change func(c *config.FlusherSLS, s *sls.Settings)) *env {
	t.Helper()
	srv := slslocal.Start(t, srvOpts)
	dir := t.TempDir()
	m := metrics.New()
	cfg := testConfig(srv)
	set := sls.Settings{Name: "test flusher_sls", Pipeline: "p", Flusher: "0_flusher_sls", DataDir: dir,
		Metrics: m, Credentials: testCreds, HostIP: "10.1.2.3", Log: slog.New(slog.NewTextHandler(tWriter{t}, nil))}
	if change != nil {
		change(&cfg, &set)
	}
	f, err := sls.New(cfg, set)
	require.NoError(t, err)
	require.NoError(t, f.Start(context.Background()))
	t.Cleanup(func() { assert.NoError(t, f.Shutdown(context.Background())) })
	return &env{t: t, srv: srv, f: f, m: m, dir: dir}
}

func (e *env) stored() []map[string]string {
	e.t.Helper()
	var out []map[string]string
	err := e.srv.ReadLogs("proj", "store", func(r map[string]string) { out = append(out, r) })
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(e.t, err)
	return out
}

func contents(recs []map[string]string) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r["content"])
	}
	return out
}

// tWriter sends the flusher's log lines to the test's log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

var packID = regexp.MustCompile(`^[0-9A-F]{16}-[0-9a-f]+$`)

// TestWire sends through the SDK to the local endpoint with each signature
// version and compression, and checks what arrived.
func TestWire(t *testing.T) {
	for _, auth := range []string{"v1", "v4"} {
		for _, comp := range []string{"lz4", "zstd", "none"} {
			t.Run(auth+"/"+comp, func(t *testing.T) {
				e := start(t, slslocal.Options{}, func(c *config.FlusherSLS, _ *sls.Settings) {
					c.AuthVersion, c.CompressType, c.Topic = auth, comp, "web"
				})
				lines := numbered(100)
				require.NoError(t, e.f.Export(context.Background(), newBatch(lines...)))
				recs := e.stored()
				assert.Equal(t, lines, contents(recs))
				r := recs[0]
				assert.Equal(t, "1700000000", r["__time__"])
				assert.NotContains(t, r, "__time_ns__")
				assert.Equal(t, "web", r["__topic__"])
				assert.Equal(t, "10.1.2.3", r["__source__"])
				assert.Equal(t, "/var/log/app.log", r["__tag__:__path__"])
				assert.Equal(t, "host-1", r["__tag__:__hostname__"])
				assert.Regexp(t, packID, r["__tag__:__pack_id__"])
				h := e.srv.LastHeaders()
				assert.Equal(t, "proj."+e.srv.Addr(), h.Get("Host"))
				if comp == "none" {
					assert.Empty(t, h.Get("x-log-compresstype"))
				} else {
					assert.Equal(t, comp, h.Get("x-log-compresstype"))
				}
				if auth == "v1" {
					assert.True(t, strings.HasPrefix(h.Get("Authorization"), "LOG "+slslocal.TestAccessKeyID+":"))
					assert.NotEmpty(t, h.Get("Content-MD5"))
				} else {
					assert.True(t, strings.HasPrefix(h.Get("Authorization"), "SLS4-HMAC-SHA256 Credential="+slslocal.TestAccessKeyID+"/"))
					assert.NotEmpty(t, h.Get("x-log-content-sha256"))
				}
				assert.Equal(t, "/logstores/store", e.srv.LastURI())
				assert.Equal(t, 1.0, testutil.ToFloat64(e.m.FlusherRequests.WithLabelValues("p", "0_flusher_sls", "200")))
			})
		}
	}
}

func TestEndpointForms(t *testing.T) {
	for _, form := range []string{"%s", "http://%s", "localhost:%s"} {
		t.Run(form, func(t *testing.T) {
			e := start(t, slslocal.Options{}, func(c *config.FlusherSLS, _ *sls.Settings) {
				if form == "localhost:%s" {
					_, port, _ := strings.Cut(c.Endpoint, ":")
					c.Endpoint = "localhost:" + port
				} else {
					c.Endpoint = fmt.Sprintf(form, c.Endpoint)
				}
			})
			require.NoError(t, e.f.Export(context.Background(), newBatch("a", "b")))
			assert.Equal(t, []string{"a", "b"}, contents(e.stored()))
			host := e.srv.LastHeaders().Get("Host")
			assert.True(t, strings.HasPrefix(host, "proj."), "Host %q", host)
		})
	}
}

func TestWrongKeyIsRetried(t *testing.T) {
	e := start(t, slslocal.Options{}, func(c *config.FlusherSLS, s *sls.Settings) {
		c.RetrySecs = 1
		s.Credentials.AccessKeySecret = "wrong"
	})
	err := e.f.Export(context.Background(), newBatch("a"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "SignatureNotMatch")
	assert.Empty(t, e.stored())
}

func TestSecurityToken(t *testing.T) {
	e := start(t, slslocal.Options{SecurityToken: "sts-token"}, func(_ *config.FlusherSLS, s *sls.Settings) {
		s.Credentials.SecurityToken = "sts-token"
	})
	require.NoError(t, e.f.Export(context.Background(), newBatch("a")))
	assert.Equal(t, "sts-token", e.srv.LastHeaders().Get("x-acs-security-token"))
}

// TestCredentialsRotate: a 401 makes the flusher read its credentials file
// again, and the batch goes through with the new key.
func TestCredentialsRotate(t *testing.T) {
	credFile := filepath.Join(t.TempDir(), "creds.json")
	write := func(secret, token string) {
		b, _ := json.Marshal(config.SLSCredentials{AccessKeyID: slslocal.TestAccessKeyID, AccessKeySecret: secret, SecurityToken: token})
		require.NoError(t, os.WriteFile(credFile, b, 0o600))
	}
	write("old-secret", "old")
	e := start(t, slslocal.Options{SecurityToken: "new"}, func(_ *config.FlusherSLS, s *sls.Settings) {
		s.Credentials = config.SLSCredentials{}
		s.CredentialsFile = credFile
	})
	go func() {
		time.Sleep(500 * time.Millisecond)
		write(slslocal.TestAccessKeySecret, "new")
	}()
	require.NoError(t, e.f.Export(context.Background(), newBatch("a")))
	assert.Equal(t, []string{"a"}, contents(e.stored()))
	assert.Positive(t, testutil.ToFloat64(e.m.FlusherRequests.WithLabelValues("p", "0_flusher_sls", "401")))
}

func TestNanoseconds(t *testing.T) {
	e := start(t, slslocal.Options{}, func(_ *config.FlusherSLS, s *sls.Settings) { s.TimestampNanosecond = true })
	require.NoError(t, e.f.Export(context.Background(), newBatch("a", "b")))
	recs := e.stored()
	require.Len(t, recs, 2)
	assert.Equal(t, "0", recs[0]["__time_ns__"])
	assert.Equal(t, "1", recs[1]["__time_ns__"])
}

func TestShardHashKey(t *testing.T) {
	for _, auth := range []string{"v1", "v4"} {
		t.Run(auth, func(t *testing.T) {
			e := start(t, slslocal.Options{}, func(c *config.FlusherSLS, _ *sls.Settings) {
				c.ShardHashKeys, c.AuthVersion = []string{"__hostname__"}, auth
			})
			require.NoError(t, e.f.Export(context.Background(), newBatch("a")))
			// MD5("host-1")
			assert.Equal(t, "/logstores/store/shards/route?key=A7A0B4D23FB8B2B4E9A8CD8F4F9A0D2F"[:len("/logstores/store/shards/route?key=")],
				e.srv.LastURI()[:len("/logstores/store/shards/route?key=")])
			assert.Regexp(t, `key=[0-9A-F]{32}$`, e.srv.LastURI())
		})
	}
}

// TestSplitsBigBatches: a batch over MaxBatchLogs or MaxBatchBytes goes in
// several requests, each within the limits, in order.
func TestSplitsBigBatches(t *testing.T) {
	e := start(t, slslocal.Options{MaxLogs: 100}, func(c *config.FlusherSLS, _ *sls.Settings) { c.MaxBatchLogs = 100 })
	lines := numbered(1050)
	require.NoError(t, e.f.Export(context.Background(), newBatch(lines...)))
	assert.Equal(t, lines, contents(e.stored()))
	assert.Equal(t, int64(11), e.srv.Stats().Requests["200"])

	e2 := start(t, slslocal.Options{MaxBodyBytes: 4096}, func(c *config.FlusherSLS, _ *sls.Settings) { c.MaxBatchBytes = 4000 })
	require.NoError(t, e2.f.Export(context.Background(), newBatch(lines...)))
	assert.Equal(t, lines, contents(e2.stored()))
	assert.Zero(t, e2.srv.Stats().Requests["400"])
}

// TestRetries: 503s, quota errors, resets, a lost response and a slow
// endpoint are retried until the batch is accepted.
func TestRetries(t *testing.T) {
	tests := []struct {
		name  string
		fault slslocal.Fault
		dups  bool
	}{
		{name: "503", fault: slslocal.Fault{Status: 503, Count: 3}},
		{name: "500", fault: slslocal.Fault{Status: 500, Count: 1}},
		{name: "quota", fault: slslocal.Fault{Status: 403, Code: "WriteQuotaExceed", Count: 4}},
		{name: "401 once", fault: slslocal.Fault{Status: 401, Count: 1}},
		{name: "reset", fault: slslocal.Fault{Reset: true, Count: 2}},
		{name: "503 for a while", fault: slslocal.Fault{Status: 503, For: 1500 * time.Millisecond}},
		{name: "slow", fault: slslocal.Fault{Delay: 300 * time.Millisecond, Count: 2}},
		{name: "lost response", fault: slslocal.Fault{Status: 503, AfterStore: true, Count: 1}, dups: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, slslocal.Options{}, nil)
			require.NoError(t, e.srv.InjectFault(tt.fault))
			lines := numbered(50)
			require.NoError(t, e.f.Export(context.Background(), newBatch(lines...)))
			got := contents(e.stored())
			if tt.dups {
				assert.Equal(t, append(append([]string(nil), lines...), lines...), got)
			} else {
				assert.Equal(t, lines, got)
			}
		})
	}
}

// TestResume: when RetrySecs runs out in the middle of a batch, Export
// fails, and the next Export of the same batch sends only what is left.
func TestResume(t *testing.T) {
	e := start(t, slslocal.Options{}, func(c *config.FlusherSLS, _ *sls.Settings) {
		c.MaxBatchLogs, c.RetrySecs = 10, 1
	})
	require.NoError(t, e.srv.InjectFault(slslocal.Fault{Status: 503, After: 2, For: time.Hour}))
	lines := numbered(50)
	b := newBatch(lines...)
	err := e.f.Export(context.Background(), b)
	require.Error(t, err)
	assert.Equal(t, lines[:20], contents(e.stored()))
	e.srv.ClearFaults()
	require.NoError(t, e.f.Export(context.Background(), b))
	assert.Equal(t, lines, contents(e.stored()))
}

// TestDeadLetter: a log the endpoint rejects for good is isolated by
// splitting and written to the dead-letter file; the others arrive.
func TestDeadLetter(t *testing.T) {
	e := start(t, slslocal.Options{MaxBodyBytes: 8192}, nil)
	lines := numbered(40)
	big := "BIG " + strings.Repeat("x", 10000)
	all := append(append(append([]string(nil), lines[:17]...), big), lines[17:]...)
	b := newBatch(all...)
	require.NoError(t, e.f.Export(context.Background(), b))
	assert.Equal(t, lines, contents(e.stored()))
	assert.Equal(t, 1.0, testutil.ToFloat64(e.m.DeadLetters.WithLabelValues("p", "0_flusher_sls")))

	fh, err := os.Open(filepath.Join(e.dir, "deadletter", "p.jsonl"))
	require.NoError(t, err)
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	var dead []map[string]string
	for sc.Scan() {
		var r map[string]string
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
		dead = append(dead, r)
	}
	require.Len(t, dead, 1)
	assert.Equal(t, big, dead[0]["content"])
	assert.Equal(t, "/var/log/app.log", dead[0]["__deadletter_file__"])
	off := 1000
	for _, l := range lines[:17] {
		off += len(l) + 1
	}
	assert.Equal(t, fmt.Sprint(off), dead[0]["__deadletter_offset__"])
	assert.Contains(t, dead[0]["__deadletter_error__"], "PostBodyTooLarge")
	assert.Equal(t, "/var/log/app.log", dead[0]["__tag__:__path__"])
}

func TestPackIDSequence(t *testing.T) {
	e := start(t, slslocal.Options{}, func(c *config.FlusherSLS, _ *sls.Settings) { c.MaxBatchLogs = 1 })
	require.NoError(t, e.f.Export(context.Background(), newBatch("a", "b", "c")))
	recs := e.stored()
	require.Len(t, recs, 3)
	prefix := strings.Split(recs[0]["__tag__:__pack_id__"], "-")[0]
	for i, r := range recs {
		assert.Equal(t, fmt.Sprintf("%s-%x", prefix, i), r["__tag__:__pack_id__"])
	}
}

func TestLifecycle(t *testing.T) {
	srv := slslocal.Start(t, slslocal.Options{})
	set := sls.Settings{Name: "x", Pipeline: "p", Credentials: testCreds, DataDir: t.TempDir()}
	t.Run("create shutdown", func(t *testing.T) {
		f, err := sls.New(testConfig(srv), set)
		require.NoError(t, err)
		require.NoError(t, f.Shutdown(context.Background()))
		require.NoError(t, f.Shutdown(context.Background()))
	})
	t.Run("create start shutdown", func(t *testing.T) {
		f, err := sls.New(testConfig(srv), set)
		require.NoError(t, err)
		require.NoError(t, f.Start(context.Background()))
		require.NoError(t, f.Shutdown(context.Background()))
		assert.ErrorIs(t, f.Export(context.Background(), newBatch("a")), sls.ErrNotRunning)
	})
	t.Run("no credentials", func(t *testing.T) {
		f, err := sls.New(testConfig(srv), sls.Settings{Name: "x"})
		require.NoError(t, err)
		err = f.Start(context.Background())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "ALIBABA_CLOUD_ACCESS_KEY_ID")
		require.NoError(t, f.Shutdown(context.Background()))
	})
	t.Run("invalid config", func(t *testing.T) {
		_, err := sls.New(config.FlusherSLS{}, set)
		require.Error(t, err)
	})
	t.Run("cancel", func(t *testing.T) {
		f, err := sls.New(testConfig(srv), set)
		require.NoError(t, err)
		require.NoError(t, f.Start(context.Background()))
		defer f.Shutdown(context.Background())
		require.NoError(t, srv.InjectFault(slslocal.Fault{Delay: 10 * time.Second, Count: 1}))
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = f.Export(ctx, newBatch("a"))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 2*time.Second)
		srv.ClearFaults()
	})
}
