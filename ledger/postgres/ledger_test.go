package postgres_test

import (
	"bytes"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/postgres"
)

var timeZero time.Time

func TestPostUsage(t *testing.T) {
	for _, gc := range []bool{false, true} {
		name := map[bool]string{false: "direct", true: "group commit"}[gc]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, postgres.Config{GroupCommit: postgres.GroupCommit{Disabled: !gc}})
			prov, alice := e.principal("provider"), e.principal("contributor")
			if _, err := e.store.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: key(1), ContributorID: alice}); err != nil {
				t.Fatal(err)
			}
			req := usage(prov, "r1", "0.0006", key(1), big.NewRat(1, 2), key(2), big.NewRat(1, 4))
			res, err := e.store.PostUsage(e.ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			u := res.Usage
			if res.Replayed || u.TransactionID == "" || !u.Royalty.Equal(d("0.00006")) || !u.Retained.Equal(d("0.00054")) || !u.Unattributed.Equal(d("0.000015")) {
				t.Fatalf("PostUsage = %+v", res)
			}
			if len(u.Credits) != 2 || u.Credits[0].ContributorID != alice || u.Credits[0].Account != ledger.ContributorAccount(alice) ||
				!u.Credits[0].Amount.Equal(d("0.00003")) || u.Credits[1].Account != ledger.EscrowAccount(key(2)) {
				t.Fatalf("credits = %+v", u.Credits)
			}
			if got := e.balance(ledger.ContributorAccount(alice), "USD"); !got.Equal(d("0.00003")) {
				t.Fatalf("alice's balance = %s", got)
			}
			if got := e.balance(ledger.ProviderAccount(prov), "USD"); !got.Equal(d("0.0006")) {
				t.Fatalf("provider's balance = %s (debit-normal, should be positive)", got)
			}

			// Replay: same key, same payload — the original, nothing booked.
			again, err := e.store.PostUsage(e.ctx, req)
			if err != nil || !again.Replayed || again.Usage.TransactionID != u.TransactionID || len(again.Usage.Evidence) != 2 {
				t.Fatalf("replay = %+v, %v", again, err)
			}
			// Conflict: same key, different payload — an error, nothing booked.
			other := req
			other.Revenue = d("0.0007")
			_, err = e.store.PostUsage(e.ctx, other)
			wantField(t, err, royalty.ECONFLICT, "request_id")
			// Invalid input changes nothing.
			bad := req
			bad.RequestID, bad.Currency = "r2", "XYZ"
			_, err = e.store.PostUsage(e.ctx, bad)
			wantField(t, err, royalty.EINVALID, "currency")
			// Unknown provider.
			_, err = e.store.PostUsage(e.ctx, usage(alice, "r3", "1"))
			wantField(t, err, royalty.ENOTFOUND, "provider_id")

			books := e.check()
			if len(books.Transactions) != 1 { // the release (no money waiting) booked nothing
				t.Fatalf("%d transactions, want 1", len(books.Transactions))
			}

			// Reads.
			got, err := e.store.GetUsage(e.ctx, u.TransactionID)
			if err != nil || got.RequestID != "r1" || got.ModelID != "acme-chat" || got.InputTokens != 100 || !got.RoyaltyRate.Equal(d("0.1")) ||
				len(got.Postings) != 5 || got.Credits[0].Share.Cmp(big.NewRat(1, 2)) != 0 || got.Credits[0].Words.Cmp(big.NewRat(3, 1)) != 0 {
				t.Fatalf("GetUsage = %+v, %v", got, err)
			}
			if _, err := e.store.UsageByRequest(e.ctx, prov, "nope"); royalty.ErrorCode(err) != royalty.ENOTFOUND {
				t.Fatalf("UsageByRequest(unknown) = %v", err)
			}
			if _, err := e.store.ReplayUsage(e.ctx, prov, "r1", ledger.PayloadHash(req)); err != nil {
				t.Fatalf("ReplayUsage = %v", err)
			}
			_, err = e.store.ReplayUsage(e.ctx, prov, "r1", []byte("other"))
			wantCode(t, err, royalty.ECONFLICT)
		})
	}
}

