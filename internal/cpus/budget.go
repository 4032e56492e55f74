package cpus

import (
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"path/filepath"
	"syscall"

	"github.com/drover-init/drover/internal/kfile"
)

// Reader reads the CPU budget and memory limit of the current process.
// The zero value reads the real system silently.
type Reader struct {
	// Root is prepended to every path read ("/proc/self/cgroup", mount
	// points from mountinfo), so tests can point it at a fixture tree.
	// Empty means "/".
	Root string
	// Affinity counts the CPUs the process may run on; nil means Affinity.
	Affinity func() (int, error)
	// Warn receives one line per distinct problem with the input (garbage
	// files, deleted cgroups, unmappable paths). nil discards them. It is
	// called synchronously, at most once per reason within one call.
	// Budget and MemoryLimit each read /proc/self afresh, so a problem
	// there is reported by both with the same text; a caller that logs
	// both should drop repeated lines.
	Warn func(string)
	// CPUFile is DROVER_CPU_FILE: a file holding a millicore count, as a
	// Kubernetes Downward API volume writes limits.cpu with divisor 1m. It
	// is read as given, not below Root (it is the user's path, not the
	// kernel's), and afresh on every call, because the kubelet replaces it
	// on an in-place resize while environment variables stay as they were.
	// Empty means unset.
	CPUFile string
	// Nproc returns RLIMIT_NPROC when it applies to us (it does not to
	// root); nil means the real one. Only WorkerLimit uses it.
	Nproc func() (limit uint64, applies bool)
}

// Budget is how many CPUs drover may use, and why.
type Budget struct {
	// Cores is the budget: the minimum of Affinity, Quota and the request
	// (DROVER_CPU_MILLICORES or DROVER_CPU_FILE, as far as the cgroup
	// granted it; see request). Exact, so that 3/2 rounds as 1.5, not
	// 1.4999.
	Cores *big.Rat
	// Source explains the limit that won, with the real path it came from,
	// e.g. "cgroup v1 quota 150000/100000 at /sys/fs/cgroup/cpu".
	Source string
	// Affinity is the number of CPUs in the affinity mask, 0 if unknown.
	Affinity int
	// Quota is the tightest CFS quota found in any cgroup hierarchy, nil
	// when none limits us; QuotaSource says where it was read.
	Quota       *big.Rat
	QuotaSource string
}

// String is the budget as humans read it in logs and /status.
func (b Budget) String() string {
	return FormatCores(b.Cores) + " (" + b.Source + ")"
}

// maxFileSize bounds reads: cgroup files are a few bytes and mountinfo a few
// hundred KiB even on busy hosts; a bigger file is not what we think it is.
const maxFileSize = 4 << 20

// Budget returns the CPU budget. millicores is DROVER_CPU_MILLICORES (≤ 0
// means unset). Every call reads everything again: the cgroup drover is in
// (it may have been moved), each ancestor's quota, the affinity mask,
// CPUFile and drover's own cpu weight, so calling it periodically follows a
// resize. It fails only when no limit at all can be determined, i.e. the
// affinity call failed and neither cgroups nor the request gave a number.
func (r Reader) Budget(millicores int64) (Budget, error) {
	w := &warner{fn: r.Warn}
	lay := r.layout(w)
	var b Budget
	for _, h := range lay.hierarchies("cpu", w) {
		for _, dir := range h.levels {
			q, src, ok := r.cpuLimit(h.v2, dir, w)
			// Ties keep the leaf: it names the cgroup drover was put in.
			if ok && (b.Quota == nil || q.Cmp(b.Quota) < 0) {
				b.Quota, b.QuotaSource = q, src
			}
		}
	}
	b.Cores, b.Source = b.Quota, b.QuotaSource
	if req, src, ok := r.request(millicores, lay, w); ok && (b.Cores == nil || req.Cmp(b.Cores) < 0) {
		b.Cores, b.Source = req, src
	}
	aff := r.Affinity
	if aff == nil {
		aff = Affinity
	}
	n, err := aff()
	if err == nil && n < 1 {
		err = fmt.Errorf("affinity mask has %d CPUs", n)
	}
	if err != nil {
		if b.Cores == nil {
			return Budget{}, fmt.Errorf("cpus: no cpu budget: %w", err)
		}
		w.warn("affinity", fmt.Sprintf("cpu affinity unknown (%v); using %s", err, b.Source))
		return b, nil
	}
	b.Affinity = n
	if a := big.NewRat(int64(n), 1); b.Cores == nil || a.Cmp(b.Cores) < 0 {
		b.Cores, b.Source = a, fmt.Sprintf("affinity %d %s", n, plural(n, "CPU", "CPUs"))
	}
	return b, nil
}

