package postgres

import (
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/klauspost/compress/s2"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger"
)

// meta is the JSON stored in ledger_transactions.metadata. One struct serves every kind; fields
// a kind does not use are left out. Amounts and rates are decimal strings, shares exact
// fractions ("3/10"): nothing in it is summed by SQL.
type meta struct {
	// usage
	ModelID          string       `json:"model_id,omitempty"`
	ModelVersionHash string       `json:"model_version_hash,omitempty"`
	InputTokens      uint64       `json:"input_tokens,omitempty"`
	OutputTokens     uint64       `json:"output_tokens,omitempty"`
	Revenue          string       `json:"revenue,omitempty"`
	RoyaltyRate      string       `json:"royalty_rate,omitempty"`
	PlatformFee      string       `json:"platform_fee,omitempty"`
	AttributionRef   string       `json:"attribution_ref,omitempty"`
	Algorithm        string       `json:"algorithm,omitempty"`
	Credits          []creditMeta `json:"credits,omitempty"` // usage and reversal
	// Evidence is stored apart, compressed, in the evidence column (encodeEvidence).
	Evidence []evidenceMeta `json:"-"`
	// usage and payout
	Currency string `json:"currency,omitempty"`
	// reversal
	Reason string `json:"reason,omitempty"`
	// escrow release
	IdentityKey   string `json:"identity_key,omitempty"`
	ContributorID string `json:"contributor_id,omitempty"`
	// payout
	Amount    string `json:"amount,omitempty"`
	Requested string `json:"requested,omitempty"` // "all" or the amount asked for
	Remaining string `json:"remaining,omitempty"`
}

// creditMeta ties a posting (by its index n) to the identity whose words earned it.
type creditMeta struct {
	N           int    `json:"n"`
	IdentityKey string `json:"identity_key"`
	Contributor string `json:"contributor_id,omitempty"`
	Share       string `json:"share,omitempty"`
	Words       string `json:"words,omitempty"`
}

type evidenceMeta struct {
	IdentityKey       string `json:"identity_key"`
	PostID            string `json:"post_id,omitempty"`
	PostURL           string `json:"post_url,omitempty"`
	ResponseStart     int    `json:"response_start"`
	ResponseEnd       int    `json:"response_end"`
	ResponseWordStart int    `json:"response_word_start"`
	ResponseWordEnd   int    `json:"response_word_end"`
	SourceStart       int    `json:"source_start"`
	SourceEnd         int    `json:"source_end"`
	Text              string `json:"text,omitempty"`
}

func usageMeta(u ledger.Usage) meta {
	m := meta{
		ModelID:          u.ModelID,
		ModelVersionHash: u.ModelVersionHash,
		InputTokens:      u.InputTokens,
		OutputTokens:     u.OutputTokens,
		Currency:         u.Currency,
		Revenue:          u.Revenue.String(),
		RoyaltyRate:      u.RoyaltyRate.String(),
		PlatformFee:      u.PlatformFeeRate.String(),
		AttributionRef:   u.AttributionRef,
		Algorithm:        u.Algorithm,
	}
	for _, c := range u.Credits {
		cm := creditMeta{N: c.PostingIndex, IdentityKey: c.IdentityKey, Contributor: c.ContributorID, Share: c.Share.RatString()}
		if c.Words != nil {
			cm.Words = c.Words.RatString()
		}
		m.Credits = append(m.Credits, cm)
	}
	for _, e := range u.Evidence {
		m.Evidence = append(m.Evidence, evidenceMeta(e))
	}
	return m
}

// Evidence column format: a format byte, then the payload. S2 (a faster Snappy) rather than
// DEFLATE: DEFLATE builds Huffman tables for every small input and cost more CPU than the
// database saved; S2 still shrinks the spans several times.
const evidenceS2JSON = 2

// encodeEvidence compresses evidence for the evidence column; nil for none.
func encodeEvidence(ev []evidenceMeta) []byte {
	if len(ev) == 0 {
		return nil
	}
	js, err := json.Marshal(ev)
	if err != nil { // a slice of structs of strings and ints always marshals
		panic(fmt.Sprintf("ledger: encoding evidence: %v", err))
	}
	buf := make([]byte, 1+s2.MaxEncodedLen(len(js)))
	buf[0] = evidenceS2JSON
	enc := s2.Encode(buf[1:], js) // encodes in place: buf is large enough
	return buf[:1+len(enc)]
}

