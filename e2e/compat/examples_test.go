package compat

// The repository's examples, run as they say they are run.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNodeExample runs examples/node/server.js as its header comment says
// and stops it under keep-alive load (the case that used to end in
// SIGKILL: busy keep-alive connections outlived server.close()).
func TestNodeExample(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot, "examples/node/server.js"))
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "// Run it with: "
	var line string
	for _, l := range strings.Split(string(src), "\n") {
		if s, ok := strings.CutPrefix(l, prefix); ok {
			line = s
		}
	}
	if line == "" {
		t.Fatalf("examples/node/server.js has no %q line", prefix)
	}
	r := &result{}
	d := startLine(t, repoRoot, line, freePort(t))
	pids := d.waitReady(startBound)
	if _, err := d.slots(2, pids, 15*time.Second); err != nil {
		t.Error(err)
	}
	stopUnderLoad(t, d, r)
	record("node-example", r)
}

// TestPythonReadme runs the Dockerfile lines of examples/python/README.md
// (ENV and an exec-form CMD) as the command a container with drover as its
// entrypoint runs, with the page's files for that server: both workers
// answer, SIGTERM ends it with 0.
func TestPythonReadme(t *testing.T) {
	p := loadPage(t)
	src, err := os.ReadFile(filepath.Join(repoRoot, "examples/python/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := dockerfileBlocks(string(src))
	if len(blocks) == 0 {
		t.Fatal("examples/python/README.md has no dockerfile block")
	}
	for i, b := range blocks {
		env, argv, err := envAndCmd(b)
		if err != nil {
			t.Errorf("examples/python/README.md, dockerfile block %d: %v", i+1, err)
			continue
		}
		t.Run(argv[0], func(t *testing.T) {
			g := p.groups[argv[0]]
			if g == nil {
				t.Fatalf("examples/python/README.md runs %s, which %s does not show", argv[0], docPath)
			}
			dir := prepare(t, p, g, nil)
			line := strings.Join(env, " ") + " drover -- " + strings.Join(argv, " ")
			d := startLine(t, dir, line, freePort(t))
			pids := d.waitReady(startBound)
			if _, err := d.slots(2, pids, 15*time.Second); err != nil {
				t.Error(err)
			}
			d.signal(syscall.SIGTERM)
			if code := d.wait(stopTimeout + 5*time.Second); code != 0 {
				t.Errorf("drover exited %d after SIGTERM, want 0", code)
			}
		})
	}
}

// dockerfileBlocks are the bodies of the ```dockerfile blocks of a
// markdown text, indented or not.
func dockerfileBlocks(md string) []string {
	var out []string
	var cur []string
	in := false
	for _, l := range strings.Split(md, "\n") {
		tl := strings.TrimSpace(l)
		switch {
		case !in && tl == "```dockerfile":
			in, cur = true, nil
		case in && tl == "```":
			in = false
			out = append(out, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, tl)
		}
	}
	return out
}

// envAndCmd reads ENV NAME=value lines and an exec-form CMD.
func envAndCmd(block string) (env, argv []string, err error) {
	for _, l := range strings.Split(block, "\n") {
		switch {
		case strings.HasPrefix(l, "ENV "):
			env = append(env, strings.Fields(strings.TrimPrefix(l, "ENV "))...)
		case strings.HasPrefix(l, "CMD "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "CMD ")), &argv); err != nil {
				return nil, nil, err
			}
		}
	}
	if len(argv) == 0 {
		return nil, nil, os.ErrNotExist
	}
	return env, argv, nil
}
