package ledger_test

import (
	"math/big"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

// The fuzz targets of this file check the parsers and validators that stand between a request
// and the ledger: whatever they accept is what the ledger can store and book, and whatever they
// refuse is refused with EINVALID naming the field. Run one longer with, for example,
// `go test -fuzz FuzzParseAccount ./ledger/`.

// wantInvalid fails unless err is EINVALID and its message names field.
func wantInvalid(t *testing.T, err error, field, input string) {
	t.Helper()
	if royalty.ErrorCode(err) != royalty.EINVALID {
		t.Fatalf("%q: error code %q (%v), want EINVALID", input, royalty.ErrorCode(err), err)
	}
	if !strings.HasPrefix(royalty.ErrorMessage(err), field+": ") {
		t.Fatalf("%q: message %q does not name the field %s", input, royalty.ErrorMessage(err), field)
	}
}

// FuzzParseCurrency checks that an accepted code is three upper-case letters, has a minor unit
// the ledger quantum can represent, and is neither one of the X-codes that are not money nor a
// withdrawn code.
func FuzzParseCurrency(f *testing.F) {
	for _, s := range []string{"USD", "EUR", "JPY", "BHD", "IDR", "IQD", "CLF", "XAF", "XXX", "XTS", "XAU", "XDR", "DEM", "VEF",
		"ZZZ", "usd", "US", "USDT", "U$D", "ÜSD", "", "\xff\xfe\xfd"} {
		f.Add(s)
	}
	notMoney := map[string]bool{"XXX": true, "XTS": true, "XAU": true, "XAG": true, "XPT": true, "XPD": true, "XDR": true,
		"XBA": true, "XBB": true, "XBC": true, "XBD": true, "XSU": true, "XUA": true}
	withdrawn := map[string]bool{"DEM": true, "FRF": true, "ESP": true, "ITL": true, "VEF": true, "HRK": true, "ZWL": true, "ANG": true}
	f.Fuzz(func(t *testing.T, s string) {
		code, err := ledger.ParseCurrency("currency", s)
		if err != nil {
			wantInvalid(t, err, "currency", s)
			return
		}
		if code != s || len(s) != 3 || strings.IndexFunc(s, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
			t.Fatalf("ParseCurrency accepted %q as %q", s, code)
		}
		if notMoney[s] {
			t.Fatalf("%s (no minor unit, not money) accepted", s)
		}
		if withdrawn[s] {
			t.Fatalf("withdrawn %s accepted", s)
		}
		if m := ledger.MinorUnitScale(code); m < 0 || m > 4 || m == 1 {
			t.Fatalf("%s has a minor unit of %d digits; ISO 4217 has 0, 2, 3 or 4", code, m)
		}
		// The minor unit is coarser than the ledger quantum, so payouts in whole minor units
		// are representable amounts.
		if ledger.MinorUnitScale(code) > ledger.DefaultScale {
			t.Fatalf("%s: minor unit finer than the ledger quantum", code)
		}
	})
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"0", "1", "0.15", "1.0", "1.000000000001", "-0", "-0.1", "0.1234567890123", "2", ".5", "1e-1", "NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ledger.ParseRate("royalty_rate", s)
		if err != nil {
			wantInvalid(t, err, "royalty_rate", s)
			return
		}
		if r.Sign() < 0 || r.GreaterThan(decimal.NewFromInt(1)) || !r.Equal(r.Truncate(ledger.MaxScale)) {
			t.Fatalf("ParseRate(%q) = %s, outside [0, 1] or finer than the scale", s, r)
		}
		if ledger.CheckRate("royalty_rate", r) != nil {
			t.Fatalf("ParseRate(%q) = %s, which CheckRate refuses", s, r)
		}
	})
}

// FuzzParseAccount checks that an accepted address is one the ledger itself would build: the
// constructor of its type gives the same address back, and its principal or identity passes
// the same checks as elsewhere.
func FuzzParseAccount(f *testing.F) {
	for _, s := range []string{
		"unattributed", "platform", "payout_clearing",
		"provider:00000000-0000-4000-8000-000000000001", "provider_retained:00000000-0000-4000-8000-000000000001",
		"contributor:00000000-0000-4000-8000-000000000002", "contributor:00000000-0000-4000-8000-00000000000G",
		"escrow:stackexchange:bicycles.meta/123", "escrow:hn:/pg", "escrow:HN:/pg", "escrow:", "provider:", "x",
		"escrow:=HYPERLINK(\"http://x\"):a/b", "contributor:'; DROP TABLE ledger_postings; --",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ledger.ParseAccount("account", s)
		if err != nil {
			wantInvalid(t, err, "account", s)
			return
		}
		var rebuilt string
		switch a.Type {
		case ledger.AccountProvider:
			rebuilt = ledger.ProviderAccount(a.PrincipalID)
		case ledger.AccountProviderRetained:
			rebuilt = ledger.ProviderRetainedAccount(a.PrincipalID)
		case ledger.AccountContributor:
			rebuilt = ledger.ContributorAccount(a.PrincipalID)
		case ledger.AccountIdentityEscrow:
			rebuilt = ledger.EscrowAccount(a.IdentityKey)
			if err := ledger.CheckIdentityKey("identity_key", a.IdentityKey); err != nil {
				t.Fatalf("%q: escrow of a malformed identity accepted: %v", s, err)
			}
		case ledger.AccountUnattributed, ledger.AccountPlatform, ledger.AccountPayoutClearing:
			rebuilt = string(a.Type)
		default:
			t.Fatalf("%q: unknown type %q", s, a.Type)
		}
		if rebuilt != s || a.Address != s {
			t.Fatalf("%q parsed as %+v, which builds %q", s, a, rebuilt)
		}
		if a.PrincipalID != "" && ledger.CheckID("id", a.PrincipalID) != nil {
			t.Fatalf("%q: principal %q is not a UUID", s, a.PrincipalID)
		}
	})
}

