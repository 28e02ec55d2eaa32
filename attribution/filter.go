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
// Boilerplate is found on the source side: the fingerprints asked about are those the index
// holds for each matched post (its winnowed k-grams) in and around the aligned words. Looking at
// the source rather than at the response matters when a response copies the end of a post into
// the first words of its signature: those few words hold no k-gram of the signature, but the
// post around them does.
//
// A boilerplate fingerprint at k-gram position p only proves that words [p, p+K) are shared; the
// boilerplate text around it may begin up to W−1 words earlier and end up to W−1 words later
// (otherwise a window inside it would have selected another boilerplate fingerprint), so the
// words [p−W+1, p+K+W−1) are treated as boilerplate. This costs an original passage next to
// boilerplate up to W−1 words, and keeps boilerplate from leaking credit to it.
//
// Fingerprints whose every post is among the candidates (complete, see retrieve) are counted
// among the candidates; the index is asked about the others (mostly those straddling the edges
// of a match), and only for matches that still have words left. This spares the index a look-up
// per fingerprint for most of a typical response.
func (a *Attributor) dropBoilerplate(ctx context.Context, resp *response, cands []*candidate, matches []*match, complete map[uint64]bool) ([]segment, error) {
	if len(matches) == 0 {
		return nil, nil
	}
	sites, hashes := a.boilerplateSites(matches)
	var local, remote []uint64
	for _, h := range hashes {
		if complete[h] {
			local = append(local, h)
		} else {
			remote = append(remote, h)
		}
	}
	// Counting among the candidates settles most words, and a match that is boilerplate
	// throughout (a signature found in thirty posts) needs no further question to the index.
	a.markBoilerplate(sites, local, a.countAmongCandidates(cands, local, complete))
	boiler := responseBoilerplate(resp, matches)
	var ask []uint64
	for _, h := range remote {
		for _, s := range sites[h] {
			if slices.Contains(boiler[s.m.start():s.m.end()], false) {
				ask = append(ask, h)
				break
			}
		}
	}
	if len(ask) > 0 {
		counts, err := a.idx.AuthorCounts(ctx, ask, a.cfg.MaxAuthors)
		if err != nil {
			return nil, fmt.Errorf("attribution: counting authors: %w", err)
		}
		if len(counts) != len(ask) {
			return nil, fmt.Errorf("attribution: index returned %d author counts for %d fingerprints", len(counts), len(ask))
		}
		a.markBoilerplate(sites, ask, counts)
		boiler = responseBoilerplate(resp, matches)
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

// site is where a fingerprint of a matched post lies: the k-gram position p in the post.
type site struct {
	m *match
	p int
}

// boilerplateSites returns the fingerprints that can mark words of the matches as boilerplate,
// sorted (the index is asked deterministic questions), and where they lie. For a match covering
// source words [js, je) they are the post's fingerprints at k-gram positions [js−K−W+2, je+W−2].
func (a *Attributor) boilerplateSites(matches []*match) (map[uint64][]site, []uint64) {
	k, w := a.cfg.K, a.cfg.W
	sites := map[uint64][]site{}
	var hashes []uint64
	// Fingerprints already listed, per post, by their index in c.fps (one per position).
	seen := map[*candidate][]bool{}
	for _, m := range matches {
		c := m.c
		if c.fps == nil {
			c.fps = text.Winnow(c.kgrams, w)
		}
		listed := seen[c]
		if listed == nil {
			listed = make([]bool, len(c.fps))
			seen[c] = listed
		}
		js, je := m.sourceSpan()
		lo, hi := js-k-w+2, je+w-2
		for x, f := range c.fps {
			if f.Pos < lo || f.Pos > hi || listed[x] {
				continue
			}
			listed[x] = true
			if _, ok := sites[f.Hash]; !ok {
				hashes = append(hashes, f.Hash)
			}
			sites[f.Hash] = append(sites[f.Hash], site{m, f.Pos})
		}
	}
	slices.Sort(hashes)
	return sites, hashes
}

// markBoilerplate marks, in the matched posts, the words that the fingerprints with more than
// MaxAuthors authors make boilerplate.
func (a *Attributor) markBoilerplate(sites map[uint64][]site, hashes []uint64, counts []int) {
	k, w := a.cfg.K, a.cfg.W
	for i, h := range hashes {
		if counts[i] <= a.cfg.MaxAuthors {
			continue
		}
		for _, s := range sites[h] {
			c := s.m.c
			if c.boiler == nil {
				c.boiler = make([]bool, len(c.toks))
			}
			for x := max(s.p-w+1, 0); x < min(s.p+k+w-1, len(c.toks)); x++ {
				c.boiler[x] = true
			}
		}
	}
}

// responseBoilerplate maps the boilerplate words of the matched posts to the response.
// Boilerplate is a property of words: words that are boilerplate in one matched post are
// boilerplate for every post that matches them.
func responseBoilerplate(resp *response, matches []*match) []bool {
	boiler := make([]bool, len(resp.toks))
	for _, m := range matches {
		if m.c.boiler == nil {
			continue
		}
		for x, r := range m.runs {
			for i := r.i; i < r.i+r.n; i++ {
				boiler[i] = boiler[i] || m.c.boiler[r.j+i-r.i]
			}
			if x > 0 { // a gap between two boilerplate words is boilerplate
				prev := m.runs[x-1]
				if end := prev.i + prev.n; boiler[end-1] && boiler[r.i] {
					for i := end; i < r.i; i++ {
						boiler[i] = true
					}
				}
			}
		}
	}
	return boiler
}

// countAmongCandidates returns the number of distinct non-deleted authors holding each hash
// among the candidates, capped at MaxAuthors+1 as the index caps it. It is exact for hashes in
// complete: every post holding them is a candidate.
func (a *Attributor) countAmongCandidates(cands []*candidate, hashes []uint64, complete map[uint64]bool) []int {
	counts := make([]int, len(hashes))
	if len(hashes) == 0 {
		return counts
	}
	asked := make(map[uint64]int, len(hashes)) // hash → its index in hashes
	for i, h := range hashes {
		if complete[h] {
			asked[h] = i
		}
	}
	// The distinct authors holding each hash, up to MaxAuthors+1 of them: a few, so a slice.
	authors := make([][]string, len(hashes))
	for _, c := range cands {
		if c.src.AuthorKey == "" {
			continue
		}
		if c.fps == nil {
			c.fps = text.Winnow(c.kgrams, a.cfg.W)
		}
		for _, f := range c.fps {
			i, ok := asked[f.Hash]
			if !ok || len(authors[i]) > a.cfg.MaxAuthors || slices.Contains(authors[i], c.src.AuthorKey) {
				continue
			}
			authors[i] = append(authors[i], c.src.AuthorKey)
		}
	}
	for i := range hashes {
		counts[i] = len(authors[i])
	}
	return counts
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
