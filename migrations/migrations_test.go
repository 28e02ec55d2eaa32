package migrations_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path"
	"slices"
	"testing"

	"github.com/openroyalty/royalty/internal/pgtest"
	"github.com/openroyalty/royalty/migrations"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestApplyIsIdempotent(t *testing.T) {
	dsn := pgtest.NewDatabase(t) // already migrated once
	ctx := context.Background()
	res, err := migrations.Apply(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != 0 || res.To != migrations.Latest() {
		t.Fatalf("second Apply = %+v, want nothing applied at version %d", res, migrations.Latest())
	}
}

func TestApplyFromScratch(t *testing.T) {
	srv := pgtest.Server(t)
	ctx := context.Background()
	dsn, err := srv.CreateDatabase(ctx, "scratch", "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := migrations.Apply(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.From != 0 || res.To != migrations.Latest() || res.Applied == 0 {
		t.Fatalf("Apply on an empty database = %+v", res)
	}
}

// TestSourceVariants checks the CockroachDB variants: each replaces a migration of the same
// name (no version exists on one engine only), and the CockroachDB source serves it in place of
// the original while PostgreSQL's serves the original.
func TestSourceVariants(t *testing.T) {
	pg, crdb := migrations.Source(migrations.PostgreSQL), migrations.Source(migrations.CockroachDB)
	names := func(fsys fs.FS) []string {
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			if e.IsDir() {
				t.Fatalf("directory %s listed among the migrations", e.Name())
			}
			out = append(out, e.Name())
		}
		return out
	}
	if a, b := names(pg), names(crdb); !slices.Equal(a, b) {
		t.Fatalf("the engines see different migrations:\n%v\n%v", a, b)
	}
	variants, err := fs.Glob(os.DirFS("."), "cockroachdb/*.sql")
	if err != nil || len(variants) == 0 {
		t.Fatalf("no CockroachDB variants found: %v", err)
	}
	for _, v := range variants {
		name := path.Base(v)
		want, err := os.ReadFile(v)
		if err != nil {
			t.Fatal(err)
		}
		orig, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("variant %s replaces no migration: %v", v, err)
		}
		if got, _ := fs.ReadFile(crdb, name); !bytes.Equal(got, want) {
			t.Errorf("CockroachDB source serves %s without its variant", name)
		}
		if got, _ := fs.ReadFile(pg, name); !bytes.Equal(got, orig) {
			t.Errorf("PostgreSQL source serves %s changed", name)
		}
	}
}

// The portability rules (one statement per file, nothing CockroachDB rejects or runs
// differently) are checked for every migration, and for the SQL in the Go code, by
// internal/crdbcheck's TestRepository.
