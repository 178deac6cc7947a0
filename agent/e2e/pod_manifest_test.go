package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/pipeline"
	"github.com/wasmtail/wasmtail/agent/internal/wasmproc"
)

// deployDir is the repository's deploy/ folder.
const deployDir = "../../deploy"

// manifests is every object of every YAML file under deploy/, decoded
// strictly into the k8s.io/api types.
type manifests struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	pods       []podSpec
	policies   []policy
	// text is every file's documents without their comments, by file.
	text map[string]string
}

// policy is a NetworkPolicy and where it came from.
type policy struct {
	where string
	np    *networkingv1.NetworkPolicy
}

// podSpec is a pod template and where it came from.
type podSpec struct {
	where string // file: Kind/name
	kind  string
	spec  *corev1.PodSpec
	meta  metav1.ObjectMeta
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// strict decodes doc into v, failing on unknown or duplicate fields.
func strict(t *testing.T, where string, doc []byte, v any) {
	t.Helper()
	require.NoError(t, yaml.UnmarshalStrict(doc, v), "%s: does not decode strictly into %T", where, v)
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, text: map[string]string{}}
	comment := regexp.MustCompile(`(?m)^\s*#.*$`)
	var files []string
	require.NoError(t, filepath.WalkDir(deployDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return err
	}))
	require.NotEmpty(t, files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		rel, _ := filepath.Rel(deployDir, f)
		for i, doc := range docSep.Split(string(data), -1) {
			if strings.TrimSpace(comment.ReplaceAllString(doc, "")) == "" {
				continue
			}
			m.text[rel] += comment.ReplaceAllString(doc, "")
			var tm metav1.TypeMeta
			require.NoError(t, yaml.Unmarshal([]byte(doc), &tm), "%s document %d", rel, i)
			where := fmt.Sprintf("deploy/%s: %s", rel, tm.Kind)
			switch tm.APIVersion + " " + tm.Kind {
			case "v1 ConfigMap":
				var o corev1.ConfigMap
				strict(t, where, []byte(doc), &o)
				require.NotContains(t, m.configMaps, o.Name, "%s: ConfigMap %s defined twice", where, o.Name)
				m.configMaps[o.Name] = &o
			case "v1 Secret":
				var o corev1.Secret
				strict(t, where, []byte(doc), &o)
				m.secrets[o.Name] = &o
			case "v1 Pod":
				var o corev1.Pod
				strict(t, where, []byte(doc), &o)
				m.pods = append(m.pods, podSpec{where + "/" + o.Name, "Pod", &o.Spec, o.ObjectMeta})
			case "apps/v1 Deployment":
				var o appsv1.Deployment
				strict(t, where, []byte(doc), &o)
				m.pods = append(m.pods, podSpec{where + "/" + o.Name, "Deployment", &o.Spec.Template.Spec, o.Spec.Template.ObjectMeta})
				checkSelector(t, where, o.Spec.Selector, o.Spec.Template.Labels)
			case "apps/v1 DaemonSet":
				var o appsv1.DaemonSet
				strict(t, where, []byte(doc), &o)
				m.pods = append(m.pods, podSpec{where + "/" + o.Name, "DaemonSet", &o.Spec.Template.Spec, o.Spec.Template.ObjectMeta})
				checkSelector(t, where, o.Spec.Selector, o.Spec.Template.Labels)
			case "batch/v1 Job":
				var o batchv1.Job
				strict(t, where, []byte(doc), &o)
				m.pods = append(m.pods, podSpec{where + "/" + o.Name, "Job", &o.Spec.Template.Spec, o.Spec.Template.ObjectMeta})
			case "networking.k8s.io/v1 NetworkPolicy":
				var o networkingv1.NetworkPolicy
				strict(t, where, []byte(doc), &o)
				m.policies = append(m.policies, policy{where + "/" + o.Name, &o})
			default:
				t.Fatalf("%s document %d: unexpected apiVersion %q kind %q", rel, i, tm.APIVersion, tm.Kind)
			}
		}
	}
	return m
}

func checkSelector(t *testing.T, where string, sel *metav1.LabelSelector, labels map[string]string) {
	require.NotNil(t, sel, "%s: no selector", where)
	for k, v := range sel.MatchLabels {
		assert.Equal(t, v, labels[k], "%s: selector label %s does not match the template", where, k)
	}
}

