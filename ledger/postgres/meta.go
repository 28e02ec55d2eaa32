package postgres

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"sync"

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
	// Index is the version of the search index the usage was attributed against.
	Index *indexMeta `json:"index,omitempty"`
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
	// usage with feedback: the provider's feedback rate when booked
	FeedbackRate string `json:"feedback_rate,omitempty"`
	// feedback settlement: the pool, the cap per rater, the events counted and the raters
	Pool    string      `json:"pool,omitempty"`
	Cap     int64       `json:"cap,omitempty"`
	Counted int64       `json:"counted,omitempty"`
	Raters  []raterMeta `json:"raters,omitempty"`
	Models  []string    `json:"model_versions,omitempty"`
	Settled []string    `json:"settled,omitempty"` // "<amount> <currency>"
}

// creditMeta ties a posting (by its index n) to the identity whose words earned it.
type creditMeta struct {
	N           int    `json:"n"`
	IdentityKey string `json:"identity_key"`
	Contributor string `json:"contributor_id,omitempty"`
	Share       string `json:"share,omitempty"`
	Words       string `json:"words,omitempty"`
}

// indexMeta is a ledger.IndexVersion.
type indexMeta struct {
	Posts uint64 `json:"posts"`
	Mark  uint64 `json:"mark"`
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
	if u.Index != nil {
		m.Index = &indexMeta{Posts: u.Index.Posts, Mark: u.Index.Mark}
	}
	if len(u.Feedback) > 0 {
		m.FeedbackRate = u.FeedbackRate.String()
	}
	m.Credits = make([]creditMeta, 0, len(u.Credits))
	m.Evidence = make([]evidenceMeta, 0, len(u.Evidence))
	for _, c := range u.Credits {
		cm := creditMeta{N: c.PostingIndex, IdentityKey: c.IdentityKey, Contributor: c.ContributorID, Share: ratText(c.Share)}
		if c.Words != nil {
			cm.Words = ratText(c.Words)
		}
		m.Credits = append(m.Credits, cm)
	}
	for _, e := range u.Evidence {
		m.Evidence = append(m.Evidence, evidenceMeta(e))
	}
	return m
}

// Evidence column formats: a format byte, then the S2-compressed payload. S2 (a faster Snappy)
// rather than DEFLATE: DEFLATE builds Huffman tables for every small input and cost more CPU
// than the database saved; S2 still shrinks the spans several times. Format 2, written before,
// compresses a JSON array of evidenceMeta; format 3, written now, a binary list (encoding/json
// was a tenth of the CPU of booking a report): a uvarint count, then per span its identity
// key, post id, post URL (each a uvarint length and the bytes), the six offsets (uvarints) and
// the text.
const (
	evidenceS2JSON   = 2
	evidenceS2Binary = 3
)

// encodeEvidence compresses evidence for the evidence column; nil for none.
func encodeEvidence(ev []evidenceMeta) []byte {
	if len(ev) == 0 {
		return nil
	}
	pooled := evidenceBuffers.Get().(*[]byte)
	raw := binary.AppendUvarint((*pooled)[:0], uint64(len(ev)))
	str := func(s string) {
		raw = binary.AppendUvarint(raw, uint64(len(s)))
		raw = append(raw, s...)
	}
	for _, e := range ev {
		str(e.IdentityKey)
		str(e.PostID)
		str(e.PostURL)
		for _, n := range [...]int{e.ResponseStart, e.ResponseEnd, e.ResponseWordStart, e.ResponseWordEnd, e.SourceStart, e.SourceEnd} {
			raw = binary.AppendUvarint(raw, uint64(n)) // validated non-negative
		}
		str(e.Text)
	}
	buf := make([]byte, 1+s2.MaxEncodedLen(len(raw)))
	buf[0] = evidenceS2Binary
	enc := s2.Encode(buf[1:], raw) // encodes in place: buf is large enough
	if cap(raw) <= 1<<20 {
		*pooled = raw[:0]
		evidenceBuffers.Put(pooled)
	}
	return buf[:1+len(enc)]
}

// evidenceBuffers recycles the uncompressed buffers of encodeEvidence.
var evidenceBuffers = sync.Pool{New: func() any { return new([]byte) }}

// decodeEvidence reverses encodeEvidence, in either format.
func decodeEvidence(b []byte) ([]evidenceMeta, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != evidenceS2JSON && b[0] != evidenceS2Binary {
		return nil, fmt.Errorf("evidence in unknown format %d", b[0])
	}
	raw, err := s2.Decode(nil, b[1:])
	if err != nil {
		return nil, fmt.Errorf("decompressing evidence: %w", err)
	}
	if b[0] == evidenceS2JSON {
		var ev []evidenceMeta
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("decoding evidence: %w", err)
		}
		return ev, nil
	}
	return decodeBinaryEvidence(raw)
}

var errEvidenceTruncated = errors.New("decoding evidence: truncated or malformed")

func decodeBinaryEvidence(raw []byte) ([]evidenceMeta, error) {
	num := func() (uint64, bool) {
		v, n := binary.Uvarint(raw)
		if n <= 0 {
			return 0, false
		}
		raw = raw[n:]
		return v, true
	}
	str := func() (string, bool) {
		l, ok := num()
		if !ok || l > uint64(len(raw)) {
			return "", false
		}
		s := string(raw[:l])
		raw = raw[l:]
		return s, true
	}
	count, ok := num()
	if !ok || count > uint64(len(raw)) { // every span takes at least one byte
		return nil, errEvidenceTruncated
	}
	ev := make([]evidenceMeta, count)
	for i := range ev {
		e := &ev[i]
		var okK, okP, okU bool
		e.IdentityKey, okK = str()
		e.PostID, okP = str()
		e.PostURL, okU = str()
		if !okK || !okP || !okU {
			return nil, errEvidenceTruncated
		}
		for _, dst := range [...]*int{&e.ResponseStart, &e.ResponseEnd, &e.ResponseWordStart, &e.ResponseWordEnd, &e.SourceStart, &e.SourceEnd} {
			v, ok := num()
			if !ok || v > math.MaxInt32 {
				return nil, errEvidenceTruncated
			}
			*dst = int(v)
		}
		if e.Text, ok = str(); !ok {
			return nil, errEvidenceTruncated
		}
	}
	if len(raw) != 0 {
		return nil, errEvidenceTruncated
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
	if m.Index != nil {
		u.Index = &ledger.IndexVersion{Posts: m.Index.Posts, Mark: m.Index.Mark}
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
		case ledger.AccountFeedbackPool:
			pool, _ := ledger.ParseFeedbackPool("account", p.Account)
			u.Feedback = append(u.Feedback, ledger.PoolCredit{Account: p.Account, Epoch: pool.Epoch, Amount: p.Normal()})
		}
	}
	if m.FeedbackRate != "" {
		if u.FeedbackRate, err = decimal.NewFromString(m.FeedbackRate); err != nil {
			return u, fmt.Errorf("usage %s: feedback rate: %w", t.ID, err)
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

// ratText is r.RatString(), with a fast path for the small fractions attribution produces
// (big.Int's decimal conversion is slow for them).
func ratText(r *big.Rat) string {
	n, d := r.Num(), r.Denom()
	if !n.IsInt64() || !d.IsInt64() {
		return r.RatString()
	}
	if d.Int64() == 1 {
		return strconv.FormatInt(n.Int64(), 10)
	}
	return strconv.FormatInt(n.Int64(), 10) + "/" + strconv.FormatInt(d.Int64(), 10)
}

func parseRat(s string) (*big.Rat, error) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("not a fraction: %q", s)
	}
	return r, nil
}
