package main

import (
	"os"
	"strings"
	"testing"
)

// The README's variable table stays true: every variable drover reads is
// there, and nothing else.
func TestReadmeListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "| `DROVER_") {
			listed[strings.Trim(strings.Fields(l)[1], "`")] = true
		}
	}
	for _, v := range configVars() {
		if !listed[v.Key] {
			t.Errorf("README.md does not list %s", v.Key)
		}
		delete(listed, v.Key)
	}
	for k := range listed {
		t.Errorf("README.md lists %s, which drover does not read", k)
	}
}
