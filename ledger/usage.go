package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
)

// Limits on what one request may carry.
const (
	MaxShares            = 1000
	MaxEvidence          = 10000
	MaxBatch             = 1000
	MaxRequestIDChars    = 200
	MaxReasonChars       = 500
	maxTextFieldChars    = 200
	maxEvidenceTextBytes = 64 << 10
	// MaxPostRefChars bounds the post ids and URLs that evidence cites (CheckPostRef).
	MaxPostRefChars = 2000
)

// Terms are the rates a usage is split by.
type Terms struct {
	// RoyaltyRate is the fraction of the revenue paid as royalty, in [0, 1].
	RoyaltyRate decimal.Decimal
	// PlatformFee is the fraction of the royalty the platform keeps, in [0, 1].
	PlatformFee decimal.Decimal
}

// ValidateUsage checks every field of a usage request against the ledger scale. Field names in
// errors are prefixed with prefix (for example "reports[3]."). Errors are EINVALID.
func ValidateUsage(prefix string, req UsageRequest, scale int32) error {
	// Field names are built only for an error: this runs for every report of every batch.
	return withPrefix(prefix, validateUsage(req, scale))
}

// withPrefix returns err with prefix put before its field name (and before the message, which
// starts with the field name), or err itself when it names no field or prefix is empty.
func withPrefix(prefix string, err error) error {
	var e *royalty.Error
	if prefix == "" || !errors.As(err, &e) || e.Field == "" {
		return err
	}
	return &royalty.Error{Code: e.Code, Field: prefix + e.Field, Message: prefix + e.Message}
}

func validateUsage(req UsageRequest, scale int32) error {
	bad := func(field, format string, args ...any) error {
		return royalty.FieldErrorf(royalty.EINVALID, field, format, args...)
	}
	if err := CheckID("provider_id", req.ProviderID); err != nil {
		return err
	}
	if err := checkText("request_id", req.RequestID, MaxRequestIDChars, true); err != nil {
		return err
	}
	if err := checkText("model_id", req.ModelID, maxTextFieldChars, true); err != nil {
		return err
	}
	if err := checkText("model_version_hash", req.ModelVersionHash, maxTextFieldChars, false); err != nil {
		return err
	}
	if err := checkText("attribution_ref", req.AttributionRef, maxTextFieldChars, false); err != nil {
		return err
	}
	if err := checkText("algorithm", req.Algorithm, maxTextFieldChars, false); err != nil {
		return err
	}
	if req.InputTokens > 1<<62 {
		return bad("input_tokens", "too large: at most %d", uint64(1)<<62)
	}
	if req.OutputTokens > 1<<62 {
		return bad("output_tokens", "too large: at most %d", uint64(1)<<62)
	}
	if _, err := ParseCurrency("currency", req.Currency); err != nil {
		return err
	}
	if req.Revenue.Sign() <= 0 {
		return bad("revenue", "must be positive, got %s", req.Revenue.String())
	}
	if err := CheckAmount("revenue", req.Revenue, scale); err != nil {
		return err
	}
	if len(req.Shares) > MaxShares {
		return bad("shares", "%d shares, at most %d allowed", len(req.Shares), MaxShares)
	}
	seen := make(map[string]bool, len(req.Shares))
	for i, s := range req.Shares {
		f := func() string { return "shares[" + strconv.Itoa(i) + "]." }
		if err := CheckIdentityKey("identity_key", s.IdentityKey); err != nil {
			return withPrefix(f(), err)
		}
		if seen[s.IdentityKey] {
			return bad(f()+"identity_key", "identity %s appears twice", quote(s.IdentityKey))
		}
		seen[s.IdentityKey] = true
		if s.Share == nil || s.Share.Sign() <= 0 || !atMostOne(s.Share) {
			return bad(f()+"share", "must be in (0, 1], got %s", ratString(s.Share))
		}
		if s.Words != nil && s.Words.Sign() < 0 {
			return bad(f()+"words", "must not be negative, got %s", ratString(s.Words))
		}
	}
	if sum, lcm := shareSum(req.Shares); sum.Cmp(lcm) > 0 {
		return bad("shares", "sum to %s, more than 1", new(big.Rat).SetFrac(sum, lcm).FloatString(12))
	}
	if len(req.Evidence) > MaxEvidence {
		return bad("evidence", "%d spans, at most %d allowed", len(req.Evidence), MaxEvidence)
	}
	for i, e := range req.Evidence {
		f := func() string { return "evidence[" + strconv.Itoa(i) + "]." }
		if !seen[e.IdentityKey] {
			return bad(f()+"identity_key", "identity %s has no share", quote(e.IdentityKey))
		}
		if err := CheckPostRef("post_id", e.PostID); err != nil {
			return withPrefix(f(), err)
		}
		if err := CheckPostRef("post_url", e.PostURL); err != nil {
			return withPrefix(f(), err)
		}
		if e.ResponseStart < 0 || e.ResponseEnd < e.ResponseStart ||
			e.ResponseWordStart < 0 || e.ResponseWordEnd < e.ResponseWordStart ||
			e.SourceStart < 0 || e.SourceEnd < e.SourceStart {
			return bad(f()+"response_start", "ranges must be non-negative with start ≤ end")
		}
		if len(e.Text) > maxEvidenceTextBytes || !utf8.ValidString(e.Text) {
			return bad(f()+"text", "must be valid UTF-8 of at most %d bytes", maxEvidenceTextBytes)
		}
	}
	return nil
}

