package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/slslocal"
)

// The Pod of deploy/podman/sidecar-pod.yaml and its containers as podman
// names them.
const (
	podName      = "wasmtail-sidecar-demo"
	podAgent     = podName + "-wasmtail"
	podApp       = podName + "-app"
	podSecret    = "wasmtail-sls-credentials"
	podAppLines  = 20000 // the app's --lines
	podLastBurst = 3000  // lines the test appends right before podman kube down
)

// podman runs a podman command ($PODMAN, as the Makefile sets it) from dir
// (podman kube play looks for build folders named after images in its
// working directory).
func podman(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	base := podmanBase()
	cmd := exec.Command(base[0], append(base[1:], args...)...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestPodSidecar is `make e2e-pod`: the sidecar Pod manifest of deploy/
// run for real by podman (runc, hostNetwork) next to a local SLS endpoint
// in this process. The application writes 20000 numbered lines with
// rotations; every line must arrive once, with the pod's tags. Then the
// test appends lines to the application's log right before it stops the
// pod (SIGTERM) and tears it down with podman kube down: they must arrive
// too. It also reports the image size and
// the agent's idle RSS and CPU in its container.
func TestPodSidecar(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed (apt-get install podman buildah runc, as .ci/run does); make e2e-pod runs this test")
	}
	if os.Getenv("WASMTAIL_E2E_POD") == "" {
		t.Skip("run by make e2e-pod, which builds the images first (WASMTAIL_E2E_POD=1)")
	}
	agentImage, appImage := os.Getenv("WASMTAIL_IMAGE"), os.Getenv("WASMTAIL_TESTAPP_IMAGE")
	if agentImage == "" {
		agentImage = makeVar(t, "IMAGE")
	}
	if appImage == "" {
		appImage = makeVar(t, "TESTAPP_IMAGE")
	}
	work := t.TempDir()
	for _, img := range []string{agentImage, appImage} {
		out, err := podman(t, work, "image", "exists", img)
		require.NoError(t, err, "image %s not built (make image testapp-image): %s", img, out)
	}
	sizeOut, err := podman(t, work, "image", "inspect", "--format", "{{.Size}}", agentImage)
	require.NoError(t, err, sizeOut)
	size, _ := strconv.ParseFloat(strings.TrimSpace(sizeOut), 64)
	t.Logf("image %s: %.1f MB", agentImage, size/1e6)
	// The static binary is ~15 MB; the built-in parsers as Wasm modules
	// (Go guests, 2–4 MB each) add ~32 MB.
	assert.Less(t, size, 60e6, "the agent image should stay small")

	srv := slslocal.Start(t, slslocal.Options{AccessKeyID: "local", AccessKeySecret: "local-secret"})
	httpAddr := freePort(t)
	_, httpPort, _ := net.SplitHostPort(httpAddr)

	// The manifest as shipped, pointed at this test's endpoint and port.
	src, err := os.ReadFile(filepath.Join(deployDir, "podman", "sidecar-pod.yaml"))
	require.NoError(t, err)
	manifest := string(src)
	for old, new := range map[string]string{
		"Endpoint: 127.0.0.1:9871":       "Endpoint: " + srv.Addr(),
		"value: 0.0.0.0:9870":            "value: 0.0.0.0:" + httpPort,
		"port: 9870":                     "port: " + httpPort,
		"localhost/wasmtail:dev":         agentImage,
		"localhost/wasmtail-testapp:dev": appImage,
	} {
		require.Contains(t, manifest, old)
		manifest = strings.ReplaceAll(manifest, old, new)
	}
	manifestPath := filepath.Join(work, "sidecar-pod.yaml")
	require.NoError(t, os.WriteFile(manifestPath, []byte(manifest), 0o644))

	// A previous run's leftovers, then the Secret (podman keeps Secrets
	// apart from the manifest, in its own format).
	_, _ = podman(t, work, "pod", "rm", "-f", podName)
	_, _ = podman(t, work, "secret", "rm", podSecret)
	creds, err := filepath.Abs(filepath.Join(deployDir, "podman", "credentials.json"))
	require.NoError(t, err)
	out, err := podman(t, work, "secret", "create", podSecret, creds)
	require.NoError(t, err, out)
	t.Cleanup(func() {
		_, _ = podman(t, work, "pod", "rm", "-f", podName)
		_, _ = podman(t, work, "secret", "rm", podSecret)
	})

	started := time.Now()
	out, err = podman(t, work, "kube", "play", "--build=false", manifestPath)
	require.NoError(t, err, out)
	waitFor(t, 30*time.Second, "the agent's /readyz", func() bool {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	t.Logf("pod ready in %s", time.Since(started).Round(10*time.Millisecond))
	resp, err := http.Get("http://" + httpAddr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	// The agent runs as 65532 with no capability.
	pidOut, err := podman(t, work, "inspect", "--format", "{{.State.Pid}}", podAgent)
	require.NoError(t, err, pidOut)
	pid, err := strconv.Atoi(strings.TrimSpace(pidOut))
	require.NoError(t, err, pidOut)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^Uid:\s+65532\s`, string(status))
	assert.Regexp(t, `(?m)^CapEff:\s+0+$`, string(status))
	assert.Regexp(t, `(?m)^NoNewPrivs:\s+1$`, string(status))
	roOut, _ := podman(t, work, "inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", podAgent)
	assert.Equal(t, "true", strings.TrimSpace(roOut), "read-only root file system")

	waitFor(t, 60*time.Second, "the app's lines at the endpoint", func() bool { return srv.Stats().Logs >= podAppLines })
	t.Logf("%d lines delivered %s after the pod started", podAppLines, time.Since(started).Round(10*time.Millisecond))

	// Idle: the app has finished, nothing to read.
	time.Sleep(2 * time.Second)
	cpu0, at0 := cpuSeconds(pid), time.Now()
	time.Sleep(10 * time.Second)
	cpu := (cpuSeconds(pid) - cpu0) / time.Since(at0).Seconds()
	rss := vmRSS(t, pid)
	t.Logf("agent idle in its container: %.2f%% of a core, RSS %.1f MiB (peak %.1f MiB)", cpu*100, rss, peakRSS(pid))
	assert.Less(t, cpu, 0.05, "idle CPU")
	assert.Less(t, rss, 64.0, "idle RSS MiB")

	// Lines written right before SIGTERM: appended to the app's log in
	// its emptyDir from here, then podman kube down at once.
	volOut, err := podman(t, work, "inspect", "--format", `{{range .Mounts}}{{if eq .Destination "/var/log/app"}}{{.Source}}{{end}}{{end}}`, podApp)
	require.NoError(t, err, volOut)
	appLog := filepath.Join(strings.TrimSpace(volOut), "app.log")
	f, err := os.OpenFile(appLog, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	var buf []byte
	for i := podAppLines; i < podAppLines+podLastBurst; i++ {
		buf = fmt.Appendf(buf, "2026-01-01T00:00:00.000000Z seq=%09d pod=%s written right before SIGTERM\n", i, podName)
	}
	_, err = f.Write(buf)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	// SIGTERM as the kubelet sends it, with its grace period. (podman
	// 4.3's kube down alone kills every container at once: its events show
	// exit code 137 for each, so the pod is stopped first, then removed.)
	stopAt := time.Now()
	out, err = podman(t, work, "pod", "stop", "--time", "30", podName)
	require.NoError(t, err, out)
	t.Logf("the pod stopped %s after SIGTERM", time.Since(stopAt).Round(10*time.Millisecond))
	logText, _ := podman(t, work, "logs", podAgent)
	exitOut, err := podman(t, work, "inspect", "--format", "{{.State.ExitCode}}", podAgent)
	require.NoError(t, err, exitOut)
	out, err = podman(t, work, "kube", "down", manifestPath)
	require.NoError(t, err, out)
	assert.Equal(t, "0", strings.TrimSpace(exitOut), "the agent's exit code after SIGTERM:\n%s", logText)
	assert.Contains(t, logText, "shutting down", "the agent got SIGTERM")
	assert.Contains(t, logText, "msg=stopped", "the agent drained and exited on its own:\n%s", logText)
	assert.NotContains(t, logText, "abandoning")

	// Every line once, with the pod's tags.
	n := podAppLines + podLastBurst
	counts := make([]int, n)
	seqRE := regexp.MustCompile(`seq=(\d{9}) pod=` + podName + ` `)
	uids := map[string]bool{}
	bad := 0
	require.NoError(t, srv.Flush())
	err = srv.ReadLogs("demo", "app", func(r map[string]string) {
		m := seqRE.FindStringSubmatch(r["content"])
		if m == nil {
			bad++
			return
		}
		i, _ := strconv.Atoi(m[1])
		if i >= n {
			bad++
			return
		}
		counts[i]++
		for k, want := range map[string]string{
			"__tag__:_pod_name_":          podName,
			"__tag__:_namespace_":         "default",
			"__tag__:__user_defined_id__": podName,
		} {
			if r[k] != want {
				bad++
				t.Errorf("line %d: %s = %q, want %q (record %v)", i, k, r[k], want, r)
				return
			}
		}
		if !strings.HasPrefix(r["__tag__:__path__"], "/var/log/app/app.log") {
			t.Errorf("line %d: __path__ %q", i, r["__tag__:__path__"])
		}
		uids[r["__tag__:_pod_uid_"]] = true
	})
	require.NoError(t, err)
	assert.Zero(t, bad, "records that are not the app's lines or lack the pod tags")
	assert.Len(t, uids, 1, "one _pod_uid_ for every record")
	assert.NotContains(t, uids, "", "_pod_uid_ set")
	missing, dups, firstMissing := 0, 0, -1
	for i, c := range counts {
		if c == 0 {
			missing++
			if firstMissing < 0 {
				firstMissing = i
			}
		}
		if c > 1 {
			dups += c - 1
		}
	}
	assert.Zero(t, missing, "lines lost (first: %d; lines from %d on were written right before SIGTERM)", firstMissing, podAppLines)
	assert.Zero(t, dups, "lines delivered twice")
}

func podmanBase() []string {
	if p := strings.Fields(os.Getenv("PODMAN")); len(p) > 0 {
		return p
	}
	return []string{"podman", "--storage-driver", "vfs", "--runtime", "runc"}
}

// vmRSS is the process's resident set, in MiB.
func vmRSS(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	require.NotNil(t, m)
	kb, _ := strconv.ParseFloat(string(m[1]), 64)
	return kb / 1024
}
