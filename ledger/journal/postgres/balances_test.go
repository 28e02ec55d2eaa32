package postgres_test

import (
	"context"
	"flag"
	"fmt"
	"math/big"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
	journalpg "github.com/openroyalty/royalty/ledger/journal/postgres"
	ledgerpg "github.com/openroyalty/royalty/ledger/postgres"
)

var balanceSeed = flag.Uint64("balance.seed", 20261206, "seed of the balance checkpoint property test")

// TestBalanceCheckpoints is the property of docs/design.md §8: after random workloads of usages
// (in two currencies), reversals, escrow releases and payouts, booked by concurrent writers
// while two sealers write blocks and balance checkpoints, every account's balance read from its
// newest checkpoint plus the unsealed postings after the fence equals the full sum of its
// postings, the trial balance read from checkpoints equals the one summed from every posting,
// and VerifyBalances finds every checkpoint equal to the full sum over the positions it covers.
func TestBalanceCheckpoints(t *testing.T) {
	e := newEnv(t)
	bob := e.principal("contributor")
	contributors := []string{e.alice, bob}
	identities := []string{"hn:/pg", "hn:/tptacek", "stackexchange:bicycles/1", "stackexchange:bicycles/2", "reddit:/spez"}
	ledgers := []*ledgerpg.Store{e.ledger}
	for i := 0; i < 2; i++ { // other replicas: own group committers, one without
		l, err := ledgerpg.New(e.pool, nil, ledgerpg.Config{DefaultRoyaltyRate: "0.5", PlatformFee: "0.1", GroupCommit: ledgerpg.GroupCommit{Disabled: i == 1}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		ledgers = append(ledgers, l)
	}
	sealers := []*journalpg.Sealer{e.sealer, e.newSealer()}

	var mu sync.Mutex
	var usages []string
	var counter int
	op := func(rng *rand.Rand, l *ledgerpg.Store) error {
		mu.Lock()
		counter++
		n := counter
		var victim string
		if len(usages) > 0 {
			victim = usages[rng.IntN(len(usages))]
		}
		mu.Unlock()
		switch r := rng.IntN(10); {
		case r < 6 || victim == "":
			cur := []string{"USD", "EUR"}[rng.IntN(2)]
			req := ledger.UsageRequest{
				ProviderID: e.prov, RequestID: fmt.Sprintf("u-%d", n), ModelID: "m", ModelVersionHash: "sha256:x",
				InputTokens: 10, OutputTokens: 30, Currency: cur,
				Revenue: decimal.New(rng.Int64N(5_000_000)+1, -int32(rng.IntN(13))),
			}
			for _, i := range rng.Perm(len(identities))[:rng.IntN(3)] {
				req.Shares = append(req.Shares, ledger.Share{IdentityKey: identities[i], Share: big.NewRat(1, int64(rng.IntN(4)+3))})
			}
			res, err := l.PostUsage(e.ctx, req)
			if err == nil {
				mu.Lock()
				usages = append(usages, res.Usage.TransactionID)
				mu.Unlock()
			}
			return err
		case r < 8:
			_, err := l.ReverseUsage(e.ctx, ledger.ReversalRequest{ProviderID: e.prov, TransactionID: victim, Reason: "refund"})
			return err
		case r < 9:
			req := ledger.PayoutRequest{ContributorID: contributors[rng.IntN(2)], RequestID: fmt.Sprintf("p-%d", n), Currency: []string{"USD", "EUR"}[rng.IntN(2)]}
			if rng.IntN(2) == 0 {
				amt := decimal.New(rng.Int64N(300)+1, -2)
				req.Amount = &amt
			}
			_, err := l.Payout(e.ctx, req)
			return err
		default:
			_, err := l.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: identities[rng.IntN(len(identities))], ContributorID: contributors[rng.IntN(2)]})
			return err
		}
	}
	// Refusals (a reversal of paid-out money, a payout of nothing, an identity owned by the other
	// contributor, a report reversed twice) are part of the workload; anything else fails.
	allowed := func(err error) bool {
		switch royalty.ErrorCode(err) {
		case royalty.EPRECONDITION, royalty.ECONFLICT, royalty.EINVALID:
			return true
		}
		return err == nil
	}

	for phase := 0; phase < 3; phase++ {
		ctx, cancel := context.WithCancel(e.ctx)
		var sealing sync.WaitGroup
		for i, s := range sealers {
			sealing.Add(1)
			go func() {
				defer sealing.Done()
				for ctx.Err() == nil {
					var err error
					if i == 0 {
						_, err = s.SealPending(ctx)
					} else {
						_, err = s.SealRecent(ctx)
					}
					if err != nil && ctx.Err() == nil {
						t.Errorf("sealer %d: %v", i, err)
						return
					}
				}
			}()
		}
		var writers sync.WaitGroup
		for w := 0; w < 4; w++ {
			writers.Add(1)
			go func() {
				defer writers.Done()
				rng := rand.New(rand.NewPCG(*balanceSeed, uint64(phase*10+w)))
				for i := 0; i < 25; i++ {
					if err := op(rng, ledgers[w%len(ledgers)]); !allowed(err) {
						t.Errorf("writer %d: %v", w, err)
						return
					}
				}
			}()
		}
		writers.Wait()
		cancel()
		sealing.Wait()
		if t.Failed() {
			t.FailNow()
		}
		// A few more that stay unsealed: the tail after the fence.
		rng := rand.New(rand.NewPCG(*balanceSeed, uint64(phase)))
		for i := 0; i < 5; i++ {
			if err := op(rng, e.ledger); !allowed(err) {
				t.Fatal(err)
			}
		}
		e.checkBalances(t)
	}
	var sealedAll int
	for _, s := range sealers {
		sealedAll += e.seal(s)
	}
	e.checkBalances(t)
	rep, err := e.store.VerifyBalances(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checkpoints == 0 || rep.Postings == 0 {
		t.Fatalf("VerifyBalances checked nothing: %+v", rep)
	}
	t.Logf("%d operations; VerifyBalances: %+v", counter, rep)
}

// checkBalances compares, for every account, the balance read through checkpoints with the full
// sum, and the trial balance read through checkpoints with the one summed from every posting.
func (e *env) checkBalances(t *testing.T) {
	t.Helper()
	var fences int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM ledger_balance_fences`).Scan(&fences); err != nil {
		t.Fatal(err)
	}
	if fences == 0 {
		t.Fatal("no balance fence was written: the checkpoints are not used")
	}
	rows, err := e.pool.Query(e.ctx, `SELECT address FROM ledger_accounts`)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, a)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	for _, a := range addrs {
		full, err := e.ledger.FullBalance(e.ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		acct, err := ledger.ParseAccount("account", a)
		if err != nil {
			t.Fatal(err)
		}
		bs, err := e.ledger.Balances(e.ctx, a, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) != len(full) {
			t.Fatalf("%s: %d currencies through checkpoints, %d in the full sum", a, len(bs), len(full))
		}
		for _, b := range bs {
			want := full[b.Currency]
			if !acct.Type.DebitNormal() {
				want = want.Neg()
			}
			if !b.Balance.Equal(want) {
				t.Fatalf("%s in %s: checkpoint + tail = %s, full sum = %s", a, b.Currency, b.Balance, want)
			}
		}
	}
	got, err := e.ledger.TrialBalance(e.ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.ledger.TrialBalance(e.ctx, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("trial balance through checkpoints:\n%v\nfrom every posting:\n%v", got, want)
	}
}

// TestBalanceFenceCarriedForward: a block whose fence keeps losing to concurrent writes is
// sealed with the previous fence carried forward, and balances stay exact; the next block that
// can advance the fence does.
func TestBalanceFenceCarriedForward(t *testing.T) {
	e := newEnv(t)
	fence := func() (int64, time.Time) {
		t.Helper()
		var size int64
		var at time.Time
		if err := e.pool.QueryRow(e.ctx, `SELECT journal_size, fence FROM ledger_balance_fences ORDER BY journal_size DESC LIMIT 1`).Scan(&size, &at); err != nil {
			t.Fatal(err)
		}
		return size, at
	}
	exact := func() {
		t.Helper()
		if _, err := e.store.VerifyBalances(e.ctx); err != nil {
			t.Fatal(err)
		}
		for _, acct := range []string{ledger.EscrowAccount("hn:/pg"), ledger.ProviderAccount(e.prov)} {
			got, err := e.ledger.Balances(e.ctx, acct, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			var sum decimal.Decimal
			rows, err := e.pool.Query(e.ctx, `SELECT p.amount FROM ledger_postings AS p JOIN ledger_accounts AS a ON a.id = p.account_id WHERE a.address = $1`, acct)
			if err != nil {
				t.Fatal(err)
			}
			var amount decimal.Decimal
			if _, err := pgx.ForEachRow(rows, []any{&amount}, func() error { sum = sum.Add(amount); return nil }); err != nil {
				t.Fatal(err)
			}
			a, err := ledger.ParseAccount("account", acct)
			if err != nil {
				t.Fatal(err)
			}
			if !a.Type.DebitNormal() {
				sum = sum.Neg()
			}
			if len(got) != 1 || !got[0].Balance.Equal(sum) {
				t.Fatalf("balance of %s: %+v, the postings sum to %s", acct, got, sum)
			}
		}
	}
	// The first block's fence loses too: it is the beginning of time, which holds trivially.
	e.sealer.SetTestFenceLoses(true)
	e.usage(e.ledger, "1.25")
	e.seal(e.sealer)
	if _, f := fence(); !f.Equal(time.Unix(0, 0)) {
		t.Fatalf("first fence after the fallback: %s, want the beginning of time", f)
	}
	exact()
	e.sealer.SetTestFenceLoses(false)
	e.usage(e.ledger, "1.5")
	e.seal(e.sealer)
	size1, fence1 := fence()
	if !fence1.After(time.Unix(0, 0)) {
		t.Fatalf("fence not advanced by a block that may: %s", fence1)
	}

	e.sealer.SetTestFenceLoses(true)
	e.usage(e.ledger, "2.25")
	e.usage(e.ledger, "3")
	if n := e.seal(e.sealer); n != 2 {
		t.Fatalf("sealed %d transactions with the fence losing, want 2", n)
	}
	size2, fence2 := fence()
	if size2 != size1+2 || !fence2.Equal(fence1) {
		t.Fatalf("fence after the fallback: size %d at %s, want size %d with the previous fence %s", size2, fence2, size1+2, fence1)
	}
	e.usage(e.ledger, "0.75") // unsealed: a balance is checkpoint + tail after the old fence
	exact()

	e.sealer.SetTestFenceLoses(false)
	e.seal(e.sealer)
	size3, fence3 := fence()
	if size3 != size2+1 || !fence3.After(fence2) {
		t.Fatalf("fence after a block that may advance it: size %d at %s, want size %d after %s", size3, fence3, size2+1, fence2)
	}
	exact()
}

// TestBalanceFenceCrossesSharedTimes: the fence moves over the transactions below the cutoff a
// step at a time, and a group commit gives all the transactions of a batch one created_at. A
// run sharing one time that is longer than a step must not stop the fence at that time.
func TestBalanceFenceCrossesSharedTimes(t *testing.T) {
	e := newEnv(t)
	const n = 100 // more than a step (64), fewer than the longest step
	for range n {
		e.usage(e.ledger, "1.25")
	}
	shared := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	for _, table := range []string{"ledger_transactions", "ledger_postings"} {
		if _, err := e.pool.Exec(e.ctx, `UPDATE `+table+` SET created_at = $1`, shared); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.seal(e.sealer); got != n {
		t.Fatalf("sealed %d, want %d", got, n)
	}
	var fence time.Time
	if err := e.pool.QueryRow(e.ctx, `SELECT fence FROM ledger_balance_fences ORDER BY journal_size DESC LIMIT 1`).Scan(&fence); err != nil {
		t.Fatal(err)
	}
	if !fence.After(shared) {
		t.Fatalf("the fence is at %s, not past the %d transactions sharing %s", fence, n, shared)
	}
	if _, err := e.store.VerifyBalances(e.ctx); err != nil {
		t.Fatal(err)
	}
}
