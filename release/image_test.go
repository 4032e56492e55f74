package release

// The image: an OCI layout in drover-image.oci.tar whose one tag is the
// version, a manifest list over every architecture, each image FROM
// scratch with /drover alone, non-root. registry serves it on loopback the
// way a registry would, so podman can pull it and COPY --from it.

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ociLayout unpacks the image archive into a directory of the test.
func ociLayout(t *testing.T) string {
	t.Helper()
	f, err := os.Open(artifact(t, "drover-image.oci.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(p, b, 0o644)
			}
		default:
			err = fmt.Errorf("%s: unexpected tar entry type %c", h.Name, h.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Variant      string `json:"variant"`
	} `json:"platform"`
}

type index struct {
	MediaType string       `json:"mediaType"`
	Manifests []descriptor `json:"manifests"`
}

// blob reads a blob of the layout, checking its digest and size.
func blob(t *testing.T, dir string, d descriptor) []byte {
	t.Helper()
	hexDigest, ok := strings.CutPrefix(d.Digest, "sha256:")
	if !ok {
		t.Fatalf("digest %q is not sha256", d.Digest)
	}
	b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", hexDigest))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != hexDigest || int64(len(b)) != d.Size {
		t.Fatalf("blob %s: sha256 %x, %d bytes, want %d", d.Digest, sum, len(b), d.Size)
	}
	return b
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

// topIndex is the manifest list the layout's one tag names.
func topIndex(t *testing.T, dir string) (descriptor, index) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var layout index
	decode(t, b, &layout)
	if len(layout.Manifests) != 1 || layout.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != version {
		t.Fatalf("index.json %s: want one manifest list tagged %s", b, version)
	}
	list := layout.Manifests[0]
	if list.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Fatalf("tag %s is a %s, want an OCI image index", version, list.MediaType)
	}
	var idx index
	decode(t, blob(t, dir, list), &idx)
	return list, idx
}

func TestImage(t *testing.T) {
	dir := ociLayout(t)
	_, idx := topIndex(t, dir)
	if len(idx.Manifests) != len(targets) {
		t.Errorf("manifest list has %d images, want %d", len(idx.Manifests), len(targets))
	}
	for _, tg := range targets {
		t.Run(tg.goarch, func(t *testing.T) {
			var m *descriptor
			for i, d := range idx.Manifests {
				if p := d.Platform; p != nil && p.OS == "linux" && p.Architecture == tg.goarch && p.Variant == tg.variant {
					m = &idx.Manifests[i]
				}
			}
			if m == nil {
				t.Fatalf("no linux/%s%s image in the manifest list", tg.goarch, tg.variant)
			}
			var manifest struct {
				Config descriptor   `json:"config"`
				Layers []descriptor `json:"layers"`
			}
			decode(t, blob(t, dir, *m), &manifest)
			var config struct {
				Architecture string `json:"architecture"`
				Variant      string `json:"variant"`
				Config       struct {
					User       string   `json:"User"`
					Entrypoint []string `json:"Entrypoint"`
					Cmd        []string `json:"Cmd"`
				} `json:"config"`
			}
			decode(t, blob(t, dir, manifest.Config), &config)
			if config.Architecture != tg.goarch || config.Variant != tg.variant {
				t.Errorf("config for %s/%s", config.Architecture, config.Variant)
			}
			uid, _, _ := strings.Cut(config.Config.User, ":")
			if n, err := strconv.Atoi(uid); err != nil || n == 0 {
				t.Errorf("USER %q, want a numeric non-root uid", config.Config.User)
			}
			if strings.Join(config.Config.Entrypoint, " ") != "/drover" || len(config.Config.Cmd) != 0 {
				t.Errorf("ENTRYPOINT %q CMD %q, want [/drover] and no CMD", config.Config.Entrypoint, config.Config.Cmd)
			}
			if len(manifest.Layers) != 1 {
				t.Fatalf("%d layers, want one (FROM scratch, COPY drover)", len(manifest.Layers))
			}
			z, err := gzip.NewReader(strings.NewReader(string(blob(t, dir, manifest.Layers[0]))))
			if err != nil {
				t.Fatal(err)
			}
			tr := tar.NewReader(z)
			var names []string
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, h.Name)
				if h.Name == "drover" {
					if h.Mode&0o777 != 0o755 {
						t.Errorf("/drover mode %o, want 0755", h.Mode)
					}
					b, err := io.ReadAll(tr)
					if err != nil {
						t.Fatal(err)
					}
					sameFile(t, tg, b, "the image's /drover")
				}
			}
			if len(names) != 1 || names[0] != "drover" {
				t.Errorf("layer holds %q, want drover alone", names)
			}
		})
	}
}

