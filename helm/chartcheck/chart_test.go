package chartcheck

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const chart = "../drover"

// serviceMonitor is the part of the Prometheus operator's CRD the chart
// writes; k8s.io/api has no type for it.
type serviceMonitor struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Metadata   map[string]any     `json:"metadata"`
	Spec       serviceMonitorSpec `json:"spec"`
}

type serviceMonitorSpec struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	Endpoints []struct {
		Port     string `json:"port"`
		Path     string `json:"path"`
		Interval string `json:"interval"`
	} `json:"endpoints"`
}

// rendered is one `helm template` output, decoded.
type rendered struct {
	deploy  *appsv1.Deployment
	service *corev1.Service
	sa      *corev1.ServiceAccount
	pdb     *policyv1.PodDisruptionBudget
	hpa     *autoscalingv2.HorizontalPodAutoscaler
	sm      *serviceMonitor
	test    *corev1.Pod
	kinds   []string
}

func helm(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	if h, err := exec.LookPath("helm"); err == nil {
		return h
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	h := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "helm")
	if _, err := os.Stat(h); err == nil {
		return h
	}
	t.Skip("helm is not installed: run helm/check (go install helm.sh/helm/v3/cmd/helm@v3.22.0)")
	return ""
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func valuesFiles(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join(chart, "ci", "*-values.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no ci values files in %s/ci: %v", chart, err)
	}
	sort.Strings(files)
	return append([]string{""}, files...)
}

