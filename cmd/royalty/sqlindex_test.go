package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openroyalty/royalty/internal/pgtest"
)

// TestIngestWithSQLIndex: ROYALTY_INDEX=sql makes ingest write the posts' fingerprints with the
// posts; --reconcile --index=sql writes those of posts ingested before; an unknown index is
// refused naming the flag and its variable.
func TestIngestWithSQLIndex(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	pool := openPool(t, dsn)
	count := func() (posts, fps int) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT (SELECT count(DISTINCT post_id) FROM attribution_fingerprints), (SELECT count(*) FROM attribution_fingerprints)`).Scan(&posts, &fps); err != nil {
			t.Fatal(err)
		}
		return posts, fps
	}
	sample := filepath.Join("..", "..", "indexer", "testdata", "sample", "posts.jsonl")
	args := []string{"ingest", "--database-url", dsn, "--data-dir", t.TempDir(), "--format", "jsonl", "--progress", "none", sample}
	// Without --index the fingerprints stay in the process.
	if out, err := runCmd(t, ctx, args...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if p, n := count(); p != 0 || n != 0 {
		t.Fatalf("--index=memory wrote %d fingerprints of %d posts to the database", n, p)
	}
	out, err := runCmd(t, ctx, "ingest", "--database-url", dsn, "--data-dir", t.TempDir(), "--reconcile", "--index", "sql")
	if err != nil || !strings.Contains(out, "fingerprints of 16 posts written") {
		t.Fatalf("reconcile --index=sql: %v\n%s", err, out)
	}
	p1, n1 := count()
	if p1 == 0 || n1 < p1 {
		t.Fatalf("after the backfill: %d fingerprints of %d posts", n1, p1)
	}

	dsn2 := pgtest.NewDatabase(t)
	args[2] = dsn2
	t.Setenv("ROYALTY_INDEX", "sql")
	if out, err := runCmd(t, ctx, args...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	pool = openPool(t, dsn2)
	if p2, n2 := count(); p2 != p1 || n2 != n1 {
		t.Errorf("ingest with ROYALTY_INDEX=sql wrote %d fingerprints of %d posts; the backfill %d of %d", n2, p2, n1, p1)
	}

	t.Setenv("ROYALTY_INDEX", "bogus")
	_, err = runCmd(t, ctx, args...)
	if err == nil || !strings.Contains(err.Error(), "--index (env ROYALTY_INDEX)") || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("ROYALTY_INDEX=bogus: %v", err)
	}
}
