package launch

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The kernel's OOM killer ends the process with the highest badness: its
// memory (resident, swap, page tables) in pages, plus oom_score_adj
// thousandths of all the memory it may use (the cgroup's limit in a
// container). Every process starts with its parent's score, so without
// help drover and its workers are equal and the biggest one dies, which can
// be drover with its runtime and metrics. When PID 1 dies, the container
// goes with it; when a worker dies, drover restarts it.
//
// drover can lower its own score only with CAP_SYS_RESOURCE (root on a
// host; not granted by Docker by default), and raising a score needs no
// privilege. So workers start OOMMargin above drover's own score (capped
// at 1000), or, where drover may lower itself, drover goes OOMMargin
// below its score and the workers keep the score drover was given (in
// Kubernetes, the pod's QoS class). A difference of 500 gives every worker
// half the memory limit in extra badness: drover would only be chosen
// before a worker if its own memory exceeded the worker's by half the
// limit.

// OOMMargin is how far above drover's own oom_score_adj workers are put.
const OOMMargin = 500

// ownOOMFile is drover's own score. It is per process (all threads), and a
// child gets a copy at fork.
const ownOOMFile = "/proc/self/oom_score_adj"

// OOMPlan is who gets which oom_score_adj.
type OOMPlan struct {
	// Drover is drover's own score: Start keeps it there between starts.
	Drover int
	// Lower is set when Drover is below the score drover found and must
	// be written once at start (SetOwnOOMScore).
	Lower bool
	// Worker is every worker's score; nothing is written when it equals
	// Drover.
	Worker int
	// Note, when set, says why the kernel may still choose drover before
	// a worker (for one log line at start).
	Note string
}

// ReadOOM reads drover's own oom_score_adj and whether it holds
// CAP_SYS_RESOURCE, from the proc file system mounted at proc.
func ReadOOM(proc string) (own int, canLower bool, err error) {
	b, err := os.ReadFile(proc + "/self/oom_score_adj")
	if err != nil {
		return 0, false, fmt.Errorf("cannot read drover's oom_score_adj: %w", err)
	}
	own, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || own < -1000 || own > 1000 {
		return 0, false, fmt.Errorf("cannot read drover's oom_score_adj: %q", b)
	}
	st, err := readStatus(proc + "/self/status")
	if err != nil {
		return 0, false, fmt.Errorf("cannot read drover's capabilities: %w", err)
	}
	return own, st.has(capSysResource), nil
}

// PlanOOM decides the scores from drover's own score and whether it may
// lower a score (CAP_SYS_RESOURCE). worker is the user's choice
// (DROVER_WORKER_OOM_SCORE_ADJ), or nil for the default, which makes every
// worker the kernel's choice before drover. A worker score below drover's
// own without the capability is refused: the kernel would refuse it at
// every start.
func PlanOOM(worker *int, own int, canLower bool) (OOMPlan, error) {
	p := OOMPlan{Drover: own, Worker: own}
	switch {
	case worker != nil:
		if *worker < -1000 || *worker > 1000 {
			return p, fmt.Errorf("%d is outside -1000…1000", *worker)
		}
		if *worker < own && !canLower {
			return p, fmt.Errorf("below drover's own oom_score_adj %d: lowering a score needs CAP_SYS_RESOURCE, which drover does not have", own)
		}
		p.Worker = *worker
	case canLower && own > -999:
		// -1000 would exempt drover from the OOM killer altogether; -999
		// keeps it the last resort.
		p.Drover, p.Lower = max(own-OOMMargin, -999), true
	case own < 1000:
		p.Worker = min(own+OOMMargin, 1000)
	default:
		p.Note = "drover's oom_score_adj is already 1000 and lowering it needs CAP_SYS_RESOURCE: the OOM killer chooses between drover and its workers by memory alone"
	}
	return p, nil
}

// SetOwnOOMScore writes drover's own score (p.Drover), once at start.
func SetOwnOOMScore(p OOMPlan) error {
	if err := writeOOM(ownOOMFile, p.Drover); err != nil {
		return fmt.Errorf("cannot set drover's oom_score_adj to %d: %w", p.Drover, err)
	}
	return nil
}

func writeOOM(file string, score int) error {
	return os.WriteFile(file, []byte(strconv.Itoa(score)), 0)
}
