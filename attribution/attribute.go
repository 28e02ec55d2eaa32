package attribution

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"unicode/utf8"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/attribution/text"
)

// Result is the attribution of one response.
type Result struct {
	// ResponseWords is the number of words of the response; shares are fractions of it.
	ResponseWords int
	// Shares has one entry per credited author, largest share first, ties by author key.
	Shares []Share
	// Unattributed is the fraction of the response credited to nobody: 1 − Σ Shares[i].Share.
	Unattributed *big.Rat
	// Evidence has one entry per credited span, in response order.
	Evidence []Span
	// Algorithm identifies the algorithm and its parameters (Config.Algorithm).
	Algorithm string
}

// Share is what one author is credited with.
type Share struct {
	AuthorKey string
	// Words is the number of response words credited to the author: a word covered by n
	// authors counts 1/n for each.
	Words *big.Rat
	// Share is Words / ResponseWords.
	Share *big.Rat
}

// Span is the evidence behind a credit: which words of the response came from which post.
type Span struct {
	AuthorKey string
	PostID    string
	PostURL   string
	// ResponseStart and ResponseEnd are the byte range [start, end) in the response as sent.
	ResponseStart, ResponseEnd int
	// ResponseWordStart and ResponseWordEnd are the range of word positions [start, end).
	ResponseWordStart, ResponseWordEnd int
	// SourceStart and SourceEnd are the byte range [start, end) in the post's Source.Text.
	SourceStart, SourceEnd int
	// Text is the span as it appears in the response.
	Text string
}

// Attributor attributes responses against an Index. It is safe for concurrent use by multiple
// goroutines.
type Attributor struct {
	idx Index
	cfg Config
	alg string
}

// New returns an Attributor that retrieves candidates from idx. Zero fields of cfg take their
// defaults (see Config).
func New(idx Index, cfg Config) *Attributor {
	cfg = cfg.withDefaults()
	return &Attributor{idx: idx, cfg: cfg, alg: cfg.Algorithm()}
}

// Config returns the configuration in use, with defaults filled in.
func (a *Attributor) Config() Config { return a.cfg }

// Attribute says who wrote the words of response. It changes nothing: AttributionService.Attribute
// returns its result as a dry run, and ReportUsage books it.
//
// It returns an EINVALID error about the field "response_text" when the response is empty, not
// valid UTF-8, has no words, or is longer than MaxResponseBytes or MaxResponseWords. Index errors
// are returned wrapped.
func (a *Attributor) Attribute(ctx context.Context, response string) (*Result, error) {
	if err := a.validate(response); err != nil {
		return nil, err
	}
	toks := text.Words(response)
	if len(toks) == 0 {
		return nil, royalty.FieldErrorf(royalty.EINVALID, "response_text", "contains no words")
	}
	if len(toks) > a.cfg.MaxResponseWords {
		return nil, royalty.FieldErrorf(royalty.EINVALID, "response_text",
			"has %d words, at most %d are allowed", len(toks), a.cfg.MaxResponseWords)
	}
	resp := newResponse(toks, a.cfg.K)

	sources, complete, err := a.retrieve(ctx, resp)
	if err != nil {
		return nil, err
	}
	cands := make([]*candidate, len(sources))
	var matches []*match
	for i, src := range sources {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cands[i] = &candidate{src: src, toks: text.Words(src.Text)}
		matches = append(matches, a.align(resp, cands[i])...)
	}

	segs, err := a.dropBoilerplate(ctx, resp, cands, matches, complete)
	if err != nil {
		return nil, err
	}
	segs = a.dropLowInformation(resp, segs)
	segs = a.resolveReposts(segs)
	return a.credit(response, resp, segs), nil
}

func (a *Attributor) validate(response string) error {
	switch {
	case response == "":
		return royalty.FieldErrorf(royalty.EINVALID, "response_text", "must not be empty")
	case len(response) > a.cfg.MaxResponseBytes:
		return royalty.FieldErrorf(royalty.EINVALID, "response_text",
			"is %d bytes long, at most %d are allowed", len(response), a.cfg.MaxResponseBytes)
	case !utf8.ValidString(response):
		return royalty.FieldErrorf(royalty.EINVALID, "response_text", "must be valid UTF-8")
	}
	return nil
}

