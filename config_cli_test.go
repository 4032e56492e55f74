package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

// --help lists every variable with its default, straight from the struct.
func TestUsageListsEveryVariable(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--help"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	vars := configVars()
	if len(vars) != 28 {
		t.Errorf("%d variables, want 28", len(vars))
	}
	for _, v := range vars {
		re := regexp.MustCompile(`(?m)^  ` + v.Key + ` \(default: ` + regexp.QuoteMeta(v.shown()) + `\)\n      .+; accepted: .+$`)
		if !re.Match(out.Bytes()) {
			t.Errorf("--help does not list %s", v.Key)
		}
		if v.Accept == "" || v.Desc == "" {
			t.Errorf("%s lacks an accept or desc tag", v.Key)
		}
	}
}

func TestStartErrorIsOneLineInTheLogFormat(t *testing.T) {
	err := errors.New("DROVER_WORKERS=\"x\" is not valid\nsecond line")
	var text bytes.Buffer
	startError("text", &text, err)
	if got := text.String(); got != "drover: DROVER_WORKERS=\"x\" is not valid second line\n" {
		t.Errorf("text: %q", got)
	}
	var js bytes.Buffer
	startError("json", &js, err)
	var rec map[string]any
	if json.Unmarshal(js.Bytes(), &rec) != nil || strings.Count(js.String(), "\n") != 1 ||
		rec["level"] != "ERROR" || !strings.HasPrefix(rec["msg"].(string), "DROVER_WORKERS=") {
		t.Errorf("json: %q", js.String())
	}
}

func TestStartLogFormat(t *testing.T) {
	for _, tc := range []struct {
		environ []string
		want    string
	}{
		{nil, "text"},
		{[]string{"DROVER_LOG_FORMAT=json"}, "json"},
		{[]string{"DROVER_LOG_FORMAT= json "}, "json"},
		{[]string{"DROVER_LOG_FORMAT=xml"}, "text"},
		{[]string{"DROVER_LOG_FORMAT=", "DROVER_LOG_FORMAT=json"}, "json"},
	} {
		if got := startLogFormat(tc.environ); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.environ, got, tc.want)
		}
	}
}

// A bad configuration leaves run through startError: one line, exit 2, in
// JSON when asked even though another variable is bad.
func TestRunRefusesBadConfigInJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"true"}, []string{"DROVER_LOG_FORMAT=json", "DROVER_USER=-1"}, &out, &errOut)
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
		var out, errOut bytes.Buffer
		code := run(tc.args, []string{"DROVER_HEALTH_ADDR=off"}, &out, &errOut)
		want := "drover: the health server is off (DROVER_HEALTH_ADDR=off); drover " + tc.verb + " needs it\n"
		if code != 1 || errOut.String() != want || out.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errOut.String())
		}
	}
}

func TestHealthAddrForVerbs(t *testing.T) {
	for _, tc := range []struct {
		environ []string
		want    string
	}{
		{nil, ":8081"},
		{[]string{"DROVER_HEALTH_ADDR="}, ":8081"},
		{[]string{"DROVER_HEALTH_ADDR=127.0.0.1:9"}, "127.0.0.1:9"},
		{[]string{"DROVER_HEALTH_ADDR= off"}, ""},
	} {
		if got := healthAddr(tc.environ); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.environ, got, tc.want)
		}
	}
}

func TestLoggerFormats(t *testing.T) {
	var b bytes.Buffer
	log := newLogger("text", slog.LevelInfo, &b).With("worker", 1)
	log.Debug("hidden")
	log.Info("started", "pid", 42, "cmd", "sh -c x", "empty", "")
	log.Warn("slow")
	log.WithGroup("g").Error("failed", "err", errors.New("a=b"))
	want := "drover: started worker=1 pid=42 cmd=\"sh -c x\" empty=\"\"\n" +
		"drover: warning: slow worker=1\n" +
		"drover: error: failed worker=1 err=\"a=b\"\n"
	if b.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	newLogger("json", slog.LevelWarn, &b).Info("hidden")
	newLogger("json", slog.LevelWarn, &b).Warn("shown", "n", 1)
	var rec map[string]any
	if json.Unmarshal(b.Bytes(), &rec) != nil || rec["msg"] != "shown" || rec["n"] != 1.0 {
		t.Errorf("json: %q", b.String())
	}
}

func TestVerbUsage(t *testing.T) {
	for _, args := range [][]string{{"status", "x"}, {"probe"}, {"probe", "health"}} {
		var out, errOut bytes.Buffer
		if code := run(args, nil, &out, &errOut); code != 2 || !strings.HasPrefix(errOut.String(), "drover: usage: drover ") {
			t.Errorf("%v: exit %d, %q", args, code, errOut.String())
		}
	}
}
