package e2e

// The stand-ins for the public base images that TestExampleImages builds
// on, filled from this host: what the examples rely on in node:24-slim,
// python:3.13-slim and golang:1.26 (the program on PATH, the users they
// run as, a Go toolchain for RUN go build) and nothing more.

import (
	"archive/tar"
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// rootfs is the file tree of a stand-in base image.
type rootfs struct {
	files map[string]string // image path → host path (symlinks followed)
	data  map[string]string // image path → contents
	dirs  map[string]fs.FileMode
}

func newRootfs() *rootfs {
	return &rootfs{files: map[string]string{}, data: map[string]string{}, dirs: map[string]fs.FileMode{"tmp": fs.ModeSticky | 0o777}}
}

// addBinary adds a host program at dst with the shared libraries ldd
// names, at the paths the dynamic loader looks for them.
func (r *rootfs) addBinary(t *testing.T, host, dst string) {
	t.Helper()
	r.files[dst] = host
	r.addLibs(t, host)
}

func (r *rootfs) addLibs(t *testing.T, host string) {
	t.Helper()
	out, err := exec.Command("ldd", host).CombinedOutput()
	if err != nil && strings.Contains(string(out), "not a dynamic executable") {
		return // static: no libraries to add
	}
	if err != nil {
		t.Fatalf("ldd %s: %v: %s (a stand-in base needs the host's dynamic libraries)", host, err, out)
	}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "/") {
			r.files[f] = f
		}
	}
}

// write stores the tree as a tar file at dst, parent directories first.
func (r *rootfs) write(t *testing.T, dst string) {
	t.Helper()
	dirs := map[string]fs.FileMode{}
	for d, m := range r.dirs {
		dirs[d] = m
	}
	var names []string
	for _, m := range []map[string]string{r.files, r.data} {
		for p := range m {
			p = strings.TrimPrefix(p, "/")
			names = append(names, p)
			for d := path.Dir(p); d != "."; d = path.Dir(d) {
				if _, ok := dirs[d]; !ok {
					dirs[d] = 0o755
				}
			}
		}
	}
	var dnames []string
	for d := range dirs {
		dnames = append(dnames, d)
	}
	sort.Strings(dnames)
	sort.Strings(names)
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, d := range dnames {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: int64(dirs[d].Perm() | sticky(dirs[d]))}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range names {
		if s, ok := r.data["/"+p]; ok {
			hdr := &tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: 0o644, Size: int64(len(s))}
			if err := tw.WriteHeader(hdr); err != nil {
				t.Fatal(err)
			}
			io.WriteString(tw, s)
			continue
		}
		if err := copyInto(tw, p, r.files["/"+p]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func sticky(m fs.FileMode) fs.FileMode {
	if m&fs.ModeSticky != 0 {
		return 0o1000
	}
	return 0
}

func copyInto(tw *tar.Writer, name, host string) error {
	src, err := os.Open(host)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(st.Mode().Perm()), Size: st.Size()}); err != nil {
		return err
	}
	_, err = io.Copy(tw, src)
	return err
}