// retrieve asks the index for candidates, one query per chunk of the response. Chunks overlap by
// W+K−2 words so that every run of W+K−1 words lies wholly in some chunk, where winnowing
// guarantees it a fingerprint.
//
// It also returns the fingerprints whose every post is among the candidates: those of chunks for
// which the index returned fewer posts than the limit, and so every post sharing any of the
// chunk's fingerprints.
func (a *Attributor) retrieve(ctx context.Context, resp *response) ([]Source, map[uint64]bool, error) {
	n := len(resp.toks)
	if n < a.cfg.K {
		return nil, nil, nil
	}
	overlap := a.cfg.W + a.cfg.K - 2
	seen := map[string]bool{}
	complete := map[uint64]bool{}
	var out []Source
	for start := 0; start < n; start += a.cfg.ChunkWords {
		end := min(start+a.cfg.ChunkWords+overlap, n)
		if end-start < a.cfg.K {
			break
		}
		fps := text.Winnow(resp.kgrams[start:end-a.cfg.K+1], a.cfg.W)
		query := make([]uint64, 0, len(fps))
		inQuery := make(map[uint64]bool, len(fps))
		for _, f := range fps {
			if !inQuery[f.Hash] {
				inQuery[f.Hash] = true
				query = append(query, f.Hash)
			}
		}
		srcs, err := a.idx.Candidates(ctx, query, a.cfg.Candidates)
		if err != nil {
			return nil, nil, fmt.Errorf("attribution: retrieving candidates: %w", err)
		}
		if len(srcs) < a.cfg.Candidates {
			for _, h := range query {
				complete[h] = true
			}
		}
		for _, s := range srcs {
			if !seen[s.PostID] {
				seen[s.PostID] = true
				out = append(out, s)
			}
		}
		if end == n {
			break
		}
	}
	return out, complete, nil
}

// credit splits every response word covered by the final segments equally among their authors
// and collects the evidence.
func (a *Attributor) credit(raw string, resp *response, segs []segment) *Result {
	n := len(resp.toks)
	// owners[w] lists the distinct authors covering word w; "" (a deleted author) takes its
	// part of the word, which stays unattributed.
	owners := make([][]string, n)
	res := &Result{ResponseWords: n, Algorithm: a.alg}
	for _, s := range segs {
		key := s.m.c.src.AuthorKey
		for w := s.start; w < s.end; w++ {
			if !slices.Contains(owners[w], key) {
				owners[w] = append(owners[w], key)
			}
		}
		if key == "" {
			continue
		}
		js, je := s.m.sourceRange(s.start, s.end)
		res.Evidence = append(res.Evidence, Span{
			AuthorKey:         key,
			PostID:            s.m.c.src.PostID,
			PostURL:           s.m.c.src.URL,
			ResponseStart:     resp.toks[s.start].Start,
			ResponseEnd:       resp.toks[s.end-1].End,
			ResponseWordStart: s.start,
			ResponseWordEnd:   s.end,
			SourceStart:       s.m.c.toks[js].Start,
			SourceEnd:         s.m.c.toks[je-1].End,
			Text:              raw[resp.toks[s.start].Start:resp.toks[s.end-1].End],
		})
	}
	sortEvidence(res.Evidence)

	// byShare[author][k] counts the words the author shares with k-1 others.
	byShare := map[string]map[int]int64{}
	for _, os := range owners {
		for _, key := range os {
			if key == "" {
				continue
			}
			if byShare[key] == nil {
				byShare[key] = map[int]int64{}
			}
			byShare[key][len(os)]++
		}
	}
	total := new(big.Rat)
	for key, counts := range byShare {
		words := new(big.Rat)
		for k, c := range counts {
			words.Add(words, big.NewRat(c, int64(k)))
		}
		share := new(big.Rat).Quo(words, big.NewRat(int64(n), 1))
		total.Add(total, share)
		res.Shares = append(res.Shares, Share{AuthorKey: key, Words: words, Share: share})
	}
	sortShares(res.Shares)
	res.Unattributed = new(big.Rat).Sub(big.NewRat(1, 1), total)
	return res
}
