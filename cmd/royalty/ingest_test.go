package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openroyalty/royalty/internal/pgtest"
)

func TestIngestSampleCorpus(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	dataDir := t.TempDir()
	sample := filepath.Join("..", "..", "indexer", "testdata", "sample", "posts.jsonl")
	args := []string{"ingest", "--database-url", dsn, "--data-dir", dataDir, "--format", "jsonl", "--progress", "none", sample}
	out, err := runCmd(t, context.Background(), args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Log(out)
	if !strings.Contains(out, "posts:      16 read, 16 new, 0 updated, 0 unchanged, 0 rejected") {
		t.Errorf("first run:\n%s", out)
	}
	out, err = runCmd(t, context.Background(), args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "posts:      16 read, 0 new, 0 updated, 16 unchanged, 0 rejected") {
		t.Errorf("second run:\n%s", out)
	}
}

func TestIngestRealDumpsSmoke(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	dataDir := t.TempDir()
	args := []string{"ingest", "--database-url", dsn, "--data-dir", dataDir, "--format", "stackexchange", "--progress", "log", "--log-every", "100ms", "../../../shared/data/stackexchange/bicycles.meta", "../../../shared/data/stackexchange/conlang.meta"}
	out, err := runCmd(t, context.Background(), args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Log(out)
}
