package postgres_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"math/big"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/ledgertest"
	"github.com/openroyalty/royalty/ledger/postgres"
)

var (
	invariantSeed  = flag.Uint64("ledger.seed", 20261101, "seed of the ledger invariant test")
	invariantSteps = flag.Int("ledger.steps", 40, "operations per goroutine in the concurrent phase of the invariant test")
)

// world is the cast of the invariant test and what has been acknowledged so far.
type world struct {
	providers, contributors, identities []string
	currencies                          []string
	keysPerProvider                     int

	pool *pgxpool.Pool // for noTrace checks that read the transactions table by key

	mu     sync.Mutex
	acks   map[[3]string]string // (kind, principal, request id) → transaction id acknowledged
	usages []ackedUsage         // acknowledged usage reports, for reversals
	stats  map[string]int       // outcomes by operation and result, logged to show coverage
}

func (w *world) count(o outcome) {
	result := "booked"
	switch {
	case o.err != nil:
		result = royalty.ErrorCode(o.err)
	case !o.booked:
		result = "replayed or nothing to do"
	}
	w.mu.Lock()
	w.stats[o.name+": "+result]++
	w.mu.Unlock()
}

type ackedUsage struct{ provider, txID string }

// ack records an acknowledged booking and fails when the same key was acknowledged with another
// transaction: every acknowledged operation must be present exactly once.
func (w *world) ack(t testing.TB, kind ledger.Kind, principal, request, txID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := [3]string{string(kind), principal, request}
	if prev, ok := w.acks[k]; ok && prev != txID {
		t.Errorf("key %v acknowledged as %s and as %s", k, prev, txID)
	}
	w.acks[k] = txID
	if kind == ledger.KindUsage {
		w.usages = append(w.usages, ackedUsage{principal, txID})
	}
}

func (w *world) randomUsage(rng *rand.Rand) (ackedUsage, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.usages) == 0 {
		return ackedUsage{}, false
	}
	return w.usages[rng.IntN(len(w.usages))], true
}

// canonical derives what a key's "real" request looks like, so that a key drawn twice usually
// carries the same payload (a replay) and sometimes not (a conflict).
func canonical(parts ...string) *rand.Rand {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	sum := h.Sum(nil)
	return rand.New(rand.NewPCG(binary.BigEndian.Uint64(sum), binary.BigEndian.Uint64(sum[8:])))
}

func (w *world) usageRequest(rng *rand.Rand, provider string) ledger.UsageRequest {
	request := fmt.Sprintf("req-%d", rng.IntN(w.keysPerProvider))
	src := canonical(provider, request)
	if rng.IntN(5) == 0 {
		src = rng // a different payload under a key that may be taken
	}
	req := ledger.UsageRequest{
		ProviderID: provider, RequestID: request, ModelID: "model-" + fmt.Sprint(src.IntN(3)),
		InputTokens: uint64(src.IntN(1000)), OutputTokens: uint64(src.IntN(1000)),
		Currency: w.currencies[src.IntN(len(w.currencies))], AttributionRef: "inv", Algorithm: "inv-v1",
	}
	// Revenues from one quantum to a few thousand units.
	switch src.IntN(3) {
	case 0:
		req.Revenue = decimal.New(1+src.Int64N(1000), -12)
	case 1:
		req.Revenue = decimal.New(1+src.Int64N(1_000_000), -6)
	default:
		req.Revenue = decimal.New(1+src.Int64N(500_000), -2)
	}
	remaining := big.NewRat(1, 1)
	for _, i := range src.Perm(len(w.identities))[:src.IntN(6)] {
		s := new(big.Rat).Mul(remaining, big.NewRat(1+src.Int64N(9), 10))
		remaining.Sub(remaining, s)
		key := w.identities[i]
		req.Shares = append(req.Shares, ledger.Share{IdentityKey: key, Share: s, Words: big.NewRat(src.Int64N(100), 3)})
		req.Evidence = append(req.Evidence, ledger.Evidence{IdentityKey: key, PostID: "p" + key, ResponseEnd: 20, ResponseWordEnd: 4, SourceEnd: 20, Text: "span"})
	}
	return req
}

