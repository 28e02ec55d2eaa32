package main

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"testing"

	"github.com/openroyalty/royalty/auth"
	authpg "github.com/openroyalty/royalty/auth/postgres"
	"github.com/openroyalty/royalty/claims"
	claimspg "github.com/openroyalty/royalty/claims/postgres"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
)

// TestExportClaims writes the claims CSV and finds each claim's proof kind in it.
func TestExportClaims(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	p, _, _, err := authpg.New(pool).CreatePrincipal(ctx, "ana", auth.RoleContributor)
	if err != nil {
		t.Fatal(err)
	}
	svc := claims.NewService(claimspg.New(pool), nil, nil)
	approved, err := svc.Start(ctx, p.ID, "hn:/ana")
	if err != nil {
		t.Fatal(err)
	}
	// No escrow is waiting: the release records nothing, so the ledger is not needed.
	if _, err := claimspg.New(pool).MarkVerified(ctx, approved.ID, claims.ProofAdmin, "admin:x", ""); err != nil {
		t.Fatal(err)
	}
	pending, err := svc.Start(ctx, p.ID, "https://www.reddit.com/user/ana")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "claims.csv")
	if msg, err := runCmd(t, ctx, "export", "claims", "--out", out, "--database-url", dsn); err != nil {
		t.Fatalf("export claims: %v\n%s", err, msg)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0][4] != "proof_kind" {
		t.Fatalf("export = %v", rows)
	}
	got := map[string][]string{}
	for _, r := range rows[1:] {
		got[r[0]] = r
	}
	if r := got[approved.ID]; r[2] != "hn:/ana" || r[3] != "verified" || r[4] != "admin" || r[5] != "admin:x" {
		t.Errorf("approved claim row = %v", r)
	}
	if r := got[pending.ID]; r[2] != "reddit:/ana" || r[3] != "pending" || r[4] != "" {
		t.Errorf("pending claim row = %v", r)
	}
}