func TestCallerRequestHash(t *testing.T) {
	e := newEnv(t, postgres.Config{})
	prov := e.principal("provider")
	req := usage(prov, "r1", "1", key(1), big.NewRat(1, 1))
	req.RequestHash = []byte("hash of the full request, response text included")
	first, err := e.store.PostUsage(e.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// The same request attributed differently later (the index grew) is still the same request.
	req.Shares[0].Share = big.NewRat(1, 2)
	again, err := e.store.PostUsage(e.ctx, req)
	if err != nil || !again.Replayed || again.Usage.TransactionID != first.Usage.TransactionID {
		t.Fatalf("replay with the caller's hash = %+v, %v", again, err)
	}
	req.RequestHash = []byte("another response text")
	_, err = e.store.PostUsage(e.ctx, req)
	wantCode(t, err, royalty.ECONFLICT)
	e.check()
}

func TestPostUsageBatch(t *testing.T) {
	e := newEnv(t, postgres.Config{})
	prov := e.principal("provider")
	var reqs []ledger.UsageRequest
	for i := 0; i < 50; i++ {
		reqs = append(reqs, usage(prov, "b"+string(rune('A'+i)), "0.001", key(i), big.NewRat(1, 3), key(i+1), big.NewRat(1, 3)))
	}
	reqs = append(reqs, reqs[7]) // the same report twice in one batch: booked once
	res, err := e.store.PostUsageBatch(e.ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 51 || res[50].Usage.TransactionID != res[7].Usage.TransactionID || !res[50].Replayed || res[7].Replayed {
		t.Fatalf("duplicate in batch: %+v / %+v", res[7], res[50])
	}
	before := e.check()
	if len(before.Transactions) != 50 {
		t.Fatalf("%d transactions, want 50", len(before.Transactions))
	}

	// All or nothing: one new report, one replay and one conflict — nothing booked, the error
	// names the conflicting report.
	conflicting := reqs[3]
	conflicting.Revenue = d("0.002")
	_, err = e.store.PostUsageBatch(e.ctx, []ledger.UsageRequest{usage(prov, "new", "1"), reqs[0], conflicting})
	wantField(t, err, royalty.ECONFLICT, "reports[2].request_id")
	// An invalid report names its index.
	bad := usage(prov, "new2", "-1")
	_, err = e.store.PostUsageBatch(e.ctx, []ledger.UsageRequest{usage(prov, "new", "1"), bad})
	wantField(t, err, royalty.EINVALID, "reports[1].revenue")
	// Two reports with one key and different payloads.
	_, err = e.store.PostUsageBatch(e.ctx, []ledger.UsageRequest{usage(prov, "x", "1"), usage(prov, "x", "2")})
	wantField(t, err, royalty.ECONFLICT, "reports[1].request_id")
	after := e.check()
	if after.Fingerprint != before.Fingerprint {
		t.Fatal("a failed batch changed the books")
	}

	// A replayed batch returns the originals.
	again, err := e.store.PostUsageBatch(e.ctx, reqs[:10])
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range again {
		if !r.Replayed || r.Usage.TransactionID != res[i].Usage.TransactionID || len(r.Usage.Postings) != len(res[i].Usage.Postings) {
			t.Fatalf("replayed batch item %d = %+v", i, r)
		}
	}
}

func TestReleaseEscrow(t *testing.T) {
	e := newEnv(t, postgres.Config{})
	prov, alice, bob := e.principal("provider"), e.principal("contributor"), e.principal("contributor")
	usd := usage(prov, "u1", "1", key(1), big.NewRat(1, 1))
	eur := usage(prov, "u2", "2", key(1), big.NewRat(1, 2))
	eur.Currency = "EUR"
	for _, r := range []ledger.UsageRequest{usd, eur} {
		if _, err := e.store.PostUsage(e.ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	rel, err := e.store.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: key(1), ContributorID: alice})
	if err != nil {
		t.Fatal(err)
	}
	if rel.TransactionID == "" || len(rel.Released) != 2 || rel.Replayed ||
		!rel.Released[0].Amount.Equal(d("0.1")) || rel.Released[0].Currency != "EUR" || !rel.Released[1].Amount.Equal(d("0.1")) {
		t.Fatalf("release = %+v", rel)
	}
	if got := e.balance(ledger.EscrowAccount(key(1)), "USD"); !got.IsZero() {
		t.Fatalf("escrow after release = %s", got)
	}
	if got := e.balance(ledger.ContributorAccount(alice), "EUR"); !got.Equal(d("0.1")) {
		t.Fatalf("alice's EUR = %s", got)
	}
	again, err := e.store.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: key(1), ContributorID: alice})
	if err != nil || !again.Replayed || again.TransactionID != rel.TransactionID {
		t.Fatalf("second release = %+v, %v", again, err)
	}
	_, err = e.store.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: key(1), ContributorID: bob})
	wantField(t, err, royalty.ECONFLICT, "identity_key")
	_, err = e.store.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: key(2), ContributorID: prov})
	wantField(t, err, royalty.ENOTFOUND, "contributor_id")
	owners, err := e.store.IdentityOwners(e.ctx, []string{key(1), key(2)})
	if err != nil || len(owners) != 1 || owners[key(1)] != alice {
		t.Fatalf("owners = %v, %v", owners, err)
	}

	// After the release, reports credit alice directly.
	res, err := e.store.PostUsage(e.ctx, usage(prov, "u3", "1", key(1), big.NewRat(1, 1)))
	if err != nil || res.Usage.Credits[0].Account != ledger.ContributorAccount(alice) {
		t.Fatalf("usage after release = %+v, %v", res, err)
	}
	e.check()
}