func valuesArgs(file string, set ...string) []string {
	var args []string
	if file != "" {
		args = append(args, "-f", file)
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return args
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// render runs helm template (hooks included) and decodes each document into
// its API type, failing on any field the type does not have.
func render(t *testing.T, file string, set ...string) rendered {
	t.Helper()
	out, err := run(t, append([]string{"template", "rel", chart, "--namespace", "ns"}, valuesArgs(file, set...)...)...)
	if err != nil {
		t.Fatal(err)
	}
	var r rendered
	for _, doc := range docSep.Split(out, -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%s: %v\n%s", file, err, doc)
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 Deployment":
			r.deploy = &appsv1.Deployment{}
			obj = r.deploy
		case "v1 Service":
			r.service = &corev1.Service{}
			obj = r.service
		case "v1 ServiceAccount":
			r.sa = &corev1.ServiceAccount{}
			obj = r.sa
		case "policy/v1 PodDisruptionBudget":
			r.pdb = &policyv1.PodDisruptionBudget{}
			obj = r.pdb
		case "autoscaling/v2 HorizontalPodAutoscaler":
			r.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
			obj = r.hpa
		case "monitoring.coreos.com/v1 ServiceMonitor":
			r.sm = &serviceMonitor{}
			obj = r.sm
		case "v1 Pod":
			r.test = &corev1.Pod{}
			obj = r.test
		default:
			t.Fatalf("%s: unexpected object %s %s", file, head.APIVersion, head.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s: %s %s does not decode strictly: %v\n%s", file, head.APIVersion, head.Kind, err, doc)
		}
		r.kinds = append(r.kinds, head.Kind)
	}
	if r.deploy == nil || r.service == nil || r.test == nil {
		t.Fatalf("%s: rendered %v, want at least a Deployment, a Service and the test Pod", file, r.kinds)
	}
	return r
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func TestLintStrict(t *testing.T) {
	for _, f := range valuesFiles(t) {
		if _, err := run(t, append([]string{"lint", "--strict", chart}, valuesArgs(f)...)...); err != nil {
			t.Error(err)
		}
	}
}

// Every values file renders objects the API types accept, and the pod keeps
// the properties every drover pod needs whatever the values.
func TestRenderStrict(t *testing.T) {
	for _, f := range valuesFiles(t) {
		name := filepath.Base(f)
		if f == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			r := render(t, f)
			checkPod(t, r)
		})
	}
}

func checkPod(t *testing.T, r rendered) {
	t.Helper()
	spec := r.deploy.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("env %s set twice", e.Name)
		}
		env[e.Name] = e
	}
	cpu := env["DROVER_CPU_MILLICORES"].ValueFrom
	if cpu == nil || cpu.ResourceFieldRef == nil || cpu.ResourceFieldRef.Resource != "requests.cpu" || cpu.ResourceFieldRef.Divisor.String() != "1m" {
		t.Errorf("DROVER_CPU_MILLICORES = %+v, want requests.cpu with divisor 1m", cpu)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] == 0 || ports["health"] == 0 {
		t.Errorf("ports %v, want http and health", ports)
	}
	if want := fmt.Sprintf(":%d", ports["health"]); !strings.HasSuffix(env["DROVER_HEALTH_ADDR"].Value, want) {
		t.Errorf("DROVER_HEALTH_ADDR = %q, want it on %q (the health port)", env["DROVER_HEALTH_ADDR"].Value, want)
	}
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		t.Errorf("enableServiceLinks = %v, want false: a Service named drover would hand the pod DROVER_SERVICE_HOST and the like", spec.EnableServiceLinks)
	}
	if spec.HostNetwork != r.test.Spec.HostNetwork {
		t.Errorf("the pod's hostNetwork is %v, the helm test pod's %v: the test must run where the app runs", spec.HostNetwork, r.test.Spec.HostNetwork)
	}
	svcEnv := strings.ToUpper(strings.ReplaceAll(r.service.Name, "-", "_")) + "_SERVICE_HOST"
	if got := r.test.Spec.Containers[0].Env; len(got) != 1 || got[0].Name != "DROVER_HEALTH_ADDR" ||
		got[0].Value != fmt.Sprintf("$(%s):%d", svcEnv, r.service.Spec.Ports[1].Port) {
		t.Errorf("helm test env %+v, want DROVER_HEALTH_ADDR=$(%s):<the Service's health port>", got, svcEnv)
	}
	if r.test.Spec.EnableServiceLinks != nil && !*r.test.Spec.EnableServiceLinks {
		t.Error("the helm test pod turns service links off, but reads the Service's address from them")
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		want := "/livez"
		if name == "readiness" {
			want = "/readyz"
		}
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.String() != "health" {
			t.Errorf("%s probe = %+v, want GET %s on the health port", name, p, want)
		}
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
		len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container securityContext %+v is not the restricted profile", sc)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	if mounts["/tmp"] == "" {
		t.Error("no volume at /tmp: the root filesystem is read-only")
	}
	if file := env["DROVER_CPU_FILE"].Value; file != "" {
		vol := mounts[filepath.Dir(file)]
		var found bool
		for _, v := range spec.Volumes {
			if v.Name != vol || v.DownwardAPI == nil {
				continue
			}
			for _, it := range v.DownwardAPI.Items {
				if it.Path == filepath.Base(file) && it.ResourceFieldRef != nil && it.ResourceFieldRef.Resource == "requests.cpu" &&
					it.ResourceFieldRef.ContainerName == c.Name && it.ResourceFieldRef.Divisor.String() == "1m" {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("DROVER_CPU_FILE %s is not a downwardAPI file of requests.cpu in 1m", file)
		}
	}
	sel := r.service.Spec.Selector
	for k, v := range sel {
		if r.deploy.Spec.Template.Labels[k] != v {
			t.Errorf("Service selector %s=%s does not select the pods (%v)", k, v, r.deploy.Spec.Template.Labels)
		}
	}
	if len(sel) == 0 {
		t.Error("Service has no selector")
	}
	if r.test.Annotations["helm.sh/hook"] != "test" || !strings.Contains(strings.Join(r.test.Spec.Containers[0].Command, " "), "probe readyz") {
		t.Errorf("test pod %v %v is not a helm test calling /readyz", r.test.Annotations, r.test.Spec.Containers[0].Command)
	}
}

func grace(r rendered) int64 {
	if p := r.deploy.Spec.Template.Spec.TerminationGracePeriodSeconds; p != nil {
		return *p
	}
	return -1
}

func envValue(r rendered, name string) string {
	for _, e := range r.deploy.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func TestGracePeriodCoversDrainAndStop(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want int64
	}{
		{nil, 30}, // 5s + 20s + 5
		{[]string{"drover.drainDelay=500ms", "drover.stopTimeout=1.5m"}, 96},
		{[]string{"drover.drainDelay=0s", "drover.stopTimeout=8s", "terminationGraceMarginSeconds=0"}, 8},
		{[]string{"terminationGracePeriodSeconds=25"}, 25},
	} {
		r := render(t, "", tc.set...)
		if got := grace(r); got != tc.want {
			t.Errorf("%v: terminationGracePeriodSeconds = %d, want %d", tc.set, got, tc.want)
		}
	}
	r := render(t, "", "drover.drainDelay=500ms")
	if got := envValue(r, "DROVER_DRAIN_DELAY"); got != "500ms" {
		t.Errorf("DROVER_DRAIN_DELAY = %q, want 500ms", got)
	}
}

func TestRefusedValues(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{[]string{"terminationGracePeriodSeconds=24"}, "does not cover"},
		{[]string{"drover.drainDelay=5"}, "drainDelay"},
		{[]string{"drover.env.WORKERS=2"}, "WORKERS"}, // drover itself refuses a misspelt DROVER_* at start
		{[]string{"drover.env.DROVER_LISTEN=:9"}, "DROVER_LISTEN"},
		{[]string{"replicas=3"}, "replicas"},
		{[]string{"drover.healthHost=127.0.0.1"}, "healthHost"}, // the kubelet probes the pod's IP
		{[]string{"drover.healthHost=localhost"}, "healthHost"},
		{[]string{"drover.healthHost=::1"}, "healthHost"},
		{[]string{"drover.healthHost=a b"}, "healthHost"},
		{[]string{"drover.env.DROVER_HEALTH_ADDR=:9"}, "DROVER_HEALTH_ADDR"},
		{[]string{"strategy.rollingUpdate.maxSurg=1"}, "maxSurg"},
		{[]string{"strategy.type=Rolling"}, "strategy"},
	} {
		_, err := run(t, append([]string{"template", "rel", chart}, valuesArgs("", tc.set...)...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want a refusal naming %q", tc.set, err, tc.want)
		}
	}
}

func TestOptionalObjects(t *testing.T) {
	r := render(t, "")
	if r.pdb != nil || r.hpa != nil || r.sm != nil {
		t.Errorf("defaults render %v; PDB, HPA and ServiceMonitor are opt-in", r.kinds)
	}
	if r.deploy.Spec.Replicas == nil || *r.deploy.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", r.deploy.Spec.Replicas)
	}
	r = render(t, filepath.Join(chart, "ci", "all-values.yaml"))
	if r.pdb == nil || r.pdb.Spec.MaxUnavailable == nil || r.pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PDB = %+v, want maxUnavailable 1", r.pdb)
	}
	if r.hpa == nil || r.hpa.Spec.MaxReplicas != 6 || r.hpa.Spec.ScaleTargetRef.Name != r.deploy.Name {
		t.Errorf("HPA = %+v, want max 6 targeting %s", r.hpa, r.deploy.Name)
	}
	if r.deploy.Spec.Replicas != nil {
		t.Errorf("replicas = %d with an HPA; the HPA owns it", *r.deploy.Spec.Replicas)
	}
	if r.sm == nil || len(r.sm.Spec.Endpoints) != 1 || r.sm.Spec.Endpoints[0].Port != "health" || r.sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor = %+v, want /metrics on the health port", r.sm)
	}
	if got := envValue(r, "DROVER_WORKERS_PER_CPU"); got != "2" {
		t.Errorf("DROVER_WORKERS_PER_CPU = %q, want 2 from drover.env", got)
	}
	if grace(r) != 45 {
		t.Errorf("terminationGracePeriodSeconds = %d, want 45 (10s + 30s + 5)", grace(r))
	}
}

