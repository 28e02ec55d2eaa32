package attribution

import (
	"context"
	"fmt"
	"slices"
	"unicode"

	"github.com/openroyalty/royalty/attribution/text"
)

// dropBoilerplate removes from the matches the response words that are boilerplate, and returns
// what remains as segments of at least MinSpanWords verbatim words.
//
// A fingerprint is boilerplate when posts of more than MaxAuthors distinct authors contain it.
// The fingerprints asked about are, for every verbatim run, the winnowed hashes of the run's own
// k-grams: each is the minimum of a window lying inside the run, so every post containing the run's
// words selected it too, and its author count is at least the number of authors sharing the text.
// A boilerplate fingerprint at k-gram position p only proves that words [p, p+K) are shared; the
// boilerplate text around it may begin up to W−1 words earlier and end up to W−1 words later
// (otherwise a window inside it would have selected another boilerplate fingerprint), so the
// words [p−W+1, p+K+W−1) within the run are treated as boilerplate. This costs an original span
// next to boilerplate a few words, and keeps boilerplate from leaking credit to it.
func (a *Attributor) dropBoilerplate(ctx context.Context, resp *response, matches []*match) ([]segment, error) {
	if len(matches) == 0 {
		return nil, nil
	}
	k, w := a.cfg.K, a.cfg.W
	type site struct{ p, lo, hi int } // k-gram position, and the run it lies in
	sites := map[uint64][]site{}
	var hashes []uint64
	for _, m := range matches {
		for _, r := range m.runs {
			for _, f := range text.Winnow(resp.kgrams[r.i:r.i+r.n-k+1], w) {
				h := f.Hash
				if _, ok := sites[h]; !ok {
					hashes = append(hashes, h)
				}
				sites[h] = append(sites[h], site{p: r.i + f.Pos, lo: r.i, hi: r.i + r.n})
			}
		}
	}
	slices.Sort(hashes) // a deterministic request
	counts, err := a.idx.AuthorCounts(ctx, hashes, a.cfg.MaxAuthors)
	if err != nil {
		return nil, fmt.Errorf("attribution: counting authors: %w", err)
	}
	if len(counts) != len(hashes) {
		return nil, fmt.Errorf("attribution: index returned %d author counts for %d fingerprints", len(counts), len(hashes))
	}
	boiler := make([]bool, len(resp.toks))
	for i, h := range hashes {
		if counts[i] <= a.cfg.MaxAuthors {
			continue
		}
		for _, s := range sites[h] {
			for x := max(s.p-w+1, s.lo); x < min(s.p+k+w-1, s.hi); x++ {
				boiler[x] = true
			}
		}
	}

	var segs []segment
	for _, m := range matches {
		start := -1
		for x := m.start(); x <= m.end(); x++ {
			if x < m.end() && !boiler[x] {
				if start < 0 {
					start = x
				}
				continue
			}
			if start >= 0 {
				if s, ok := a.segment(m, start, x); ok {
					segs = append(segs, s)
				}
				start = -1
			}
		}
	}
	return segs, nil
}

// segment clips [s, e) of m to its verbatim words and keeps it if enough of them remain.
func (a *Attributor) segment(m *match, s, e int) (segment, bool) {
	cs, ce, matched := m.clip(s, e)
	if matched < a.cfg.MinSpanWords {
		return segment{}, false
	}
	return segment{m: m, start: cs, end: ce}, true
}

// dropLowInformation removes segments with fewer than MinContentWords distinct content words:
// runs of numbers, symbols and the most common English words ("1 2 3 4 5 6 7 8", "it is what it
// is and that is that") are shared by chance, and nobody is paid for them.
func (a *Attributor) dropLowInformation(resp *response, segs []segment) []segment {
	if a.cfg.MinContentWords < 0 {
		return segs
	}
	out := segs[:0]
	distinct := map[string]bool{}
	for _, s := range segs {
		clear(distinct)
		for x := s.start; x < s.end && len(distinct) < a.cfg.MinContentWords; x++ {
			if w := resp.toks[x].Text; isContentWord(w) {
				distinct[w] = true
			}
		}
		if len(distinct) >= a.cfg.MinContentWords {
			out = append(out, s)
		}
	}
	return out
}

// isContentWord reports whether a normalised word carries information: it has a letter and is
// not one of the most common English words.
func isContentWord(w string) bool {
	if stopwords[w] {
		return false
	}
	for _, r := range w {
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// earlier reports whether post x precedes post y: older, or as old with the smaller post ID.
func earlier(x, y *Source) bool {
	if !x.CreatedAt.Equal(y.CreatedAt) {
		return x.CreatedAt.Before(y.CreatedAt)
	}
	return x.PostID < y.PostID
}

// resolveReposts makes later copies yield to earlier originals. Two segments from different posts
// that cover the same at least MinSpanWords response words hold the same text (both match the
// response word for word), and text that long is not written twice independently: one post
// copied the other or both copied a third. On those shared words the later post yields to the
// earlier one. What a later post adds around the shared text stays its own (a repost that copies
// half of an original and continues with its own words keeps those), provided at least
// MinSpanWords verbatim words of it remain. Segments that overlap by fewer words are independent
// sources and split the overlapping words equally in credit.
//
// A deleted author's post takes part like any other: a later repost yields to it, and the words
// it wins stay unattributed. Paying the reposter instead would reward copying.
func (a *Attributor) resolveReposts(segs []segment) []segment {
	var out []segment
	for x, sx := range segs {
		var yield [][2]int
		for y, sy := range segs {
			if x == y || sx.m.c == sy.m.c || !earlier(&sy.m.c.src, &sx.m.c.src) {
				continue
			}
			lo, hi := max(sx.start, sy.start), min(sx.end, sy.end)
			if hi-lo >= a.cfg.MinSpanWords {
				yield = append(yield, [2]int{lo, hi})
			}
		}
		if len(yield) == 0 {
			out = append(out, sx)
			continue
		}
		kept := make([]bool, sx.end-sx.start)
		for i := range kept {
			kept[i] = true
		}
		for _, iv := range yield {
			for p := iv[0]; p < iv[1]; p++ {
				kept[p-sx.start] = false
			}
		}
		start := -1
		for p := sx.start; p <= sx.end; p++ {
			if p < sx.end && kept[p-sx.start] {
				if start < 0 {
					start = p
				}
				continue
			}
			if start >= 0 {
				if s, ok := a.segment(sx.m, start, p); ok {
					out = append(out, s)
				}
				start = -1
			}
		}
	}
	return out
}
