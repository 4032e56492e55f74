package kubelet

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// renderPod turns the chart's Deployment into the static pod the kubelet
// runs: the same pod spec, with a name and without the service account (a
// kubelet without an API server has none).
func renderPod(t *testing.T, helm string, set ...string) *corev1.Pod {
	t.Helper()
	args := []string{"template", "e2e", "../../helm/drover", "-f", "../../helm/drover/ci/kubelet-values.yaml", "--show-only", "templates/deployment.yaml"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := exec.Command(helm, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(out, &d); err != nil {
		t.Fatalf("the chart's Deployment: %v\n%s", err, out)
	}
	spec := d.Spec.Template.Spec
	spec.ServiceAccountName = ""
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "drover-e2e", Namespace: "default", Labels: d.Spec.Template.Labels},
		Spec:       spec,
	}
}

// pods is the kubelet's own view from its read-only port.
func (n *node) pod(t *testing.T) (*corev1.Pod, string) {
	code, body := get(fmt.Sprintf("http://127.0.0.1:%d/pods", n.roPort))
	if code != 200 {
		return nil, body
	}
	var list corev1.PodList
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("kubelet /pods: %v", err)
	}
	for i := range list.Items {
		if strings.HasPrefix(list.Items[i].Name, "drover-e2e") {
			return &list.Items[i], ""
		}
	}
	return nil, "no drover-e2e pod in /pods"
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func appStatus(p *corev1.Pod) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == "app" {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// status is the part of drover's GET /status the test reads.
type status struct {
	Desired  int  `json:"desired"`
	Ready    int  `json:"ready"`
	Draining bool `json:"draining"`
	CPU      struct {
		Cores  float64 `json:"cores"`
		Source string  `json:"source"`
		Reason string  `json:"reason"`
	} `json:"cpu"`
	Workers []struct {
		ID       int    `json:"id"`
		Pid      int    `json:"pid"`
		State    string `json:"state"`
		Ready    bool   `json:"ready"`
		Restarts int    `json:"restarts"`
		LastExit string `json:"last_exit"`
	} `json:"workers"`
}

func droverStatus(t *testing.T, healthPort int) (*status, string) {
	code, body := get(fmt.Sprintf("http://127.0.0.1:%d/status", healthPort))
	if code != 200 {
		return nil, fmt.Sprintf("GET /status: %d %s", code, body)
	}
	var s status
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("/status: %v: %s", err, body)
	}
	return &s, body
}

// taskPid is the host pid of a container's first process, from containerd.
func (n *node) taskPid(t *testing.T, id string) int {
	for _, l := range strings.Split(n.ctr("tasks", "ls"), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == id {
			pid, _ := strconv.Atoi(f[1])
			return pid
		}
	}
	t.Fatalf("no containerd task %s", id)
	return 0
}

// nsPid is what pid the process has inside its innermost pid namespace.
func nsPid(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^NSpid:\s+(.*)$`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("/proc/%d/status has no NSpid", pid)
	}
	f := strings.Fields(m[1])
	return f[len(f)-1]
}

// children lists a host pid's children (the workers, seen from the host).
func children(pid int) []int {
	var kids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			k, _ := strconv.Atoi(s)
			kids = append(kids, k)
		}
	}
	return kids
}

// exitWatch follows containerd's task exit events, the one place a
// container's exit status and time show up as it happens.
type exitWatch struct {
	cmd    *exec.Cmd
	exits  chan exitEvent
	closed chan struct{}
}

type exitEvent struct {
	at     time.Time
	id     string
	status int
}

func (n *node) watchExits(t *testing.T) *exitWatch {
	w := &exitWatch{cmd: n.ctrCmd("events"), exits: make(chan exitEvent, 64), closed: make(chan struct{})}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.closed)
		s := bufio.NewScanner(out)
		for s.Scan() {
			l := s.Text()
			i := strings.Index(l, "/tasks/exit ")
			if i < 0 {
				continue
			}
			var e struct {
				ContainerID string `json:"container_id"`
				ID          string `json:"id"`
				ExitStatus  int    `json:"exit_status"` // left out when 0
			}
			if json.Unmarshal([]byte(l[i+len("/tasks/exit "):]), &e) == nil && e.ID == e.ContainerID {
				w.exits <- exitEvent{at: time.Now(), id: e.ContainerID, status: e.ExitStatus}
			}
		}
	}()
	t.Cleanup(func() { w.cmd.Process.Kill(); w.cmd.Wait() })
	return w
}
