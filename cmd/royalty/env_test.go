package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestHelpShowsNoSecrets sets the ROYALTY_* variables secrets come from and reads the help of
// `royalty` and of every subcommand (found through the "Available Commands" of each help): none
// may print a value from the environment, and each names the variables of its flags. (Flags
// used to default to their variables, so --help printed the database password.)
func TestHelpShowsNoSecrets(t *testing.T) {
	const secret = "s3cretPW-from-the-environment"
	for _, name := range []string{"ROYALTY_DATABASE_URL", "ROYALTY_API_KEY", "ROYALTY_API_KEY_FILE",
		"ROYALTY_SIGNING_KEY_FILE", "ROYALTY_TLS_KEY", "ROYALTY_DATA_DIR", "ROYALTY_SAMPLE_DATA"} {
		t.Setenv(name, "postgres://royalty:"+secret+"@db.internal:5432/royalty")
	}
	queue, seen := [][]string{{}}, 0
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		seen++
		var out bytes.Buffer
		if err := run(context.Background(), append(append([]string{}, path...), "--help"), &out, &out); err != nil {
			t.Fatalf("royalty %s --help: %v", strings.Join(path, " "), err)
		}
		help := out.String()
		if strings.Contains(help, secret) {
			t.Errorf("royalty %s --help shows a value from the environment:\n%s", strings.Join(path, " "), help)
		}
		if !strings.Contains(help, "(env ROYALTY_DATABASE_URL)") {
			t.Errorf("royalty %s --help does not name the variable of --database-url", strings.Join(path, " "))
		}
		_, cmds, ok := strings.Cut(help, "Available Commands:\n")
		if !ok {
			continue
		}
		cmds, _, _ = strings.Cut(cmds, "\n\n")
		for _, line := range strings.Split(cmds, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] != "help" && f[0] != "completion" {
				queue = append(queue, append(append([]string{}, path...), f[0]))
			}
		}
	}
	if seen < 10 {
		t.Errorf("read the help of %d commands; the walk missed some", seen)
	}
}
