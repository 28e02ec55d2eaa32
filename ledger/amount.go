package ledger

import (
	"fmt"
	"strings"

	"github.com/bojanz/currency"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
)

// Limits of the amount column (NUMERIC(38,12) in the schema). CockroachDB silently rounds a
// DECIMAL(p,s) to its scale on insert and PostgreSQL refuses too many integer digits, so every
// amount is checked against these limits in Go before it reaches the database.
const (
	// MaxScale is the most fractional digits an amount can have: the scale of the column.
	MaxScale = 12
	// MaxIntegerDigits is the most digits an amount can have before the decimal point.
	MaxIntegerDigits = 38 - MaxScale
)

// DefaultScale is the default ledger scale: the quantum is 10^-12, far below any currency's minor
// unit, because a single response earns fractions of a cent (docs/design.md §2).
const DefaultScale = 12

// ParseAmount parses a decimal string in the wire format: an optional minus sign, digits, and an
// optional fraction of at most scale digits ("12.5", "-0.000000000001"). Exponents, NaN,
// infinities, a leading plus or dot, whitespace and magnitudes beyond the amount column are
// refused. Errors are EINVALID and name field.
func ParseAmount(field, s string, scale int32) (decimal.Decimal, error) {
	return parseAmount(field, s, scale, true)
}

// ParseNonNegativeAmount is ParseAmount for amounts that must not be negative.
func ParseNonNegativeAmount(field, s string, scale int32) (decimal.Decimal, error) {
	return parseAmount(field, s, scale, false)
}

