package crdbcheck_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/openroyalty/royalty/internal/crdbcheck"
)

// moduleRoot finds the directory of go.mod above the test's directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// TestRepository is the CockroachDB compatibility check: every migration and every SQL string
// of the Go code, against every rule, less the allow-list.
func TestRepository(t *testing.T) {
	rep, err := crdbcheck.ScanRepository(moduleRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	// The scan must have seen what it checks, or it would pass by seeing nothing.
	if rep.Migrations < 30 || rep.Strings < 50 || !slices.Contains(rep.Numeric, "amount") {
		t.Fatalf("the scan saw %d migrations, %d SQL strings and NUMERIC columns %v: it is not reading the repository",
			rep.Migrations, rep.Strings, rep.Numeric)
	}
	t.Logf("checked %d migrations and %d SQL strings; NUMERIC columns %v", rep.Migrations, rep.Strings, rep.Numeric)
	rest, unused := crdbcheck.Filter(crdbcheck.Allowed, rep.Findings)
	for _, f := range rest {
		t.Errorf("%s", f)
	}
	for _, a := range unused {
		t.Errorf("internal/crdbcheck/allow.go: the entry for %s [%s] %q allows nothing any more: remove it", a.File, a.Rule, a.Contains)
	}
	if len(rest) > 0 {
		t.Logf("CockroachDB compatibility: %d findings. Fix the SQL, or, if it is right on both engines, add a narrow entry with its reason to internal/crdbcheck/allow.go (rules: internal/crdbcheck/rules.go, docs/design.md §3)", len(rest))
	}
}
