package eval

import (
	"fmt"
	"math"

	"slices"
	"strings"

	"github.com/openroyalty/royalty/attribution"
)

// MinSpan is the span length from which the recall thresholds apply (the scorer's
// default MinSpanWords): shorter copies are not credited by design.
const MinSpan = 8

// Metrics accumulates the comparison of attribution results with the truth.
type Metrics struct {
	Responses int

	// Credit on words copied verbatim in spans of at least MinSpan words, whose author exists.
	verbatimWords, verbatimCredit float64
	// The same for spans copied with edits.
	editedWords, editedCredit float64
	// All credit given, and the part of it given to the right author.
	creditGiven, creditCorrect float64
	// Credit given on boilerplate words, and on words of responses that copy nothing.
	boilerWords, boilerCredit float64
	novelWords, novelCredit   float64
	// Reposted words (in spans of at least MinSpan words): credit to their original author,
	// and all credit given on them.
	repostWords, repostOriginal, repostGiven float64

	shareTV     []float64 // total-variation distance between predicted and true shares
	fractionErr []float64 // |predicted − true| attributed fraction
}

// Add compares one result with its response's truth.
func (m *Metrics) Add(r Response, res *attribution.Result) {
	m.Responses++
	credit := WordCredit(res)
	copies := false
	for i, l := range r.Labels {
		given, right := 0.0, 0.0
		for a, c := range credit[i] {
			given += c
			if a == l.Author && l.Author != "" {
				right += c
			}
		}
		m.creditGiven += given
		m.creditCorrect += right
		if l.Kind == Copied {
			copies = true
		}
		switch {
		case l.Kind == Boilerplate:
			m.boilerWords++
			m.boilerCredit += given
		case l.Kind == Copied && l.Author != "" && l.Span >= MinSpan:
			if l.Edited {
				m.editedWords++
				m.editedCredit += right
			} else {
				m.verbatimWords++
				m.verbatimCredit += right
			}
			if l.Reposted {
				m.repostWords++
				m.repostOriginal += right
				m.repostGiven += given
			}
		}
	}
	if !copies {
		m.novelWords += float64(len(r.Labels))
		for _, c := range credit {
			for _, v := range c {
				m.novelCredit += v
			}
		}
	}

	// Shares: the truth counts every labelled word for its author.
	n := float64(len(r.Labels))
	truth := map[string]float64{}
	trueAttributed := 0.0
	for _, l := range r.Labels {
		if l.Author != "" {
			truth[l.Author] += 1 / n
			trueAttributed += 1 / n
		}
	}
	pred := map[string]float64{}
	predAttributed := 0.0
	for _, s := range res.Shares {
		f, _ := s.Share.Float64()
		pred[s.AuthorKey] = f
		predAttributed += f
	}
	tv := math.Abs(predAttributed - trueAttributed) // the unattributed remainders differ by this
	for a, q := range truth {
		tv += math.Abs(pred[a] - q)
	}
	for a, p := range pred {
		if _, ok := truth[a]; !ok {
			tv += p
		}
	}
	m.shareTV = append(m.shareTV, tv/2)
	m.fractionErr = append(m.fractionErr, math.Abs(predAttributed-trueAttributed))
}

// WordCredit returns, for every response word, the credit each author receives for it, as
// derived from the evidence: the authors of the spans covering a word split it equally. (A word
// also covered by a deleted author's post, which has no evidence, is split one way fewer here.)
func WordCredit(res *attribution.Result) []map[string]float64 {
	owners := make([][]string, res.ResponseWords)
	for _, e := range res.Evidence {
		for w := e.ResponseWordStart; w < e.ResponseWordEnd; w++ {
			if !slices.Contains(owners[w], e.AuthorKey) {
				owners[w] = append(owners[w], e.AuthorKey)
			}
		}
	}
	out := make([]map[string]float64, len(owners))
	for w, os := range owners {
		if len(os) == 0 {
			continue
		}
		out[w] = make(map[string]float64, len(os))
		for _, a := range os {
			out[w][a] = 1 / float64(len(os))
		}
	}
	return out
}

