// Package usage books what model responses earned: it validates a provider's report, attributes
// the response to the posts it reuses, and books the revenue through the ledger as one idempotent
// operation, keeping the attribution evidence with the transaction. It is the application layer
// between the gRPC handlers (services) and the domain packages (attribution, ledger).
package usage

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

// Report is one provider's report of what one model response earned.
type Report struct {
	ProviderID       string
	RequestID        string
	ModelID          string
	ModelVersionHash string
	InputTokens      uint64
	OutputTokens     uint64
	// Exactly one of Revenue and PricePerOutputToken is set (as given, a decimal string).
	Revenue             string
	PricePerOutputToken string
	Currency            string
	ResponseText        string
}

// Limits bound what a report may carry.
type Limits struct {
	MaxResponseTextBytes int
	Scale                int32 // fractional digits of the ledger quantum
}

// DefaultLimits are used when a field of Limits is zero.
var DefaultLimits = Limits{MaxResponseTextBytes: 64 << 10, Scale: 12}

// maxAmount bounds revenues: far above any real response and well inside NUMERIC's range.
var maxAmount = decimal.New(1, 15)

// Validated is a report whose fields have been checked, with its revenue computed.
type Validated struct {
	Report
	Amount decimal.Decimal // the revenue, exactly
	// Hash is the SHA-256 of the canonical encoding of every field; the same request id with a
	// different hash is a conflict.
	Hash []byte
}

// Validate checks every field and computes the revenue. field prefixes the names in errors (for
// example "reports[3]." in a batch). Errors: EINVALID naming the field.
func (r Report) Validate(field string, lim Limits) (Validated, error) {
	if lim.MaxResponseTextBytes == 0 {
		lim.MaxResponseTextBytes = DefaultLimits.MaxResponseTextBytes
	}
	if lim.Scale == 0 {
		lim.Scale = DefaultLimits.Scale
	}
	bad := func(name, format string, args ...any) (Validated, error) {
		return Validated{}, royalty.FieldErrorf(royalty.EINVALID, field+name, format, args...)
	}
	if err := checkKey(r.RequestID, 200); err != "" {
		return bad("request_id", "%s", err)
	}
	if err := checkKey(r.ModelID, 200); err != "" {
		return bad("model_id", "%s", err)
	}
	if r.ModelVersionHash != "" {
		if err := checkKey(r.ModelVersionHash, 200); err != "" {
			return bad("model_version_hash", "%s", err)
		}
	}
	if _, err := ledger.ParseCurrency(field+"currency", r.Currency); err != nil {
		return Validated{}, err
	}
	if len(r.ResponseText) > lim.MaxResponseTextBytes {
		return bad("response_text", "%d bytes, more than the limit of %d", len(r.ResponseText), lim.MaxResponseTextBytes)
	}
	if !utf8.ValidString(r.ResponseText) {
		return bad("response_text", "not valid UTF-8")
	}
	if strings.TrimSpace(r.ResponseText) == "" {
		return bad("response_text", "must not be empty")
	}
	var amount decimal.Decimal
	switch {
	case r.Revenue != "" && r.PricePerOutputToken != "":
		return bad("revenue", "give either revenue or price_per_output_token, not both")
	case r.Revenue != "":
		d, err := parseAmount(field+"revenue", r.Revenue, lim.Scale)
		if err != nil {
			return Validated{}, err
		}
		amount = d
	case r.PricePerOutputToken != "":
		p, err := parseAmount(field+"price_per_output_token", r.PricePerOutputToken, lim.Scale)
		if err != nil {
			return Validated{}, err
		}
		amount = p.Mul(decimal.NewFromUint64(r.OutputTokens))
		if amount.GreaterThan(maxAmount) {
			return bad("price_per_output_token", "price × output_tokens exceeds %s", maxAmount)
		}
	default:
		return bad("revenue", "required (or price_per_output_token)")
	}
	if amount.Sign() == 0 {
		// A zero revenue would book a transaction without postings; the ledger refuses it too.
		return bad("revenue", "must be positive")
	}
	v := Validated{Report: r, Amount: amount}
	v.Hash = r.hash(amount)
	return v, nil
}

// parseAmount parses a non-negative amount in the wire format shared with the ledger
// (ledger.ParseNonNegativeAmount: plain digits, no exponent, sign, leading dot or leading
// zeros) with at most scale fractional digits, bounded by maxAmount.
func parseAmount(field, s string, scale int32) (decimal.Decimal, error) {
	d, err := ledger.ParseNonNegativeAmount(field, s, scale)
	if err != nil {
		return decimal.Decimal{}, err
	}
	if d.GreaterThan(maxAmount) {
		return decimal.Decimal{}, royalty.FieldErrorf(royalty.EINVALID, field, "larger than %s", maxAmount)
	}
	return d, nil
}

// checkKey checks an identifier: 1 to max printable characters.
func checkKey(s string, max int) string {
	switch {
	case s == "":
		return "required"
	case utf8.RuneCountInString(s) > max:
		return "longer than " + decimal.NewFromInt(int64(max)).String() + " characters"
	case !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return "must be printable characters"
	}
	return ""
}

// hash is the SHA-256 of every field of the report, each length-prefixed so that no two
// different reports encode alike. The revenue enters as the exact amount (so "0.50" and "0.5"
// are the same report) together with how it was given.
func (r Report) hash(amount decimal.Decimal) []byte {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	pricing := "revenue"
	given := amount.String()
	if r.PricePerOutputToken != "" {
		pricing = "price_per_output_token"
		given = decimal.RequireFromString(r.PricePerOutputToken).String()
	}
	field("royalty.usage.v1")
	field(r.ProviderID)
	field(r.RequestID)
	field(r.ModelID)
	field(r.ModelVersionHash)
	field(decimal.NewFromUint64(r.InputTokens).String())
	field(decimal.NewFromUint64(r.OutputTokens).String())
	field(pricing)
	field(given)
	field(r.Currency)
	field(r.ResponseText)
	return h.Sum(nil)
}