// importBase turns r into the image name with podman import (the same
// metadata a Dockerfile's ENV/USER/CMD would give) and removes it when the
// test ends.
func importBase(t *testing.T, r *rootfs, name string, changes ...string) string {
	t.Helper()
	archive := filepath.Join(t.TempDir(), "rootfs.tar")
	r.write(t, archive)
	args := []string{"import", "-q"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	podmanRun(t, 5*time.Minute, append(args, archive, name)...)
	removeImage(t, name)
	return name
}

const imagePath = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

const imagePasswd = "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"

const imageGroup = "root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n"

// goBase stands in for golang:1.26: an empty tree whose toolchain, module
// cache and build cache are the host's, bind-mounted by goBuildMounts
// during the build (read-only except the build cache), with GOPROXY=off so
// a module missing from the host's cache fails the build instead of
// reaching for the network.
func goBase(t *testing.T, tag imageTag) string {
	t.Helper()
	r := newRootfs()
	r.dirs["root"] = 0o700
	r.dirs["go"] = 0o755
	r.data["/etc/passwd"] = imagePasswd
	r.data["/etc/group"] = imageGroup
	return importBase(t, r, tag.image("golang-base"), "ENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"ENV GOPATH=/go", "ENV GOTOOLCHAIN=local", "ENV GOPROXY=off", "ENV HOME=/root")
}

// goBuildMounts are podman build's volumes for goBase: the toolchain, the
// module and build caches, and the host's shell for RUN lines.
func goBuildMounts(t *testing.T) []string {
	t.Helper()
	// The Dockerfile's `go mod download` fetches every module go.mod lists,
	// some of which the host may have only the go.mod of; fetch them on the
	// host (through its GOPROXY) so the offline build finds them.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dl := exec.CommandContext(ctx, "go", "mod", "download")
	dl.Dir = repoFile(".")
	if out, err := dl.CombinedOutput(); err != nil {
		t.Fatalf("go mod download: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "env", "GOROOT", "GOMODCACHE", "GOCACHE").Output()
	f := strings.Fields(string(out))
	if err != nil || len(f) != 3 {
		t.Fatalf("go env: %v %q", err, out)
	}
	goroot, modcache, cache := f[0], f[1], f[2]
	return []string{
		"-v", "/bin:/bin:ro", "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro",
		"-v", goroot + ":/usr/local/go:ro",
		"-v", modcache + ":/go/pkg/mod:ro",
		"-v", cache + ":/root/.cache/go-build",
	}
}

// nodeBase stands in for node:24-slim: the host's node at the same path,
// its libraries, and the image's "node" user (uid 1000).
func nodeBase(t *testing.T, tag imageTag) string {
	t.Helper()
	node := program(t, "node")
	r := newRootfs()
	r.addBinary(t, node, "/usr/local/bin/node")
	r.data["/etc/passwd"] = imagePasswd
	r.data["/etc/group"] = imageGroup
	r.dirs["home/node"] = 0o755
	return importBase(t, r, tag.image("node-base"), imagePath, `CMD ["node"]`)
}

// pythonBase stands in for python:3.13-slim with the host's Debian
// python3: the interpreter, its standard library (without tests, IDLE,
// tkinter and installed packages) and the libraries of its extension
// modules.
func pythonBase(t *testing.T, tag imageTag) string {
	t.Helper()
	require(t, "python3")
	exe, stdlib := hostPython(t)
	// At /usr/bin/python3 the interpreter finds its standard library at
	// /usr/lib/python3.X, wherever the host keeps it.
	inImage := path.Join("/usr/lib", filepath.Base(stdlib))
	r := newRootfs()
	r.addBinary(t, exe, "/usr/bin/python3")
	skip := map[string]bool{"__pycache__": true, "test": true, "tests": true, "idlelib": true, "tkinter": true,
		"turtledemo": true, "ensurepip": true, "lib2to3": true, "site-packages": true, "dist-packages": true}
	err := filepath.WalkDir(stdlib, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (skip[d.Name()] || strings.HasPrefix(d.Name(), "config-")) {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			return nil // a dangling or directory symlink
		}
		rel, _ := filepath.Rel(stdlib, p)
		r.files[path.Join(inImage, filepath.ToSlash(rel))] = p
		if strings.HasSuffix(p, ".so") {
			r.addLibs(t, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", stdlib, err)
	}
	r.data["/etc/passwd"] = imagePasswd
	r.data["/etc/group"] = imageGroup
	return importBase(t, r, tag.image("python-base"), imagePath, "ENV LANG=C.UTF-8", `CMD ["python3"]`)
}

// hostPython is a python3 of the host and its standard library: Debian's
// /usr/bin/python3 where there is one, else the interpreter python3 on
// PATH runs.
func hostPython(t *testing.T) (exe, stdlib string) {
	t.Helper()
	exe, err := filepath.EvalSymlinks("/usr/bin/python3")
	if err != nil {
		if exe, err = realPython(); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(exe, "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])").Output()
	if err != nil {
		t.Fatalf("%s: where is the standard library: %v", exe, err)
	}
	stdlib = strings.TrimSpace(string(out))
	if _, err := os.Stat(filepath.Join(stdlib, "os.py")); err != nil {
		t.Fatalf("no standard library for %s at %s: %v", exe, stdlib, err)
	}
	return exe, stdlib
}
