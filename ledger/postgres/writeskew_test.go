package postgres_test

import (
	"math/big"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/postgres"
)

// TestPayoutWriteSkew is cockroach-go's two-account write-skew test applied to payouts: two
// payouts of 6 from a balance of 10 both read the balance before either writes. Under
// SERIALIZABLE with whole-transaction retry exactly one succeeds and the other, retried, sees
// it and is refused; without either, both would succeed and overdraw the balance.
func TestPayoutWriteSkew(t *testing.T) {
	e := newEnv(t, postgres.Config{DefaultRoyaltyRate: "1"})
	prov, alice := e.principal("provider"), e.principal("contributor")
	if _, err := e.store.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: key(1), ContributorID: alice}); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 5; round++ {
		if _, err := e.store.PostUsage(e.ctx, usage(prov, "u"+string(rune('0'+round)), "10", key(1), big.NewRat(1, 1))); err != nil {
			t.Fatal(err)
		}
		var reads atomic.Int32
		arrived := make(chan struct{}, 2)
		release := make(chan struct{})
		e.store.SetTestHookBalanceRead(func() {
			if reads.Add(1) <= 2 { // the first attempt of each payout waits for the other's read
				arrived <- struct{}{}
				<-release
			}
		})
		go func() { <-arrived; <-arrived; close(release) }()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = e.store.Payout(e.ctx, ledger.PayoutRequest{
					ContributorID: alice, RequestID: "p" + string(rune('0'+round)) + string(rune('a'+i)), Currency: "USD", Amount: ptr(d("6")),
				})
			}()
		}
		wg.Wait()
		e.store.SetTestHookBalanceRead(nil)
		ok := 0
		for _, err := range errs {
			switch royalty.ErrorCode(err) {
			case "":
				ok++
			case royalty.EPRECONDITION:
			default:
				t.Fatalf("round %d: payout error %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d payouts of 6 from a balance of 10 succeeded, want exactly 1 (errors %v)", round, ok, errs)
		}
		if reads.Load() < 3 {
			t.Fatalf("round %d: the losing payout was not retried (%d balance reads)", round, reads.Load())
		}
		if got := e.balance(ledger.ContributorAccount(alice), "USD"); !got.Equal(d("4")) {
			t.Fatalf("round %d: balance after the payouts = %s, want 4", round, got)
		}
		// Pay out the rest so that the next round starts from 10 again.
		if _, err := e.store.Payout(e.ctx, ledger.PayoutRequest{ContributorID: alice, RequestID: "rest" + string(rune('0'+round)), Currency: "USD"}); err != nil {
			t.Fatal(err)
		}
	}
	e.check()
}

// TestConcurrentPayoutsNeverOverdraw races many payouts of random sizes against one balance.
func TestConcurrentPayoutsNeverOverdraw(t *testing.T) {
	e := newEnv(t, postgres.Config{DefaultRoyaltyRate: "1"})
	prov, alice := e.principal("provider"), e.principal("contributor")
	if _, err := e.store.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: key(1), ContributorID: alice}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.PostUsage(e.ctx, usage(prov, "u", "10", key(1), big.NewRat(1, 1))); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var paid sync.Map
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				amount := d("0.75").Add(d("0.25").Mul(d(string(rune('0' + (g+i)%4)))))
				r, err := e.store.Payout(e.ctx, ledger.PayoutRequest{ContributorID: alice, RequestID: string(rune('a'+g)) + string(rune('0'+i)), Currency: "USD", Amount: &amount})
				if err == nil {
					paid.Store(r.Payout.TransactionID, r.Payout.Amount)
				} else if royalty.ErrorCode(err) != royalty.EPRECONDITION {
					t.Errorf("payout: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	total := d("0")
	paid.Range(func(_, v any) bool { total = total.Add(v.(decimal.Decimal)); return true })
	if total.GreaterThan(d("10")) {
		t.Fatalf("paid out %s from a balance of 10", total)
	}
	if got := e.balance(ledger.ContributorAccount(alice), "USD"); !got.Equal(d("10").Sub(total)) || got.IsNegative() {
		t.Fatalf("balance %s after paying out %s of 10", got, total)
	}
	e.check()
}
