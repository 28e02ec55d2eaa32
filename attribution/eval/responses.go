package eval

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/openroyalty/royalty/attribution/text"
)

// ResponseConfig says what responses to generate. Zero fields take the defaults of
// DefaultResponses, except EditRate, FromCopies and Boilerplate, whose zero means none.
type ResponseConfig struct {
	Seed  uint64
	Count int
	Words int // target length in words
	// MaxSources is the most posts one response copies from; each response copies from 0 to
	// MaxSources of them, uniformly.
	MaxSources int
	// MinSpan and MaxSpan bound the words of each copied span (uniform).
	MinSpan, MaxSpan int
	// EditRate is the fraction of copied words edited (70 % substituted, 15 % followed by an
	// inserted word, 15 % deleted).
	EditRate float64
	// FromCopies is the chance that a span is copied from a repost or from a quotation (its
	// quoted passage or its own words) rather than from an original post.
	FromCopies float64
	// Boilerplate is the chance that a response contains a boilerplate phrase.
	Boilerplate float64
	// Reorder shuffles the sentences of every copied span (before EditRate's edits): a heavy
	// rewrite keeps the copied sentences but not their order. A span's words keep their labels.
	Reorder bool
	// Novel responses copy nothing: they are filler only.
	Novel bool
}

// DefaultResponses are responses of about 300 words with up to five copied spans.
var DefaultResponses = ResponseConfig{Seed: 1, Count: 500, Words: 300, MaxSources: 5, MinSpan: 5, MaxSpan: 60}

func (c ResponseConfig) withDefaults() ResponseConfig {
	d := DefaultResponses
	if c.Seed == 0 {
		c.Seed = d.Seed
	}
	for _, f := range []struct {
		v   *int
		def int
	}{
		{&c.Count, d.Count}, {&c.Words, d.Words}, {&c.MaxSources, d.MaxSources},
		{&c.MinSpan, d.MinSpan}, {&c.MaxSpan, d.MaxSpan},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	return c
}

// Response is a generated response and the truth about each of its words.
type Response struct {
	Text   string
	Labels []Label // one per word of text.Words(Text)
}

// Responses generates responses from the corpus.
func (c *Corpus) Responses(cfg ResponseConfig) []Response {
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7265737073))
	out := make([]Response, cfg.Count)
	for i := range out {
		out[i] = c.response(rng, cfg)
	}
	return out
}

// span is response text with the labels of its words.
type span struct {
	text   string
	labels []Label
}

func (c *Corpus) response(rng *rand.Rand, cfg ResponseConfig) Response {
	var pieces []span
	if !cfg.Novel {
		for range rng.IntN(cfg.MaxSources + 1) {
			p := c.copySpan(rng, cfg)
			if cfg.Reorder {
				p = reorder(rng, p)
			}
			if cfg.EditRate > 0 {
				p = c.edit(rng, p, cfg.EditRate)
			}
			pieces = append(pieces, p)
		}
		if rng.Float64() < cfg.Boilerplate && len(c.Boilerplate) > 0 {
			s := c.Boilerplate[rng.IntN(len(c.Boilerplate))]
			pieces = append(pieces, span{s, expand([]LabelRun{{len(text.Words(s)), Label{Kind: Boilerplate}}}, 0, len(text.Words(s)))})
		}
		rng.Shuffle(len(pieces), func(i, j int) { pieces[i], pieces[j] = pieces[j], pieces[i] })
	}
	copied := 0
	for _, p := range pieces {
		copied += len(p.labels)
	}
	// Filler from held-out posts fills the rest, in len(pieces)+1 stretches around the pieces.
	filler := max(cfg.Words-copied, 10)
	cuts := make([]int, len(pieces)+1)
	for range filler {
		cuts[rng.IntN(len(cuts))]++
	}
	var parts []string
	var labels []Label
	for i, n := range cuts {
		if n > 0 {
			f := c.filler(rng, n)
			parts = append(parts, f.text)
			labels = append(labels, f.labels...)
		}
		if i < len(pieces) {
			parts = append(parts, pieces[i].text)
			labels = append(labels, pieces[i].labels...)
		}
	}
	r := Response{Text: strings.Join(parts, " "), Labels: labels}
	if n := len(text.Words(r.Text)); n != len(labels) {
		panic(fmt.Sprintf("eval: response has %d words and %d labels: %q", n, len(labels), r.Text))
	}
	return r
}