// atMostOne reports whether the positive fraction r is at most 1, without allocating.
func atMostOne(r *big.Rat) bool { return r.Num().CmpAbs(r.Denom()) <= 0 }

func ratString(r *big.Rat) string {
	if r == nil {
		return "nil"
	}
	return r.RatString()
}

// CheckTerms checks a royalty rate and platform fee.
func CheckTerms(t Terms) error {
	if err := CheckRate("royalty_rate", t.RoyaltyRate); err != nil {
		return err
	}
	return CheckRate("platform_fee", t.PlatformFee)
}

// HashUsage is the SHA-256 of the canonical encoding of every field of a usage request that
// the ledger books; it is the payload hash when the caller gives no RequestHash. Shares are
// hashed in identity key order, so their order does not matter; evidence is hashed in order.
func HashUsage(req UsageRequest) []byte {
	h := newFieldHash("royalty.ledger.usage.v1")
	h.str(req.ProviderID)
	h.str(req.RequestID)
	h.str(req.ModelID)
	h.str(req.ModelVersionHash)
	h.uint(req.InputTokens)
	h.uint(req.OutputTokens)
	h.str(req.Revenue.String())
	h.str(req.Currency)
	h.str(req.AttributionRef)
	h.str(req.Algorithm)
	shares := sortedShares(req.Shares)
	h.uint(uint64(len(shares)))
	for _, s := range shares {
		h.str(s.IdentityKey)
		h.rat(s.Share)
		h.rat(s.Words)
	}
	h.uint(uint64(len(req.Evidence)))
	for _, e := range req.Evidence {
		h.str(e.IdentityKey)
		h.str(e.PostID)
		h.str(e.PostURL)
		for _, n := range [...]int{e.ResponseStart, e.ResponseEnd, e.ResponseWordStart, e.ResponseWordEnd, e.SourceStart, e.SourceEnd} {
			h.uint(uint64(n))
		}
		h.str(e.Text)
	}
	if req.Response != "" { // absent before responses were stored: those hashes stay the same
		h.str("response")
		h.str(req.Response)
	}
	return h.sum()
}

// PayloadHash is the hash an idempotent usage request is compared by: the caller's RequestHash
// when given, else HashUsage.
func PayloadHash(req UsageRequest) []byte {
	if len(req.RequestHash) > 0 {
		return req.RequestHash
	}
	return HashUsage(req)
}

// HashPayout is the payload hash of a payout request.
func HashPayout(req PayoutRequest) []byte {
	h := newFieldHash("royalty.ledger.payout.v1")
	h.str(req.ContributorID)
	h.str(req.RequestID)
	h.str(req.Currency)
	if req.Amount == nil {
		h.str("all")
	} else {
		h.str(req.Amount.String())
	}
	return h.sum()
}

// HashReversal is the payload hash of a reversal: the reversed transaction and the reason.
func HashReversal(reversedID, reason string) []byte {
	h := newFieldHash("royalty.ledger.reversal.v1")
	h.str(reversedID)
	h.str(reason)
	return h.sum()
}

// fieldHash hashes length-prefixed fields so that no two different field lists encode alike.
// Fields are collected in a buffer and hashed once: many small writes to SHA-256 cost more than
// the hashing itself.
type fieldHash struct{ buf []byte }

// hashBuffers recycles the buffers of fieldHash: a report's fields with its evidence take a
// few kilobytes, allocated for every report otherwise.
var hashBuffers = sync.Pool{New: func() any { return new([]byte) }}

func newFieldHash(domain string) *fieldHash {
	f := &fieldHash{buf: (*hashBuffers.Get().(*[]byte))[:0]}
	f.str(domain)
	return f
}

func (f *fieldHash) str(s string) {
	f.uint(uint64(len(s)))
	f.buf = append(f.buf, s...)
}

