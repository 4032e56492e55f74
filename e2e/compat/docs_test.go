package compat

// docs/languages.md is the script of this suite. Every fenced code block
// there carries, after its language, the name of a group (a server, or one
// of the traps) and a role:
//
//	```python uvicorn app.py        a file of the group, written to its directory
//	```sh uvicorn run               the drover command line the suite runs
//	```sh go build                  shell lines run in the group's directory first
//	```sh uvicorn install           apt-get / npm lines: the packages must be installed
//	```js node excerpt:PATH         text that must appear verbatim in the repository file PATH
//	```sh uvicorn-port trap-port    a mistake, run and checked for what the page says it does
//	```text uvicorn-port log        log lines the mistake's run must print (drover's own
//	                                lines with their key=value pairs; ... stands for any text)
//
// A block with only a language is refused, so nothing on the page goes
// unrun. Ports are the page's 8080; the suite puts a free port in its place.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// block is one fenced code block of the page.
type block struct {
	line        int // of the opening fence, 1-based
	lang, group string
	role        string
	text        string
}

// page is docs/languages.md, parsed.
type page struct {
	path   string
	blocks []block
	groups map[string]*group
}

// group is everything the page says about one server or one trap.
type group struct {
	name    string
	files   map[string]string // name → content
	order   []string          // file names in page order
	run     *block
	build   []block
	install []block
	traps   []block
	logs    []block
	excerpt []block
}

var fence = regexp.MustCompile("^```(.*)$")

// parsePage reads the page and checks that every block has a known role.
func parsePage(path string) (*page, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := &page{path: path, groups: map[string]*group{}}
	sc := bufio.NewScanner(f)
	var cur *block
	var body []string
	n := 0
	for sc.Scan() {
		n++
		l := sc.Text()
		if strings.HasPrefix(strings.TrimLeft(l, " \t"), "```") && !strings.HasPrefix(l, "```") {
			return nil, fmt.Errorf("%s:%d: an indented code block cannot be run by the suite; put it at the margin", path, n)
		}
		m := fence.FindStringSubmatch(l)
		if m == nil {
			if cur != nil {
				body = append(body, l)
			}
			continue
		}
		if cur != nil {
			if m[1] != "" {
				return nil, fmt.Errorf("%s:%d: a block opened while %d's was still open", path, n, cur.line)
			}
			cur.text = strings.Join(body, "\n") + "\n"
			p.blocks = append(p.blocks, *cur)
			cur, body = nil, nil
			continue
		}
		info := strings.Fields(m[1])
		if len(info) != 3 {
			return nil, fmt.Errorf("%s:%d: block info %q: want LANG GROUP ROLE, so the suite knows what to run", path, n, m[1])
		}
		cur = &block{line: n, lang: info[0], group: info[1], role: info[2]}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: block never closed", path, cur.line)
	}
	for _, b := range p.blocks {
		g := p.groups[b.group]
		if g == nil {
			g = &group{name: b.group, files: map[string]string{}}
			p.groups[b.group] = g
		}
		switch {
		case b.role == "run":
			if g.run != nil {
				return nil, fmt.Errorf("%s:%d: a second run block for %s (first at line %d)", path, b.line, b.group, g.run.line)
			}
			bb := b
			g.run = &bb
		case b.role == "build":
			g.build = append(g.build, b)
		case b.role == "install":
			g.install = append(g.install, b)
		case b.role == "log":
			g.logs = append(g.logs, b)
		case strings.HasPrefix(b.role, "excerpt:"):
			g.excerpt = append(g.excerpt, b)
		case strings.HasPrefix(b.role, "trap-"):
			if _, ok := trapKinds[b.role]; !ok {
				return nil, fmt.Errorf("%s:%d: unknown trap %q (known: %s)", path, b.line, b.role, strings.Join(sortedKeys(trapKinds), ", "))
			}
			g.traps = append(g.traps, b)
		case strings.Contains(b.role, "."):
			if filepath.Base(b.role) != b.role {
				return nil, fmt.Errorf("%s:%d: file name %q must be a plain name", path, b.line, b.role)
			}
			if _, dup := g.files[b.role]; dup {
				return nil, fmt.Errorf("%s:%d: %s of %s shown twice", path, b.line, b.role, b.group)
			}
			g.files[b.role] = b.text
			g.order = append(g.order, b.role)
		default:
			return nil, fmt.Errorf("%s:%d: unknown role %q", path, b.line, b.role)
		}
	}
	return p, nil
}

func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

// commandLine joins a block's lines (backslash continuations) into one
// shell command line.
func commandLine(b block) string {
	s := strings.ReplaceAll(strings.TrimSpace(b.text), "\\\n", " ")
	if strings.Contains(s, "\n") {
		return ""
	}
	return strings.Join(strings.Fields(s), " ")
}

// checkInstall makes sure the packages an install block names are the
// ones this machine has: Debian packages through dpkg, npm packages in
// e2e/compat/node_modules at the major version the block asks for.
func checkInstall(t *testing.T, b block) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(b.text), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) > 2 && f[0] == "apt-get" && f[1] == "install":
			for _, pkg := range f[2:] {
				if strings.HasPrefix(pkg, "-") {
					continue
				}
				if !debInstalled(pkg) {
					t.Errorf("line %d: Debian package %s is not installed (.ci/run installs the page's packages)", b.line, pkg)
				}
			}
		case len(f) > 2 && f[0] == "npm" && f[1] == "install":
			for _, spec := range f[2:] {
				name, want, _ := strings.Cut(spec, "@")
				got, err := npmVersion(name)
				if err != nil {
					t.Errorf("line %d: %s: %v (.ci/run runs npm ci in e2e/compat)", b.line, spec, err)
					continue
				}
				if want != "" && !strings.HasPrefix(got, want+".") && got != want {
					t.Errorf("line %d: the page says %s, e2e/compat/package-lock.json has %s %s", b.line, spec, name, got)
				}
			}
		default:
			t.Errorf("line %d: %q: an install block holds apt-get install or npm install lines only", b.line, l)
		}
	}
}

// npmVersion is the version of name installed in e2e/compat/node_modules.
func npmVersion(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(nodeModules, name, "package.json"))
	if err != nil {
		return "", err
	}
	var v struct{ Version string }
	if err := json.Unmarshal(b, &v); err != nil {
		return "", err
	}
	return v.Version, nil
}
