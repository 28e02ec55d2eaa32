package postgres_test

import (
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/journal"
	journalpg "github.com/openroyalty/royalty/ledger/journal/postgres"
	"github.com/openroyalty/royalty/ledger/postgres"
)

// TestBalanceFenceLateCommit is the race the balance fence exists for (docs/design.md §8): a
// payout stamps its time and reads the balance, then, before it writes, the sealer seals a
// block and puts the fence past the payout's stamp without seeing it. Committed as it is, the
// payout would sit below the fence and unsealed, counted by neither the checkpoint nor the
// tail, and the next payout could spend the money again. The payout read the fence, so under
// SERIALIZABLE it conflicts with the block and is retried with a later stamp: the balance read
// through checkpoints equals the full sum before anything else is sealed.
func TestBalanceFenceLateCommit(t *testing.T) {
	e := newEnv(t, postgres.Config{DefaultRoyaltyRate: "1"})
	prov, alice := e.principal("provider"), e.principal("contributor")
	priv, err := journal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	sealer := journalpg.NewSealer(e.pool, journal.NewSigner(priv), nil, journalpg.SealerConfig{Margin: -1})
	if _, err := e.store.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: key(1), ContributorID: alice}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.PostUsage(e.ctx, usage(prov, "u1", "10", key(1), big.NewRat(1, 1))); err != nil {
		t.Fatal(err)
	}
	if _, err := sealer.SealPending(e.ctx); err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	e.store.SetTestHookBalanceRead(func() {
		if attempts.Add(1) == 1 {
			time.Sleep(2 * time.Millisecond) // the clock moves past the payout's stamp
			if _, err := e.store.PostUsage(e.ctx, usage(prov, "u2", "1", key(1), big.NewRat(1, 1))); err != nil {
				t.Error(err)
			}
			if _, err := sealer.SealPending(e.ctx); err != nil {
				t.Error(err)
			}
		}
	})
	if _, err := e.store.Payout(e.ctx, ledger.PayoutRequest{ContributorID: alice, RequestID: "p1", Currency: "USD", Amount: ptr(d("4"))}); err != nil {
		t.Fatal(err)
	}
	e.store.SetTestHookBalanceRead(nil)
	if n := attempts.Load(); n < 2 {
		t.Fatalf("the payout ran %d time(s); the block that fenced past it should have made it retry", n)
	}
	account := ledger.ContributorAccount(alice)
	check := func(want string) {
		t.Helper()
		full, err := e.store.FullBalance(e.ctx, account)
		if err != nil {
			t.Fatal(err)
		}
		if got, sum := e.balance(account, "USD"), full["USD"].Neg(); !got.Equal(sum) || !sum.Equal(d(want)) {
			t.Fatalf("balance through checkpoints %s, full sum %s; want %s", got, sum, want)
		}
	}
	check("7") // 10 + 1 - 4

	// A replica whose clock lags the sealer's by an hour stamps its writes just after the
	// fence, not below it, where no balance read would look for them.
	lagging, err := postgres.New(e.pool, nil, postgres.Config{DefaultRoyaltyRate: "1", Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lagging.Close)
	if _, err := sealer.SealPending(e.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := lagging.PostUsage(e.ctx, usage(prov, "u3", "5", key(1), big.NewRat(1, 1))); err != nil {
		t.Fatal(err)
	}
	check("12")
}