// outcome is what one random operation did.
type outcome struct {
	name string
	err  error
	// allowed are the error codes this operation may legitimately fail with.
	allowed []string
	// booked is true when a new transaction was written (false for replays and failures).
	booked bool
	// check, if set, verifies after a failure that the operation left no trace.
	noTrace func(ctx context.Context) error
}

// step runs one random operation and records what it acknowledged.
func (w *world) step(t testing.TB, ctx context.Context, s *postgres.Store, rng *rand.Rand) outcome {
	switch n := rng.IntN(100); {
	case n < 35:
		req := w.usageRequest(rng, w.providers[rng.IntN(len(w.providers))])
		res, err := s.PostUsage(ctx, req)
		if err == nil {
			w.ack(t, ledger.KindUsage, req.ProviderID, req.RequestID, res.Usage.TransactionID)
		}
		return outcome{name: "post", err: err, allowed: []string{royalty.ECONFLICT}, booked: err == nil && !res.Replayed,
			noTrace: func(ctx context.Context) error {
				u, err := s.UsageByRequest(ctx, req.ProviderID, req.RequestID)
				if err == nil && bytes.Equal(u.PayloadHash, ledger.PayloadHash(req)) {
					return fmt.Errorf("failed post %s is booked as %s", req.RequestID, u.TransactionID)
				}
				return nil
			}}
	case n < 45:
		var reqs []ledger.UsageRequest
		for i := 0; i < 1+rng.IntN(5); i++ {
			reqs = append(reqs, w.usageRequest(rng, w.providers[0]))
		}
		res, err := s.PostUsageBatch(ctx, reqs)
		booked := false
		for i, r := range res {
			w.ack(t, ledger.KindUsage, reqs[i].ProviderID, reqs[i].RequestID, r.Usage.TransactionID)
			booked = booked || !r.Replayed
		}
		return outcome{name: "batch", err: err, allowed: []string{royalty.ECONFLICT}, booked: booked}
	case n < 55:
		u, ok := w.randomUsage(rng)
		if !ok {
			return outcome{name: "reverse (nothing to reverse)"}
		}
		reason := "refund " + u.txID[:4]
		if rng.IntN(4) == 0 {
			reason = "other reason"
		}
		res, err := s.ReverseUsage(ctx, ledger.ReversalRequest{ProviderID: u.provider, TransactionID: u.txID, Reason: reason})
		if err == nil {
			w.ack(t, ledger.KindReversal, u.provider, u.txID, res.Usage.Reversal.TransactionID)
		}
		return outcome{name: "reverse", err: err, allowed: []string{royalty.EPRECONDITION}, booked: err == nil && !res.Replayed}
	case n < 65:
		identity := w.identities[rng.IntN(len(w.identities))]
		contributor := w.contributors[rng.IntN(len(w.contributors))]
		res, err := s.ReleaseEscrow(ctx, ledger.EscrowReleaseRequest{IdentityKey: identity, ContributorID: contributor})
		if err == nil && res.TransactionID != "" {
			w.ack(t, ledger.KindEscrowRelease, contributor, identity, res.TransactionID)
		}
		return outcome{name: "release", err: err, allowed: []string{royalty.ECONFLICT}, booked: err == nil && !res.Replayed && res.TransactionID != ""}
	case n < 85:
		req := ledger.PayoutRequest{
			ContributorID: w.contributors[rng.IntN(len(w.contributors))],
			RequestID:     fmt.Sprintf("pay-%d", rng.IntN(30)),
			Currency:      w.currencies[rng.IntN(len(w.currencies))],
		}
		if rng.IntN(2) == 0 {
			a := decimal.New(1+rng.Int64N(2000), -ledger.MinorUnitScale(req.Currency))
			req.Amount = &a
		}
		res, err := s.Payout(ctx, req)
		if err == nil {
			w.ack(t, ledger.KindPayout, req.ContributorID, req.RequestID, res.Payout.TransactionID)
		}
		return outcome{name: "payout", err: err, allowed: []string{royalty.EPRECONDITION, royalty.ECONFLICT}, booked: err == nil && !res.Replayed}
	default:
		return w.invalid(ctx, s, rng)
	}
}