// makeVar reads `NAME ?= value` from the Makefile.
func makeVar(t *testing.T, name string) string {
	data, err := os.ReadFile("../../Makefile")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^` + name + `\s*\?=\s*(\S+)\s*$`).FindSubmatch(data)
	require.NotNil(t, m, "Makefile: no %s ?= …", name)
	return string(m[1])
}

// otherAgentEnv are the variables an agent container may set besides
// WASMTAIL_ keys and the ALIYUN_LOG_ENV_TAGS names.
var otherAgentEnv = []string{
	config.EnvUserID, config.EnvUserDefinedID, config.EnvEnvTags,
	config.EnvAccessKeyID, config.EnvAccessKeySecret, config.EnvSecurityToken,
	"GOMEMLIMIT", "GOMAXPROCS", "GOGC", "GODEBUG",
}

// TestDeployManifests decodes every manifest under deploy/ strictly and
// checks that each names only images the Makefile builds, ConfigMaps,
// Secrets and keys that exist, volumes that exist, environment variables
// the agent knows and pipeline configs the agent accepts; and that every
// agent container has the probes, resources and securityContext the
// deployment guide promises.
func TestDeployManifests(t *testing.T) {
	m := loadManifests(t)
	agentImage, appImage := makeVar(t, "IMAGE"), makeVar(t, "TESTAPP_IMAGE")
	require.NotEmpty(t, m.pods)
	agents := 0
	httpPorts := map[string]string{} // pod -> its agent's HTTP port
	for _, p := range m.pods {
		vols := map[string]corev1.Volume{}
		for _, v := range p.spec.Volumes {
			vols[v.Name] = v
			if v.ConfigMap != nil && (v.ConfigMap.Optional == nil || !*v.ConfigMap.Optional) {
				assert.Contains(t, m.configMaps, v.ConfigMap.Name, "%s: volume %s names a ConfigMap that no manifest defines", p.where, v.Name)
			}
			if v.Secret != nil {
				assert.Contains(t, m.secrets, v.Secret.SecretName, "%s: volume %s", p.where, v.Name)
			}
		}
		all := append(slices.Clone(p.spec.InitContainers), p.spec.Containers...)
		for _, c := range all {
			where := p.where + " container " + c.Name
			assert.Contains(t, []string{agentImage, appImage}, c.Image, "%s: image is not one the Makefile builds", where)
			for _, vm := range c.VolumeMounts {
				assert.Contains(t, vols, vm.Name, "%s: mounts an undefined volume", where)
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil {
					if assert.Contains(t, m.secrets, r.Name, "%s: env %s", where, e.Name) {
						s := m.secrets[r.Name]
						_, inData := s.Data[r.Key]
						_, inString := s.StringData[r.Key]
						assert.True(t, inData || inString, "%s: env %s: Secret %s has no key %s", where, e.Name, r.Name, r.Key)
					}
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil && assert.Contains(t, m.configMaps, r.Name, "%s: env %s", where, e.Name) {
					assert.Contains(t, m.configMaps[r.Name].Data, r.Key, "%s: env %s", where, e.Name)
				}
			}
			if c.Image == agentImage {
				agents++
				httpPorts[p.where] = checkAgentContainer(t, p, c, vols, m)
			}
			checkHardened(t, p, c)
		}
	}
	assert.GreaterOrEqual(t, agents, 5, "agent containers: deployment, two jobs, daemonset, podman pod")
	checkNoPProf(t, m)
	checkNetworkPolicies(t, m, httpPorts)

	// The podman credentials file is the Secret's keys in podman's format
	// (a JSON object of base64 values).
	data, err := os.ReadFile(filepath.Join(deployDir, "podman", "credentials.json"))
	require.NoError(t, err)
	var creds map[string][]byte
	require.NoError(t, json.Unmarshal(data, &creds))
	assert.ElementsMatch(t, []string{config.EnvAccessKeyID, config.EnvAccessKeySecret}, keysOf(creds))
}

func keysOf[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// checkHardened: every container drops every capability, cannot escalate,
// has a read-only root file system and runs under RuntimeDefault seccomp;
// every container but the DaemonSet's runs as a non-root user.
func checkHardened(t *testing.T, p podSpec, c corev1.Container) {
	where := p.where + " container " + c.Name
	sc := c.SecurityContext
	require.NotNil(t, sc, "%s: no securityContext", where)
	require.NotNil(t, sc.Capabilities, "%s: capabilities", where)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, "%s: capabilities.drop", where)
	assert.Empty(t, sc.Capabilities.Add, "%s: capabilities.add", where)
	assert.Equal(t, ptr(false), sc.AllowPrivilegeEscalation, "%s: allowPrivilegeEscalation", where)
	assert.Equal(t, ptr(true), sc.ReadOnlyRootFilesystem, "%s: readOnlyRootFilesystem", where)
	seccomp := sc.SeccompProfile
	if seccomp == nil && p.spec.SecurityContext != nil {
		seccomp = p.spec.SecurityContext.SeccompProfile
	}
	if assert.NotNil(t, seccomp, "%s: seccompProfile", where) {
		assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, seccomp.Type, "%s: seccompProfile", where)
	}
	nonRoot, uid := sc.RunAsNonRoot, sc.RunAsUser
	if p.spec.SecurityContext != nil {
		if nonRoot == nil {
			nonRoot = p.spec.SecurityContext.RunAsNonRoot
		}
		if uid == nil {
			uid = p.spec.SecurityContext.RunAsUser
		}
	}
	if p.kind == "DaemonSet" {
		// Reads the kubelet's root-owned files: uid 0 without capabilities.
		assert.Equal(t, ptr(int64(0)), uid, "%s: runAsUser", where)
		return
	}
	assert.Equal(t, ptr(true), nonRoot, "%s: runAsNonRoot", where)
	if assert.NotNil(t, uid, "%s: runAsUser", where) {
		assert.Equal(t, int64(65532), *uid, "%s: runAsUser (the images' user)", where)
	}
}

func ptr[T any](v T) *T { return &v }

// checkAgentContainer checks an agent container's settings against the
// agent itself: its environment loads as an agent config, its pipelines
// ConfigMap holds configs the agent accepts, its probes reach its HTTP
// address, which is the only port it declares, and profiles are off. It
// returns the HTTP port.
func checkAgentContainer(t *testing.T, p podSpec, c corev1.Container, vols map[string]corev1.Volume, m *manifests) string {
	where := p.where + " container " + c.Name
	assert.Equal(t, []string{"run"}, c.Args, "%s: args", where)
	environ := []string{}
	names := map[string]bool{}
	for _, ef := range c.EnvFrom {
		// Variables from a ConfigMap or Secret would escape the checks
		// below (WASMTAIL_PPROF among them).
		t.Errorf("%s: envFrom %+v: set each variable under env instead", where, ef)
	}
	for _, e := range c.Env {
		assert.False(t, names[e.Name], "%s: env %s set twice", where, e.Name)
		names[e.Name] = true
		v := e.Value
		if e.ValueFrom != nil {
			v = "from-" + e.Name
		}
		environ = append(environ, e.Name+"="+v)
	}
	cfg, err := config.LoadAgent("", environ)
	require.NoError(t, err, "%s: the environment is not an agent config", where)
	tagNames := map[string]bool{}
	for _, tag := range cfg.EnvTags {
		tagNames[tag.Key] = true
		assert.True(t, names[tag.Key], "%s: %s names %s, which is not set", where, config.EnvEnvTags, tag.Key)
	}
	for name := range names {
		if !strings.HasPrefix(name, config.EnvPrefix) && !tagNames[name] {
			assert.Contains(t, otherAgentEnv, name, "%s: env %s is nothing the agent reads", where, name)
		}
	}
	for _, want := range []string{"WASMTAIL_PIPELINES", "WASMTAIL_MODULES", "WASMTAIL_DATA", "WASMTAIL_HTTP", config.EnvAccessKeyID, config.EnvAccessKeySecret} {
		assert.True(t, names[want], "%s: env %s not set", where, want)
	}
	// Profiles stay off in what we ship: they answer anyone who reaches
	// their address, unauthenticated (DESIGN.md §6).
	assert.False(t, names[config.EnvPrefix+"PPROF"], "%s: sets %sPPROF: no manifest opens /debug/pprof/", where, config.EnvPrefix)
	assert.Empty(t, cfg.PProf, "%s: pprof is on: no manifest opens /debug/pprof/", where)

	// HTTP on a non-loopback address, probed on its port.
	host, port, err := net.SplitHostPort(cfg.HTTP)
	require.NoError(t, err)
	assert.False(t, host == "" || net.ParseIP(host) == nil || net.ParseIP(host).IsLoopback(), "%s: WASMTAIL_HTTP %s: the kubelet's probes cannot reach a loopback address", where, cfg.HTTP)
	probe := func(name string, pr *corev1.Probe, path string) {
		if !assert.NotNil(t, pr, "%s: no %s", where, name) || !assert.NotNil(t, pr.HTTPGet, "%s: %s is not httpGet", where, name) {
			return
		}
		assert.Equal(t, path, pr.HTTPGet.Path, "%s: %s path", where, name)
		assert.Equal(t, port, pr.HTTPGet.Port.String(), "%s: %s port", where, name)
	}
	probe("livenessProbe", c.LivenessProbe, "/healthz")
	probe("startupProbe", c.StartupProbe, "/readyz")
	if c.ReadinessProbe != nil {
		probe("readinessProbe", c.ReadinessProbe, "/readyz")
	}
	// The kubelet and Prometheus need the HTTP port and nothing else.
	for _, cp := range c.Ports {
		assert.Equal(t, port, strconv.Itoa(int(cp.ContainerPort)), "%s: port %s: an agent container exposes only its HTTP port", where, cp.Name)
		assert.Zero(t, cp.HostPort, "%s: port %s: hostPort", where, cp.Name)
	}

	// Resources: requests and limits from the measured numbers.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		assert.Contains(t, c.Resources.Requests, r, "%s: resources.requests", where)
		assert.Contains(t, c.Resources.Limits, r, "%s: resources.limits", where)
	}

	// The grace period covers the preStop pause and the agent's drain.
	grace := 30 * time.Second
	if p.spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*p.spec.TerminationGracePeriodSeconds) * time.Second
	}
	need := cfg.ShutdownGrace
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		need += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	assert.Less(t, need, grace, "%s: shutdown grace (and preStop) must fit terminationGracePeriodSeconds", where)

	// Mounts: pipelines from a ConfigMap whose every key the agent accepts,
	// modules from the modules ConfigMap, data writable.
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	pm, ok := mounts[cfg.Pipelines]
	if assert.True(t, ok, "%s: nothing mounted at %s", where, cfg.Pipelines) {
		v := vols[pm.Name]
		if assert.NotNil(t, v.ConfigMap, "%s: %s is not a ConfigMap", where, cfg.Pipelines) {
			cm := m.configMaps[v.ConfigMap.Name]
			if assert.NotNil(t, cm, "%s: ConfigMap %s", where, v.ConfigMap.Name) {
				assert.NotEmpty(t, cm.Data, "%s: ConfigMap %s has no pipeline", where, cm.Name)
				checkPipelines(t, where, cm)
			}
		}
	}
	if mm, ok := mounts[cfg.Modules]; ok {
		v := vols[mm.Name]
		if assert.NotNil(t, v.ConfigMap, "%s: %s is not a ConfigMap", where, cfg.Modules) {
			assert.Contains(t, m.configMaps, v.ConfigMap.Name, "%s: modules ConfigMap", where)
		}
	}
	dm, ok := mounts[cfg.Data]
	if assert.True(t, ok, "%s: nothing mounted at %s (the root file system is read-only)", where, cfg.Data) {
		assert.False(t, dm.ReadOnly, "%s: %s must be writable", where, cfg.Data)
	}
	if cfg.ExitWhenFile != "" {
		assert.NotEqual(t, p.kind, "Deployment", "%s: exit_when_file in a Deployment", where)
	}
	if p.kind == "Job" && cfg.ExitWhenFile == "" {
		native := slices.ContainsFunc(p.spec.InitContainers, func(ic corev1.Container) bool {
			return ic.Name == c.Name && ic.RestartPolicy != nil && *ic.RestartPolicy == corev1.ContainerRestartPolicyAlways
		})
		assert.True(t, native, "%s: a Job's agent is a native sidecar or has WASMTAIL_EXIT_WHEN_FILE, or the Job never completes", where)
	}
	return port
}

// pprofWord finds any mention of Go's profiles: WASMTAIL_PPROF, a pprof
// key in an agent config, /debug/pprof/ in a probe or an argument (not
// seccompProfile).
var pprofWord = regexp.MustCompile(`(?i)(^|[^a-z])pprof`)

// checkNoPProf: no manifest opens /debug/pprof/, in whatever form (an
// environment variable, an agent config file in a ConfigMap, an argument);
// comments may talk about it.
func checkNoPProf(t *testing.T, m *manifests) {
	for file, text := range m.text {
		for _, line := range strings.Split(text, "\n") {
			if pprofWord.MatchString(line) {
				t.Errorf("deploy/%s: %q: no manifest opens /debug/pprof/", file, strings.TrimSpace(line))
			}
		}
	}
}

// checkNetworkPolicies: there is a NetworkPolicy for the agents' HTTP port
// (DESIGN.md §9, README "Security"); each selects pods with an agent,
// isolates them for ingress and lets in, from chosen namespaces only, only
// that agent's HTTP port.
func checkNetworkPolicies(t *testing.T, m *manifests, httpPorts map[string]string) {
	require.NotEmpty(t, m.policies, "no NetworkPolicy under deploy/")
	for _, pol := range m.policies {
		np := pol.np
		assert.Contains(t, np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress, "%s: policyTypes", pol.where)
		assert.Empty(t, np.Spec.PodSelector.MatchExpressions, "%s: podSelector.matchExpressions (not checked here)", pol.where)
		require.NotEmpty(t, np.Spec.PodSelector.MatchLabels, "%s: podSelector selects every pod of the namespace", pol.where)
		var ports []string
		for _, p := range m.pods {
			selected := true
			for k, v := range np.Spec.PodSelector.MatchLabels {
				selected = selected && p.meta.Labels[k] == v
			}
			if port, ok := httpPorts[p.where]; selected && ok {
				ports = append(ports, port)
			}
		}
		require.NotEmpty(t, ports, "%s: selects no pod with an agent", pol.where)
		require.NotEmpty(t, np.Spec.Ingress, "%s: no ingress rule: the kubelet would still probe, but Prometheus could not scrape", pol.where)
		for i, rule := range np.Spec.Ingress {
			where := fmt.Sprintf("%s: ingress[%d]", pol.where, i)
			assert.NotEmpty(t, rule.From, "%s: from everyone", where)
			for _, peer := range rule.From {
				assert.NotNil(t, peer.NamespaceSelector, "%s: from %+v: want a namespaceSelector", where, peer)
				assert.Nil(t, peer.IPBlock, "%s: ipBlock", where)
			}
			if assert.NotEmpty(t, rule.Ports, "%s: every port", where) {
				for _, p := range rule.Ports {
					if assert.NotNil(t, p.Port, "%s: every port", where) {
						for _, want := range ports {
							assert.Equal(t, want, p.Port.String(), "%s: port", where)
						}
					}
				}
			}
		}
	}
}

// checkPipelines loads each key of cm as the agent would load the file.
func checkPipelines(t *testing.T, where string, cm *corev1.ConfigMap) {
	reg := pipeline.NewRegistry()
	wasmproc.Register(reg, wasmproc.Options{})
	dir := t.TempDir()
	for key, body := range cm.Data {
		path := filepath.Join(dir, key)
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
		_, err := config.LoadPipeline(path, reg.Known)
		assert.NoError(t, err, "%s: ConfigMap %s key %s", where, cm.Name, key)
	}
}

// TestPodManifestMatchesDeployment: the Pod that make e2e-pod runs with
// podman has the same agent container as the sidecar Deployment, except
// for what podman cannot resolve (status.podIP, spec.nodeName,
// metadata.namespace) and ports (podman refuses them with hostNetwork).
func TestPodManifestMatchesDeployment(t *testing.T) {
	m := loadManifests(t)
	var dep, pod *corev1.Container
	for _, p := range m.pods {
		for i := range p.spec.Containers {
			c := &p.spec.Containers[i]
			if c.Name != "wasmtail" {
				continue
			}
			switch {
			case p.kind == "Deployment" && strings.Contains(p.where, "sidecar-deployment.yaml"):
				dep = c
			case p.kind == "Pod" && strings.Contains(p.where, "podman/sidecar-pod.yaml"):
				pod = c
			}
		}
	}
	require.NotNil(t, dep, "no agent container in kubernetes/sidecar-deployment.yaml")
	require.NotNil(t, pod, "no agent container in podman/sidecar-pod.yaml")
	assert.Equal(t, dep.Image, pod.Image)
	assert.Equal(t, dep.Args, pod.Args)
	assert.Equal(t, dep.SecurityContext, pod.SecurityContext)
	assert.Equal(t, dep.Resources, pod.Resources)
	assert.Equal(t, dep.VolumeMounts, pod.VolumeMounts)
	assert.Equal(t, dep.LivenessProbe, pod.LivenessProbe)
	assert.Equal(t, dep.ReadinessProbe, pod.ReadinessProbe)
	assert.Equal(t, dep.StartupProbe, pod.StartupProbe)
	assert.Equal(t, dep.Lifecycle, pod.Lifecycle)
	podmanless := []string{"_pod_ip_", "_node_name_"}
	var depEnv, podEnv []string
	for _, e := range dep.Env {
		if !slices.Contains(podmanless, e.Name) {
			depEnv = append(depEnv, e.Name)
		}
	}
	for _, e := range pod.Env {
		podEnv = append(podEnv, e.Name)
	}
	assert.Equal(t, depEnv, podEnv, "env names")
}
