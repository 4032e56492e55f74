package config

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

// --help lists every variable with its default, what it accepts and what
// it means, straight from the struct.
func TestUsageListsEveryVariable(t *testing.T) {
	var out bytes.Buffer
	Usage(&out)
	vars := Vars()
	if len(vars) != 29 {
		t.Errorf("%d variables, want 29", len(vars))
	}
	for _, v := range vars {
		re := regexp.MustCompile(`(?m)^  ` + v.Key + ` \(default: ` + regexp.QuoteMeta(v.Shown) + `\)\n      .+; accepted: .+$`)
		if !re.Match(out.Bytes()) {
			t.Errorf("--help does not list %s", v.Key)
		}
		if v.Accept == "" || v.Desc == "" {
			t.Errorf("%s lacks what it accepts or what it means", v.Key)
		}
	}
	for _, want := range []string{
		"DROVER_WORKERS (default: auto with DROVER_LISTEN, else 1)", "accepted: auto, or a whole number from 1 to 4096",
		"DROVER_CPU_FILE (default: unset)", "DROVER_STARTUP_TIMEOUT (default: 60s)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// The README's variable table stays true: every variable drover reads is
// there, and nothing else.
func TestReadmeListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "| `DROVER_") {
			listed[strings.Trim(strings.Fields(l)[1], "`")] = true
		}
	}
	for _, v := range Vars() {
		if !listed[v.Key] {
			t.Errorf("README.md does not list %s", v.Key)
		}
		delete(listed, v.Key)
	}
	for k := range listed {
		t.Errorf("README.md lists %s, which drover does not read", k)
	}
}