// invalid runs an operation that must fail and change nothing.
func (w *world) invalid(ctx context.Context, s *postgres.Store, rng *rand.Rand) outcome {
	prov := w.providers[0]
	fresh := fmt.Sprintf("invalid-%d", rng.Uint64())
	req := w.usageRequest(rng, prov)
	req.RequestID = fresh
	var err error
	var allowed []string
	// What the operation would have booked had it succeeded: the transactions of principal,
	// of kind, under these request ids (an escrow release is keyed by its identity).
	principal, txKind, keys := prov, ledger.KindUsage, []string{fresh}
	kind := rng.IntN(7)
	switch kind {
	case 0:
		req.Revenue = req.Revenue.Neg()
		_, err = s.PostUsage(ctx, req)
		allowed = []string{royalty.EINVALID}
	case 1:
		req.Currency = "XTQ"
		_, err = s.PostUsage(ctx, req)
		allowed = []string{royalty.EINVALID}
	case 2:
		req.Shares = append(req.Shares, ledger.Share{IdentityKey: "hn:/over", Share: big.NewRat(1, 1)}, ledger.Share{IdentityKey: "hn:/under", Share: big.NewRat(1, 100)})
		_, err = s.PostUsage(ctx, req)
		allowed = []string{royalty.EINVALID}
	case 3:
		req.Revenue = decimal.New(1, -13)
		valid := w.usageRequest(rng, prov)
		valid.RequestID = fresh + "-valid" // all or nothing: the valid report is not booked either
		keys = append(keys, valid.RequestID)
		_, err = s.PostUsageBatch(ctx, []ledger.UsageRequest{valid, req})
		allowed = []string{royalty.EINVALID}
	case 4:
		a := d("0.001")
		_, err = s.Payout(ctx, ledger.PayoutRequest{ContributorID: w.contributors[0], RequestID: fresh, Currency: "USD", Amount: &a})
		allowed = []string{royalty.EINVALID}
		principal, txKind = w.contributors[0], ledger.KindPayout
	case 5:
		// A reversal is keyed by the report it reverses, and there is none: what must not
		// appear is a usage under the fresh id, as for the posts.
		_, err = s.ReverseUsage(ctx, ledger.ReversalRequest{ProviderID: prov, RequestID: fresh, Reason: "no such report"})
		allowed = []string{royalty.ENOTFOUND}
	default:
		_, err = s.ReleaseEscrow(ctx, ledger.EscrowReleaseRequest{IdentityKey: w.identities[0], ContributorID: prov})
		allowed = []string{royalty.ENOTFOUND}
		txKind, keys = ledger.KindEscrowRelease, []string{w.identities[0]} // prov is no contributor
	}
	if err == nil {
		err = fmt.Errorf("invalid operation %d succeeded", kind)
	}
	return outcome{name: "invalid", err: err, allowed: allowed, noTrace: func(ctx context.Context) error {
		var n int
		if err := w.pool.QueryRow(ctx, `SELECT count(*) FROM ledger_transactions WHERE principal_id = $1 AND kind = $2 AND request_id = ANY($3)`,
			principal, string(txKind), keys).Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			return fmt.Errorf("invalid operation %d left %d %s transactions of %s under %v", kind, n, txKind, principal, keys)
		}
		return nil
	}}
}

func allowedErr(o outcome) error {
	if o.err == nil {
		return nil
	}
	code := royalty.ErrorCode(o.err)
	for _, c := range o.allowed {
		if c == code {
			return nil
		}
	}
	return fmt.Errorf("%s failed unexpectedly: %w", o.name, o.err)
}

