// Package text turns posts and model responses into the word sequences and fingerprints that
// attribution compares. The indexer and the attribution scorer both use it, so that the two sides
// are normalised identically (DESIGN.md §4):
//
//   - FromHTML and FromMarkdown strip markup and keep quoted text (<blockquote>, `>` lines) apart
//     from the author's own words.
//   - Words splits text on Unicode word boundaries (UAX #29) and normalises each word: NFKC, lower
//     case, one apostrophe, one quote and one dash. There is no stemming. Every word keeps the byte
//     range it came from, so evidence can point into the original text.
//   - KGramHashes hashes every run of k consecutive words to 64 bits, and Winnow selects the
//     fingerprints: the minimum of every window of w hashes, which guarantees a shared fingerprint
//     for every shared run of at least w+k−1 words.
//
// Model responses are tokenised as they are sent (Markdown punctuation is not a word, so it drops
// out), which keeps response offsets exact; posts are tokenised after markup is stripped, and their
// offsets refer to the stored plain text.
package text

import (
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/segment"
	"golang.org/x/text/unicode/norm"
)

// Token is one normalised word and the byte range [Start, End) it occupies in the input.
type Token struct {
	Text       string
	Start, End int
}

// Words returns the normalised words of s in order. Punctuation and spaces are not words.
func Words(s string) []Token {
	if s == "" {
		return nil
	}
	out := make([]Token, 0, len(s)/6+1)
	seg := segment.NewWordSegmenterDirect([]byte(s))
	start := 0
	for seg.Segment() {
		n := len(seg.Bytes())
		end := start + n
		if seg.Type() != segment.None {
			// UAX #29 counts "_" as part of a word; Markdown uses it for emphasis (_word_).
			ws, we := start, end
			for ws < we && s[ws] == '_' {
				ws++
			}
			for we > ws && s[we-1] == '_' {
				we--
			}
			if w := Normalize(s[ws:we]); w != "" {
				out = append(out, Token{Text: w, Start: ws, End: we})
			}
		}
		start = end
	}
	return out
}

// Normalize returns the normal form of one word: NFKC, lower case, typographic apostrophes and
// quotes folded to ASCII, dashes and hyphens to "-". ASCII words take a fast path.
func Normalize(w string) string {
	ascii, lower := true, true
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if 'A' <= c && c <= 'Z' {
			lower = false
		}
	}
	if ascii {
		if lower {
			return w
		}
		return strings.ToLower(w)
	}
	w = norm.NFKC.String(w)
	w = strings.ToLower(w)
	return foldPunct.Replace(w)
}

var foldPunct = strings.NewReplacer(
	"\u2018", "'", "\u2019", "'", "\u201a", "'", "\u201b", "'", "\u02bc", "'", "\u2032", "'", "\uff07", "'",
	"\u201c", "\"", "\u201d", "\"", "\u201e", "\"", "\u201f", "\"", "\u2033", "\"",
	"\u2010", "-", "\u2011", "-", "\u2012", "-", "\u2013", "-", "\u2014", "-", "\u2015", "-", "\u2212", "-",
	"\u00ad", "", // soft hyphen: invisible, not part of the word
)
