// Command runcwrap is the runc that containerd runs on machines that forbid
// writing oom_score_adj and raising rlimits (runc otherwise fails with
// "can't get final child's PID from pipe: EOF"). Before `create` or `run`
// it drops process.oomScoreAdj from the bundle's config.json and sets
// RLIMIT_NOFILE to the limits it has itself, then execs the real runc.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// runc is set with -ldflags "-X main.runc=/usr/sbin/runc".
var runc = "/usr/sbin/runc"

func main() {
	if bundle := bundleArg(os.Args[1:]); bundle != "" {
		if err := patch(filepath.Join(bundle, "config.json")); err != nil {
			fmt.Fprintf(os.Stderr, "runcwrap: %v\n", err)
			os.Exit(1)
		}
	}
	err := syscall.Exec(runc, append([]string{runc}, os.Args[1:]...), os.Environ())
	fmt.Fprintf(os.Stderr, "runcwrap: exec %s: %v\n", runc, err)
	os.Exit(1)
}

func bundleArg(args []string) string {
	for i, a := range args {
		switch {
		case (a == "--bundle" || a == "-b") && i+1 < len(args):
			return args[i+1]
		case len(a) > 9 && a[:9] == "--bundle=":
			return a[9:]
		}
	}
	return ""
}

func patch(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	proc, ok := spec["process"].(map[string]any)
	if !ok {
		return nil
	}
	delete(proc, "oomScoreAdj")
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	proc["rlimits"] = []map[string]any{{"type": "RLIMIT_NOFILE", "soft": lim.Cur, "hard": lim.Max}}
	if b, err = json.Marshal(spec); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
