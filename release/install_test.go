package release

// README's Install section, run as a newcomer would run it, against this
// release instead of the release page and registry: the files served over
// loopback HTTP, the image from a loopback registry, debian:bookworm-slim
// replaced by a minimal Debian made with mmdebstrap from Debian's mirror
// (cached in /var/cache/drover-release). Every block of the section runs.

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	readmeURL   = "https://github.com/drover-init/drover/releases/download/"
	readmeImage = "ghcr.io/drover-init/drover"
	readmeBase  = "FROM debian:bookworm-slim"
	// readmeVersion is the version README's commands name.
	readmeVersion = "0.1.0"
)

// block is a fenced code block of README.md.
type block struct{ lang, text string }

// installBlocks are the code blocks of README's Install section.
func installBlocks(t *testing.T) []block {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "\n## Install\n")
	if start < 0 {
		t.Fatal("README.md has no ## Install section")
	}
	s = s[start+1:]
	if end := strings.Index(s[1:], "\n## "); end >= 0 {
		s = s[:end+1]
	}
	var out []block
	for _, m := range regexp.MustCompile("(?ms)^```(\\w+)\n(.*?)^```$").FindAllStringSubmatch(s, -1) {
		out = append(out, block{m[1], m[2]})
	}
	return out
}

// debianImage imports the cached minimal Debian (curl and rpm included) as
// an image, made first if it is not cached, and removes it when the test
// ends.
func debianImage(t *testing.T) string {
	t.Helper()
	needRoot(t)
	args := []string{"--variant=minbase", "--include=curl,rpm",
		"--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/man/*",
		"--dpkgopt=path-exclude=/usr/share/locale/*", "--quiet", "bookworm"}
	key := sha256.Sum256([]byte(strings.Join(args, " ")))
	cache := filepath.Join("/var/cache/drover-release", fmt.Sprintf("debian-bookworm-%x.tar", key[:6]))
	if _, err := os.Stat(cache); err != nil {
		mm := needCmd(t, "mmdebstrap")
		if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
			t.Fatal(err)
		}
		tmp := cache + fmt.Sprintf(".%d.tar", os.Getpid())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		start := time.Now()
		// No mirror named: mmdebstrap takes Debian's default one.
		cmd := exec.CommandContext(ctx, mm, append(args, tmp)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp)
			t.Fatalf("mmdebstrap: %v\n%s", err, out)
		}
		if err := os.Rename(tmp, cache); err != nil {
			t.Fatal(err)
		}
		t.Logf("made %s with mmdebstrap in %s", cache, time.Since(start).Round(time.Second))
	}
	name := fmt.Sprintf("localhost/drover-release-debian:%d-%d", os.Getpid(), time.Now().UnixNano())
	podman(t, 5*time.Minute, "import", "-q", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", cache, name)
	removeImage(t, name)
	return name
}

// podmanRun is podman run with this test's options: the host's network, so that
// 127.0.0.1 is the test's servers, and rlimits no higher than this machine
// allows.
func podmanRun(args ...string) []string {
	return append([]string{"run", "--rm", "--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"}, args...)
}

