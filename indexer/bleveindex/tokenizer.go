package bleveindex

import (
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/segment"

	"github.com/openroyalty/royalty/attribution/text"
)

// fastTokenizer produces exactly the tokens of Bleve's unicode tokenizer (the standard
// analyzer's): the UAX #29 word segments that are not spaces or punctuation, with their byte
// ranges, positions and types. Text is cut at ASCII white space, where UAX #29 always breaks
// words; stretches of pure ASCII between white space are segmented by asciiSegments, the
// others by the segmenter, which sees the white space on either side as it would in the whole
// text. The segmenter runs a state machine over every byte and is most of the text field's
// analysis; this is several times faster on text that is mostly ASCII
// (TestFastTokenizerMatchesUnicode, FuzzFastTokenizer hold the two equal).
type fastTokenizer struct{}

func (fastTokenizer) Tokenize(input []byte) analysis.TokenStream {
	if !utf8.Valid(input) {
		// The segmenter may read white space into an invalid sequence; give it everything.
		return stream(segmenterWords(input, 0, len(input), nil))
	}
	tokens := make([]analysis.Token, 0, len(input)/6+1)
	for i := 0; i < len(input); {
		start, end, ascii := text.Stretch(input, i)
		if ascii {
			tokens = asciiSegments(input, start, end, tokens)
		} else {
			tokens = segmenterWords(input, max(start-1, 0), min(end+1, len(input)), tokens)
		}
		i = end
	}
	return stream(tokens)
}

// stream numbers the tokens' positions and points at them.
func stream(tokens []analysis.Token) analysis.TokenStream {
	out := make(analysis.TokenStream, len(tokens))
	for k := range tokens {
		tokens[k].Position = k + 1
		out[k] = &tokens[k]
	}
	return out
}

// segmenterWords appends the word segments of input[lo:hi] as the segmenter finds them.
func segmenterWords(input []byte, lo, hi int, out []analysis.Token) []analysis.Token {
	seg := segment.NewWordSegmenterDirect(input[lo:hi])
	start := lo
	for seg.Segment() {
		end := start + len(seg.Bytes())
		if t := seg.Type(); t != segment.None {
			out = append(out, analysis.Token{Term: input[start:end], Start: start, End: end, Type: tokenType(t)})
		}
		start = end
	}
	return out
}

// tokenType is the unicode tokenizer's type of a segment type.
func tokenType(t int) analysis.TokenType {
	switch t {
	case segment.Ideo, segment.Kana:
		return analysis.Ideographic
	case segment.Number:
		return analysis.Numeric
	}
	return analysis.AlphaNumeric
}

// asciiSegments appends the word segments of input[lo:hi], which is ASCII without white space,
// as text.ASCIIWord cuts them (the UAX #29 rules that concern ASCII). A segment with a letter, or
// of underscores only, is alphanumeric; one with digits and no letter is numeric (as the
// segmenter types them).
func asciiSegments(input []byte, lo, hi int, out []analysis.Token) []analysis.Token {
	for i := lo; i < hi; {
		end, letter, digit := text.ASCIIWord(input, i, hi)
		if end == i {
			i++
			continue
		}
		typ := analysis.AlphaNumeric
		if digit && !letter {
			typ = analysis.Numeric
		}
		out = append(out, analysis.Token{Term: input[i:end], Start: i, End: end, Type: typ})
		i = end
	}
	return out
}

// textAnalyzer is std, the standard analyzer, with fastTokenizer in place of its unicode
// tokenizer: the same tokens, sooner. Queries still analyze with std itself (the mapping names
// it), so index and queries agree by construction of the tokenizer, not by configuration.
func textAnalyzer(std analysis.Analyzer) analysis.Analyzer {
	d, ok := std.(*analysis.DefaultAnalyzer)
	if !ok {
		return std
	}
	if _, ok := d.Tokenizer.(*unicode.UnicodeTokenizer); !ok {
		return std
	}
	fast := *d
	fast.Tokenizer = fastTokenizer{}
	return &fast
}
