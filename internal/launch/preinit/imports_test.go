package preinit

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The shim is fast only while this package's initializer runs before the
// heavy packages of drover, which holds only while it imports nothing that
// Go initializes late: std packages sorting after "github.com" (strings,
// strconv, ...) wait behind everything that sorts before them. os and
// syscall are initialized early because the runtime's own early packages
// need them. Check with: GODEBUG=inittrace=1 _DROVER_SHIM_EXEC=/bin/true drover
func TestImportsStayMinimal(t *testing.T) {
	allowed := map[string]bool{"os": true, "syscall": true, "errors": true}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !allowed[p] {
				t.Errorf("%s imports %s: the shim's initializer would run after drover's heavy packages", f, p)
			}
		}
	}
}
