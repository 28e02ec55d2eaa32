package attribution

import (
	"cmp"
	"slices"

	"github.com/openroyalty/royalty/attribution/text"
)

// maxSeedOccurrences bounds how often a k-gram may repeat in a response and still seed
// alignments: a response that repeats one phrase hundreds of times would otherwise cost
// quadratic time, and such repetition is not prose anyone is paid for.
const maxSeedOccurrences = 16

// response is a tokenised response with an index from k-gram hash to positions.
type response struct {
	toks   []text.Token
	kgrams []uint64
	head   map[uint64]int32 // first position of each k-gram hash that may seed
	next   []int32          // next position with the same hash, or -1
	seeds  []bool           // whether position i is in head/next (not too frequent)
}

func newResponse(toks []text.Token, k int) *response {
	r := &response{toks: toks, kgrams: text.KGramHashes(toks, k)}
	r.head = make(map[uint64]int32, len(r.kgrams))
	r.next = make([]int32, len(r.kgrams))
	r.seeds = make([]bool, len(r.kgrams))
	count := make(map[uint64]int, len(r.kgrams))
	for _, h := range r.kgrams {
		count[h]++
	}
	// Walk backwards so each chain lists positions in increasing order.
	for i := len(r.kgrams) - 1; i >= 0; i-- {
		h := r.kgrams[i]
		r.next[i] = -1
		if count[h] > maxSeedOccurrences {
			continue
		}
		if p, ok := r.head[h]; ok {
			r.next[i] = p
		}
		r.head[h] = int32(i)
		r.seeds[i] = true
	}
	return r
}

// candidate is a retrieved post, its words and what is learnt about them in one call.
type candidate struct {
	src    Source
	toks   []text.Token
	kgrams []uint64
	fps    []text.Fingerprint // winnowed kgrams, as the index holds them; computed on demand
	boiler []bool             // boilerplate words; nil when there are none
}

// run is a maximal verbatim run: response words [i, i+n) equal source words [j, j+n).
type run struct{ i, j, n int }

// match is a chain of verbatim runs from one candidate, in order in both texts, separated by
// gaps of at most MaxGapWords words (edits). The words of a gap are credited with the chain.
type match struct {
	c    *candidate
	runs []run
}

func (m *match) start() int { return m.runs[0].i }
func (m *match) end() int   { r := m.runs[len(m.runs)-1]; return r.i + r.n }

// clip narrows [s, e) to begin and end on verbatim words of m and counts the verbatim words in
// it. It returns matched == 0 when there are none.
func (m *match) clip(s, e int) (cs, ce, matched int) {
	cs, ce = -1, -1
	for _, r := range m.runs {
		lo, hi := max(s, r.i), min(e, r.i+r.n)
		if lo >= hi {
			continue
		}
		if cs < 0 {
			cs = lo
		}
		ce = hi
		matched += hi - lo
	}
	return cs, ce, matched
}

// sourceRange maps response words [s, e), which begin and end on verbatim words, to the source
// words [js, je) they came from.
func (m *match) sourceRange(s, e int) (js, je int) {
	for _, r := range m.runs {
		if r.i <= s && s < r.i+r.n {
			js = r.j + s - r.i
		}
		if r.i < e && e <= r.i+r.n {
			je = r.j + e - r.i
		}
	}
	return js, je
}

// segment is the part [start, end) of a match that survives filtering.
type segment struct {
	m          *match
	start, end int
}

// align finds the chains of verbatim runs shared by the response and c that have at least
// MinSpanWords verbatim words.
func (a *Attributor) align(resp *response, c *candidate) []*match {
	k := a.cfg.K
	if len(c.toks) < k || len(resp.kgrams) == 0 {
		return nil
	}
	rt, st := resp.toks, c.toks
	var runs []run
	c.kgrams = text.KGramHashes(st, k)
	for j, h := range c.kgrams {
		p, ok := resp.head[h]
		if !ok {
			continue
		}
		for i := int(p); i >= 0; i = int(resp.next[i]) {
			if i > 0 && j > 0 && resp.seeds[i-1] && rt[i-1].Text == st[j-1].Text {
				// (i-1, j-1) seeded the run that contains this pair.
				continue
			}
			n := 0
			for i+n < len(rt) && j+n < len(st) && rt[i+n].Text == st[j+n].Text {
				n++
			}
			if n >= k { // shorter means the hashes collided
				runs = append(runs, run{i, j, n})
			}
		}
	}
	if len(runs) == 0 {
		return nil
	}
	slices.SortFunc(runs, func(x, y run) int {
		if c := cmp.Compare(x.i, y.i); c != 0 {
			return c
		}
		return cmp.Compare(x.j, y.j)
	})
	chains := make([]*match, len(runs))
	for x, r := range runs {
		chains[x] = &match{runs: []run{r}}
	}
	chains = a.chain(chains)
	if a.cfg.MaxGapWords >= 0 {
		covered := make([]bool, len(rt))
		for _, r := range runs {
			for x := r.i; x < r.i+r.n; x++ {
				covered[x] = true
			}
		}
		for _, m := range chains {
			extend(rt, st, m, covered)
		}
		chains = a.chain(chains)
	}

	// Keep chains with enough verbatim words, longest first, and drop those lying inside one
	// already kept (a post that repeats a passage matches it twice).
	var out []*match
	slices.SortStableFunc(chains, func(x, y *match) int {
		return cmp.Compare(y.matched(), x.matched())
	})
	for _, m := range chains {
		if m.matched() < a.cfg.MinSpanWords {
			continue
		}
		inside := false
		for _, o := range out {
			if o.start() <= m.start() && m.end() <= o.end() {
				inside = true
				break
			}
		}
		if !inside {
			m.c = c
			out = append(out, m)
		}
	}
	return out
}

