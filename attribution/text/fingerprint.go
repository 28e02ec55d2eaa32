package text

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// Default fingerprint parameters (docs/design.md §4): 5-word shingles, winnowing window 4, so every
// shared run of at least 8 words shares a fingerprint.
const (
	DefaultK = 5
	DefaultW = 4
)

// Fingerprint is a selected k-gram hash and the index of the first word of its k-gram.
type Fingerprint struct {
	Hash uint64
	Pos  int
}

// WordHash hashes one normalised word (FNV-1a, 64 bit). It is stable across processes and
// versions: indexes store values derived from it.
func WordHash(w string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(w); i++ {
		h ^= uint64(w[i])
		h *= 1099511628211
	}
	return h
}

// KGramHashes returns the hash of every run of k consecutive tokens: element i covers tokens
// i..i+k-1. It returns nil when there are fewer than k tokens.
func KGramHashes(tokens []Token, k int) []uint64 {
	if k <= 0 || len(tokens) < k {
		return nil
	}
	wh := make([]uint64, len(tokens))
	for i, t := range tokens {
		wh[i] = WordHash(t.Text)
	}
	return kgrams(wh, k)
}

func kgrams(wh []uint64, k int) []uint64 {
	out := make([]uint64, len(wh)-k+1)
	for i := range out {
		var h uint64
		for j := 0; j < k; j++ {
			h = (h ^ wh[i+j]) * 0x100000001b3
			h ^= h >> 29
		}
		out[i] = mix(h)
	}
	return out
}

// mix is the splitmix64 finaliser: it spreads every input bit over the output so that the
// minimum of a window is an unbiased choice.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Winnow selects fingerprints from a hash sequence: in every window of w consecutive hashes the
// minimum is selected (the rightmost one on ties), and each selection is reported once, in order of
// position (robust winnowing, Schleimer et al. 2003). Sequences shorter than a window select their
// minimum. w <= 1 selects every hash.
func Winnow(hashes []uint64, w int) []Fingerprint {
	n := len(hashes)
	if n == 0 {
		return nil
	}
	if w <= 1 {
		out := make([]Fingerprint, n)
		for i, h := range hashes {
			out[i] = Fingerprint{Hash: h, Pos: i}
		}
		return out
	}
	if w > n {
		w = n
	}
	out := make([]Fingerprint, 0, 2*n/(w+1)+1)
	last := -1
	for start := 0; start+w <= n; start++ {
		min := start + w - 1
		if last >= start {
			// The previous minimum is still in the window: only the new hash can beat it.
			if hashes[start+w-1] <= hashes[last] {
				min = start + w - 1
			} else {
				min = last
			}
		} else {
			for i := start + w - 2; i >= start; i-- {
				if hashes[i] < hashes[min] {
					min = i
				}
			}
		}
		if min != last {
			out = append(out, Fingerprint{Hash: hashes[min], Pos: min})
			last = min
		}
	}
	return out
}

// Fingerprints returns the winnowed fingerprints of s with the default parameters.
func Fingerprints(s string) []Fingerprint {
	return Winnow(KGramHashes(Words(s), DefaultK), DefaultW)
}

// Term encodes a fingerprint hash as an index term: 16 lower-case hex digits, fixed width.
func Term(h uint64) string {
	var b [16]byte
	s := strconv.AppendUint(b[:0], h, 16)
	if len(s) == 16 {
		return string(s)
	}
	out := make([]byte, 16)
	for i := range out[:16-len(s)] {
		out[i] = '0'
	}
	copy(out[16-len(s):], s)
	return string(out)
}

// ParseTerm decodes a term made by Term.
func ParseTerm(t string) (uint64, error) {
	return strconv.ParseUint(t, 16, 64)
}

// ContentHash returns the hex SHA-256 of the normalised words of s joined by single spaces, so
// texts that differ only in markup, case, spacing or punctuation share a hash.
func ContentHash(s string) string {
	return ContentHashWords(Words(s))
}

// ContentHashWords is ContentHash of a text whose words (Words) are tokens, for callers that
// have tokenised it already: the indexer hashes and fingerprints every post from one Words call.
func ContentHashWords(tokens []Token) string {
	h := sha256.New()
	for i, t := range tokens {
		if i > 0 {
			h.Write([]byte{' '})
		}
		h.Write([]byte(t.Text))
	}
	return hex.EncodeToString(h.Sum(nil))
}
