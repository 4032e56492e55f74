package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/drover-init/drover/internal/config"
	"github.com/drover-init/drover/internal/cpus"
	"github.com/drover-init/drover/spawn"
)

// setenv makes the process environment hold exactly these DROVER_*
// variables for the rest of the test: drover reads its own environment.
func setenv(t *testing.T, environ ...string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "DROVER_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// --help is the usage and every variable (internal/config tests the list).
func TestHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--help"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var vars bytes.Buffer
	config.Usage(&vars)
	if !strings.HasPrefix(out.String(), usageText) || !strings.HasSuffix(out.String(), "\nEnvironment:\n"+vars.String()) {
		t.Errorf("--help:\n%s", out.String())
	}
}

func TestStartErrorIsOneLineInTheLogFormat(t *testing.T) {
	err := errors.New("DROVER_WORKERS=\"x\" is not valid\nsecond line")
	var text bytes.Buffer
	startError(config.TextLog, &text, err)
	if got := text.String(); got != "drover: DROVER_WORKERS=\"x\" is not valid\\nsecond line\n" {
		t.Errorf("text: %q", got)
	}
	var js bytes.Buffer
	startError(config.JSONLog, &js, err)
	var rec map[string]any
	if json.Unmarshal(js.Bytes(), &rec) != nil || strings.Count(js.String(), "\n") != 1 ||
		rec["level"] != "ERROR" || !strings.HasPrefix(rec["msg"].(string), "DROVER_WORKERS=") {
		t.Errorf("json: %q", js.String())
	}
}

// A bad configuration leaves run through startError: one line, exit 2, in
// JSON when asked even though another variable is bad.
func TestRunRefusesBadConfigInJSON(t *testing.T) {
	setenv(t, "DROVER_LOG_FORMAT=json", "DROVER_USER=-1")
	var out, errOut bytes.Buffer
	code := run([]string{"true"}, &out, &errOut)
	var rec map[string]any
	if code != 2 || json.Unmarshal(errOut.Bytes(), &rec) != nil || !strings.Contains(rec["msg"].(string), "DROVER_USER") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestVerbsWithHealthOff(t *testing.T) {
	for _, tc := range []struct {
		args []string
		verb string
	}{{[]string{"status"}, "status"}, {[]string{"probe", "livez"}, "probe"}} {
		setenv(t, "DROVER_HEALTH_ADDR=off")
		var out, errOut bytes.Buffer
		code := run(tc.args, &out, &errOut)
		want := "drover: the health server is off (DROVER_HEALTH_ADDR=off); drover " + tc.verb + " needs it\n"
		if code != 1 || errOut.String() != want || out.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errOut.String())
		}
	}
}

func TestLoggerFormats(t *testing.T) {
	var b bytes.Buffer
	out := newLogger(config.TextLog, config.LogLevel(slog.LevelInfo), &b)
	log := out.Logger().With("worker", 1)
	log.Debug("hidden")
	log.Info("started", "pid", 42, "cmd", "sh -c x", "empty", "")
	log.Warn("slow")
	log.WithGroup("g").Error("failed", "err", errors.New("a=b"))
	out.Close(time.Second)
	want := "drover: started worker=1 pid=42 cmd=\"sh -c x\" empty=\"\"\n" +
		"drover: warning: slow worker=1\n" +
		"drover: error: failed worker=1 err=\"a=b\"\n"
	if b.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	out = newLogger(config.JSONLog, config.LogLevel(slog.LevelWarn), &b)
	out.Logger().Info("hidden")
	out.Logger().Warn("shown", "n", 1)
	out.Close(time.Second)
	var rec map[string]any
	if json.Unmarshal(b.Bytes(), &rec) != nil || rec["msg"] != "shown" || rec["n"] != 1.0 {
		t.Errorf("json: %q", b.String())
	}
}

// config's words are cast straight to the types of the packages that act
// on them (config imports none of drover's packages), so each list must
// match word for word: an unknown rounding would act as ceil and an
// unknown policy as always, with nothing to say so.
func TestConfigWordsAreThePackagesWords(t *testing.T) {
	for _, c := range [][2]string{
		{string(config.Ceil), string(cpus.Ceil)},
		{string(config.Floor), string(cpus.Floor)},
		{string(config.Nearest), string(cpus.Nearest)},
		{string(config.Always), string(spawn.Always)},
		{string(config.OnFailure), string(spawn.OnFailure)},
		{string(config.Never), string(spawn.Never)},
	} {
		if c[0] != c[1] {
			t.Errorf("config has %q where the package has %q", c[0], c[1])
		}
	}
}

func TestVerbUsage(t *testing.T) {
	for _, args := range [][]string{{"status", "x"}, {"probe"}, {"probe", "health"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 || !strings.HasPrefix(errOut.String(), "drover: usage: drover ") {
			t.Errorf("%v: exit %d, %q", args, code, errOut.String())
		}
	}
}

// DROVER_LISTEN's items are checked by listener.Parse right after the
// configuration, with the same one line and exit 2 as any bad value.
func TestRunRefusesBadListen(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"foo", `drover: DROVER_LISTEN: "foo": not an address: expected host:port or a URL (accepted: [name=]tcp://host:port, host:port, :port, unix:///abs/path, fd://N, fd://NAME)` + "\n"},
		{":8080,:8080", `drover: DROVER_LISTEN: ":8080": same address as "tcp://:8080" (accepted: [name=]tcp://host:port, host:port, :port, unix:///abs/path, fd://N, fd://NAME)` + "\n"},
		{"tcp://:99999", `drover: DROVER_LISTEN: "tcp://:99999": port must be 1-65535 (or 0 for a port the kernel chooses) (accepted: [name=]tcp://host:port, host:port, :port, unix:///abs/path, fd://N, fd://NAME)` + "\n"},
		{"tcp//:80", `drover: DROVER_LISTEN: "tcp//:80": a URL needs "://" after the scheme (unix:///abs/path has three slashes) (accepted: [name=]tcp://host:port, host:port, :port, unix:///abs/path, fd://N, fd://NAME)` + "\n"},
	} {
		setenv(t, "DROVER_LISTEN="+tc.value)
		var out, errOut bytes.Buffer
		if code := run([]string{"true"}, &out, &errOut); code != 2 || errOut.String() != tc.want {
			t.Errorf("%q: exit %d, stderr\n%s\nwant\n%s", tc.value, code, errOut.String(), tc.want)
		}
	}
}

// docs/design.md's layout table names exactly the packages `go list ./...`
// shows, so the design cannot drift from the tree.
func TestDesignLayoutIsGoList(t *testing.T) {
	out, err := exec.Command("go", "list", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/drover-init/drover"
	want := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		if p == module {
			p = "main"
		}
		want[strings.TrimPrefix(p, module+"/")] = true
	}
	b, err := os.ReadFile("docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(b)[strings.Index(string(b), "## 2. Code layout"):strings.Index(string(b), "## 3. ")]
	got := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, "|")[1]
		first, _, _ = strings.Cut(first, " (")
		for _, name := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(first, -1) {
			got[name[1]] = true
		}
	}
	for p := range want {
		if !got[p] {
			t.Errorf("docs/design.md's layout table lacks package %s", p)
		}
	}
	for p := range got {
		if !want[p] {
			t.Errorf("docs/design.md's layout table names %s, which go list does not show", p)
		}
	}
}