func TestInstallFromReadme(t *testing.T) {
	needRoot(t)
	if !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(version) {
		t.Fatalf("README's commands name a release such as %s; a pre-release (%s) has other package names", readmeVersion, version)
	}
	blocks := installBlocks(t)
	files := serve(t, http.StripPrefix("/v"+version+"/", http.FileServer(http.Dir(outDir))))
	registry := serveImage(t)
	debian := debianImage(t)
	// What COPY --from pulls.
	removeImage(t, registry+"/drover-init/drover:"+version)
	local := func(s string) string {
		s = strings.ReplaceAll(s, readmeURL, "http://"+files+"/")
		s = strings.ReplaceAll(s, readmeImage+":", registry+"/drover-init/drover:")
		s = strings.ReplaceAll(s, readmeBase+"\n", "FROM "+debian+"\n")
		return strings.ReplaceAll(s, readmeVersion, version)
	}
	kinds := map[string]int{}
	for i, b := range blocks {
		switch {
		case b.lang == "dockerfile" && strings.Contains(b.text, "SHA256SUMS"):
			kinds["binary"]++
			t.Run("binary", func(t *testing.T) { installImage(t, i, local(b.text)) })
		case b.lang == "dockerfile" && strings.Contains(b.text, "COPY --from="+readmeImage):
			kinds["image"]++
			t.Run("image", func(t *testing.T) { installImage(t, i, local(b.text)) })
		case b.lang == "sh" && strings.Contains(b.text, "dpkg -i"):
			kinds["deb"]++
			t.Run("deb", func(t *testing.T) { installPackage(t, debian, local(b.text)) })
		case b.lang == "sh" && strings.Contains(b.text, "rpm -i"):
			kinds["rpm"]++
			t.Run("rpm", func(t *testing.T) { installPackage(t, debian, local(b.text)) })
		default:
			t.Errorf("README's Install section has a %s block no test runs:\n%s", b.lang, b.text)
		}
	}
	for _, k := range []string{"binary", "deb", "rpm", "image"} {
		if kinds[k] != 1 {
			t.Errorf("README's Install section shows the %s way %d times, want once", k, kinds[k])
		}
	}
}

// installImage builds README's Dockerfile and runs drover in it: the
// version, a plain init's exit code, and a pool of two.
func installImage(t *testing.T, i int, dockerfile string) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("localhost/drover-release-install:%d-%d-%d", os.Getpid(), i, time.Now().UnixNano())
	// --tls-verify=false: the stand-in registry speaks plain HTTP.
	podman(t, 5*time.Minute, "build", "-q", "--layers=false", "--tls-verify=false",
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "-t", name, dir)
	removeImage(t, name)
	if out := podman(t, time.Minute, podmanRun(name, "--version")...); out != "drover "+version+"\n" {
		t.Errorf("drover --version in the image: %q", out)
	}
	out, err := exec.Command("podman", append([]string{"--runtime", "runc", "--cgroup-manager", "cgroupfs"},
		podmanRun(name, "sh", "-c", "exit 3")...)...).CombinedOutput()
	if code := exitCode(err); code != 3 {
		t.Errorf("drover -- sh -c 'exit 3' as the image's entrypoint: exit %d, want 3: %s", code, out)
	}
	// A pool of two that each exit 0 ends with 0 (podman fails the test otherwise).
	podman(t, time.Minute, podmanRun("-e", "DROVER_WORKERS=2", "-e", "DROVER_RESTART=never", name, "true")...)
}

// installPackage runs README's commands in the Debian container, then
// drover -- true, which must exit 0.
func installPackage(t *testing.T, debian, script string) {
	out := podman(t, 5*time.Minute, podmanRun(debian, "sh", "-ec", script+"drover -- true\n")...)
	if !strings.Contains(out, "drover "+version+"\n") {
		t.Errorf("no `drover %s` from drover --version in:\n%s", version, out)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// The project's Dockerfile shows the same release snippets as README's
// Install section, line for line, so the one that no test runs cannot
// drift from the one that install_test.go runs.
func TestDockerfileMatchesReadme(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	_, release, ok := strings.Cut(string(b), "# Or take a release")
	if !ok {
		t.Fatal(`the Dockerfile's comment has no "# Or take a release" part`)
	}
	readme := map[string]bool{}
	for _, bl := range installBlocks(t) {
		for _, l := range strings.Split(bl.text, "\n") {
			readme[l] = true
		}
	}
	n := 0
	for _, l := range strings.Split(release, "\n")[1:] {
		if !strings.HasPrefix(l, "#") {
			break
		}
		if snippet, ok := strings.CutPrefix(l, "#   "); ok {
			n++
			if !readme[snippet] {
				t.Errorf("the Dockerfile shows %q, which README's Install section does not", snippet)
			}
		}
	}
	if n < 5 {
		t.Errorf("found %d snippet lines in the Dockerfile's release part, want the binary's and the image's", n)
	}
}