func TestPayout(t *testing.T) {
	e := newEnv(t, postgres.Config{DefaultRoyaltyRate: "1"})
	prov, alice := e.principal("provider"), e.principal("contributor")
	if _, err := e.store.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: key(1), ContributorID: alice}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.PostUsage(e.ctx, usage(prov, "u1", "12.345678901234", key(1), big.NewRat(1, 1))); err != nil {
		t.Fatal(err)
	}
	req := ledger.PayoutRequest{ContributorID: alice, RequestID: "p1", Currency: "USD", Amount: ptr(d("10"))}
	p, err := e.store.Payout(e.ctx, req)
	if err != nil || !p.Payout.Amount.Equal(d("10")) || !p.Payout.Remaining.Equal(d("2.345678901234")) {
		t.Fatalf("payout = %+v, %v", p, err)
	}
	again, err := e.store.Payout(e.ctx, req)
	if err != nil || !again.Replayed || again.Payout.TransactionID != p.Payout.TransactionID || !again.Payout.Remaining.Equal(p.Payout.Remaining) {
		t.Fatalf("replayed payout = %+v, %v", again, err)
	}
	req.Amount = ptr(d("1"))
	_, err = e.store.Payout(e.ctx, req)
	wantField(t, err, royalty.ECONFLICT, "request_id")

	tests := []struct {
		name  string
		req   ledger.PayoutRequest
		code  string
		field string
	}{
		{"more than available", ledger.PayoutRequest{ContributorID: alice, RequestID: "p2", Currency: "USD", Amount: ptr(d("2.35"))}, royalty.EPRECONDITION, "amount"},
		{"sub-cent amount", ledger.PayoutRequest{ContributorID: alice, RequestID: "p2", Currency: "USD", Amount: ptr(d("0.001"))}, royalty.EINVALID, "amount"},
		{"negative amount", ledger.PayoutRequest{ContributorID: alice, RequestID: "p2", Currency: "USD", Amount: ptr(d("-1"))}, royalty.EINVALID, "amount"},
		{"unknown currency", ledger.PayoutRequest{ContributorID: alice, RequestID: "p2", Currency: "usd"}, royalty.EINVALID, "currency"},
		{"no request id", ledger.PayoutRequest{ContributorID: alice, Currency: "USD"}, royalty.EINVALID, "request_id"},
		{"not a contributor", ledger.PayoutRequest{ContributorID: prov, RequestID: "p2", Currency: "USD"}, royalty.ENOTFOUND, "contributor_id"},
		{"nothing in that currency", ledger.PayoutRequest{ContributorID: alice, RequestID: "p2", Currency: "EUR"}, royalty.EPRECONDITION, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.store.Payout(e.ctx, tt.req)
			wantField(t, err, tt.code, tt.field)
		})
	}
	// Everything available: rounded down to the cent, the sub-cent rest stays.
	all, err := e.store.Payout(e.ctx, ledger.PayoutRequest{ContributorID: alice, RequestID: "p3", Currency: "USD"})
	if err != nil || !all.Payout.Amount.Equal(d("2.34")) || !all.Payout.Remaining.Equal(d("0.005678901234")) {
		t.Fatalf("payout of everything = %+v, %v", all, err)
	}
	_, err = e.store.Payout(e.ctx, ledger.PayoutRequest{ContributorID: alice, RequestID: "p4", Currency: "USD"})
	wantCode(t, err, royalty.EPRECONDITION)
	bs, err := e.store.Balances(e.ctx, ledger.ContributorAccount(alice), timeZero)
	if err != nil || len(bs) != 1 || !bs[0].Balance.Equal(d("0.005678901234")) || !bs[0].Available.IsZero() {
		t.Fatalf("balances = %+v, %v", bs, err)
	}
	if got := e.balance(ledger.PayoutClearingAccount, "USD"); !got.Equal(d("12.34")) {
		t.Fatalf("payout clearing = %s", got)
	}
	e.check()
}

