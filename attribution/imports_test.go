package attribution_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the domain free of adapters: nothing under attribution/ may depend on
// Bleve, a database driver or gRPC (ARCHITECTURE.md).
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/blevesearch/bleve", "github.com/jackc/pgx", "google.golang.org/grpc"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("attribution depends on %s", dep)
			}
		}
	}
}
