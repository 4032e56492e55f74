package release

// The .deb, .rpm and .apk of every architecture: their metadata as
// dpkg-deb and rpm read it, and /usr/bin/drover inside, byte for byte the
// release binary. Installing them is in install_test.go.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// fields parses "Key: value" lines (dpkg-deb -I, rpm -qi), first wins.
func fields(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if k = strings.TrimSpace(k); ok && m[k] == "" {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func output(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(needCmd(t, name), args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

func TestDeb(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.deb, func(t *testing.T) {
			deb := artifact(t, tg.debFile())
			info := fields(output(t, "dpkg-deb", "-I", deb))
			for k, v := range map[string]string{"Package": "drover", "Version": pkgVersion("~") + "-1", "Architecture": tg.deb} {
				if info[k] != v {
					t.Errorf("dpkg-deb -I: %s: %q, want %q", k, info[k], v)
				}
			}
			for _, k := range []string{"Maintainer", "Description", "Homepage"} {
				if info[k] == "" {
					t.Errorf("dpkg-deb -I: no %s", k)
				}
			}
			if info["Depends"] != "" {
				t.Errorf("Depends: %q: a static binary depends on nothing", info["Depends"])
			}
			files := output(t, "dpkg-deb", "-c", deb)
			if !regexp.MustCompile(`(?m)^-rwxr-xr-x root/root +\d+ .* \./usr/bin/drover$`).MatchString(files) {
				t.Errorf("dpkg-deb -c has no ./usr/bin/drover 0755 root:root:\n%s", files)
			}
			if n := strings.Count(files, "\n-"); n != 1 {
				t.Errorf("%d regular files in the package, want /usr/bin/drover only:\n%s", n, files)
			}
			tarball, err := exec.Command("dpkg-deb", "--fsys-tarfile", deb).Output()
			if err != nil {
				t.Fatal(err)
			}
			sameFile(t, tg, tarFile(t, tar.NewReader(bytes.NewReader(tarball)), "./usr/bin/drover"), "the .deb's /usr/bin/drover")
		})
	}
}

func TestRPM(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.rpm, func(t *testing.T) {
			rpm := artifact(t, tg.rpmFile())
			info := fields(output(t, "rpm", "-qip", rpm))
			for k, v := range map[string]string{"Name": "drover", "Version": pkgVersion("~"), "Release": "1", "Architecture": tg.rpm} {
				if info[k] != v {
					t.Errorf("rpm -qip: %s: %q, want %q", k, info[k], v)
				}
			}
			if info["Build Host"] != "drover-release" {
				t.Errorf("Build Host %q: the machine's name would make the package differ between machines", info["Build Host"])
			}
			// path size mtime sha256 mode owner group …
			dump := strings.Fields(output(t, "rpm", "-qp", "--dump", rpm))
			if len(dump) < 7 || dump[0] != "/usr/bin/drover" || dump[4] != "0100755" || dump[5] != "root" || dump[6] != "root" {
				t.Fatalf("rpm -qp --dump: %q, want /usr/bin/drover 0755 root:root alone", dump)
			}
			if want := sha256File(t, artifact(t, tg.binary())); dump[3] != want {
				t.Errorf("the .rpm's /usr/bin/drover has sha256 %s, the binary %s", dump[3], want)
			}
			if reqs := output(t, "rpm", "-qp", "--requires", rpm); regexp.MustCompile(`(?m)^[^r]|^r[^p]`).MatchString(reqs) {
				t.Errorf("requires more than rpmlib features: %q", reqs)
			}
		})
	}
}