// A surge pod of a hostNetwork Deployment wants the host ports an old pod
// holds: on a small cluster the default strategy never finishes a rollout.
func TestStrategy(t *testing.T) {
	for _, tc := range []struct {
		set                      []string
		typ                      string
		maxSurge, maxUnavailable string
	}{
		{nil, "", "", ""}, // Kubernetes' default: a surge pod is Ready before an old one drains
		{[]string{"hostNetwork=true"}, "RollingUpdate", "0", "1"},
		{[]string{"hostNetwork=true", "strategy.type=RollingUpdate", "strategy.rollingUpdate.maxSurge=1", "strategy.rollingUpdate.maxUnavailable=0"}, "RollingUpdate", "1", "0"},
		{[]string{"strategy.type=Recreate"}, "Recreate", "", ""},
		{[]string{"strategy.rollingUpdate.maxSurge=50%"}, "", "50%", ""},
	} {
		s := render(t, "", tc.set...).deploy.Spec.Strategy
		var surge, unavail string
		if ru := s.RollingUpdate; ru != nil {
			if ru.MaxSurge != nil {
				surge = ru.MaxSurge.String()
			}
			if ru.MaxUnavailable != nil {
				unavail = ru.MaxUnavailable.String()
			}
		}
		if string(s.Type) != tc.typ || surge != tc.maxSurge || unavail != tc.maxUnavailable {
			t.Errorf("%v: strategy %s maxSurge %q maxUnavailable %q, want %s %q %q", tc.set, s.Type, surge, unavail, tc.typ, tc.maxSurge, tc.maxUnavailable)
		}
	}
}

