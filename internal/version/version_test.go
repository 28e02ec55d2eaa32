package version

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "royalty (unknown build)"},
		{"go test", &debug.BuildInfo{GoVersion: "go1.26.8"}, "royalty (devel) (go1.26.8)"},
		{"release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}},
			"royalty v1.2.3 (go1.26.8)"},
		{"checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs", "git", "vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-01-02T03:04:05Z", "vcs.modified", "true")},
			"royalty (devel) (rev 0123456789ab, 2026-01-02T03:04:05Z, modified, go1.26.8)"},
		{"clean checkout", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260102030405-0123456789ab"},
			Settings: vcs("vcs.revision", "abc", "vcs.modified", "false")},
			"royalty v0.0.0-20260102030405-0123456789ab (rev abc)"},
	}
	for _, tt := range tests {
		if got := Describe("royalty", tt.bi); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestEveryBinaryHasVersion checks that every command under cmd/ offers --version: the cobra
// root sets Version, the flag-package programs call Flag.
func TestEveryBinaryHasVersion(t *testing.T) {
	mains, err := filepath.Glob(filepath.Join("..", "..", "cmd", "*", "main.go"))
	if err != nil || len(mains) < 2 {
		t.Fatalf("found %v, %v", mains, err)
	}
	for _, m := range mains {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		if !strings.Contains(src, "func main()") {
			continue
		}
		if !strings.Contains(src, "version.Flag(") && !strings.Contains(src, "version.String(") {
			t.Errorf("%s: no --version (call version.Flag before flag.Parse)", m)
		}
	}
}