// cpuLimit reads one level's quota. A level without quota files is simply
// unlimited; a level with unreadable or nonsensical files is skipped with a
// warning rather than guessed at.
func (r Reader) cpuLimit(v2 bool, dir string, w *warner) (*big.Rat, string, bool) {
	if v2 {
		file := dir + "/cpu.max"
		data, ok := r.readLevelFile(file, w)
		if !ok {
			return nil, "", false
		}
		q, p, err := parseCPUMax(data)
		if errors.Is(err, errNoLimit) {
			return nil, "", false
		}
		if err != nil {
			w.skip("cpu.max", file, err)
			return nil, "", false
		}
		return big.NewRat(q, p), fmt.Sprintf("cgroup v2 cpu.max %d %d at %s", q, p, dir), true
	}
	qfile := dir + "/cpu.cfs_quota_us"
	data, ok := r.readLevelFile(qfile, w)
	if !ok {
		return nil, "", false
	}
	q, err := parseCFSQuota(data)
	if errors.Is(err, errNoLimit) {
		return nil, "", false
	}
	if err != nil {
		w.skip("cpu.cfs_quota_us", qfile, err)
		return nil, "", false
	}
	pfile := dir + "/cpu.cfs_period_us"
	data, err = r.readFile(pfile)
	if err != nil {
		// A quota without its period cannot be turned into CPUs.
		w.warn("read cpu.cfs_period_us", fmt.Sprintf("ignoring %s: %v", qfile, err))
		return nil, "", false
	}
	p, err := parseCFSPeriod(data)
	if err != nil {
		w.skip("cpu.cfs_period_us", pfile, err)
		return nil, "", false
	}
	return big.NewRat(q, p), fmt.Sprintf("cgroup v1 quota %d/%d at %s", q, p, dir), true
}

// MemoryLimit returns the tightest cgroup memory limit over the same walk as
// Budget (v1 memory.limit_in_bytes, v2 memory.max), with where it was read.
// ok is false when no level sets a limit.
func (r Reader) MemoryLimit() (bytes int64, source string, ok bool) {
	w := &warner{fn: r.Warn}
	lay := r.layout(w)
	for _, h := range lay.hierarchies("memory", w) {
		name, ver := "memory.limit_in_bytes", "v1"
		if h.v2 {
			name, ver = "memory.max", "v2"
		}
		for _, dir := range h.levels {
			file := dir + "/" + name
			data, found := r.readLevelFile(file, w)
			if !found {
				continue
			}
			v, err := parseMemory(data)
			if errors.Is(err, errNoLimit) {
				continue
			}
			if err != nil {
				w.skip(name, file, err)
				continue
			}
			if !ok || v < bytes {
				bytes, ok = v, true
				source = fmt.Sprintf("cgroup %s %s %d at %s", ver, name, v, dir)
			}
		}
	}
	return bytes, source, ok
}

// layout reads /proc/self/cgroup and /proc/self/mountinfo. Either missing
// (no procfs, seccomp, a bare chroot) means "no cgroup limits", silently.
func (r Reader) layout(w *warner) layout {
	var l layout
	data, ok := r.readLevelFile("/proc/self/cgroup", w)
	if !ok {
		return l
	}
	var errs []error
	l.procs, errs = parseProcCgroup(data)
	if len(errs) > 0 {
		w.warn("garbage /proc/self/cgroup", fmt.Sprintf("/proc/self/cgroup: skipping %d bad line(s): %v", len(errs), errs[0]))
	}
	if len(l.procs) == 0 {
		return l
	}
	data, ok = r.readLevelFile("/proc/self/mountinfo", w)
	if !ok {
		return l
	}
	l.mounts, errs = parseMountinfo(data)
	if len(errs) > 0 {
		w.warn("garbage /proc/self/mountinfo", fmt.Sprintf("/proc/self/mountinfo: skipping %d bad line(s): %v", len(errs), errs[0]))
	}
	return l
}

// readLevelFile reads a file that may legitimately be absent. Absent means
// "nothing set here"; any other failure is warned about once and also
// treated as absent, because a limit we cannot read is not one we can honour.
func (r Reader) readLevelFile(file string, w *warner) (string, bool) {
	data, err := r.readFile(file)
	if err == nil {
		return data, true
	}
	if !isMissing(err) {
		w.warn("read "+filepath.Base(file), fmt.Sprintf("ignoring %s: %v", file, err))
	}
	return "", false
}

// readFile reads file (a real absolute path) below r.Root. Errors name the
// real path, not the fixture path, and wrap the cause.
func (r Reader) readFile(file string) (string, error) {
	root := r.Root
	if root == "" {
		root = "/"
	}
	return readAt(filepath.Join(root, file), file)
}

// readAbs reads a path the user gave, as it is (relative to the working
// directory if relative), with the same size bound.
func (r Reader) readAbs(file string) (string, error) { return readAt(file, file) }

// readAt opens path and names the file as name in errors.
func readAt(path, file string) (string, error) {
	data, err := kfile.Read(path, maxFileSize)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, unwrapPathError(err))
	}
	return string(data), nil
}

// unwrapPathError drops the *fs.PathError layer, whose path includes the
// fixture root and would repeat the name we already put in front.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// isMissing: ENOTDIR too, since a cgroup path through a plain file is as
// absent as one through a missing directory.
func isMissing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// warner forwards each reason at most once per call, so a garbage value
// repeated at every level of a deep hierarchy costs one log line, not ten.
type warner struct {
	fn   func(string)
	seen map[string]bool
}

func (w *warner) warn(reason, msg string) {
	if w.fn == nil || w.seen[reason] {
		return
	}
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	w.seen[reason] = true
	w.fn(msg)
}

func (w *warner) skip(name, file string, err error) {
	reason := "garbage " + name
	var g *garbageError
	if errors.As(err, &g) {
		reason += ": " + g.want
	}
	w.warn(reason, fmt.Sprintf("ignoring %s: %v", file, err))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