// decodeEvidence reverses encodeEvidence.
func decodeEvidence(b []byte) ([]evidenceMeta, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != evidenceS2JSON {
		return nil, fmt.Errorf("evidence in unknown format %d", b[0])
	}
	js, err := s2.Decode(nil, b[1:])
	if err != nil {
		return nil, fmt.Errorf("decompressing evidence: %w", err)
	}
	var ev []evidenceMeta
	if err := json.Unmarshal(js, &ev); err != nil {
		return nil, fmt.Errorf("decoding evidence: %w", err)
	}
	return ev, nil
}

func (m meta) encode() string {
	b, err := json.Marshal(m)
	if err != nil { // a struct of strings and numbers always marshals
		panic(fmt.Sprintf("ledger: encoding metadata: %v", err))
	}
	return string(b)
}

func decodeMeta(raw []byte) (meta, error) {
	var m meta
	if err := json.Unmarshal(raw, &m); err != nil {
		return meta{}, fmt.Errorf("decoding transaction metadata: %w", err)
	}
	return m, nil
}

// usageFrom rebuilds a Usage from its stored transaction.
func usageFrom(t ledger.Transaction, m meta) (ledger.Usage, error) {
	u := ledger.Usage{
		TransactionID:    t.ID,
		RequestID:        t.RequestID,
		ProviderID:       t.PrincipalID,
		ModelID:          m.ModelID,
		ModelVersionHash: m.ModelVersionHash,
		InputTokens:      m.InputTokens,
		OutputTokens:     m.OutputTokens,
		Currency:         m.Currency,
		AttributionRef:   m.AttributionRef,
		Algorithm:        m.Algorithm,
		PayloadHash:      t.PayloadHash,
		CreatedAt:        t.CreatedAt,
		Postings:         t.Postings,
		Retained:         decimal.Zero,
		PlatformFee:      decimal.Zero,
		Unattributed:     decimal.Zero,
	}
	var err error
	if u.Revenue, err = decimal.NewFromString(m.Revenue); err != nil {
		return u, fmt.Errorf("usage %s: revenue: %w", t.ID, err)
	}
	if u.RoyaltyRate, err = decimal.NewFromString(m.RoyaltyRate); err != nil {
		return u, fmt.Errorf("usage %s: royalty rate: %w", t.ID, err)
	}
	if u.PlatformFeeRate, err = decimal.NewFromString(m.PlatformFee); err != nil {
		return u, fmt.Errorf("usage %s: platform fee: %w", t.ID, err)
	}
	for _, p := range t.Postings {
		switch p.Type {
		case ledger.AccountProviderRetained:
			u.Retained = u.Retained.Add(p.Normal())
		case ledger.AccountPlatform:
			u.PlatformFee = u.PlatformFee.Add(p.Normal())
		case ledger.AccountUnattributed:
			u.Unattributed = u.Unattributed.Add(p.Normal())
		}
	}
	u.Royalty = u.Revenue.Sub(u.Retained)
	for _, c := range m.Credits {
		if c.N < 0 || c.N >= len(t.Postings) {
			return u, fmt.Errorf("usage %s: credit of posting %d out of range", t.ID, c.N)
		}
		p := t.Postings[c.N]
		credit := ledger.Credit{
			Account: p.Account, Type: p.Type, Amount: p.Normal(), IdentityKey: c.IdentityKey,
			ContributorID: c.Contributor, PostingIndex: c.N,
		}
		if credit.Share, err = parseRat(c.Share); err != nil {
			return u, fmt.Errorf("usage %s: share: %w", t.ID, err)
		}
		if c.Words != "" {
			if credit.Words, err = parseRat(c.Words); err != nil {
				return u, fmt.Errorf("usage %s: words: %w", t.ID, err)
			}
		}
		u.Credits = append(u.Credits, credit)
	}
	for _, e := range m.Evidence {
		u.Evidence = append(u.Evidence, ledger.Evidence(e))
	}
	return u, nil
}

func parseRat(s string) (*big.Rat, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("not a fraction: %q", s)
	}
	return r, nil
}