// TestAPK reads the .apk as apk-tools does (no Alpine or apk-tools is
// available here to install it): gzip members for the control and data
// tars; .PKGINFO's datahash is the SHA-256 of the data member, and every
// file carries its SHA-1 in a PAX record.
func TestAPK(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.apk, func(t *testing.T) {
			b, err := os.ReadFile(artifact(t, tg.apkFile()))
			if err != nil {
				t.Fatal(err)
			}
			members := gzipMembers(t, b)
			if len(members) != 2 {
				t.Fatalf("%d gzip members, want control and data (unsigned)", len(members))
			}
			pkginfo := string(tarFile(t, tar.NewReader(gunzip(t, members[0])), ".PKGINFO"))
			info := map[string]string{}
			for _, l := range strings.Split(pkginfo, "\n") {
				if k, v, ok := strings.Cut(l, " = "); ok {
					info[k] = v
				}
			}
			apkVer := pkgVersion("_") + "-r1"
			for k, v := range map[string]string{"pkgname": "drover", "pkgver": apkVer, "arch": tg.apk} {
				if info[k] != v {
					t.Errorf(".PKGINFO %s = %q, want %q", k, info[k], v)
				}
			}
			// apk-tools' version grammar, so that `apk add` takes it.
			if !regexp.MustCompile(`^[0-9]+(\.[0-9]+)*[a-z]?(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]*)*-r[0-9]+$`).MatchString(info["pkgver"]) {
				t.Errorf("pkgver %q is not a version apk-tools accepts", info["pkgver"])
			}
			sum := sha256.Sum256(members[1])
			if info["datahash"] != hex.EncodeToString(sum[:]) {
				t.Errorf(".PKGINFO datahash %s, the data member's sha256 is %x", info["datahash"], sum)
			}
			tr := tar.NewReader(gunzip(t, members[1]))
			var regular []string
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if h.Typeflag != tar.TypeReg {
					continue
				}
				regular = append(regular, h.Name)
				body, err := io.ReadAll(tr)
				if err != nil {
					t.Fatal(err)
				}
				if h.Name != "usr/bin/drover" || h.Mode&0o777 != 0o755 || h.Uid != 0 || h.Gid != 0 {
					t.Errorf("%s mode %o uid %d gid %d, want usr/bin/drover 0755 root", h.Name, h.Mode, h.Uid, h.Gid)
				}
				if s1 := sha1.Sum(body); h.PAXRecords["APK-TOOLS.checksum.SHA1"] != hex.EncodeToString(s1[:]) {
					t.Errorf("%s: APK-TOOLS.checksum.SHA1 %q, content sha1 %x", h.Name, h.PAXRecords["APK-TOOLS.checksum.SHA1"], s1)
				}
				sameFile(t, tg, body, "the .apk's /usr/bin/drover")
			}
			if len(regular) != 1 {
				t.Errorf("files %v, want usr/bin/drover only", regular)
			}
		})
	}
}

// gzipMembers splits concatenated gzip streams into their raw bytes. A
// bytes.Reader is an io.ByteReader, so gzip reads no byte past a member's
// end and its Len tells where the next one starts.
func gzipMembers(t *testing.T, b []byte) [][]byte {
	t.Helper()
	r := bytes.NewReader(b)
	var out [][]byte
	for r.Len() > 0 {
		pos := len(b) - r.Len()
		z, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("gzip member at %d: %v", pos, err)
		}
		z.Multistream(false)
		if _, err := io.Copy(io.Discard, z); err != nil {
			t.Fatalf("gzip member at %d: %v", pos, err)
		}
		out = append(out, b[pos:len(b)-r.Len()])
	}
	return out
}

func gunzip(t *testing.T, b []byte) io.Reader {
	t.Helper()
	z, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// tarFile is the content of name in a tar stream.
func tarFile(t *testing.T, tr *tar.Reader, name string) []byte {
	t.Helper()
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no %s in the archive: %v", name, err)
		}
		if h.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// sameFile fails the test unless b is the release binary of tg.
func sameFile(t *testing.T, tg target, b []byte, what string) {
	t.Helper()
	bin, err := os.ReadFile(artifact(t, tg.binary()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, bin) {
		t.Errorf("%s (%d bytes) is not %s (%d bytes)", what, len(b), tg.binary(), len(bin))
	}
}
