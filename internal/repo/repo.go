// Package repo finds the repository root and the shared data beside it, for tests and
// benchmarks that read the real crawl dumps kept outside the repository, in ../shared/data
// beside its root, and never copied into it.
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

// RequireSharedData returns SharedData(rel). When it is absent the test is skipped (a user's
// clone without the shared data beside it), except under CI=true, where the data is always
// there and its absence fails the test rather than letting it pass unseen.
func RequireSharedData(t testing.TB, rel string) string {
	t.Helper()
	p := SharedData(rel)
	if p == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("../shared/data/%s is missing, and CI=true requires it", rel)
		}
		t.Skipf("../shared/data/%s is missing", rel)
	}
	return p
}
