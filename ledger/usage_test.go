package ledger_test

import (
	"bytes"
	"fmt"
	"math/big"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

const (
	provider    = "00000000-0000-4000-8000-000000000001"
	contributor = "00000000-0000-4000-8000-000000000002"
)

func validUsage() ledger.UsageRequest {
	return ledger.UsageRequest{
		ProviderID: provider,
		RequestID:  "req-1",
		ModelID:    "acme-chat",
		Revenue:    decimal.RequireFromString("0.0006"),
		Currency:   "USD",
		Shares: []ledger.Share{
			{IdentityKey: "stackexchange:bicycles/2", Share: big.NewRat(1, 4)},
			{IdentityKey: "stackexchange:bicycles/1", Share: big.NewRat(1, 2)},
		},
		Evidence: []ledger.Evidence{{IdentityKey: "stackexchange:bicycles/1", PostID: "p1", ResponseEnd: 10, ResponseWordEnd: 2, SourceEnd: 10, Text: "two words"}},
	}
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestPlanUsage(t *testing.T) {
	type line struct{ account, amount string }
	tests := []struct {
		name   string
		mutate func(*ledger.UsageRequest)
		terms  ledger.Terms
		owners map[string]string
		want   []line
	}{
		{
			name:   "claimed and unclaimed identities",
			terms:  ledger.Terms{RoyaltyRate: d("0.1")},
			owners: map[string]string{"stackexchange:bicycles/1": contributor},
			want: []line{
				{"provider:" + provider, "0.0006"},
				{"provider_retained:" + provider, "-0.00054"},
				{"contributor:" + contributor, "-0.00003"},
				{"escrow:stackexchange:bicycles/2", "-0.000015"},
				{"unattributed", "-0.000015"},
			},
		},
		{
			name:   "platform fee, no remainder",
			mutate: func(r *ledger.UsageRequest) { r.Shares = r.Shares[1:]; r.Shares[0].Share = big.NewRat(1, 1) },
			terms:  ledger.Terms{RoyaltyRate: d("1"), PlatformFee: d("0.1")},
			want: []line{
				{"provider:" + provider, "0.0006"},
				{"platform", "-0.00006"},
				{"escrow:stackexchange:bicycles/1", "-0.00054"},
			},
		},
		{
			name:  "rate zero keeps everything with the provider",
			terms: ledger.Terms{RoyaltyRate: d("0")},
			want: []line{
				{"provider:" + provider, "0.0006"},
				{"provider_retained:" + provider, "-0.0006"},
			},
		},
		{
			name:   "one quantum goes to the largest remainder",
			mutate: func(r *ledger.UsageRequest) { r.Revenue = d("0.000000000001") },
			terms:  ledger.Terms{RoyaltyRate: d("0.8")}, // weights: retained 0.2, bicycles/1 0.4, bicycles/2 0.2, unattributed 0.2
			want: []line{
				{"provider:" + provider, "0.000000000001"},
				{"escrow:stackexchange:bicycles/1", "-0.000000000001"},
			},
		},
		{
			name: "thirds split to the last quantum",
			mutate: func(r *ledger.UsageRequest) {
				r.Revenue = d("1")
				r.Shares[0].Share = big.NewRat(1, 3)
				r.Shares[1].Share = big.NewRat(2, 3)
			},
			terms: ledger.Terms{RoyaltyRate: d("1")},
			want: []line{
				{"provider:" + provider, "1"},
				{"escrow:stackexchange:bicycles/1", "-0.666666666667"},
				{"escrow:stackexchange:bicycles/2", "-0.333333333333"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := validUsage()
			if tt.mutate != nil {
				tt.mutate(&req)
			}
			if err := ledger.ValidateUsage("", req, 12); err != nil {
				t.Fatal(err)
			}
			u, err := ledger.PlanUsage(req, tt.terms, tt.owners, 12)
			if err != nil {
				t.Fatal(err)
			}
			if err := ledger.CheckBalanced(u.Postings); err != nil {
				t.Fatal(err)
			}
			var got []line
			for _, p := range u.Postings {
				got = append(got, line{p.Account, p.Amount.String()})
			}
			if len(got) != len(tt.want) {
				t.Fatalf("postings = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("postings = %v, want %v", got, tt.want)
				}
			}
			if !u.Royalty.Add(u.Retained).Equal(u.Revenue) {
				t.Fatalf("royalty %s + retained %s != revenue %s", u.Royalty, u.Retained, u.Revenue)
			}
			for _, c := range u.Credits {
				p := u.Postings[c.PostingIndex]
				if p.Account != c.Account || !p.Amount.Neg().Equal(c.Amount) {
					t.Fatalf("credit %+v does not match posting %+v", c, p)
				}
			}
		})
	}
}

func TestValidateUsage(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*ledger.UsageRequest)
		field  string
	}{
		{"provider not a uuid", func(r *ledger.UsageRequest) { r.ProviderID = "acme" }, "provider_id"},
		{"no request id", func(r *ledger.UsageRequest) { r.RequestID = "" }, "request_id"},
		{"long request id", func(r *ledger.UsageRequest) { r.RequestID = strings.Repeat("x", 201) }, "request_id"},
		{"control character", func(r *ledger.UsageRequest) { r.RequestID = "a\x00b" }, "request_id"},
		{"no model", func(r *ledger.UsageRequest) { r.ModelID = "" }, "model_id"},
		{"zero revenue", func(r *ledger.UsageRequest) { r.Revenue = decimal.Zero }, "revenue"},
		{"negative revenue", func(r *ledger.UsageRequest) { r.Revenue = d("-1") }, "revenue"},
		{"too many digits", func(r *ledger.UsageRequest) { r.Revenue = d("0.0000000000001") }, "revenue"},
		{"too large", func(r *ledger.UsageRequest) { r.Revenue = decimal.New(1, 26) }, "revenue"},
		{"bad currency", func(r *ledger.UsageRequest) { r.Currency = "usd" }, "currency"},
		{"unknown currency", func(r *ledger.UsageRequest) { r.Currency = "ZZZ" }, "currency"},
		{"bad identity", func(r *ledger.UsageRequest) { r.Shares[0].IdentityKey = "no colon" }, "shares[0].identity_key"},
		{"duplicate identity", func(r *ledger.UsageRequest) { r.Shares[1].IdentityKey = r.Shares[0].IdentityKey }, "shares[1].identity_key"},
		{"zero share", func(r *ledger.UsageRequest) { r.Shares[0].Share = new(big.Rat) }, "shares[0].share"},
		{"nil share", func(r *ledger.UsageRequest) { r.Shares[0].Share = nil }, "shares[0].share"},
		{"share above one", func(r *ledger.UsageRequest) { r.Shares[0].Share = big.NewRat(3, 2) }, "shares[0].share"},
		{"shares sum above one", func(r *ledger.UsageRequest) { r.Shares[0].Share = big.NewRat(2, 3) }, "shares"},
		{"evidence without share", func(r *ledger.UsageRequest) { r.Evidence[0].IdentityKey = "hn:/pg" }, "evidence[0].identity_key"},
		{"evidence range", func(r *ledger.UsageRequest) { r.Evidence[0].ResponseStart = 11 }, "evidence[0].response_start"},
		{"evidence post id", func(r *ledger.UsageRequest) { r.Evidence[0].PostID = "a\x00b" }, "evidence[0].post_id"},
		{"evidence post url", func(r *ledger.UsageRequest) { r.Evidence[0].PostURL = strings.Repeat("u", 2001) }, "evidence[0].post_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := validUsage()
			tt.mutate(&req)
			err := ledger.ValidateUsage("reports[3].", req, 12)
			var e *royalty.Error
			if royalty.ErrorCode(err) != royalty.EINVALID || !asError(err, &e) || e.Field != "reports[3]."+tt.field {
				t.Fatalf("ValidateUsage = %v, want EINVALID on reports[3].%s", err, tt.field)
			}
			if !strings.HasPrefix(e.Message, e.Field+": ") {
				t.Fatalf("message %q does not start with the field %q", e.Message, e.Field)
			}
		})
	}
}