func newWorld(t testing.TB, e *env) *world {
	w := &world{currencies: []string{"USD", "EUR", "JPY"}, keysPerProvider: 120, acks: map[[3]string]string{}, stats: map[string]int{}, pool: e.pool}
	for i := 0; i < 3; i++ {
		w.providers = append(w.providers, e.principal("provider"))
	}
	for i := 0; i < 6; i++ {
		w.contributors = append(w.contributors, e.principal("contributor"))
	}
	for i := 0; i < 24; i++ {
		w.identities = append(w.identities, fmt.Sprintf("stackexchange:site%d/%d", i%3, i))
	}
	if _, err := e.store.SetAgreement(e.ctx, w.providers[1], d("0.35")); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestInvariants runs seeded random sequences of posts, batches, reversals, releases, payouts
// and invalid operations, in the style of Blnk's invariant tests, and checks the books:
//
//   - sequential phase: after every step the whole journal is checked (ledgertest.Check:
//     postings sum to zero per transaction and currency, no negative balance, balances and
//     trial balance agree with the postings), a failed operation or a replay leaves the books
//     byte-identical, and a successful one adds exactly one transaction;
//   - concurrent phase: 16 goroutines with colliding keys; after every step the journal is
//     checked again (ledgertest.Read, which holds at any snapshot), and a failed post or
//     invalid operation is checked to have left no transaction under the keys it would have
//     booked (a batch under any of its keys); a refused batch, reversal, release or payout,
//     whose keys other workers may book legitimately, is covered by the end; at the end the full check runs and every acknowledged
//     operation is present exactly once, with nothing booked that was not acknowledged.
//
// Reproduce a failure with -ledger.seed; -ledger.steps makes the concurrent phase longer.
func TestInvariants(t *testing.T) {
	seed := *invariantSeed
	t.Logf("seed %d", seed)
	e := newEnv(t, postgres.Config{PlatformFee: "0.05"})
	w := newWorld(t, e)
	ctx := e.ctx

	t.Run("sequential", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(seed, 1))
		before := e.check()
		for i := 0; i < 250; i++ {
			o := w.step(t, ctx, e.store, rng)
			w.count(o)
			if err := allowedErr(o); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			after := e.check()
			switch {
			case o.err != nil || !o.booked:
				if after.Fingerprint != before.Fingerprint {
					t.Fatalf("step %d: %s (err %v) changed the books", i, o.name, o.err)
				}
			case len(after.Transactions) <= len(before.Transactions):
				t.Fatalf("step %d: %s booked nothing", i, o.name)
			case o.name != "batch" && len(after.Transactions) != len(before.Transactions)+1:
				t.Fatalf("step %d: %s booked %d transactions", i, o.name, len(after.Transactions)-len(before.Transactions))
			}
			before = after
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		const workers = 16
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for g := 0; g < workers; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, uint64(100+g)))
				for i := 0; i < *invariantSteps; i++ {
					o := w.step(t, ctx, e.store, rng)
					w.count(o)
					if err := allowedErr(o); err != nil {
						errs <- fmt.Errorf("worker %d step %d: %w", g, i, err)
						return
					}
					if o.err != nil && o.noTrace != nil {
						if err := o.noTrace(ctx); err != nil {
							errs <- fmt.Errorf("worker %d step %d: %w", g, i, err)
							return
						}
					}
					if _, err := ledgertest.Read(ctx, e.store); err != nil {
						errs <- fmt.Errorf("worker %d step %d (%s): books do not check: %w", g, i, o.name, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			return
		}
		books := e.check()
		w.mu.Lock()
		defer w.mu.Unlock()
		acked := map[string]bool{}
		for k, id := range w.acks {
			acked[id] = true
			tx, ok := books.Transactions[id]
			if !ok {
				t.Errorf("acknowledged %v (%s) is not in the journal", k, id)
				continue
			}
			if string(tx.Kind) != k[0] || tx.PrincipalID != k[1] || tx.RequestID != k[2] {
				t.Errorf("acknowledged %v is %s under (%s, %s, %s)", k, id, tx.Kind, tx.PrincipalID, tx.RequestID)
			}
		}
		for id, tx := range books.Transactions {
			if !acked[id] {
				t.Errorf("transaction %s (%s %s) was booked but never acknowledged", id, tx.Kind, tx.RequestID)
			}
		}
		t.Logf("%d transactions, %d postings, %d acknowledged keys", len(books.Transactions), books.Postings, len(w.acks))
		names := make([]string, 0, len(w.stats))
		for k := range w.stats {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			t.Logf("  %-45s %d", k, w.stats[k])
		}
	})
}
