package cpus

import (
	"fmt"
	"math"
	"math/big"
	"strings"
)

// The Kubernetes request reaches drover twice: DROVER_CPU_MILLICORES, an
// environment variable resolved once when the container starts, and
// DROVER_CPU_FILE, a Downward API file the kubelet rewrites on an in-place
// resize. Neither says what the container was granted: the file follows the
// pod's spec, so it shows a resize the kubelet has marked Infeasible or not
// applied yet. What was granted is in drover's own cgroup: the kubelet turns
// requests.cpu into cpu.shares (v1) or cpu.weight (v2) and writes it when
// it applies a resize, and only then.

// request decides the request part of the budget (docs/design.md §6). The
// rule in one line: the live file beats the frozen variable, but it grows
// the budget only as far as the cgroup shows granted; it may lower it at
// once, since using less than was granted is always safe.
//
//   - no readable file: the variable, as it is;
//   - no variable, or the file still equal to it: the file, as it is. The
//     variable is the anchor: it says the file is a Kubernetes request
//     whose start value the cgroup weight was set from. Without it the
//     weight may be a default that means nothing (1024 shares, weight 100
//     outside Kubernetes);
//   - the file differs from the variable: the weight converts from the
//     file's value and not from the variable's: the resize was applied,
//     the file wins. Otherwise the file is capped at what the weight
//     grants: the variable's value if it converts from it (nothing applied
//     since the start), else the request it converts back from (an
//     earlier resize applied, a later one not, or not yet);
//   - no weight to read: the file, as it is; there is nothing to check it
//     against.
func (r Reader) request(env int64, lay layout, w *warner) (*big.Rat, string, bool) {
	file, fileOK := r.fileMillicores(w)
	envSrc := fmt.Sprintf("DROVER_CPU_MILLICORES=%d", env)
	switch {
	case !fileOK && env <= 0:
		return nil, "", false
	case !fileOK:
		return milli(env), envSrc, true
	}
	fileSrc := fmt.Sprintf("DROVER_CPU_FILE %s = %dm", r.CPUFile, file)
	if env <= 0 || file == env {
		return milli(file), fileSrc, true
	}
	g, ok := r.grant(lay, w)
	switch {
	case !ok:
		return milli(file), fileSrc + ", no cgroup cpu weight to check it against", true
	case g.grants(file) && !g.grants(env):
		return milli(file), fmt.Sprintf("%s, granted: %s", fileSrc, g), true
	case g.grants(env):
		// On v2 one weight can be what either conversion makes of two
		// requests (59: 1536 shares one way, 512 the other); then
		// nothing proves the change applied.
		if file < env {
			return milli(file), fmt.Sprintf("%s, %s not lowered yet", fileSrc, g), true
		}
		return milli(env), fmt.Sprintf("%s, as %s is not granted by %s", envSrc, fileSrc, g), true
	}
	granted := g.millicores(file)
	if file < granted {
		return milli(file), fmt.Sprintf("%s, %s not lowered yet", fileSrc, g), true
	}
	return milli(granted), fmt.Sprintf("%s = %dm, as %s is not granted", g, granted, fileSrc), true
}

func milli(m int64) *big.Rat { return big.NewRat(m, 1000) }

// weight is drover's own cgroup's cpu.shares (v1) or cpu.weight (v2).
type weight struct {
	v2    bool
	value int64
	dir   string
}

func (g weight) String() string {
	if g.v2 {
		return fmt.Sprintf("cgroup v2 cpu.weight %d at %s", g.value, g.dir)
	}
	return fmt.Sprintf("cgroup v1 cpu.shares %d at %s", g.value, g.dir)
}

// grant reads the weight of drover's own cgroup, the leaf: that is the
// container's cgroup, which the kubelet sets from the container's request
// (the levels above hold the pod's sum and the QoS class's).
func (r Reader) grant(lay layout, w *warner) (g weight, found bool) {
	r.eachLeafFile(lay, w, "cpu", "cpu.shares", "cpu.weight", func(h hierarchy, name, file, data string) bool {
		v, err := parseWeight(data, h.v2)
		if err != nil {
			w.skip(name, file, err)
			return false
		}
		g, found = weight{v2: h.v2, value: v, dir: h.levels[0]}, true
		return true
	})
	return g, found
}

