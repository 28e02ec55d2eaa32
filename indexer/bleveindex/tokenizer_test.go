package bleveindex

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/mapping"

	"github.com/openroyalty/royalty/internal/repo"
)

var tokenizerCases = []string{
	"", " ", "a", "Shift to the smallest cog, then wipe the chain.", "e.g. i.e. U.S.A. 3:4 x:y a.1 1.a 1,000.50 1'2 don't",
	"_ __ a_1 1_a _1 1_ _a_ a__b 1__2 A1B2 foo_bar_", "a,b a;b 1;2 a:b: :a ..a a.. 1.. ..1 '' 'a' a'",
	"naïve café — “quoted” ‘single’ über-cool", "日本語のテキスト and カタカナ 한국어", "x\u0301y \u0301x a\u200db",
	" \u0301a\t\u0300b\n\u0308", "emoji 👍🏽 family 👨‍👩‍👧 flag 🇫🇷", "a\r\nb\vc\fd\u0085e\u2028f",
	"\xff\xfe invalid \xc3 utf8", "1.5e10 0x1F $5 50% #tag @user", "http://example.com/a_b?c=1&d=2",
	"tab\tseparated\twords", "ﬁ ligature ＡＢＣ fullwidth １２３", "mixed123abc 123abc456 abc.def.ghi",
}

func unicodeTokens(s string) analysis.TokenStream {
	return unicode.NewUnicodeTokenizer().Tokenize([]byte(s))
}

func sameTokens(t *testing.T, s string, got, want analysis.TokenStream) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%q: %d tokens %v, want %d %v", s, len(got), got, len(want), want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if string(g.Term) != string(w.Term) || g.Start != w.Start || g.End != w.End || g.Position != w.Position ||
			g.Type != w.Type || g.KeyWord != w.KeyWord {
			t.Fatalf("%q: token %d is %s, want %s", s, i, fmtToken(g), fmtToken(w))
		}
	}
}

func fmtToken(t *analysis.Token) string {
	return fmt.Sprintf("{%q %d-%d pos %d type %v}", t.Term, t.Start, t.End, t.Position, t.Type)
}

// TestFastTokenizerMatchesUnicode compares the tokenizer with Bleve's unicode tokenizer on hand
// cases and on every post and comment of the real dumps.
func TestFastTokenizerMatchesUnicode(t *testing.T) {
	for _, s := range tokenizerCases {
		sameTokens(t, s, fastTokenizer{}.Tokenize([]byte(s)), unicodeTokens(s))
	}
	dir := repo.RequireSharedData(t, "stackexchange")
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.xml"))
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			sameTokens(t, line, fastTokenizer{}.Tokenize([]byte(line)), unicodeTokens(line))
			n++
		}
	}
	if n == 0 {
		t.Fatal("no lines read from the dumps")
	}
}

// TestAnalyzerMatchesStandard: the analyzer the text fields are indexed with gives the standard
// analyzer's tokens, which queries analyze with.
func TestAnalyzerMatchesStandard(t *testing.T) {
	std := mapping.NewIndexMapping().AnalyzerNamed(standard.Name)
	fast := textAnalyzer(std)
	if d, ok := fast.(*analysis.DefaultAnalyzer); !ok || d.Tokenizer != (fastTokenizer{}) {
		t.Fatalf("textAnalyzer kept the unicode tokenizer: %#v", fast)
	}
	for _, s := range tokenizerCases {
		sameTokens(t, s, fast.Analyze([]byte(s)), std.Analyze([]byte(s)))
	}
}

func FuzzFastTokenizer(f *testing.F) {
	for _, s := range tokenizerCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sameTokens(t, s, fastTokenizer{}.Tokenize([]byte(s)), unicodeTokens(s))
	})
}