func asError(err error, e **royalty.Error) bool {
	x, ok := err.(*royalty.Error)
	*e = x
	return ok
}

func TestHashUsage(t *testing.T) {
	a := validUsage()
	b := validUsage()
	b.Shares[0], b.Shares[1] = b.Shares[1], b.Shares[0]
	if !bytes.Equal(ledger.HashUsage(a), ledger.HashUsage(b)) {
		t.Fatal("share order changed the hash")
	}
	b.Revenue = d("0.0007")
	if bytes.Equal(ledger.HashUsage(a), ledger.HashUsage(b)) {
		t.Fatal("revenue did not change the hash")
	}
	c := validUsage()
	c.Evidence[0].Text = "other"
	if bytes.Equal(ledger.HashUsage(a), ledger.HashUsage(c)) {
		t.Fatal("evidence did not change the hash")
	}
	c.RequestHash = []byte("caller")
	if !bytes.Equal(ledger.PayloadHash(c), []byte("caller")) {
		t.Fatal("PayloadHash ignores the caller's hash")
	}
}

// TestHashUsageGolden pins the payload hash encoding: stored transactions keep the hash of the
// request that booked them, and a retry is a replay only if it hashes the same, so the encoding
// can never change (a new one needs a new domain string).
func TestHashUsageGolden(t *testing.T) {
	req := ledger.UsageRequest{ProviderID: "7a3c5e0e-1b2d-4c5f-9a8b-0123456789ab", RequestID: "r-1", ModelID: "m", ModelVersionHash: "v",
		InputTokens: 10, OutputTokens: 300, Revenue: d("0.0006"), Currency: "USD",
		Shares: []ledger.Share{{IdentityKey: "hn:/pg", Share: big.NewRat(3, 10), Words: big.NewRat(90, 1)}, {IdentityKey: "hn:/a", Share: big.NewRat(1, 3)}},
		Evidence: []ledger.Evidence{{IdentityKey: "hn:/pg", PostID: "p", PostURL: "u", ResponseStart: 1, ResponseEnd: 5, ResponseWordStart: 0,
			ResponseWordEnd: 3, SourceStart: 7, SourceEnd: 9, Text: "héllo"}},
		AttributionRef: "a", Algorithm: "x"}
	const want = "408388a882f60bcea9200ccfb8390d43235eec7736fb06ff08869456879f9dbe"
	for i := 0; i < 3; i++ { // again, with recycled buffers
		if got := fmt.Sprintf("%x", ledger.HashUsage(req)); got != want {
			t.Fatalf("HashUsage = %s, want %s", got, want)
		}
	}
}

