// Package repo finds the repository root and the shared data beside it, for tests and
// benchmarks that read ../shared/data (HELPERS.md: never copied into the repository).
package repo

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Root returns the directory holding go.mod, walking up from the working directory.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// SharedData returns ../shared/data/<rel> relative to the repository root, or "" when it does
// not exist.
func SharedData(rel string) string {
	root, err := Root()
	if err != nil {
		return ""
	}
	p := filepath.Join(root, "..", "shared", "data", rel)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// RequireSharedData returns SharedData(rel) and skips the test when it is absent (a clone
// without the shared data beside it).
func RequireSharedData(t testing.TB, rel string) string {
	t.Helper()
	p := SharedData(rel)
	if p == "" {
		t.Skipf("../shared/data/%s is missing", rel)
	}
	return p
}