// Summary is the result of an evaluation.
type Summary struct {
	Responses int
	// Recall is the credit reaching the right author on verbatim copied spans of at least
	// MinSpan words; EditedRecall the same on spans with edits.
	Recall, EditedRecall float64
	// Precision is the part of all credit given that went to the right author.
	Precision float64
	// ShareTVMedian and ShareTVP95: total-variation distance between predicted and true author
	// shares (the unattributed remainder included), per response.
	ShareTVMedian, ShareTVP95 float64
	// FractionErrMedian, FractionErrP95: error of the attributed fraction, per response.
	FractionErrMedian, FractionErrP95 float64
	// FalseCredit is the fraction of words of responses without copied text that were credited.
	FalseCredit float64
	// BoilerplateLeak is the credit given on boilerplate words, per boilerplate word.
	BoilerplateLeak float64
	// RepostOriginal is the credit reaching the original author on reposted words, per such
	// word; RepostOriginalOfGiven the same per unit of credit given on them.
	RepostOriginal, RepostOriginalOfGiven float64
	// Counts behind the ratios.
	VerbatimWords, EditedWords, NovelWords, BoilerplateWords, RepostWords int
}

// Summary computes the metrics. A ratio without data is NaN.
func (m *Metrics) Summary() Summary {
	return Summary{
		Responses:             m.Responses,
		Recall:                ratio(m.verbatimCredit, m.verbatimWords),
		EditedRecall:          ratio(m.editedCredit, m.editedWords),
		Precision:             ratio(m.creditCorrect, m.creditGiven),
		ShareTVMedian:         quantile(m.shareTV, 0.5),
		ShareTVP95:            quantile(m.shareTV, 0.95),
		FractionErrMedian:     quantile(m.fractionErr, 0.5),
		FractionErrP95:        quantile(m.fractionErr, 0.95),
		FalseCredit:           ratio(m.novelCredit, m.novelWords),
		BoilerplateLeak:       ratio(m.boilerCredit, m.boilerWords),
		RepostOriginal:        ratio(m.repostOriginal, m.repostWords),
		RepostOriginalOfGiven: ratio(m.repostOriginal, m.repostGiven),
		VerbatimWords:         int(m.verbatimWords),
		EditedWords:           int(m.editedWords),
		NovelWords:            int(m.novelWords),
		BoilerplateWords:      int(m.boilerWords),
		RepostWords:           int(m.repostWords),
	}
}

// String prints the summary one metric a line.
func (s Summary) String() string {
	var b strings.Builder
	line := func(name string, v float64, n int) {
		if n >= 0 {
			fmt.Fprintf(&b, "%-34s %.4f  (%d words)\n", name, v, n)
		} else {
			fmt.Fprintf(&b, "%-34s %.4f\n", name, v)
		}
	}
	fmt.Fprintf(&b, "%-34s %d\n", "responses", s.Responses)
	line("recall, verbatim spans >= 8 words", s.Recall, s.VerbatimWords)
	line("recall, spans with edits", s.EditedRecall, s.EditedWords)
	line("precision", s.Precision, -1)
	line("share error (TV) median", s.ShareTVMedian, -1)
	line("share error (TV) p95", s.ShareTVP95, -1)
	line("attributed fraction error median", s.FractionErrMedian, -1)
	line("attributed fraction error p95", s.FractionErrP95, -1)
	line("false credit, novel responses", s.FalseCredit, s.NovelWords)
	line("boilerplate leakage", s.BoilerplateLeak, s.BoilerplateWords)
	line("reposted words to original", s.RepostOriginal, s.RepostWords)
	line("  of credit given on them", s.RepostOriginalOfGiven, -1)
	return b.String()
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
