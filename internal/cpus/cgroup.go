package cpus

import (
	"fmt"
	"strings"
)

// procCgroup is one line of /proc/self/cgroup: "4:cpu,cpuacct:/docker/abc"
// for a v1 hierarchy, "0::/init" for the v2 one.
type procCgroup struct {
	id          string
	controllers []string // empty for v2
	path        string   // relative to the cgroup namespace root
}

// deletedPathSuffix marks a cgroup that was removed while we were in it;
// its files are gone and its ancestors cannot be named reliably.
const deletedPathSuffix = " (deleted)"

func parseProcCgroup(data string) ([]procCgroup, []error) {
	var out []procCgroup
	var errs []error
	for n, line := range strings.Split(data, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		// The path is last and may itself contain colons.
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || f[0] == "" {
			errs = append(errs, fmt.Errorf("line %d: malformed cgroup line %q", n+1, clip(line)))
			continue
		}
		pc := procCgroup{id: f[0], path: f[2]}
		if f[1] != "" {
			pc.controllers = strings.Split(f[1], ",")
		}
		out = append(out, pc)
	}
	return out, errs
}

// hierarchy is one cgroup hierarchy that limits us, already mapped onto the
// filesystem: levels lists the directories to read, from drover's own cgroup
// up to the mount root inclusive, as real paths (without Reader.Root).
type hierarchy struct {
	v2     bool
	levels []string
}

// layout is what /proc/self says about our cgroups. It is read once per
// Budget or MemoryLimit call, so v1 and v2 are mapped from one snapshot.
type layout struct {
	procs  []procCgroup
	mounts []mount
}

// hierarchies returns every hierarchy carrying controller ("cpu" or
// "memory") that drover's cgroup can be located in. On hybrid hosts that is
// the v1 hierarchy plus the unified one: a limit in either applies, and the
// unified one simply has no cpu.max when the controller lives on v1.
func (l layout) hierarchies(controller string, w *warner) []hierarchy {
	var out []hierarchy
	for _, pc := range l.procs {
		v2 := pc.id == "0" && pc.controllers == nil
		if !v2 && !contains(pc.controllers, controller) {
			continue
		}
		if h, ok := l.locate(pc, v2, controller, w); ok {
			out = append(out, h)
		}
	}
	return out
}

func (l layout) locate(pc procCgroup, v2 bool, controller string, w *warner) (hierarchy, bool) {
	ver := versionName(v2)
	if strings.HasSuffix(pc.path, deletedPathSuffix) {
		w.warn("deleted-cgroup-"+ver, fmt.Sprintf("/proc/self/cgroup: cgroup %s %q was deleted; ignoring its limits", ver, clip(pc.path)))
		return hierarchy{}, false
	}
	if !strings.HasPrefix(pc.path, "/") {
		w.warn("bad-cgroup-path-"+ver, fmt.Sprintf("/proc/self/cgroup: cgroup %s path %q is not absolute; ignoring its limits", ver, clip(pc.path)))
		return hierarchy{}, false
	}
	var best *mount
	var bestRel string
	candidates := 0
	for _, m := range l.candidateMounts(v2, controller, w) {
		candidates++
		rel, ok := relPath(pc.path, m.root)
		// The shortest root shows the most ancestors, hence every quota.
		if ok && (best == nil || len(m.root) < len(best.root)) {
			best, bestRel = &m, rel
		}
	}
	if best == nil {
		if candidates > 0 {
			// Typically a process moved out of the container's cgroup
			// namespace ("0::/../../x"): the mount shows some other
			// cgroup, whose limits are not ours.
			w.warn("outside-"+ver, fmt.Sprintf("cgroup %s %q is not under any %s mount root; ignoring its limits", ver, clip(pc.path), ver))
		}
		return hierarchy{}, false
	}
	return hierarchy{v2: v2, levels: levels(best.point, bestRel)}, true
}

// levels lists point+rel and each of its parents up to point inclusive,
// leaf first. rel is "" or "/a/b" without empty components.
func levels(point, rel string) []string {
	prefix := point
	if prefix == "/" {
		prefix = ""
	}
	var out []string
	for i := len(rel); i > 0; i = strings.LastIndex(rel[:i], "/") {
		out = append(out, prefix+rel[:i])
	}
	return append(out, point)
}

// candidateMounts returns the cgroup mounts of the wanted version and
// controller. Of several mounts on the same point only the last one is
// visible, so it replaces the earlier ones.
func (l layout) candidateMounts(v2 bool, controller string, w *warner) []mount {
	var out []mount
	for _, m := range l.mounts {
		if v2 {
			if m.fstype != "cgroup2" {
				continue
			}
		} else if m.fstype != "cgroup" || !contains(m.superOpts, controller) {
			continue
		}
		ver := versionName(v2)
		if strings.HasSuffix(m.root, deletedRootSuffix) {
			w.warn("deleted-mount-"+ver, fmt.Sprintf("/proc/self/mountinfo: cgroup %s mount %s has a deleted root %q; ignoring it", ver, m.point, clip(m.root)))
			continue
		}
		if !cleanAbs(m.point) || !strings.HasPrefix(m.root, "/") {
			w.warn("bad-mount-"+ver, fmt.Sprintf("/proc/self/mountinfo: cgroup %s mount %q (root %q) is not a plain absolute path; ignoring it", ver, clip(m.point), clip(m.root)))
			continue
		}
		m.point = strings.TrimRight(m.point, "/")
		if m.point == "" {
			m.point = "/"
		}
		kept := out[:0]
		for _, o := range out {
			if o.point != m.point {
				kept = append(kept, o)
			}
		}
		out = append(kept, m)
	}
	return out
}

// relPath maps a cgroup path onto a mount of its hierarchy: the part of p
// below root, "" when p is the root itself. It fails when p is not below
// root, or only reaches it through "..", because then the mount shows a
// different cgroup and reading it would apply someone else's limit.
func relPath(p, root string) (string, bool) {
	var rel string
	switch {
	case root == "/":
		rel = p
	case p == root:
		rel = ""
	case strings.HasPrefix(p, root+"/"):
		rel = p[len(root):]
	default:
		return "", false
	}
	rel = strings.TrimRight(rel, "/")
	for _, c := range strings.Split(rel, "/") {
		if c == ".." || c == "." {
			return "", false
		}
	}
	// Collapse empty components so that levels are real directories.
	var b strings.Builder
	for _, c := range strings.Split(rel, "/") {
		if c != "" {
			b.WriteString("/")
			b.WriteString(c)
		}
	}
	return b.String(), true
}

// cleanAbs accepts the absolute paths the kernel prints and refuses anything
// that could climb out of Reader.Root when joined onto it.
func cleanAbs(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return false
		}
	}
	return true
}

func versionName(v2 bool) string {
	if v2 {
		return "v2"
	}
	return "v1"
}