// TestPayoutMinorUnits pays out in currencies whose ISO 4217 minor unit is not CLDR's display
// digits: 10.50 IDR (2 decimals, CLDR 0) and 1.250 IQD (3 decimals, CLDR 0) are whole minor units.
func TestPayoutMinorUnits(t *testing.T) {
	e := newEnv(t, postgres.Config{DefaultRoyaltyRate: "1"})
	prov, alice := e.principal("provider"), e.principal("contributor")
	if _, err := e.store.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: key(1), ContributorID: alice}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct{ id, revenue, cur string }{{"u-idr", "12.345", "IDR"}, {"u-iqd", "2.0009", "IQD"}} {
		req := usage(prov, u.id, u.revenue, key(1), big.NewRat(1, 1))
		req.Currency = u.cur
		if _, err := e.store.PostUsage(e.ctx, req); err != nil {
			t.Fatalf("usage in %s: %v", u.cur, err)
		}
	}
	bs, err := e.store.Balances(e.ctx, ledger.ContributorAccount(alice), timeZero)
	if err != nil || len(bs) != 2 {
		t.Fatalf("balances = %+v, %v", bs, err)
	}
	for _, b := range bs {
		if want := map[string]string{"IDR": "12.34", "IQD": "2"}[b.Currency]; !b.Available.Equal(d(want)) {
			t.Fatalf("available %s %s, want %s", b.Available, b.Currency, want)
		}
	}

	idr, err := e.store.Payout(e.ctx, ledger.PayoutRequest{ContributorID: alice, RequestID: "p-idr", Currency: "IDR", Amount: ptr(d("10.50"))})
	if err != nil || !idr.Payout.Amount.Equal(d("10.5")) || !idr.Payout.Remaining.Equal(d("1.845")) {
		t.Fatalf("payout of 10.50 IDR = %+v, %v", idr, err)
	}
	iqd, err := e.store.Payout(e.ctx, ledger.PayoutRequest{ContributorID: alice, RequestID: "p-iqd", Currency: "IQD", Amount: ptr(d("1.250"))})
	if err != nil || !iqd.Payout.Amount.Equal(d("1.25")) || !iqd.Payout.Remaining.Equal(d("0.7509")) {
		t.Fatalf("payout of 1.250 IQD = %+v, %v", iqd, err)
	}
	// Below the minor unit is still refused.
	_, err = e.store.Payout(e.ctx, ledger.PayoutRequest{ContributorID: alice, RequestID: "p2", Currency: "IDR", Amount: ptr(d("0.005"))})
	wantField(t, err, royalty.EINVALID, "amount")
	_, err = e.store.Payout(e.ctx, ledger.PayoutRequest{ContributorID: alice, RequestID: "p2", Currency: "IQD", Amount: ptr(d("0.0005"))})
	wantField(t, err, royalty.EINVALID, "amount")
	// Everything available, rounded down to the minor unit.
	all, err := e.store.Payout(e.ctx, ledger.PayoutRequest{ContributorID: alice, RequestID: "p-iqd-all", Currency: "IQD"})
	if err != nil || !all.Payout.Amount.Equal(d("0.75")) || !all.Payout.Remaining.Equal(d("0.0009")) {
		t.Fatalf("payout of all IQD = %+v, %v", all, err)
	}
	// Codes that are not money or withdrawn are refused before anything is read.
	for _, cur := range []string{"XAU", "XTS", "DEM"} {
		_, err = e.store.Payout(e.ctx, ledger.PayoutRequest{ContributorID: alice, RequestID: "p3", Currency: cur})
		wantField(t, err, royalty.EINVALID, "currency")
		req := usage(prov, "u-"+cur, "1", key(1), big.NewRat(1, 1))
		req.Currency = cur
		_, err = e.store.PostUsage(e.ctx, req)
		wantField(t, err, royalty.EINVALID, "currency")
	}
	if got := e.balance(ledger.PayoutClearingAccount, "IQD"); !got.Equal(d("2")) {
		t.Fatalf("IQD payout clearing = %s", got)
	}
	if got := e.balance(ledger.PayoutClearingAccount, "IDR"); !got.Equal(d("10.5")) {
		t.Fatalf("IDR payout clearing = %s", got)
	}
	e.check()
}

