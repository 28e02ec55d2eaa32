package ledger_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDomainImports keeps package ledger a domain package: the standard library, decimal, the
// ISO 4217 tables and the royalty error type, nothing else (no pgx, no gRPC).
func TestDomainImports(t *testing.T) {
	allowed := map[string]bool{
		"github.com/shopspring/decimal":  true,
		"github.com/bojanz/currency":     true,
		"github.com/openroyalty/royalty": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.Contains(path, ".") && !allowed[path] {
				t.Errorf("%s imports %s: package ledger may import only the standard library, decimal, bojanz/currency (ISO 4217 List One) and royalty", f, path)
			}
		}
	}
}
