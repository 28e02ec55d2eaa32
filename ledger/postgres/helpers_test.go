package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/ledgertest"
	"github.com/openroyalty/royalty/ledger/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// env is a ledger on a fresh database.
type env struct {
	t     testing.TB
	ctx   context.Context
	pool  *pgxpool.Pool
	store *postgres.Store
}

func newEnv(t testing.TB, cfg postgres.Config) *env {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := postgres.New(pool, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return &env{t: t, ctx: ctx, pool: pool, store: store}
}

// principal creates a principal with a role and returns its id.
func (e *env) principal(role string) string {
	e.t.Helper()
	var id string
	if err := e.pool.QueryRow(e.ctx, `INSERT INTO principals (name, role) VALUES ($1, $2) RETURNING id`, role+" test", role).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// check runs the ledgertest checker and fails the test on any violation.
func (e *env) check() *ledgertest.Books {
	e.t.Helper()
	b, err := ledgertest.Check(e.ctx, e.store)
	if err != nil {
		e.t.Fatalf("books do not check: %v", err)
	}
	return b
}

func (e *env) balance(account, currency string) decimal.Decimal {
	e.t.Helper()
	bs, err := e.store.Balances(e.ctx, account, timeZero)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, b := range bs {
		if b.Currency == currency {
			return b.Balance
		}
	}
	return decimal.Zero
}

func usage(provider, requestID, revenue string, shares ...any) ledger.UsageRequest {
	req := ledger.UsageRequest{
		ProviderID: provider, RequestID: requestID, ModelID: "acme-chat", ModelVersionHash: "sha256:abc",
		InputTokens: 100, OutputTokens: 300, Revenue: decimal.RequireFromString(revenue), Currency: "USD",
		AttributionRef: "test", Algorithm: "test-v1",
	}
	for i := 0; i+1 < len(shares); i += 2 {
		key := shares[i].(string)
		req.Shares = append(req.Shares, ledger.Share{IdentityKey: key, Share: shares[i+1].(*big.Rat), Words: big.NewRat(3, 1)})
		req.Evidence = append(req.Evidence, ledger.Evidence{IdentityKey: key, PostID: "post-" + key, PostURL: "https://example.com/" + key,
			ResponseStart: 0, ResponseEnd: 10, ResponseWordStart: 0, ResponseWordEnd: 2, SourceStart: 5, SourceEnd: 15, Text: "some words"})
	}
	return req
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func ptr(x decimal.Decimal) *decimal.Decimal { return &x }

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if royalty.ErrorCode(err) != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
}

func wantField(t testing.TB, err error, code, field string) {
	t.Helper()
	var e *royalty.Error
	if royalty.ErrorCode(err) != code || !asErr(err, &e) || e.Field != field {
		t.Fatalf("error = %v, want %s on field %s", err, code, field)
	}
}

func asErr(err error, e **royalty.Error) bool { return errors.As(err, e) }

func key(i int) string { return fmt.Sprintf("stackexchange:bicycles/%d", i) }
