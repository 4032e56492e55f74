package release

// The files of a release: one static binary per architecture that reports
// the version, SHA256SUMS over everything, and an SBOM per binary that
// matches it.

import (
	"bufio"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var elfMachine = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "arm": elf.EM_ARM,
	"ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV,
}

func TestBinaries(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.goarch, func(t *testing.T) {
			path := artifact(t, tg.binary())
			f, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != elfMachine[tg.goarch] {
				t.Errorf("ELF machine %v, want %v", f.Machine, elfMachine[tg.goarch])
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("program header %v: not a static binary", p.Type)
				}
			}
			bi, err := buildinfo.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{}
			for _, s := range bi.Settings {
				settings[s.Key] = s.Value
			}
			want := map[string]string{"-trimpath": "true", "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": tg.goarch, "-buildmode": "exe"}
			if tg.goarch == "arm" {
				want["GOARM"] = "7"
			}
			for k, v := range want {
				if settings[k] != v {
					t.Errorf("built with %s=%q, want %q", k, settings[k], v)
				}
			}
			for k := range settings {
				if strings.HasPrefix(k, "vcs") {
					t.Errorf("build info has %s: the checkout's state must not change the bytes", k)
				}
			}
			if out, err := exec.Command("go", "tool", "buildid", path).Output(); err != nil || strings.TrimSpace(string(out)) != "" {
				t.Errorf("go tool buildid: %q %v, want no build id", out, err)
			}
			out, err := runArch(t, tg, path, "--version").CombinedOutput()
			if err != nil || string(out) != "drover "+version+"\n" {
				t.Errorf("drover --version: %q %v, want %q", out, err, "drover "+version+"\n")
			}
		})
	}
}

// sha256File is the hex SHA-256 of a file.
func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// SHA256SUMS lists every other file of the release, with the right sum,
// in the format `sha256sum -c` reads.
func TestChecksums(t *testing.T) {
	sums := artifact(t, "SHA256SUMS")
	f, err := os.Open(sums)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("SHA256SUMS line %q is not `sha256sum` output", sc.Text())
		}
		listed[name] = true
		if got := sha256File(t, filepath.Join(outDir, name)); got != sum {
			t.Errorf("%s: sha256 %s, SHA256SUMS says %s", name, got, sum)
		}
	}
	entries, err := os.ReadDir(outDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if e.Name() != "SHA256SUMS" && !listed[e.Name()] {
			t.Errorf("SHA256SUMS does not list %s", e.Name())
		}
	}
	// Every artifact the release promises is there.
	for _, tg := range targets {
		for _, n := range []string{tg.binary(), tg.binary() + ".cdx.json", tg.debFile(), tg.rpmFile(), tg.apkFile()} {
			if !slices.Contains(names, n) {
				t.Errorf("the release has no %s", n)
			}
		}
	}
	if !slices.Contains(names, "drover-image.oci.tar") {
		t.Errorf("the release has no drover-image.oci.tar")
	}
	cmd := exec.Command("sha256sum", "--check", "--strict", "--quiet", "SHA256SUMS")
	cmd.Dir = outDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum --check: %v\n%s", err, out)
	}
}

// cdx is the part of a CycloneDX document the test reads.
type cdx struct {
	BOMFormat   string `json:"bomFormat"`
	SpecVersion string `json:"specVersion"`
	Metadata    struct {
		Component  component `json:"component"`
		Properties []struct {
			Name, Value string
		} `json:"properties"`
	} `json:"metadata"`
	Components []component `json:"components"`
}

type component struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Type    string `json:"type"`
}

// Each SBOM names the binary by its hash, drover by the release's version,
// and every module and the Go version the binary was linked from.
func TestSBOMs(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.goarch, func(t *testing.T) {
			bin := artifact(t, tg.binary())
			b, err := os.ReadFile(artifact(t, tg.binary()+".cdx.json"))
			if err != nil {
				t.Fatal(err)
			}
			var doc cdx
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("SBOM is not JSON: %v", err)
			}
			if doc.BOMFormat != "CycloneDX" || doc.SpecVersion == "" {
				t.Errorf("bomFormat %q specVersion %q, want CycloneDX", doc.BOMFormat, doc.SpecVersion)
			}
			if c := doc.Metadata.Component; c.Name != "github.com/drover-init/drover" || c.Version != version || c.Type != "application" {
				t.Errorf("main component %+v, want the application github.com/drover-init/drover %s", c, version)
			}
			props := map[string]string{}
			for _, p := range doc.Metadata.Properties {
				props[p.Name] = p.Value
			}
			if got, want := props["cdx:gomod:binary:hash:SHA-256"], sha256File(t, bin); got != want {
				t.Errorf("SBOM names binary sha256 %q, the binary is %s", got, want)
			}
			if got := props["cdx:gomod:build:env:GOARCH"]; got != tg.goarch {
				t.Errorf("SBOM GOARCH %q", got)
			}
			have := map[string]string{}
			for _, c := range doc.Components {
				have[c.Name] = c.Version
			}
			bi, err := buildinfo.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range bi.Deps {
				if have[d.Path] != d.Version {
					t.Errorf("module %s %s is linked in but the SBOM has %q", d.Path, d.Version, have[d.Path])
				}
			}
			if got, want := have["std"], bi.GoVersion; got != want {
				t.Errorf("SBOM std %q, binary built with %s", got, want)
			}
			if len(bi.Deps) < 5 {
				t.Errorf("only %d modules in the build info: %v", len(bi.Deps), bi.Deps)
			}
		})
	}
}
