package postgres_test

import (
	"math/big"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/postgres"
)

// clock is a settable clock for a Store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func feedback(provider, id, rater string) ledger.FeedbackRequest {
	return ledger.FeedbackRequest{ProviderID: provider, RequestID: id, RaterID: rater, Kind: ledger.FeedbackThumbsUp, ModelVersion: "acme-chat-v6"}
}

// TestFeedbackRoyalties is the "done when" of issue 21: usage of a model version with lineage
// books feedback_rate × revenue into the epoch's pool in the usage's transaction; the pool is
// settled once after the window, split by accepted counts with the cap; everything balances;
// settling twice changes nothing; a reversal after settlement is refused; a claimed rater's
// escrow moves to the contributor.
func TestFeedbackRoyalties(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)}
	e := newEnv(t, postgres.Config{Now: clk.now, FeedbackCap: 4, FeedbackWindow: time.Hour, GroupCommit: postgres.GroupCommit{Disabled: true}})
	s := e.store
	provider := e.principal("provider")
	contributor := e.principal("contributor")
	if _, err := s.SetAgreement(e.ctx, provider, d("0.1")); err != nil {
		t.Fatal(err)
	}
	if a, err := s.SetFeedbackRate(e.ctx, provider, d("0.05")); err != nil || !a.FeedbackRate.Equal(d("0.05")) || !a.RoyaltyRate.Equal(d("0.1")) {
		t.Fatalf("SetFeedbackRate = %+v, %v", a, err)
	}
	wantField(t, func() error { _, err := s.SetFeedbackRate(e.ctx, provider, d("1.5")); return err }(), royalty.EINVALID, "feedback_rate")

	// November: the raters' feedback. b exceeds the cap, c is rejected as spam.
	counts := map[string]int{"a": 3, "b": 6, "c": 2, "d": 1}
	var reqs []ledger.FeedbackRequest
	for r, n := range counts {
		for i := range n {
			reqs = append(reqs, feedback(provider, r+strconv.Itoa(i), r))
		}
	}
	res, err := s.ReportFeedbackBatch(e.ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Replayed || res[0].Feedback.Epoch != "2026-11" || res[0].Feedback.IdentityKey != ledger.RaterIdentityKey(provider, res[0].Feedback.RaterID) {
		t.Fatalf("first event: %+v", res[0])
	}
	again, err := s.ReportFeedback(e.ctx, reqs[0])
	if err != nil || !again.Replayed || !again.Feedback.CreatedAt.Equal(res[0].Feedback.CreatedAt) {
		t.Fatalf("replay = %+v, %v", again, err)
	}
	other := reqs[0]
	other.Kind = ledger.FeedbackThumbsDown
	_, err = s.ReportFeedback(e.ctx, other)
	wantField(t, err, royalty.ECONFLICT, "request_id")
	bad := feedback(provider, "bad", "someone@example.com")
	_, err = s.ReportFeedbackBatch(e.ctx, []ledger.FeedbackRequest{feedback(provider, "ok", "e"), bad})
	wantField(t, err, royalty.EINVALID, "events[1].rater_id")
	_, err = s.ReportFeedback(e.ctx, feedback(contributor, "x", "e"))
	wantCode(t, err, royalty.ENOTFOUND)

	// December: v6 was trained on November's feedback.
	clk.set(time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC))
	decl := ledger.TrainingDeclaration{ProviderID: provider, ModelVersion: "acme-chat-v6", Epochs: []ledger.EpochWeight{{Epoch: "2026-11", Weight: d("1")}}, Rejected: []string{"c"}}
	lin, err := s.DeclareTraining(e.ctx, decl)
	if err != nil || len(lin.Epochs) != 1 || len(lin.Rejected) != 1 {
		t.Fatalf("DeclareTraining = %+v, %v", lin, err)
	}
	if _, err := s.DeclareTraining(e.ctx, decl); err != nil {
		t.Fatalf("declaring again: %v", err)
	}
	decl.Epochs[0].Weight = d("2")
	_, err = s.DeclareTraining(e.ctx, decl)
	wantField(t, err, royalty.ECONFLICT, "epochs[0].weight")
	if got, err := s.GetLineage(e.ctx, provider, "acme-chat-v6"); err != nil || !got.Epochs[0].Weight.Equal(d("1")) {
		t.Fatalf("GetLineage = %+v, %v", got, err)
	}
	_, err = s.GetLineage(e.ctx, provider, "nope")
	wantCode(t, err, royalty.ENOTFOUND)

	// Usage: three reports of v6 (one reversed within the window, one in a batch), one of a
	// version without lineage.
	v6 := func(id, revenue string) ledger.UsageRequest {
		u := usage(provider, id, revenue, key(1), big.NewRat(1, 2))
		u.ModelID = "acme-chat-v6"
		return u
	}
	var pool decimal.Decimal
	for _, u := range []ledger.UsageRequest{v6("u1", "10"), v6("u2", "3.33"), v6("u3", "7.000000000001")} {
		r, err := s.PostUsage(e.ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		want := u.Revenue.Mul(d("0.05")).Round(12)
		if len(r.Usage.Feedback) != 1 || !r.Usage.Feedback[0].Amount.Equal(want) || r.Usage.Feedback[0].Epoch != "2026-11" {
			t.Fatalf("usage %s feedback = %+v, want %s", u.RequestID, r.Usage.Feedback, want)
		}
		if u.RequestID != "u2" {
			pool = pool.Add(want)
		}
	}
	batch, err := s.PostUsageBatch(e.ctx, []ledger.UsageRequest{v6("u4", "1"), usage(provider, "u5", "100", key(2), big.NewRat(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	pool = pool.Add(d("0.05"))
	if len(batch[1].Usage.Feedback) != 0 || len(batch[1].Usage.Postings) != 3 {
		t.Fatalf("usage without lineage booked feedback: %+v", batch[1].Usage.Postings)
	}
	replay, err := s.UsageByRequest(e.ctx, provider, "u1")
	if err != nil || len(replay.Feedback) != 1 || !replay.FeedbackRate.Equal(d("0.05")) {
		t.Fatalf("stored usage u1: %+v, %v", replay.Feedback, err)
	}
	if _, err := s.ReverseUsage(e.ctx, ledger.ReversalRequest{ProviderID: provider, RequestID: "u2", Reason: "refund"}); err != nil {
		t.Fatal(err)
	}
	poolAcct := ledger.FeedbackPoolAccount(provider, "2026-11", "2026-12-06")
	if got := e.balance(poolAcct, "USD"); !got.Equal(pool) {
		t.Fatalf("pool holds %s, want %s", got, pool)
	}

	// Not due before the day, the epoch and the window have passed.
	_, err = s.SettlePool(e.ctx, poolAcct)
	wantCode(t, err, royalty.EPRECONDITION)
	if sts, err := s.SettleFeedback(e.ctx, ""); err != nil || len(sts) != 0 {
		t.Fatalf("early SettleFeedback = %+v, %v", sts, err)
	}

	clk.set(time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC))
	sts, err := s.SettleFeedback(e.ctx, provider)
	if err != nil || len(sts) != 1 {
		t.Fatalf("SettleFeedback = %+v, %v", sts, err)
	}
	st := sts[0]
	if st.CountedTotal != 3+4+0+1 || !st.Settled[0].Amount.Equal(pool) {
		t.Fatalf("settlement counted %d of %v, want 8 of %s", st.CountedTotal, st.Settled, pool)
	}
	split, err := ledger.Split(pool, 12, []ledger.Part{
		{Key: "a", Weight: big.NewRat(3, 1)}, {Key: "b", Weight: big.NewRat(4, 1)}, {Key: "c", Weight: new(big.Rat)}, {Key: "d", Weight: big.NewRat(1, 1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range []string{"a", "b", "c", "d"} {
		got := e.balance(ledger.EscrowAccount(ledger.RaterIdentityKey(provider, r)), "USD")
		if !got.Equal(split[i]) {
			t.Errorf("rater %s holds %s, want %s", r, got, split[i])
		}
	}
	if got := e.balance(poolAcct, "USD"); !got.IsZero() {
		t.Errorf("pool left with %s", got)
	}
	books := e.check()

	// Settling twice changes nothing.
	if sts, err := s.SettleFeedback(e.ctx, ""); err != nil || len(sts) != 0 {
		t.Fatalf("second SettleFeedback = %+v, %v", sts, err)
	}
	st2, err := s.SettlePool(e.ctx, poolAcct)
	if err != nil || !st2.Replayed || st2.TransactionID != st.TransactionID || st2.CountedTotal != 8 || len(st2.Raters) != 4 {
		t.Fatalf("SettlePool again = %+v, %v", st2, err)
	}
	if e.check().Fingerprint != books.Fingerprint {
		t.Fatal("settling twice changed the journal")
	}

	// A reversal after settlement is refused: the pool's money is with the raters.
	_, err = s.ReverseUsage(e.ctx, ledger.ReversalRequest{ProviderID: provider, RequestID: "u1", Reason: "late refund"})
	wantCode(t, err, royalty.EPRECONDITION)
	if e.check().Fingerprint != books.Fingerprint {
		t.Fatal("a refused reversal changed the journal")
	}

	// The rater's statement shows the credit with its evidence.
	page, err := s.Statement(e.ctx, ledger.StatementQuery{Account: ledger.EscrowAccount(ledger.RaterIdentityKey(provider, "b"))})
	if err != nil || len(page.Entries) != 1 {
		t.Fatalf("statement = %+v, %v", page, err)
	}
	fc := page.Entries[0].Feedback
	if page.Entries[0].Kind != ledger.KindFeedbackSettlement || fc == nil || fc.RaterID != "b" || fc.Events != 6 || fc.Counted != 4 ||
		fc.CountedTotal != 8 || fc.Cap != 4 || fc.Epoch != "2026-11" || fc.Pool != poolAcct || !slices.Equal(fc.ModelVersions, []string{"acme-chat-v6"}) ||
		!fc.Settled[0].Amount.Equal(pool) || page.Entries[0].IdentityKey != ledger.RaterIdentityKey(provider, "b") || !page.Entries[0].Amount.Equal(split[1]) {
		t.Fatalf("statement entry = %+v, feedback %+v", page.Entries[0], fc)
	}

	// The rater claims: its escrow moves to the contributor in one transaction.
	rel, err := s.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: ledger.RaterIdentityKey(provider, "a"), ContributorID: contributor})
	if err != nil || len(rel.Released) != 1 || !rel.Released[0].Amount.Equal(split[0]) {
		t.Fatalf("ReleaseEscrow = %+v, %v", rel, err)
	}
	if got := e.balance(ledger.ContributorAccount(contributor), "USD"); !got.Equal(split[0]) {
		t.Fatalf("contributor holds %s, want %s", got, split[0])
	}
	cs, err := s.Statement(e.ctx, ledger.StatementQuery{Account: ledger.ContributorAccount(contributor), ExpandReleases: true})
	if err != nil || len(cs.Entries) != 1 || len(cs.Entries[0].Released) != 1 || cs.Entries[0].Released[0].Feedback == nil {
		t.Fatalf("contributor statement = %+v, %v", cs, err)
	}
	e.check()
}

// TestFeedbackPropertyDB books random usage, feedback and reversals over several days with group
// commit, settles at random times (sometimes twice), and checks that the books balance, no pool
// is left with money once all are settled, and every rater's escrow equals the sum of its
// credits in the settlements, each of which records the rater's counted events.
func TestFeedbackPropertyDB(t *testing.T) {
	for seed := range uint64(3) {
		r := rand.New(rand.NewPCG(seed, 21))
		clk := &clock{t: time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC)}
		e := newEnv(t, postgres.Config{Now: clk.now, FeedbackCap: int64(1 + r.IntN(5)), FeedbackWindow: time.Minute})
		s := e.store
		provider := e.principal("provider")
		if _, err := s.SetFeedbackRate(e.ctx, provider, decimal.New(int64(1+r.IntN(200)), -3)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeclareTraining(e.ctx, ledger.TrainingDeclaration{ProviderID: provider, ModelVersion: "m",
			Epochs: []ledger.EpochWeight{{Epoch: "2026-10", Weight: d("1")}, {Epoch: "2026-11", Weight: d("2.5")}}, Rejected: []string{"r0"}}); err != nil {
			t.Fatal(err)
		}
		n := 0
		var reported []string
		credited := map[string]decimal.Decimal{}
		settle := func() {
			sts, err := s.SettleFeedback(e.ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range sts {
				for _, rs := range st.Raters {
					for _, m := range rs.Amounts {
						if rs.Counted == 0 {
							t.Fatalf("rater %s credited without counted events", rs.RaterID)
						}
						credited[rs.IdentityKey+" "+m.Currency] = credited[rs.IdentityKey+" "+m.Currency].Add(m.Amount)
					}
				}
			}
		}
		for day := range 50 {
			for range r.IntN(4) {
				n++
				_, err := s.ReportFeedback(e.ctx, feedback(provider, "f"+strconv.Itoa(n), "r"+strconv.Itoa(r.IntN(4))))
				if err != nil {
					t.Fatal(err)
				}
			}
			for range r.IntN(3) {
				n++
				u := usage(provider, "u"+strconv.Itoa(n), decimal.New(1+r.Int64N(100000), -int32(r.IntN(5))).String(), key(r.IntN(3)), big.NewRat(1, 3))
				u.ModelID = "m"
				u.Currency = []string{"USD", "EUR"}[r.IntN(2)]
				if _, err := s.PostUsage(e.ctx, u); err != nil {
					t.Fatal(err)
				}
				reported = append(reported, u.RequestID)
			}
			if len(reported) > 0 && r.IntN(3) == 0 {
				_, err := s.ReverseUsage(e.ctx, ledger.ReversalRequest{ProviderID: provider, RequestID: reported[r.IntN(len(reported))], Reason: "refund"})
				if err != nil && royalty.ErrorCode(err) != royalty.EPRECONDITION {
					t.Fatal(err)
				}
			}
			if r.IntN(4) == 0 {
				settle()
			}
			clk.set(time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC).AddDate(0, 0, day+1))
		}
		clk.set(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
		settle()
		settle()
		books := e.check()
		if len(credited) == 0 {
			t.Fatalf("seed %d: no rater was credited", seed)
		}
		for acct, byCur := range books.Balances {
			a, _ := ledger.ParseAccount("a", acct)
			for cur, v := range byCur {
				switch a.Type {
				case ledger.AccountFeedbackPool:
					if !v.IsZero() {
						t.Errorf("seed %d: pool %s left with %s %s", seed, acct, v, cur)
					}
				case ledger.AccountIdentityEscrow:
					if _, _, ok := ledger.ParseRaterIdentity(a.IdentityKey); ok && !v.Equal(credited[a.IdentityKey+" "+cur]) {
						t.Errorf("seed %d: rater %s holds %s %s, settlements credited %s", seed, a.IdentityKey, v, cur, credited[a.IdentityKey+" "+cur])
					}
				}
			}
		}
	}
}

// TestSettleConcurrently: several settlers race on one pool (as several servers' background
// settlers would); exactly one settlement is booked and the others get it back as a replay.
func TestSettleConcurrently(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC)}
	e := newEnv(t, postgres.Config{Now: clk.now, FeedbackWindow: time.Minute})
	s := e.store
	provider := e.principal("provider")
	if _, err := s.SetFeedbackRate(e.ctx, provider, d("0.1")); err != nil {
		t.Fatal(err)
	}
	for i, r := range []string{"x", "y", "y"} {
		if _, err := s.ReportFeedback(e.ctx, feedback(provider, "f"+strconv.Itoa(i), r)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DeclareTraining(e.ctx, ledger.TrainingDeclaration{ProviderID: provider, ModelVersion: "acme-chat",
		Epochs: []ledger.EpochWeight{{Epoch: "2026-11", Weight: d("1")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PostUsage(e.ctx, usage(provider, "u", "3")); err != nil {
		t.Fatal(err)
	}
	clk.set(time.Date(2026, 12, 1, 0, 5, 0, 0, time.UTC))
	pool := ledger.FeedbackPoolAccount(provider, "2026-11", "2026-11-03")
	const n = 6
	results := make([]ledger.FeedbackSettlement, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.SettlePool(e.ctx, pool)
		}()
	}
	wg.Wait()
	booked := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !results[i].Replayed {
			booked++
		}
		if results[i].TransactionID != results[0].TransactionID || results[i].TransactionID == "" {
			t.Fatalf("settlements %d and 0 differ: %s, %s", i, results[i].TransactionID, results[0].TransactionID)
		}
	}
	if booked != 1 {
		t.Fatalf("%d settlements booked, want 1", booked)
	}
	books := e.check()
	settlements := 0
	for _, tx := range books.Transactions {
		if tx.Kind == ledger.KindFeedbackSettlement {
			settlements++
		}
	}
	if settlements != 1 || !e.balance(pool, "USD").IsZero() {
		t.Fatalf("%d settlements in the journal, pool left with %s", settlements, e.balance(pool, "USD"))
	}
	if got := e.balance(ledger.EscrowAccount(ledger.RaterIdentityKey(provider, "y")), "USD"); !got.Equal(d("0.2")) {
		t.Fatalf("rater y holds %s, want 0.2 (two thirds of 0.3)", got)
	}
}
