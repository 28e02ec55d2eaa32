package postgres_test

import (
	"fmt"
	"math/big"
	"sync"
	"testing"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/postgres"
)

// TestRaces starts many identical or colliding operations at once: new accounts created by
// several reports together, one key posted by many callers, one usage reversed by many callers,
// one identity released to two contributors.
func TestRaces(t *testing.T) {
	const n = 8
	e := newEnv(t, postgres.Config{GroupCommit: postgres.GroupCommit{Disabled: true}})
	prov, alice, bob := e.principal("provider"), e.principal("contributor"), e.principal("contributor")
	run := func(f func(i int) error) []error {
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = f(i)
			}()
		}
		close(start)
		wg.Wait()
		return errs
	}
	t.Run("new accounts", func(t *testing.T) {
		for round := 0; round < 10; round++ {
			for _, err := range run(func(i int) error {
				args := []any{}
				for k := 0; k < 40; k++ {
					args = append(args, fmt.Sprintf("hn:/new%d-%d", round, k), big.NewRat(1, 80))
				}
				_, err := e.store.PostUsage(e.ctx, usage(prov, fmt.Sprintf("acct-%d-%d", round, i), "1", args...))
				return err
			}) {
				if err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	t.Run("one key", func(t *testing.T) {
		ids := make([]string, n)
		errs := run(func(i int) error {
			r, err := e.store.PostUsage(e.ctx, usage(prov, "same", "1", key(1), big.NewRat(1, 2)))
			ids[i] = r.Usage.TransactionID
			return err
		})
		for i, err := range errs {
			if err != nil || ids[i] != ids[0] {
				t.Fatalf("caller %d: %s, %v; caller 0 got %s", i, ids[i], err, ids[0])
			}
		}
	})
	t.Run("one reversal", func(t *testing.T) {
		u, err := e.store.UsageByRequest(e.ctx, prov, "same")
		if err != nil {
			t.Fatal(err)
		}
		errs := run(func(i int) error {
			reason := "refund"
			if i%2 == 1 {
				reason = fmt.Sprintf("refund %d", i)
			}
			_, err := e.store.ReverseUsage(e.ctx, ledger.ReversalRequest{ProviderID: prov, TransactionID: u.TransactionID, Reason: reason})
			return err
		})
		ok := 0
		for _, err := range errs {
			switch royalty.ErrorCode(err) {
			case "":
				ok++
			case royalty.EPRECONDITION:
			default:
				t.Fatalf("reversal: %v", err)
			}
		}
		if ok == 0 {
			t.Fatal("no reversal succeeded")
		}
	})
	t.Run("one identity", func(t *testing.T) {
		errs := run(func(i int) error {
			c := alice
			if i%2 == 1 {
				c = bob
			}
			_, err := e.store.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: key(1), ContributorID: c})
			return err
		})
		owners, err := e.store.IdentityOwners(e.ctx, []string{key(1)})
		if err != nil {
			t.Fatal(err)
		}
		for i, err := range errs {
			mine := alice
			if i%2 == 1 {
				mine = bob
			}
			if (err == nil) != (owners[key(1)] == mine) || (err != nil && royalty.ErrorCode(err) != royalty.ECONFLICT) {
				t.Fatalf("caller %d (for %s): %v; owner %s", i, mine, err, owners[key(1)])
			}
		}
	})
	books := e.check()
	// 10n reports, one shared report, one reversal; the release moved nothing (the report that
	// credited the escrow was reversed), so it booked no transaction.
	if len(books.Transactions) != 10*n+1+1 {
		t.Fatalf("%d transactions", len(books.Transactions))
	}
}
