package poller

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPollerNeverSeesTheCollector: the poller reaches observations only
// through the ledger's typed methods, which own the collector
// (docs/design.md, "One owner per job"). Its tests may build a collector's
// options; its code may not import the package.
func TestPollerNeverSeesTheCollector(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); path == "github.com/teams-exporter/teams-exporter/collector" {
				t.Errorf("%s imports %s: go through the ledger's typed methods", name, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no source file checked")
	}
}