func TestHealthHost(t *testing.T) {
	for _, tc := range []struct {
		host, want string
		podIP      bool
	}{
		{"", ":8081", false},
		{"podIP", "$(POD_IP):8081", true},
		{"10.1.2.3", "10.1.2.3:8081", false},
		{"::", "[::]:8081", false},
		{"[fd00::1]", "[fd00::1]:8081", false},
	} {
		r := render(t, "", "drover.healthHost="+tc.host)
		if got := envValue(r, "DROVER_HEALTH_ADDR"); got != tc.want {
			t.Errorf("healthHost %q: DROVER_HEALTH_ADDR = %q, want %q", tc.host, got, tc.want)
		}
		var podIP, before bool
		for _, e := range r.deploy.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "DROVER_HEALTH_ADDR" {
				before = podIP
			}
			if e.Name == "POD_IP" {
				podIP = e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP"
			}
		}
		if podIP != tc.podIP || (tc.podIP && !before) {
			t.Errorf("healthHost %q: POD_IP from status.podIP %v (before DROVER_HEALTH_ADDR %v), want %v", tc.host, podIP, before, tc.podIP)
		}
	}
}

// `cpu: null` in a values file (or --set ...=null) unsets a default;
// rendered as is, the API server would refuse the empty quantity.
func TestNullResources(t *testing.T) {
	c := render(t, "", "resources.limits.cpu=null", "resources.requests.memory=null").deploy.Spec.Template.Spec.Containers[0]
	if _, ok := c.Resources.Limits["cpu"]; ok {
		t.Errorf("limits %v still has cpu", c.Resources.Limits)
	}
	if _, ok := c.Resources.Requests["memory"]; ok || c.Resources.Requests.Cpu().String() != "1500m" || c.Resources.Limits.Memory().String() != "512Mi" {
		t.Errorf("resources %+v, want requests.cpu 1500m and limits.memory 512Mi only", c.Resources)
	}
	c = render(t, "", "resources.limits=null", "resources.requests=null").deploy.Spec.Template.Spec.Containers[0]
	if len(c.Resources.Limits) != 0 || len(c.Resources.Requests) != 0 {
		t.Errorf("resources %+v, want none", c.Resources)
	}
}

// The request reaches drover twice: the file follows an in-place resize,
// the variable is its start value, which tells drover what the cgroup
// weight started from (docs/design.md §6).
func TestCPURequestBothWays(t *testing.T) {
	r := render(t, "")
	if envValue(r, "DROVER_CPU_FILE") == "" {
		t.Error("no DROVER_CPU_FILE by default: an in-place resize would not be followed")
	}
	r = render(t, "", "drover.cpuFile=")
	if envValue(r, "DROVER_CPU_FILE") != "" {
		t.Error("drover.cpuFile empty still sets DROVER_CPU_FILE")
	}
	checkPod(t, r) // DROVER_CPU_MILLICORES stays
}