// registry serves an OCI layout read-only over the registry API (GET and
// HEAD of /v2/, manifests by tag or digest, blobs), as repository name.
type registry struct {
	dir, name string
	tags      map[string]string
}

var registryPath = regexp.MustCompile(`^/v2/(.+)/(manifests|blobs)/([^/]+)$`)

func (r *registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		http.Error(w, "read-only", http.StatusMethodNotAllowed)
		return
	}
	if req.URL.Path == "/v2/" {
		return
	}
	m := registryPath.FindStringSubmatch(req.URL.Path)
	if m == nil || m[1] != r.name {
		http.NotFound(w, req)
		return
	}
	digest := m[3]
	if m[2] == "manifests" && !strings.HasPrefix(digest, "sha256:") {
		digest = r.tags[digest]
	}
	hexDigest, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || strings.ContainsAny(hexDigest, "/.") {
		http.NotFound(w, req)
		return
	}
	b, err := os.ReadFile(filepath.Join(r.dir, "blobs", "sha256", hexDigest))
	if err != nil {
		http.NotFound(w, req)
		return
	}
	if m[2] == "manifests" {
		var mt struct {
			MediaType string `json:"mediaType"`
		}
		_ = json.Unmarshal(b, &mt)
		w.Header().Set("Content-Type", mt.MediaType)
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if req.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
}

// serve runs h on a loopback port until the test ends; it returns host:port.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// serveImage serves the release's image as host:port/drover-init/drover.
func serveImage(t *testing.T) string {
	t.Helper()
	dir := ociLayout(t)
	list, _ := topIndex(t, dir)
	return serve(t, &registry{dir: dir, name: "drover-init/drover", tags: map[string]string{version: list.Digest}})
}

// podman runs podman with this machine's options (see e2e/container_test.go:
// no CAP_SYS_RESOURCE, so rlimits may only be lowered) and a time bound.
func podman(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := append([]string{"--runtime", "runc", "--cgroup-manager", "cgroupfs"}, args...)
	cmd := exec.CommandContext(ctx, needCmd(t, "podman"), argv...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// removeImage removes an image when the test ends.
func removeImage(t *testing.T, name string) {
	t.Cleanup(func() {
		if out, err := exec.Command("podman", "rmi", "-f", "-i", name).CombinedOutput(); err != nil {
			t.Errorf("podman rmi %s: %v: %s", name, err, out)
		}
	})
}

// podman pulls every platform of the image from the registry, the variant
// of arm included.
func TestImagePull(t *testing.T) {
	needRoot(t)
	ref := serveImage(t) + "/drover-init/drover:" + version
	for _, tg := range targets {
		platform := "linux/" + tg.goarch
		if tg.variant != "" {
			platform += "/" + tg.variant
		}
		id := strings.TrimSpace(podman(t, 2*time.Minute, "pull", "-q", "--tls-verify=false", "--platform", platform, ref))
		removeImage(t, id)
		got := strings.TrimSpace(podman(t, time.Minute, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", id))
		if got != "linux/"+tg.goarch {
			t.Errorf("pulled %s for %s", got, platform)
		}
	}
}
