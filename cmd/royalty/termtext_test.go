package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/internal/pgtest"
)

// hostile holds what a post or a server could send to take over a terminal.
const hostile = "\x1b]0;pwned\x07\x1b[2J\x00\u202eevil\u202c\u009b31m\r"

// checkTerminal fails when out holds a control character other than newline and tab, or a
// bidi override.
func checkTerminal(t *testing.T, what, out string) {
	t.Helper()
	for _, r := range out {
		if r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r <= 0x9f || r >= 0x202a && r <= 0x202e {
			t.Errorf("%s prints %U:\n%q", what, r, out)
			return
		}
	}
}

func TestTerminalOutputIsClean(t *testing.T) {
	var buf bytes.Buffer
	d := &demo{stdout: &buf}
	d.head("step with %s", hostile)
	d.say("    post %s: %q", "x:s/1"+hostile, "text"+hostile)
	d.say("        come from post %s %s", "x:s/1"+hostile, "https://e.example/"+hostile)
	checkTerminal(t, "demo", buf.String())
	if !strings.Contains(buf.String(), "come from post x:s/1") {
		t.Errorf("demo output lost its text: %q", buf.String())
	}

	buf.Reset()
	printSummary(&buf, indexer.Summary{
		Records: 2, Rejected: 1, Skipped: 1, SkipReasons: map[string]int{"reason" + hostile: 1},
		Errors: []*indexer.RecordError{{Pos: indexer.Position{File: "crawl" + hostile + ".jsonl", Line: 3}, PostID: "x:s/" + hostile, Message: "bad\nline" + hostile}},
	}, 0, time.Second)
	checkTerminal(t, "the ingest summary", buf.String())
	if !strings.Contains(buf.String(), "    crawl") || !strings.Contains(buf.String(), "bad line") {
		t.Errorf("the ingest summary does not keep a rejected record on one line:\n%s", buf.String())
	}

	buf.Reset()
	reportError(errors.New("server says "+hostile), false, &buf)
	checkTerminal(t, "an error", buf.String())
}

// TestKeysListCleansNames lists a principal whose name (set by an admin over the API) holds
// what auth's validation lets through: a C1 control sequence and a bidi override.
func TestKeysListCleansNames(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	out, err := runCmd(t, ctx, "keys", "create", "--role", "admin", "--name", "ops\u009b2J\u202eevil", "--database-url", dsn)
	if err != nil {
		t.Fatal(err)
	}
	checkTerminal(t, "keys create", out)
	out, err = runCmd(t, ctx, "keys", "list", "--database-url", dsn)
	if err != nil || !strings.Contains(out, "ops") {
		t.Fatalf("keys list: %v\n%s", err, out)
	}
	checkTerminal(t, "keys list", out)
}