// eachLeafFile hands read the control file of drover's own cgroup (the
// leaf) in each hierarchy of controller: v1name on cgroup v1, v2name on v2,
// until read says it is done. A hierarchy without the file is passed over:
// on a hybrid host the unified one may not have the controller.
func (r Reader) eachLeafFile(lay layout, w *warner, controller, v1name, v2name string, read func(h hierarchy, name, file, data string) bool) {
	for _, h := range lay.hierarchies(controller, w) {
		name := v1name
		if h.v2 {
			name = v2name
		}
		file := h.levels[0] + "/" + name
		if data, ok := r.readLevelFile(file, w); ok && read(h, name, file, data) {
			return
		}
	}
}

func parseWeight(data string, v2 bool) (int64, error) {
	s := strings.TrimSpace(data)
	lo, hi, want := int64(minShares), int64(maxShares), "cpu.shares from 2 to 262144"
	if v2 {
		lo, hi, want = 1, 10000, "cpu.weight from 1 to 10000"
	}
	v, err := parseDecimal(s)
	if err != nil || v < lo || v > hi {
		return 0, garbage(want, s)
	}
	return v, nil
}

// grants says whether the weight is what the kubelet writes for a request
// of m millicores. On v2 two conversions from shares to weight are in use
// (the kubelet's own for pod cgroups and older runc's, linear; newer
// runtimes', a quadratic in log2): either one counts.
func (g weight) grants(m int64) bool {
	s := sharesOf(m)
	if !g.v2 {
		return s == g.value
	}
	return weightLinear(s) == g.value || weightQuadratic(s) == g.value
}

// millicores is the request the weight converts back from. A v2 weight
// stands for a range of requests (about 0.5% wide), and for two ranges far
// apart, one per conversion (weight 100 is 1000m one way and 2538m to 2562m the
// other). Within a range the roundest request is taken (a weight made from
// 2000m reads back as 2000m, not 1993m); of the two, the larger one not
// above the file's value, so a wrong guess never grants more than was
// asked for.
func (g weight) millicores(file int64) int64 {
	if !g.v2 {
		return sharesToMilli(g.value)
	}
	best, lowest := int64(-1), int64(math.MaxInt64)
	for _, conv := range []func(int64) int64{weightLinear, weightQuadratic} {
		lo, hi, ok := sharesRange(g.value, conv)
		if !ok {
			continue
		}
		m := roundest(sharesToMilli(lo), ((hi+1)*1000-1)/sharesPerCPU)
		lowest = min(lowest, m)
		if m <= file && m > best {
			best = m
		}
	}
	if best < 0 {
		return lowest
	}
	return best
}

// roundest is the number in [lo, hi] with the most trailing zeros in
// millicores (a whole CPU, then 500m, 100m, ...), lo if hi < lo.
func roundest(lo, hi int64) int64 {
	for _, step := range []int64{1000, 500, 100, 50, 10, 5} {
		if m := (lo + step - 1) / step * step; m <= hi {
			return m
		}
	}
	return lo
}

// The kubelet's conversions (pkg/kubelet/cm/helpers_linux.go,
// pkg/kubelet/kuberuntime/helpers_linux.go and cgroup_manager_linux.go).
const (
	minShares    = 2
	maxShares    = 262144
	sharesPerCPU = 1024
)

func sharesOf(m int64) int64 {
	if m <= 0 {
		return minShares
	}
	s := m * sharesPerCPU / 1000
	return min(max(s, minShares), maxShares)
}

func sharesToMilli(s int64) int64 {
	return (s*1000 + sharesPerCPU - 1) / sharesPerCPU
}

func weightLinear(s int64) int64 {
	if s >= maxShares {
		return 10000
	}
	return 1 + (s-minShares)*9999/(maxShares-minShares)
}

// weightQuadratic is ConvertCPUSharesToCgroupV2Value of
// opencontainers/cgroups (v0.0.3), which newer runc releases use, computed
// the same way (float64) so that the same shares give the same weight.
func weightQuadratic(s int64) int64 {
	if s <= minShares {
		return 1
	}
	if s >= maxShares {
		return 10000
	}
	l := math.Log2(float64(s))
	exponent := (l*l+125*l)/612.0 - 7.0/34.0
	return int64(math.Ceil(math.Pow(10, exponent)))
}

// sharesRange is the range of shares conv turns into weight; both
// conversions are non-decreasing, so binary searches find its ends.
func sharesRange(weight int64, conv func(int64) int64) (lo, hi int64, ok bool) {
	first := func(w int64) int64 { // the smallest shares with conv ≥ w
		lo, hi := int64(minShares), int64(maxShares+1)
		for lo < hi {
			mid := lo + (hi-lo)/2
			if conv(mid) < w {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return lo
	}
	lo, hi = first(weight), first(weight+1)-1
	return lo, hi, lo <= hi && lo <= maxShares && conv(lo) == weight
}