// rat hashes a fraction (or nil) as its sign and the bytes of its numerator and denominator.
func (f *fieldHash) rat(r *big.Rat) {
	if r == nil {
		f.uint(0)
		return
	}
	f.uint(uint64(2 + r.Sign()))
	f.int(r.Num())
	f.int(r.Denom())
}

func (f *fieldHash) bytes(b []byte) {
	f.uint(uint64(len(b)))
	f.buf = append(f.buf, b...)
}

// int appends the length-prefixed big-endian bytes of |x|, as bytes(x.Bytes()) would, without
// allocating them.
func (f *fieldHash) int(x *big.Int) {
	n := (x.BitLen() + 7) / 8
	f.uint(uint64(n))
	f.buf = slices.Grow(f.buf, n)
	x.FillBytes(f.buf[len(f.buf) : len(f.buf)+n])
	f.buf = f.buf[:len(f.buf)+n]
}

func (f *fieldHash) uint(n uint64) { f.buf = binary.BigEndian.AppendUint64(f.buf, n) }

// sum returns the hash of the fields; f must not be used afterwards.
func (f *fieldHash) sum() []byte {
	s := sha256.Sum256(f.buf)
	if cap(f.buf) <= 64<<10 { // keep the pool's buffers small
		b := f.buf[:0]
		hashBuffers.Put(&b)
	}
	f.buf = nil
	return s[:]
}

// Part keys of the usage split; identity parts are keyed by "identity:" + key. The keys order
// the tie-break and can never collide because identity keys contain a colon.
const (
	partRetained     = "retained"
	partPlatform     = "platform"
	partUnattributed = "unattributed"
	partIdentity     = "identity:"
)

// PlanUsage computes the transaction of a validated usage request: the whole revenue R is split
// in one largest-remainder Split over exact weights — retained 1 − rate, platform fee
// rate × fee, each identity rate × (1 − fee) × share, unattributed rate × (1 − fee) ×
// (1 − Σ shares) — so every quantum of R is accounted for. owners maps claimed identity keys
// to their contributor: those credits go to the contributor's account, the others to the
// identity's escrow. Zero parts get no posting. The returned Usage has everything but the
// transaction id, creation time and payload hash.
//
// Postings are in a fixed order: the provider's debit, then the retained part, the platform
// fee, the identities in key order and the unattributed remainder.
func PlanUsage(req UsageRequest, terms Terms, owners map[string]string, scale int32) (Usage, error) {
	shares := sortedShares(req.Shares)
	weights, keys := usageWeights(terms, shares)
	amounts, err := splitInts(req.Revenue, scale, weights, keys)
	if err != nil {
		return Usage{}, err
	}

	u := Usage{
		RequestID:        req.RequestID,
		ProviderID:       req.ProviderID,
		ModelID:          req.ModelID,
		ModelVersionHash: req.ModelVersionHash,
		InputTokens:      req.InputTokens,
		OutputTokens:     req.OutputTokens,
		Currency:         req.Currency,
		Revenue:          req.Revenue,
		RoyaltyRate:      terms.RoyaltyRate,
		PlatformFeeRate:  terms.PlatformFee,
		Retained:         amounts[0],
		PlatformFee:      amounts[1],
		Unattributed:     amounts[len(amounts)-1],
		Evidence:         req.Evidence,
		AttributionRef:   req.AttributionRef,
		Algorithm:        req.Algorithm,
		Index:            req.Index,
	}
	u.Royalty = req.Revenue.Sub(u.Retained)
	u.Postings = make([]Posting, 0, len(shares)+4)
	u.Credits = make([]Credit, 0, len(shares))
	credit := func(account string, typ AccountType, amount decimal.Decimal) {
		u.Postings = append(u.Postings, Posting{Account: account, Type: typ, Currency: req.Currency, Amount: amount.Neg()})
	}
	u.Postings = append(u.Postings, Posting{Account: ProviderAccount(req.ProviderID), Type: AccountProvider, Currency: req.Currency, Amount: req.Revenue})
	if u.Retained.Sign() != 0 {
		credit(ProviderRetainedAccount(req.ProviderID), AccountProviderRetained, u.Retained)
	}
	if u.PlatformFee.Sign() != 0 {
		credit(PlatformAccount, AccountPlatform, u.PlatformFee)
	}
	for i, s := range shares {
		amount := amounts[2+i]
		if amount.Sign() == 0 {
			continue
		}
		c := Credit{Amount: amount, IdentityKey: s.IdentityKey, Share: s.Share, Words: s.Words, PostingIndex: len(u.Postings)}
		if owner, ok := owners[s.IdentityKey]; ok {
			c.Account, c.Type, c.ContributorID = ContributorAccount(owner), AccountContributor, owner
		} else {
			c.Account, c.Type = EscrowAccount(s.IdentityKey), AccountIdentityEscrow
		}
		credit(c.Account, c.Type, amount)
		u.Credits = append(u.Credits, c)
	}
	if u.Unattributed.Sign() != 0 {
		credit(UnattributedAccount, AccountUnattributed, u.Unattributed)
	}
	return u, nil
}

