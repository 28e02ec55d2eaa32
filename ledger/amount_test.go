package ledger_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		nonNeg  bool
		want    string // empty: an error is expected
		wantMsg string // part of the error message
	}{
		{"plain", "0.0006", false, "0.0006", ""},
		{"integer", "12", false, "12", ""},
		{"negative", "-0.000000000001", false, "-0.000000000001", ""},
		{"twelve digits", "1.123456789012", false, "1.123456789012", ""},
		{"trailing zeros count", "1.5000000000000", false, "", "13 fractional digits"},
		{"largest", strings.Repeat("9", 26) + ".999999999999", false, strings.Repeat("9", 26) + ".999999999999", ""},
		{"too large", "1" + strings.Repeat("0", 26), false, "", "too large"},
		{"empty", "", false, "", "required"},
		{"NaN", "NaN", false, "", "plain decimal"},
		{"infinity", "Infinity", false, "", "plain decimal"},
		{"inf", "-inf", false, "", "plain decimal"},
		{"exponent", "1e-3", false, "", "plain decimal"},
		{"upper exponent", "1E3", false, "", "plain decimal"},
		{"plus", "+1", false, "", "plain decimal"},
		{"leading dot", ".5", false, "", "plain decimal"},
		{"trailing dot", "5.", false, "", "plain decimal"},
		{"space", " 1", false, "", "plain decimal"},
		{"underscore", "1_000", false, "", "plain decimal"},
		{"comma", "1,5", false, "", "plain decimal"},
		{"hex", "0x10", false, "", "plain decimal"},
		{"double minus", "--1", false, "", "plain decimal"},
		{"leading zeros", "007", false, "", "leading zeros"},
		{"arabic digits", "١٢", false, "", "plain decimal"},
		{"negative refused", "-1", true, "", "must not be negative"},
		{"zero allowed by the parser", "0", true, "0", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parse := ledger.ParseAmount
			if tt.nonNeg {
				parse = ledger.ParseNonNegativeAmount
			}
			got, err := parse("revenue", tt.in, 12)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("parse(%q) = %s, want an error", tt.in, got)
				}
				if royalty.ErrorCode(err) != royalty.EINVALID || !strings.HasPrefix(royalty.ErrorMessage(err), "revenue: ") || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("parse(%q) error = %v, want EINVALID naming revenue and saying %q", tt.in, err, tt.wantMsg)
				}
				return
			}
			if err != nil || !got.Equal(decimal.RequireFromString(tt.want)) {
				t.Fatalf("parse(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseCurrency(t *testing.T) {
	for _, ok := range []string{"USD", "EUR", "JPY", "BHD", "CHF", "IDR", "IQD", "COP", "KWD", "CLF", "UYW", "XAF", "XOF", "XPF", "XCD", "VES", "ZWG"} {
		if got, err := ledger.ParseCurrency("currency", ok); err != nil || got != ok {
			t.Errorf("ParseCurrency(%q) = %q, %v", ok, got, err)
		}
	}
	for _, bad := range []string{
		// malformed
		"", "usd", "Usd", "US", "USDD", "U$D", "ÜSD", " USD", "USD ", "US\x00", "\xff\xfe\xfd",
		// unknown
		"ZZZ", "ABC",
		// withdrawn (ISO 4217 List Three)
		"DEM", "FRF", "ESP", "ITL", "VEF", "VEB", "HRK", "LTL", "ZWL", "SLL", "ANG", "MRO", "STD", "BYR", "CUC",
		// no minor unit: metals, units of account, the test code, no currency
		"XAU", "XAG", "XPT", "XPD", "XDR", "XBA", "XBB", "XBC", "XBD", "XSU", "XUA", "XTS", "XXX",
	} {
		_, err := ledger.ParseCurrency("currency", bad)
		if royalty.ErrorCode(err) != royalty.EINVALID || !strings.HasPrefix(royalty.ErrorMessage(err), "currency: ") {
			t.Errorf("ParseCurrency(%q) = %v, want EINVALID naming currency", bad, err)
		}
	}
}

// TestISO4217 pins the ledger's currencies to ISO 4217 List One (the SIX list-one.xml): the minor
// units, the X-codes kept and the size of the list. An update of github.com/bojanz/currency that
// follows an ISO amendment fails here until the change is looked at and this test updated.
func TestISO4217(t *testing.T) {
	minor := map[string]int32{
		"USD": 2, "EUR": 2, "JPY": 0, "KWD": 3, "BHD": 3,
		// CLDR (golang.org/x/text/currency) gives 0 for these; ISO 4217 gives the minor unit.
		"IDR": 2, "IQD": 3, "COP": 2, "RSD": 2, "IRR": 2, "LAK": 2, "ALL": 2, "YER": 2, "SYP": 2,
		"LBP": 2, "MMK": 2, "AFN": 2,
		// four digits
		"CLF": 4, "UYW": 4,
	}
	for code, want := range minor {
		if _, err := ledger.ParseCurrency("currency", code); err != nil {
			t.Errorf("ParseCurrency(%q) = %v", code, err)
		}
		if got := ledger.MinorUnitScale(code); got != want {
			t.Errorf("MinorUnitScale(%s) = %d, want %d (ISO 4217)", code, got, want)
		}
	}

	// Every three-letter code: the accepted ones, by minor unit.
	accepted := 0
	var xCodes []string
	byDigits := map[int32][]string{}
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			for c := 'A'; c <= 'Z'; c++ {
				code := string([]rune{a, b, c})
				if _, err := ledger.ParseCurrency("currency", code); err != nil {
					if m := ledger.MinorUnitScale(code); m != 0 {
						t.Errorf("refused %s has a minor unit of %d", code, m)
					}
					continue
				}
				accepted++
				if a == 'X' {
					xCodes = append(xCodes, code)
				}
				m := ledger.MinorUnitScale(code)
				if m != 2 {
					byDigits[m] = append(byDigits[m], code)
				}
			}
		}
	}
	// The X-codes that are currencies with a minor unit; the metals, XDR, XBA–XBD, XSU, XUA, XTS
	// and XXX have none ("N.A." in List One) and are refused.
	if got, want := strings.Join(xCodes, " "), "XAD XAF XCD XCG XOF XPF"; got != want {
		t.Errorf("accepted X-codes %s, want %s", got, want)
	}
	want := map[int32]string{
		0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
		3: "BHD IQD JOD KWD LYD OMR TND",
		4: "CLF UYW",
	}
	for m, codes := range byDigits {
		if strings.Join(codes, " ") != want[m] {
			t.Errorf("currencies with %d minor digits: %s, want %s", m, strings.Join(codes, " "), want[m])
		}
	}
	for m := range want {
		if _, ok := byDigits[m]; !ok {
			t.Errorf("no currency with %d minor digits, want %s", m, want[m])
		}
	}
	if accepted != 165 {
		t.Errorf("%d currencies accepted, want the 165 of ISO 4217 List One with a minor unit", accepted)
	}
}