func TestCheckIdentityKey(t *testing.T) {
	for _, ok := range []string{"stackexchange:bicycles.meta/123", "hn:/pg", "reddit:/u_name", "generic-blog:example.com/alice", "hn:/zoë"} {
		if err := ledger.CheckIdentityKey("k", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "pg", "hn:pg", "hn:/", "HN:/pg", "hn:/p g", ":/x", "hn:/\x01", "hn:/a\u00a0b", "hn:/\xff", "hn:/a\x7fb"} {
		if err := ledger.CheckIdentityKey("k", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestPlanUsageMatchesSplit checks that the usage plan, which splits with integer weights for
// speed, gives exactly what Split gives for the rational weights of its documentation.
func TestPlanUsageMatchesSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for c := 0; c < 3000; c++ {
		req := validUsage()
		req.Revenue = decimal.New(1+rng.Int64N(1_000_000_000), -int32(rng.IntN(13)))
		req.Shares, req.Evidence = nil, nil
		den := 1 + rng.Int64N(500)
		remaining := big.NewRat(1, 1)
		for i := 0; i < rng.IntN(12); i++ {
			if rng.IntN(3) == 0 { // a different denominator now and then
				den = 1 + rng.Int64N(500)
			}
			s := big.NewRat(1+rng.Int64N(den), den)
			if s.Cmp(remaining) > 0 {
				break
			}
			remaining.Sub(remaining, s)
			req.Shares = append(req.Shares, ledger.Share{IdentityKey: fmt.Sprintf("hn:/u%d", rng.IntN(1000)*100+i), Share: s})
		}
		terms := ledger.Terms{
			RoyaltyRate: decimal.New(rng.Int64N(1001), -3),
			PlatformFee: decimal.New(rng.Int64N(101), -int32(2+rng.IntN(3))),
		}
		if rng.IntN(10) == 0 {
			terms.RoyaltyRate = decimal.NewFromInt(1)
		}
		if err := ledger.ValidateUsage("", req, 12); err != nil {
			t.Fatalf("case %d: %v", c, err)
		}
		u, err := ledger.PlanUsage(req, terms, nil, 12)
		if err != nil {
			t.Fatalf("case %d: %v", c, err)
		}
		one := big.NewRat(1, 1)
		rate, fee := terms.RoyaltyRate.Rat(), terms.PlatformFee.Rat()
		toAuthors := new(big.Rat).Mul(rate, new(big.Rat).Sub(one, fee))
		parts := []ledger.Part{{Key: "retained", Weight: new(big.Rat).Sub(one, rate)}, {Key: "platform", Weight: new(big.Rat).Mul(rate, fee)}}
		sorted := append([]ledger.Share(nil), req.Shares...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].IdentityKey < sorted[j].IdentityKey })
		attributed := new(big.Rat)
		for _, s := range sorted {
			parts = append(parts, ledger.Part{Key: "identity:" + s.IdentityKey, Weight: new(big.Rat).Mul(toAuthors, s.Share)})
			attributed.Add(attributed, s.Share)
		}
		parts = append(parts, ledger.Part{Key: "unattributed", Weight: new(big.Rat).Mul(toAuthors, new(big.Rat).Sub(one, attributed))})
		want, err := ledger.Split(req.Revenue, 12, parts)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]decimal.Decimal{"retained": u.Retained, "platform": u.PlatformFee, "unattributed": u.Unattributed}
		for _, cr := range u.Credits {
			got["identity:"+cr.IdentityKey] = cr.Amount
		}
		for i, p := range parts {
			if g := got[p.Key]; !g.Equal(want[i]) {
				t.Fatalf("case %d: %s = %s, Split gives %s", c, p.Key, g, want[i])
			}
		}
		if err := ledger.CheckBalanced(u.Postings); err != nil {
			t.Fatalf("case %d: %v", c, err)
		}
	}
}