func parseAmount(field, s string, scale int32, allowNegative bool) (decimal.Decimal, error) {
	bad := func(format string, args ...any) (decimal.Decimal, error) {
		return decimal.Decimal{}, royalty.FieldErrorf(royalty.EINVALID, field, format, args...)
	}
	if s == "" {
		return bad("required: a decimal string such as \"0.0006\"")
	}
	digits := s
	negative := false
	if digits[0] == '-' {
		negative = true
		digits = digits[1:]
	}
	intPart, frac, hasDot := strings.Cut(digits, ".")
	if !allDigits(intPart) || (hasDot && !allDigits(frac)) {
		return bad("want a plain decimal such as \"0.0006\" (no exponent, sign other than a leading minus, spaces, NaN or infinity), got %s", quote(s))
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return bad("leading zeros are not allowed, got %s", quote(s))
	}
	if negative && !allowNegative {
		return bad("must not be negative, got %s", quote(s))
	}
	if len(frac) > int(scale) {
		return bad("%d fractional digits, at most %d allowed (the ledger scale), got %s", len(frac), scale, quote(s))
	}
	if len(intPart) > MaxIntegerDigits {
		return bad("too large: at most %d digits before the decimal point, got %s", MaxIntegerDigits, quote(s))
	}
	d, err := decimal.NewFromString(s)
	if err != nil { // unreachable after the checks above; kept so a library change cannot slip through
		return bad("not a decimal: %v", err)
	}
	return d, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// CheckAmount checks an amount that arrives as a decimal rather than a string: at most scale
// fractional digits (by value, so 1.50 with a scale of 1 passes) and at most MaxIntegerDigits
// before the point. Errors are EINVALID and name field.
func CheckAmount(field string, d decimal.Decimal, scale int32) error {
	if !d.Equal(d.Truncate(scale)) {
		return royalty.FieldErrorf(royalty.EINVALID, field, "more than %d fractional digits (the ledger scale): %s", scale, d.String())
	}
	if d.Abs().Cmp(maxMagnitude) >= 0 {
		return royalty.FieldErrorf(royalty.EINVALID, field, "too large: at most %d digits before the decimal point", MaxIntegerDigits)
	}
	return nil
}

var maxMagnitude = decimal.New(1, MaxIntegerDigits)

// ParseCurrency checks an ISO 4217 currency code: three upper-case letters naming a current
// currency that has a minor unit. Errors are EINVALID and name field.
//
// The accepted codes, and their minor units (MinorUnitScale), are the entries of ISO 4217 List
// One (current currency and funds codes) whose minor unit is a number, as published by the
// maintenance agency SIX (https://www.six-group.com/dam/download/financial-information/
// data-center/iso-currrency/lists/list-one.xml). github.com/bojanz/currency holds that table: its
// generator reads list-one.xml and leaves out the entries whose minor unit is "N.A.".
// golang.org/x/text/currency is not used for this: it knows withdrawn codes (DEM, FRF, VEF...)
// and its rounding digits are CLDR's display digits, not ISO minor units (0 for IDR, COP and
// IQD, whose minor units are 2, 2 and 3).
//
// So the ledger accepts:
//   - every current national currency (USD, EUR, JPY, IDR, IQD, ...);
//   - the X-codes that List One gives a minor unit: XAF and XOF (CFA francs, 0 digits), XPF
//     (CFP franc, 0), XCD (East Caribbean dollar, 2), XCG (Caribbean guilder, 2) and XAD (Arab
//     Accounting Dinar, 2);
//   - the funds codes of List One, which have minor units too (BOV, CHE, CHW, CLF, COU, MXV,
//     USN, UYI, UYW). Whether a payout can be settled in one is the payment processor's
//     business, not the ledger's.
//
// It refuses withdrawn codes (ISO 4217 List Three: DEM, FRF, ESP, VEF, HRK, ZWL, ANG...), the
// codes without a minor unit (the metals XAU, XAG, XPT, XPD; the units XDR, XBA–XBD, XSU, XUA;
// the test code XTS; XXX, "no currency") and everything else.
//
// An amendment of ISO 4217 reaches the ledger with an update of github.com/bojanz/currency;
// TestISO4217 pins the cases above, so such an update is reviewed, not silent. Nothing in this
// module may call currency.Register, which would widen the accepted set.
func ParseCurrency(field, code string) (string, error) {
	if len(code) != 3 || strings.IndexFunc(code, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		return "", royalty.FieldErrorf(royalty.EINVALID, field, "want an ISO 4217 code of three upper-case letters such as \"USD\", got %s", quote(code))
	}
	if _, ok := currency.GetDigits(code); !ok {
		return "", royalty.FieldErrorf(royalty.EINVALID, field, "%s is not a current ISO 4217 currency with a minor unit (withdrawn, unknown, or not money like XAU and XXX)", quote(code))
	}
	return code, nil
}

// MinorUnitScale is the number of fractional digits of a currency's minor unit as ISO 4217 List
// One gives it (2 for USD and IDR, 0 for JPY, 3 for BHD and IQD, 4 for CLF). Payouts are made in
// whole minor units. The code must have passed ParseCurrency; for any other code it is 0.
func MinorUnitScale(code string) int32 {
	digits, ok := currency.GetDigits(code)
	if !ok {
		return 0
	}
	return int32(digits)
}

// Available is what a payout can take from a balance: the balance rounded down to the
// currency's minor unit, never below zero. The rest stays in the account.
func Available(balance decimal.Decimal, code string) decimal.Decimal {
	if balance.Sign() <= 0 {
		return decimal.Zero
	}
	return balance.RoundFloor(MinorUnitScale(code))
}

// ParseRate parses a fraction in [0, 1] such as a royalty rate ("0.15") with at most MaxScale
// fractional digits. Errors are EINVALID and name field.
func ParseRate(field, s string) (decimal.Decimal, error) {
	d, err := ParseNonNegativeAmount(field, s, MaxScale)
	if err != nil {
		return decimal.Decimal{}, err
	}
	return d, CheckRate(field, d)
}

// CheckRate checks that a rate is in [0, 1] with at most MaxScale fractional digits.
func CheckRate(field string, d decimal.Decimal) error {
	if d.Sign() < 0 || d.GreaterThan(decimal.NewFromInt(1)) {
		return royalty.FieldErrorf(royalty.EINVALID, field, "must be between 0 and 1, got %s", d.String())
	}
	if !d.Equal(d.Truncate(MaxScale)) {
		return royalty.FieldErrorf(royalty.EINVALID, field, "more than %d fractional digits: %s", MaxScale, d.String())
	}
	return nil
}
