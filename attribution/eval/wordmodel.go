package eval

import (
	"math/rand/v2"
	"strings"

	"github.com/openroyalty/royalty/attribution/text"
)

// WordModel generates text that looks statistically like its training text: a bigram model over
// words, mixed with unigram draws so that it does not reproduce long runs of the training text.
type WordModel struct {
	vocab   []string
	unigram []int32   // every token of the training text, as vocabulary ids
	next    [][]int32 // successors of each word, with multiplicity
}

// uniformMix is the chance of drawing the next word from the unigram distribution: it keeps the
// bigram chain from running along memorised sentences, so that two generated posts rarely share
// eight words by chance (as two real posts rarely do).
const uniformMix = 0.3

// NewWordModel trains a model on texts.
func NewWordModel(texts []string) *WordModel {
	m := &WordModel{}
	ids := map[string]int32{}
	for _, t := range texts {
		prev := int32(-1)
		for _, tok := range text.Words(t) {
			w := strings.ToLower(t[tok.Start:tok.End])
			id, ok := ids[w]
			if !ok {
				id = int32(len(m.vocab))
				ids[w] = id
				m.vocab = append(m.vocab, w)
				m.next = append(m.next, nil)
			}
			m.unigram = append(m.unigram, id)
			if prev >= 0 {
				m.next[prev] = append(m.next[prev], id)
			}
			prev = id
		}
	}
	return m
}

// Word draws one word from the unigram distribution.
func (m *WordModel) Word(rng *rand.Rand) string {
	return m.vocab[m.unigram[rng.IntN(len(m.unigram))]]
}

// Words appends n words of running text (no punctuation, lower case) to dst.
func (m *WordModel) Words(rng *rand.Rand, n int, dst []string) []string {
	id := m.unigram[rng.IntN(len(m.unigram))]
	for i := 0; i < n; i++ {
		dst = append(dst, m.vocab[id])
		if succ := m.next[id]; len(succ) > 0 && rng.Float64() >= uniformMix {
			id = succ[rng.IntN(len(succ))]
		} else {
			id = m.unigram[rng.IntN(len(m.unigram))]
		}
	}
	return dst
}

// Sentence returns a sentence of n words: capitalised, with the odd comma, ending in a full stop
// or a question mark.
func (m *WordModel) Sentence(rng *rand.Rand, n int) string {
	words := m.Words(rng, n, make([]string, 0, n))
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			if rng.IntN(12) == 0 && i < n-1 {
				b.WriteByte(',')
			}
			b.WriteByte(' ')
		}
		if i == 0 {
			w = capitalise(w)
		}
		b.WriteString(w)
	}
	if rng.IntN(8) == 0 {
		b.WriteByte('?')
	} else {
		b.WriteByte('.')
	}
	return b.String()
}

func capitalise(w string) string {
	if w == "" || w[0] < 'a' || w[0] > 'z' {
		return w
	}
	return string(w[0]-'a'+'A') + w[1:]
}