// FuzzCheckIdentityKey checks the canonical identity key: short, valid UTF-8, printable without
// spaces, a lower-case platform, a colon, a site and a slash before a non-empty author id.
func FuzzCheckIdentityKey(f *testing.F) {
	for _, s := range []string{"stackexchange:bicycles.meta/123", "hn:/pg", "HN:/pg", "hn:/", "hn:pg", ":/x", "hn:/p g",
		"hn:/\u200bpg", "hn:/\xff", "forum:spokeandcrumb/ana", "=cmd:|' /C calc'!A0", strings.Repeat("a", 298) + ":/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ledger.CheckIdentityKey("identity_key", s)
		if err != nil {
			wantInvalid(t, err, "identity_key", s)
			return
		}
		platform, rest, _ := strings.Cut(s, ":")
		_, author, ok := strings.Cut(rest, "/")
		switch {
		case len(s) > ledger.MaxIdentityKeyBytes, !utf8.ValidString(s):
			t.Fatalf("%q accepted: too long or not UTF-8", s)
		case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0:
			t.Fatalf("%q accepted with a space or an unprintable character", s)
		case platform == "" || strings.ToLower(platform) != platform || !ok || author == "":
			t.Fatalf("%q accepted without platform:site/author", s)
		}
		if _, err := ledger.ParseAccount("account", ledger.EscrowAccount(s)); err != nil {
			t.Fatalf("the escrow of accepted identity %q does not parse: %v", s, err)
		}
	})
}

// FuzzPlanUsage books fuzzed usage requests on paper: whatever ValidateUsage accepts, PlanUsage
// splits into balanced postings at the ledger scale, with every quantum of the revenue
// accounted for and no credit larger than its exact share plus one quantum.
func FuzzPlanUsage(f *testing.F) {
	f.Add("0.0006", "0.1", "0", uint16(1), uint16(4), uint16(1), uint16(2), uint8(3))
	f.Add("1", "1", "0.1", uint16(1), uint16(3), uint16(1), uint16(3), uint8(3))
	f.Add("0.000000000001", "0.5", "0.5", uint16(1), uint16(7), uint16(2), uint16(7), uint8(1))
	f.Add("99999999999999.999999999999", "0.999999999999", "0.000000000001", uint16(1), uint16(1), uint16(0), uint16(1), uint8(0))
	f.Fuzz(func(t *testing.T, revenue, rate, fee string, n1, d1, n2, d2 uint16, identities uint8) {
		req := validUsage()
		var err error
		if req.Revenue, err = ledger.ParseAmount("revenue", revenue, 12); err != nil {
			return
		}
		terms := ledger.Terms{}
		if terms.RoyaltyRate, err = ledger.ParseRate("royalty_rate", rate); err != nil {
			return
		}
		if terms.PlatformFee, err = ledger.ParseRate("platform_fee", fee); err != nil {
			return
		}
		req.Shares, req.Evidence = nil, nil
		keys := []string{"hn:/a", "hn:/b", "reddit:/c", "stackexchange:x/1"}
		for i := 0; i < int(identities)%(len(keys)+1); i++ {
			n, d := n1, d1
			if i%2 == 1 {
				n, d = n2, d2
			}
			if d == 0 {
				d = 1
			}
			req.Shares = append(req.Shares, ledger.Share{IdentityKey: keys[i], Share: big.NewRat(int64(n), int64(d))})
		}
		if err := ledger.ValidateUsage("", req, 12); err != nil {
			if royalty.ErrorCode(err) != royalty.EINVALID {
				t.Fatalf("ValidateUsage: %v, want EINVALID", err)
			}
			return
		}
		u, err := ledger.PlanUsage(req, terms, map[string]string{"hn:/b": contributor}, 12)
		if err != nil {
			t.Fatalf("PlanUsage of a valid request: %v", err)
		}
		if err := ledger.CheckBalanced(u.Postings); err != nil {
			t.Fatalf("unbalanced plan: %v", err)
		}
		if !u.Postings[0].Amount.Equal(req.Revenue) {
			t.Fatalf("provider debited %s, revenue %s", u.Postings[0].Amount, req.Revenue)
		}
		credited := decimal.Zero
		for _, p := range u.Postings[1:] {
			if p.Amount.Sign() >= 0 || ledger.CheckAmount("amount", p.Amount, 12) != nil {
				t.Fatalf("posting %+v: not a credit at the ledger scale", p)
			}
			credited = credited.Add(p.Amount.Neg())
		}
		if !credited.Equal(req.Revenue) {
			t.Fatalf("credits sum to %s, revenue %s", credited, req.Revenue)
		}
		quantum := decimal.New(1, -12)
		royaltyToAuthors := req.Revenue.Mul(terms.RoyaltyRate).Mul(decimal.NewFromInt(1).Sub(terms.PlatformFee))
		for _, c := range u.Credits {
			exact := royaltyToAuthors.Mul(decimal.NewFromBigRat(c.Share, 40))
			if c.Amount.Sub(exact).Abs().GreaterThanOrEqual(quantum) {
				t.Fatalf("credit %s to %s is not within a quantum of its share %s", c.Amount, c.IdentityKey, exact)
			}
		}
	})
}