// copySpan copies a span of MinSpan to MaxSpan words from a post, a repost or a quotation.
func (c *Corpus) copySpan(rng *rand.Rand, cfg ResponseConfig) span {
	for {
		var src string
		var runs []LabelRun
		var mark []bool
		if rng.Float64() < cfg.FromCopies && len(c.copies) > 0 {
			p := c.Posts[c.copies[rng.IntN(len(c.copies))]]
			src, runs = p.Text, p.Labels
			if len(p.Quoted) > 0 && rng.IntN(2) == 0 {
				src, runs = p.Quoted[0], p.QuoteLabels
			}
		} else {
			p := c.Posts[c.originals[rng.IntN(len(c.originals))]]
			src, runs, mark = p.Text, p.Labels, c.reposted[p.ID]
		}
		toks := text.Words(src)
		n := cfg.MinSpan + rng.IntN(cfg.MaxSpan-cfg.MinSpan+1)
		if len(toks) < n {
			continue
		}
		s := rng.IntN(len(toks) - n + 1)
		out := span{src[toks[s].Start:toks[s+n-1].End], expand(runs, s, s+n)}
		if mark != nil {
			for i := range out.labels {
				out.labels[i].Reposted = out.labels[i].Reposted || mark[s+i]
			}
		}
		setSpans(out.labels)
		return out
	}
}

// edit substitutes, deletes or inserts words in a copied piece; the piece keeps its authors
// (a lightly edited copy is still a copy) and every word is marked edited.
func (c *Corpus) edit(rng *rand.Rand, p span, rate float64) span {
	toks := text.Words(p.text)
	var words []string
	var labels []Label
	for i, t := range toks {
		w, l := p.text[t.Start:t.End], p.labels[i]
		if rng.Float64() >= rate {
			words, labels = append(words, w), append(labels, l)
			continue
		}
		switch op := rng.IntN(20); {
		case op < 14: // substitute
			sub := c.Model.Word(rng)
			for text.Normalize(sub) == t.Text {
				sub = c.Model.Word(rng)
			}
			words, labels = append(words, sub), append(labels, l)
		case op < 17: // insert after
			words, labels = append(words, w, c.Model.Word(rng)), append(labels, l, l)
		default: // delete
		}
	}
	if len(words) == 0 {
		return p
	}
	for i := range labels {
		labels[i].Edited = true
	}
	setSpans(labels)
	return span{strings.Join(words, " "), labels}
}

// reorder shuffles the sentences of a copied piece: it is cut after every word followed by a
// full stop, question mark or exclamation mark, and the sentences are put together again in a
// random order, each word keeping its label. A piece of one sentence is returned as it is. The
// words moved are marked edited, so that the metrics count them with the edited spans.
func reorder(rng *rand.Rand, p span) span {
	toks := text.Words(p.text)
	var cuts []int // index of the first token of each sentence
	for i := range toks {
		if i == 0 {
			cuts = append(cuts, 0)
			continue
		}
		if strings.ContainsAny(p.text[toks[i-1].End:toks[i].Start], ".?!") {
			cuts = append(cuts, i)
		}
	}
	if len(cuts) < 2 {
		return p
	}
	type sentence struct {
		text   string
		labels []Label
	}
	sents := make([]sentence, len(cuts))
	for k, lo := range cuts {
		hi, end := len(toks), len(p.text)
		if k+1 < len(cuts) {
			hi, end = cuts[k+1], toks[cuts[k+1]].Start
		}
		sents[k] = sentence{strings.TrimSpace(p.text[toks[lo].Start:end]), p.labels[lo:hi]}
	}
	rng.Shuffle(len(sents), func(i, j int) { sents[i], sents[j] = sents[j], sents[i] })
	parts := make([]string, len(sents))
	labels := make([]Label, 0, len(p.labels))
	for k, s := range sents {
		parts[k] = s.text
		labels = append(labels, s.labels...)
	}
	for i := range labels {
		labels[i].Edited = true
	}
	setSpans(labels)
	return span{strings.Join(parts, " "), labels}
}

// filler returns n words of running text from posts kept out of the index.
func (c *Corpus) filler(rng *rand.Rand, n int) span {
	var parts []string
	got := 0
	for got < n {
		p := c.HeldOut[rng.IntN(len(c.HeldOut))]
		toks := text.Words(p.Text)
		k := min(n-got, len(toks))
		s := rng.IntN(len(toks) - k + 1)
		parts = append(parts, p.Text[toks[s].Start:toks[s+k-1].End])
		got += k
	}
	return span{strings.Join(parts, " "), make([]Label, n)} // the zero Label is filler
}

// setSpans sets the Span of every label of a copied piece to the length of the run of
// consecutive words with the same author and kind that holds it: a piece copied from a repost
// may hold the last three words of the original followed by the reposter's own, and those three
// words are a span of three words, too short to be credited to anybody.
func setSpans(labels []Label) {
	for i := 0; i < len(labels); {
		j := i + 1
		for j < len(labels) && labels[j].Author == labels[i].Author && labels[j].Kind == labels[i].Kind {
			j++
		}
		for k := i; k < j; k++ {
			labels[k].Span = j - i
		}
		i = j
	}
}
