// Package text turns posts and model responses into the word sequences and fingerprints that
// attribution compares. The indexer and the attribution scorer both use it, so that the two sides
// are normalised identically (docs/design.md §4):
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
//
// Text is cut at ASCII whitespace, where UAX #29 always breaks words. Stretches of pure ASCII
// between whitespace take a fast path (asciiWords) that applies the UAX #29 rules for ASCII;
// other stretches go through the full segmenter. The result is the same as segmenting the whole
// text at once (TestWordsFastPathMatchesSegmenter, FuzzWordsFastPath), several times faster.
func Words(s string) []Token {
	if s == "" {
		return nil
	}
	if !utf8.ValidString(s) {
		// The segmenter may read a space into an invalid sequence; give it the whole text.
		return wordsBySegmenter(s)
	}
	out := make([]Token, 0, len(s)/4+8)
	for i := 0; i < len(s); {
		start, end, ascii := Stretch(s, i)
		if ascii {
			out = asciiWords(s, start, end, out)
		} else {
			// The segmenter sees the whitespace on either side, as it would in the whole text
			// (a combining mark after a space belongs to the space, UAX #29 WB4).
			lo, hi := max(start-1, 0), min(end+1, len(s))
			out = segmentWords(s, lo, hi, out)
		}
		i = end
	}
	return out
}

// Stretch finds the first stretch of s[i:] between ASCII white space, where UAX #29 always
// breaks words: it skips the white space at i and returns the stretch's range [start, end) and
// whether it is all ASCII (ASCIIWord applies to it; any other stretch needs the segmenter). At
// the end of s the stretch is empty, start = end = len(s). Words and the index's text
// tokenizer cut text with it.
func Stretch[S ~string | ~[]byte](s S, i int) (start, end int, ascii bool) {
	for i < len(s) && isASCIISpace(s[i]) {
		i++
	}
	start, end, ascii = i, i, true
	for end < len(s) && !isASCIISpace(s[end]) {
		if s[end] >= utf8.RuneSelf {
			ascii = false
		}
		end++
	}
	return start, end, ascii
}

// wordsBySegmenter is Words computed by the segmenter alone: the reference the fast path is
// tested against.
func wordsBySegmenter(s string) []Token {
	if s == "" {
		return nil
	}
	return segmentWords(s, 0, len(s), make([]Token, 0, len(s)/6+1))
}

func isASCIISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// segmentWords appends the words of s[lo:hi] as found by the UAX #29 segmenter.
func segmentWords(s string, lo, hi int, out []Token) []Token {
	seg := segment.NewWordSegmenterDirect([]byte(s[lo:hi]))
	start := lo
	for seg.Segment() {
		n := len(seg.Bytes())
		end := start + n
		if seg.Type() != segment.None {
			out = appendWord(s, start, end, out)
		}
		start = end
	}
	return out
}

// appendWord appends the word s[ws:we] without the underscores around it: UAX #29 counts "_" as
// part of a word, and Markdown uses it for emphasis (_word_).
func appendWord(s string, ws, we int, out []Token) []Token {
	for ws < we && s[ws] == '_' {
		ws++
	}
	for we > ws && s[we-1] == '_' {
		we--
	}
	if w := Normalize(s[ws:we]); w != "" {
		out = append(out, Token{Text: w, Start: ws, End: we})
	}
	return out
}

// UAX #29 word-break classes of ASCII characters.
const (
	cOther     = iota
	cLetter    // ALetter
	cDigit     // Numeric
	cMidLetter // ':'
	cMidNum    // ',' ';'
	cMidNumLet // '.'
	cQuote     // '\'' (Single_Quote, which joins like MidNumLet)
	cExtend    // '_' (ExtendNumLet)
)

var asciiClass = func() (t [128]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = cLetter, cLetter
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit
	}
	t[':'], t[','], t[';'], t['.'], t['\''], t['_'] = cMidLetter, cMidNum, cMidNum, cMidNumLet, cQuote, cExtend
	return t
}()

// asciiWords appends the words of s[lo:hi], which is ASCII without whitespace (ASCIIWord).
func asciiWords(s string, lo, hi int, out []Token) []Token {
	for i := lo; i < hi; {
		end, _, _ := ASCIIWord(s, i, hi)
		if end == i {
			i++
			continue
		}
		out = appendWord(s, i, end, out)
		i = end
	}
	return out
}

// ASCIIWord scans the UAX #29 word that begins at s[i] in s[:hi], which is ASCII without white
// space, applying the rules that concern ASCII: letters and digits join (WB5, WB8–WB10), "_"
// joins them (WB13a, WB13b), and one colon, full stop or apostrophe between letters (WB6, WB7),
// or one comma, semicolon, full stop or apostrophe between digits (WB11, WB12), does not break
// a word. It returns the word's end, and whether it holds a letter and a digit; end is i when
// s[i] begins no word. The tokenizer of the index's text fields uses it too, so that both cut
// ASCII the same way.
func ASCIIWord[S ~string | ~[]byte](s S, i, hi int) (end int, letter, digit bool) {
	c := asciiClass[s[i]]
	if c != cLetter && c != cDigit && c != cExtend {
		return i, false, false
	}
	last := c
	letter, digit = c == cLetter, c == cDigit
	for i++; i < hi; {
		c = asciiClass[s[i]]
		switch {
		case c == cLetter || c == cDigit || c == cExtend:
			last = c
			letter, digit = letter || c == cLetter, digit || c == cDigit
			i++
			continue
		case i+1 < hi && last == cLetter && (c == cMidLetter || c == cMidNumLet || c == cQuote) &&
			asciiClass[s[i+1]] == cLetter:
			i += 2
			continue
		case i+1 < hi && last == cDigit && (c == cMidNum || c == cMidNumLet || c == cQuote) &&
			asciiClass[s[i+1]] == cDigit:
			i += 2
			continue
		}
		break
	}
	return i, letter, digit
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
