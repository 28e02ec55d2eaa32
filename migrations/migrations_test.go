package migrations_test

import (
	"context"
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