func TestAvailable(t *testing.T) {
	tests := []struct{ balance, cur, want string }{
		{"12.349999999999", "USD", "12.34"},
		{"0.009", "USD", "0"},
		{"-1", "USD", "0"},
		{"1234.9", "JPY", "1234"},
		{"1.2345", "BHD", "1.234"},
		{"10.509", "IDR", "10.5"},
		{"1.2509", "IQD", "1.25"},
		{"1.23456", "CLF", "1.2345"},
	}
	for _, tt := range tests {
		got := ledger.Available(decimal.RequireFromString(tt.balance), tt.cur)
		if !got.Equal(decimal.RequireFromString(tt.want)) {
			t.Errorf("Available(%s %s) = %s, want %s", tt.balance, tt.cur, got, tt.want)
		}
	}
}

func TestCheckAmount(t *testing.T) {
	if err := ledger.CheckAmount("x", decimal.RequireFromString("1.50"), 1); err != nil {
		t.Errorf("1.50 at scale 1: %v", err)
	}
	if err := ledger.CheckAmount("x", decimal.RequireFromString("1.05"), 1); royalty.ErrorCode(err) != royalty.EINVALID {
		t.Errorf("1.05 at scale 1: %v, want EINVALID", err)
	}
	if err := ledger.CheckAmount("x", decimal.New(1, 26), 12); royalty.ErrorCode(err) != royalty.EINVALID {
		t.Errorf("1e26: %v, want EINVALID", err)
	}
}

var wireAmount = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,12})?$`)

// FuzzParseAmount checks that the parser accepts exactly the wire format and that what it
// accepts round-trips: the value printed at the ledger scale parses back to the same value.
// Run longer with `go test -fuzz FuzzParseAmount ./ledger/`.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"0", "0.0006", "-1.5", "1e3", "NaN", "+1", ".5", "00", "1.0000000000001",
		strings.Repeat("9", 27), "-0", "1.", "Infinity", "0x1p-2", "1_0", " 1", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ledger.ParseAmount("amount", s, 12)
		if wireAmount.MatchString(s) != (err == nil) {
			t.Fatalf("ParseAmount(%q) error = %v, but the wire format says %v", s, err, wireAmount.MatchString(s))
		}
		if err != nil {
			if royalty.ErrorCode(err) != royalty.EINVALID {
				t.Fatalf("ParseAmount(%q) error code %q, want EINVALID", s, royalty.ErrorCode(err))
			}
			return
		}
		if !d.Equal(decimal.RequireFromString(s)) {
			t.Fatalf("ParseAmount(%q) = %s, not the value written", s, d)
		}
		again, err := ledger.ParseAmount("amount", d.StringFixed(12), 12)
		if err != nil || !again.Equal(d) {
			t.Fatalf("%q → %s does not round-trip: %s, %v", s, d.StringFixed(12), again, err)
		}
		if ledger.CheckAmount("amount", d, 12) != nil {
			t.Fatalf("ParseAmount(%q) = %s, which CheckAmount refuses", s, d)
		}
	})
}
