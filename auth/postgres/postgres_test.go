package postgres_test

import (
	"context"
	"testing"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/auth/postgres"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newStore(t *testing.T) *postgres.Store {
	t.Helper()
	pool, err := pgdb.Open(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return postgres.New(pool)
}

func TestKeysLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	p, k, secret, err := s.CreatePrincipal(ctx, "acme", auth.RoleProvider)
	if err != nil {
		t.Fatal(err)
	}
	if !auth.WellFormedKey(secret) || k.Prefix != secret[:len(k.Prefix)] || k.PrincipalID != p.ID {
		t.Fatalf("key %+v secret %q", k, secret)
	}
	got, err := s.Authenticate(ctx, secret)
	if err != nil || got.ID != p.ID || got.Role != auth.RoleProvider {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	k2, secret2, err := s.CreateKey(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, secret); royalty.ErrorCode(err) != royalty.EUNAUTHENTICATED {
		t.Fatalf("revoked key: err = %v", err)
	}
	if _, err := s.Authenticate(ctx, secret2); err != nil {
		t.Fatalf("second key after revoking the first: %v", err)
	}
	keys, err := s.ListKeys(ctx, p.ID)
	if err != nil || len(keys) != 2 || keys[0].RevokedAt == nil || keys[1].ID != k2.ID || keys[1].RevokedAt != nil {
		t.Fatalf("ListKeys = %+v, %v", keys, err)
	}
	for _, bad := range []string{"", "rty_short", secret[:len(secret)-1] + "A", "Bearer " + secret2} {
		if _, err := s.Authenticate(ctx, bad); royalty.ErrorCode(err) != royalty.EUNAUTHENTICATED {
			t.Errorf("Authenticate(%q): err = %v, want unauthenticated", bad, err)
		}
	}
	if _, err := s.RevokeKey(ctx, "00000000-0000-0000-0000-000000000000"); royalty.ErrorCode(err) != royalty.ENOTFOUND {
		t.Errorf("revoking an unknown key: %v", err)
	}
	if _, _, err := s.CreateKey(ctx, "not-a-uuid"); royalty.ErrorCode(err) != royalty.ENOTFOUND {
		t.Errorf("key for an unknown principal: %v", err)
	}
}

func TestCreatePrincipalValidates(t *testing.T) {
	s := newStore(t)
	tests := []struct {
		name, pname string
		role        auth.Role
	}{
		{"empty name", " ", auth.RoleAdmin},
		{"control character", "a\x00b", auth.RoleAdmin},
		{"unknown role", "x", auth.Role("root")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := s.CreatePrincipal(context.Background(), tt.pname, tt.role); royalty.ErrorCode(err) != royalty.EINVALID {
				t.Fatalf("err = %v, want invalid", err)
			}
		})
	}
}

func TestListPrincipalsPages(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for _, r := range []auth.Role{auth.RoleAdmin, auth.RoleProvider, auth.RoleProvider, auth.RoleProvider, auth.RoleAuditor} {
		if _, _, _, err := s.CreatePrincipal(ctx, "p-"+string(r), r); err != nil {
			t.Fatal(err)
		}
	}
	var all []auth.Principal
	token := ""
	for pages := 0; ; pages++ {
		ps, next, err := s.ListPrincipals(ctx, auth.PrincipalFilter{Role: auth.RoleProvider, PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ps...)
		if next == "" {
			break
		}
		token = next
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	seen := map[string]bool{}
	for _, p := range all {
		if p.Role != auth.RoleProvider || seen[p.ID] {
			t.Fatalf("page contents %+v", all)
		}
		seen[p.ID] = true
	}
	if len(all) != 3 {
		t.Fatalf("got %d providers, want 3", len(all))
	}
	if _, _, err := s.ListPrincipals(ctx, auth.PrincipalFilter{PageToken: "!!"}); royalty.ErrorCode(err) != royalty.EINVALID {
		t.Fatalf("bad token: %v", err)
	}
}