func TestReverseUsage(t *testing.T) {
	e := newEnv(t, postgres.Config{DefaultRoyaltyRate: "0.5"})
	prov, other, alice := e.principal("provider"), e.principal("provider"), e.principal("contributor")
	res, err := e.store.PostUsage(e.ctx, usage(prov, "u1", "1", key(1), big.NewRat(1, 2), key(2), big.NewRat(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	u := res.Usage
	// The escrow of key(1) is released before the reversal: the reversal takes the credit back
	// from alice, where the money now is.
	if _, err := e.store.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: key(1), ContributorID: alice}); err != nil {
		t.Fatal(err)
	}
	req := ledger.ReversalRequest{ProviderID: prov, RequestID: "u1", Reason: "customer refund"}
	rev, err := e.store.ReverseUsage(e.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if rev.Replayed || rev.Usage.Reversal == nil || rev.Usage.Reversal.Reason != "customer refund" || len(rev.Postings) != len(u.Postings) {
		t.Fatalf("reversal = %+v", rev)
	}
	for _, acct := range []string{ledger.ContributorAccount(alice), ledger.EscrowAccount(key(1)), ledger.EscrowAccount(key(2)), ledger.ProviderAccount(prov)} {
		if got := e.balance(acct, "USD"); !got.IsZero() {
			t.Fatalf("%s after reversal = %s, want 0", acct, got)
		}
	}
	got, err := e.store.GetUsage(e.ctx, u.TransactionID)
	if err != nil || got.Reversal == nil || got.Reversal.TransactionID != rev.Usage.Reversal.TransactionID {
		t.Fatalf("GetUsage after reversal = %+v, %v", got.Reversal, err)
	}
	again, err := e.store.ReverseUsage(e.ctx, ledger.ReversalRequest{ProviderID: prov, TransactionID: u.TransactionID, Reason: "customer refund"})
	if err != nil || !again.Replayed || again.Usage.Reversal.TransactionID != rev.Usage.Reversal.TransactionID {
		t.Fatalf("second reversal = %+v, %v", again, err)
	}
	_, err = e.store.ReverseUsage(e.ctx, ledger.ReversalRequest{ProviderID: prov, RequestID: "u1", Reason: "another reason"})
	wantCode(t, err, royalty.EPRECONDITION)
	_, err = e.store.ReverseUsage(e.ctx, ledger.ReversalRequest{ProviderID: prov, TransactionID: rev.Usage.Reversal.TransactionID, Reason: "undo"})
	wantCode(t, err, royalty.EPRECONDITION) // a reversal cannot be reversed
	_, err = e.store.ReverseUsage(e.ctx, ledger.ReversalRequest{ProviderID: other, RequestID: "u1", Reason: "not mine"})
	wantCode(t, err, royalty.ENOTFOUND)
	_, err = e.store.ReverseUsage(e.ctx, ledger.ReversalRequest{ProviderID: prov, RequestID: "u1"})
	wantField(t, err, royalty.EINVALID, "reason")
	_, err = e.store.ReverseUsage(e.ctx, ledger.ReversalRequest{ProviderID: prov, Reason: "x"})
	wantField(t, err, royalty.EINVALID, "transaction_id")

	// Money already paid out cannot be reversed: the reversal is refused. The provider learns
	// that and what to do, but not whose balance fell short or by how much: that is another
	// principal's balance and payout.
	res2, err := e.store.PostUsage(e.ctx, usage(prov, "u2", "4", key(1), big.NewRat(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Payout(e.ctx, ledger.PayoutRequest{ContributorID: alice, RequestID: "p", Currency: "USD", Amount: ptr(d("1.5"))}); err != nil {
		t.Fatal(err)
	}
	before := e.check()
	_, err = e.store.ReverseUsage(e.ctx, ledger.ReversalRequest{ProviderID: prov, TransactionID: res2.Usage.TransactionID, Reason: "refund"})
	wantCode(t, err, royalty.EPRECONDITION)
	if msg := royalty.ErrorMessage(err); !strings.Contains(msg, "already paid out") ||
		strings.Contains(msg, alice) || strings.Contains(msg, "1.5") || strings.Contains(msg, "2.5") || strings.Contains(msg, "contributor:") {
		t.Fatalf("message %q must say the money was paid out, and name neither the contributor nor amounts", msg)
	}
	if after := e.check(); after.Fingerprint != before.Fingerprint {
		t.Fatal("a refused reversal changed the books")
	}
}

func TestStatement(t *testing.T) {
	e := newEnv(t, postgres.Config{DefaultRoyaltyRate: "1"})
	prov, alice := e.principal("provider"), e.principal("contributor")
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.store.Close()
	store, err := postgres.New(e.pool, nil, postgres.Config{DefaultRoyaltyRate: "1", Now: func() time.Time { clock = clock.Add(time.Second); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: key(1), ContributorID: alice}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 7; i++ {
		// Two identities of alice in one report: two entries, each with its own evidence.
		r, err := store.PostUsage(e.ctx, usage(prov, "s"+string(rune('0'+i)), "1", key(1), big.NewRat(1, 4)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.Usage.TransactionID)
	}
	mid := clock
	if _, err := store.Payout(e.ctx, ledger.PayoutRequest{ContributorID: alice, RequestID: "p", Currency: "USD", Amount: ptr(d("1"))}); err != nil {
		t.Fatal(err)
	}
	var entries []ledger.StatementEntry
	token := ""
	for pages := 0; ; pages++ {
		page, err := store.Statement(e.ctx, ledger.StatementQuery{Account: ledger.ContributorAccount(alice), PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, page.Entries...)
		if token = page.NextPageToken; token == "" {
			break
		}
		if pages > 5 {
			t.Fatal("statement does not end")
		}
	}
	if len(entries) != 8 {
		t.Fatalf("%d entries, want 8", len(entries))
	}
	if entries[0].Kind != ledger.KindPayout || !entries[0].Amount.Equal(d("-1")) {
		t.Fatalf("newest entry = %+v, want the payout of -1", entries[0])
	}
	last := entries[7]
	if last.TransactionID != ids[0] || last.Kind != ledger.KindUsage || !last.Amount.Equal(d("0.25")) || last.IdentityKey != key(1) ||
		last.ModelID != "acme-chat" || len(last.Evidence) != 1 || last.Evidence[0].PostID != "post-"+key(1) {
		t.Fatalf("oldest entry = %+v", last)
	}
	// Balances as of a time.
	bs, err := store.Balances(e.ctx, ledger.ContributorAccount(alice), mid)
	if err != nil || len(bs) != 1 || !bs[0].Balance.Equal(d("1.75")) {
		t.Fatalf("balance as of before the payout = %+v, %v", bs, err)
	}
	_, err = store.Statement(e.ctx, ledger.StatementQuery{Account: ledger.ContributorAccount(alice), PageToken: "garbage"})
	wantField(t, err, royalty.EINVALID, "page_token")
	_, err = store.Statement(e.ctx, ledger.StatementQuery{Account: "nobody", PageSize: 3})
	wantCode(t, err, royalty.EINVALID)
}

func TestTrialBalanceAndAgreements(t *testing.T) {
	e := newEnv(t, postgres.Config{PlatformFee: "0.1"})
	prov := e.principal("provider")
	a, err := e.store.GetAgreement(e.ctx, prov)
	if err != nil || !a.Default || !a.RoyaltyRate.Equal(d("0.1")) {
		t.Fatalf("default agreement = %+v, %v", a, err)
	}
	if _, err := e.store.SetAgreement(e.ctx, prov, d("0.25")); err != nil {
		t.Fatal(err)
	}
	_, err = e.store.SetAgreement(e.ctx, prov, d("1.5"))
	wantField(t, err, royalty.EINVALID, "royalty_rate")
	contributor := e.principal("contributor")
	_, err = e.store.SetAgreement(e.ctx, contributor, d("0.5"))
	wantField(t, err, royalty.ENOTFOUND, "provider_id")
	res, err := e.store.PostUsage(e.ctx, usage(prov, "u", "100", key(1), big.NewRat(1, 3)))
	if err != nil {
		t.Fatal(err)
	}
	u := res.Usage
	if !u.RoyaltyRate.Equal(d("0.25")) || !u.Retained.Equal(d("75")) || !u.PlatformFee.Equal(d("2.5")) || !u.Unattributed.Equal(d("15")) {
		t.Fatalf("usage = retained %s fee %s unattributed %s", u.Retained, u.PlatformFee, u.Unattributed)
	}
	eur := usage(prov, "e", "3", key(1), big.NewRat(1, 3))
	eur.Currency = "EUR"
	if _, err := e.store.PostUsage(e.ctx, eur); err != nil {
		t.Fatal(err)
	}
	tb, err := e.store.TrialBalance(e.ctx, timeZero)
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Totals) != 2 || tb.Postings != 10 {
		t.Fatalf("trial balance = %+v", tb)
	}
	perCurrency := map[string]int64{}
	for _, l := range tb.Lines {
		if l.Type == ledger.AccountProvider && l.Currency == "USD" && (!l.Debits.Equal(d("100")) || l.Accounts != 1 || l.Postings != 1) {
			t.Fatalf("provider line = %+v", l)
		}
		perCurrency[l.Currency] += l.Postings
	}
	// Each usage posts 5 postings in its own currency.
	if perCurrency["USD"] != 5 || perCurrency["EUR"] != 5 {
		t.Fatalf("postings per currency = %v, want 5 USD and 5 EUR", perCurrency)
	}
	e.check()
}

func TestConfig(t *testing.T) {
	e := newEnv(t, postgres.Config{})
	for _, cfg := range []postgres.Config{{Scale: 13}, {Scale: -1}, {DefaultRoyaltyRate: "2"}, {PlatformFee: "abc"}} {
		if _, err := postgres.New(e.pool, nil, cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	// A coarser scale refuses finer revenues.
	s, err := postgres.New(e.pool, nil, postgres.Config{Scale: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	prov := e.principal("provider")
	_, err = s.PostUsage(e.ctx, usage(prov, "u", "0.0000001"))
	wantField(t, err, royalty.EINVALID, "revenue")
	if !bytes.Equal(ledger.PayloadHash(usage(prov, "u", "1")), ledger.HashUsage(usage(prov, "u", "1"))) {
		t.Fatal("PayloadHash without a caller hash is not HashUsage")
	}
}