// sortedShares returns a copy of shares in identity key order.
func sortedShares(shares []Share) []Share {
	out := slices.Clone(shares)
	slices.SortFunc(out, func(a, b Share) int { return strings.Compare(a.IdentityKey, b.IdentityKey) })
	return out
}

// usageWeights returns the weights of the usage split as integers over the common denominator
// rate.den × fee.den × L, where L is the least common multiple of the shares' denominators, in
// the order retained, platform, identities (in the order given), unattributed, with their
// part keys. Integers rather than big.Rat: a big.Rat normalises (a GCD) after every operation,
// which made the split the most expensive step of booking a report. The weights are exactly
// those of the package comment of PlanUsage, scaled by the common denominator.
func usageWeights(terms Terms, shares []Share) ([]*big.Int, []string) {
	rn, rd := decimalFraction(terms.RoyaltyRate)
	fn, fd := decimalFraction(terms.PlatformFee)
	_, lcm := shareSum(shares)
	// rate × (1 − fee) over rd × fd
	toAuthors := new(big.Int).Mul(rn, new(big.Int).Sub(fd, fn))
	weights := make([]*big.Int, 0, len(shares)+3)
	keys := make([]string, 0, len(shares)+3)
	retained := new(big.Int).Sub(rd, rn)
	retained.Mul(retained, fd).Mul(retained, lcm)
	platform := new(big.Int).Mul(rn, fn)
	platform.Mul(platform, lcm)
	weights = append(weights, retained, platform)
	keys = append(keys, partRetained, partPlatform)
	attributed := new(big.Int) // Σ shares × lcm
	for _, s := range shares {
		n := new(big.Int).Quo(lcm, s.Share.Denom())
		n.Mul(n, s.Share.Num())
		attributed.Add(attributed, n)
		weights = append(weights, n.Mul(n, toAuthors))
		keys = append(keys, partIdentity+s.IdentityKey)
	}
	rest := new(big.Int).Sub(lcm, attributed)
	weights = append(weights, rest.Mul(rest, toAuthors))
	keys = append(keys, partUnattributed)
	return weights, keys
}

// shareSum returns Σ shares as sum/lcm, where lcm is the least common multiple of the shares'
// denominators (1 without shares).
func shareSum(shares []Share) (sum, lcm *big.Int) {
	lcm = big.NewInt(1)
	var g big.Int
	for _, s := range shares {
		if d := s.Share.Denom(); d.Cmp(lcm) != 0 { // shares from one attribution usually share it
			g.GCD(nil, nil, lcm, d)
			lcm.Mul(lcm, new(big.Int).Quo(d, &g))
		}
	}
	sum = new(big.Int)
	var n big.Int
	for _, s := range shares {
		n.Quo(lcm, s.Share.Denom())
		sum.Add(sum, n.Mul(&n, s.Share.Num()))
	}
	return sum, lcm
}

// decimalFraction returns d as an exact fraction num/den with den a power of ten.
func decimalFraction(d decimal.Decimal) (num, den *big.Int) {
	num = d.Coefficient()
	exp := d.Exponent()
	if exp >= 0 {
		return num.Mul(num, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil)), big.NewInt(1)
	}
	return num, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-exp)), nil)
}

// CheckBalanced returns an error unless the postings are at least two and sum to zero per
// currency, with no zero amount.
func CheckBalanced(postings []Posting) error {
	if len(postings) < 2 {
		return fmt.Errorf("a transaction needs at least two postings, got %d", len(postings))
	}
	sums := map[string]decimal.Decimal{}
	for i, p := range postings {
		if p.Amount.Sign() == 0 {
			return fmt.Errorf("posting %d to %s is zero", i, p.Account)
		}
		sums[p.Currency] = sums[p.Currency].Add(p.Amount)
	}
	for cur, s := range sums {
		if s.Sign() != 0 {
			return fmt.Errorf("postings sum to %s %s, not zero", s, cur)
		}
	}
	return nil
}

// HashEscrowRelease is the payload hash of an escrow release.
func HashEscrowRelease(identityKey, contributorID string) []byte {
	h := newFieldHash("royalty.ledger.escrow_release.v1")
	h.str(identityKey)
	h.str(contributorID)
	return h.sum()
}