// sourceSpan returns the source words [js, je) that m's runs cover.
func (m *match) sourceSpan() (js, je int) {
	js, je = m.runs[0].j, m.runs[0].j+m.runs[0].n
	for _, r := range m.runs[1:] {
		js, je = min(js, r.j), max(je, r.j+r.n)
	}
	return js, je
}

func (m *match) matched() int {
	n := 0
	for _, r := range m.runs {
		n += r.n
	}
	return n
}

// chain links matches (sorted by response position) into longer ones: a match extends the
// chain whose last run ends at most MaxGapWords words before the match begins in both texts, the
// closest such chain.
func (a *Attributor) chain(ms []*match) []*match {
	g := a.cfg.MaxGapWords
	if g < 0 {
		return ms
	}
	slices.SortStableFunc(ms, func(x, y *match) int {
		return cmp.Or(cmp.Compare(x.runs[0].i, y.runs[0].i), cmp.Compare(x.runs[0].j, y.runs[0].j))
	})
	var chains []*match
	for _, m := range ms {
		f := m.runs[0]
		var best *match
		bestGap := 0
		for _, c := range chains {
			l := c.runs[len(c.runs)-1]
			gr, gs := f.i-(l.i+l.n), f.j-(l.j+l.n)
			if gr < 0 || gs < 0 || gr > g || gs > g {
				continue
			}
			if best == nil || gr+gs < bestGap {
				best, bestGap = c, gr+gs
			}
		}
		if best != nil {
			best.runs = append(best.runs, m.runs...)
		} else {
			chains = append(chains, m)
		}
	}
	return chains
}

// minAnchorWords is the fewest words that must match exactly, after a skipped edit, for a match
// to grow across the edit at either end.
const minAnchorWords = 2

// skips are the edits a match may grow across, as words skipped in the response and in the
// source: a substitution, an insertion, a deletion, and pairs of them.
var skips = [][2]int{{1, 1}, {1, 0}, {0, 1}, {2, 2}, {2, 1}, {1, 2}, {2, 0}, {0, 2}}

// extend grows m at both ends across small edits: an edit that falls within the first or last
// K−1 words of a copied passage leaves too few words for a k-gram, and without this the words
// beyond it would be lost. Growth stops at words that other runs of the same candidate cover;
// chain merges the two afterwards.
func extend(rt, st []text.Token, m *match, covered []bool) {
	for {
		l := m.runs[len(m.runs)-1]
		ie, je := l.i+l.n, l.j+l.n
		best := run{}
		for _, sk := range skips {
			i0, j0 := ie+sk[0], je+sk[1]
			if i0 > len(rt) || j0 > len(st) || anyCovered(covered, ie, i0) {
				continue
			}
			n := 0
			for i0+n < len(rt) && j0+n < len(st) && !covered[i0+n] && rt[i0+n].Text == st[j0+n].Text {
				n++
			}
			if n > best.n {
				best = run{i0, j0, n}
			}
		}
		if best.n < minAnchorWords {
			break
		}
		m.runs = append(m.runs, best)
		markCovered(covered, best)
	}
	for {
		f := m.runs[0]
		best := run{}
		for _, sk := range skips {
			i0, j0 := f.i-sk[0], f.j-sk[1] // exclusive ends of the anchor
			if i0 < 0 || j0 < 0 || anyCovered(covered, i0, f.i) {
				continue
			}
			n := 0
			for i0-n-1 >= 0 && j0-n-1 >= 0 && !covered[i0-n-1] && rt[i0-n-1].Text == st[j0-n-1].Text {
				n++
			}
			if n > best.n {
				best = run{i0 - n, j0 - n, n}
			}
		}
		if best.n < minAnchorWords {
			break
		}
		m.runs = append([]run{best}, m.runs...)
		markCovered(covered, best)
	}
}

func anyCovered(covered []bool, lo, hi int) bool {
	for x := lo; x < hi; x++ {
		if covered[x] {
			return true
		}
	}
	return false
}

func markCovered(covered []bool, r run) {
	for x := r.i; x < r.i+r.n; x++ {
		covered[x] = true
	}
}
