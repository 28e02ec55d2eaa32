package text

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// tokenizeHTML is FromHTML with x/net/html's tokenizer alone.
func tokenizeHTML(s string) Doc {
	var st stripper
	fromTokenizer(s, &st)
	return st.doc()
}

// checkFastHTML fails when fastHTML reads s and the tokenizer reads it otherwise.
func checkFastHTML(t testing.TB, s string) bool {
	t.Helper()
	var st stripper
	if !fastHTML(s, &st) {
		return false
	}
	if got, want := st.doc(), tokenizeHTML(s); !reflect.DeepEqual(got, want) {
		t.Fatalf("HTML %q: fastHTML reads %q, the tokenizer %q", s, got, want)
	}
	return true
}

func TestFastHTML(t *testing.T) {
	for _, tt := range []struct {
		s    string
		fast bool
	}{
		{"", true},
		{"plain &amp; simple &lt;3 &copy; &#x41;&#65 &notit;", true},
		{`<p>a <a href="https://x/y?a=1&amp;b=2" rel='nofollow'>link</a> <code>x &gt; y</code></p>`, true},
		{`<blockquote><p>quoted <em>words</em></p></blockquote><p>own</p>`, true},
		{`<img src="a.png" alt="an image"/><img alt><br/><hr />`, true},
		{"<P>Upper</P><H2>case</H2>", true},
		{"a > b", true},
		{`<img alt="a &amp; b">`, false}, // an attribute's references
		{"<script>x</script>", false},
		{"<textarea><p></textarea>", false},
		{"<!-- comment -->", false},
		{"<p class=x>", false},
		{"<p\tid=\"x\">", false},
		{"a < b", false},
		{"a\r\nb", false},
		{"<p", false},
		{"</p >", false},
		{"<svg><p></svg>", false},
	} {
		if got := checkFastHTML(t, tt.s); got != tt.fast {
			t.Errorf("fastHTML(%q) read = %v, want %v", tt.s, got, tt.fast)
		}
	}
	alphabet := []string{"a", "Z", "0", " ", "\n", "\t", "<", ">", "/", "=", "\"", "'", "&", ";", "#", "x", "amp", "lt",
		"p", "P", "br", "img", "alt", "a", "href", "blockquote", "script", "pre", "h1", "-", "é", "\u00a0", "!", "?"}
	randomTexts(11, alphabet, 200_000, 24, func(s string) { checkFastHTML(t, s) })
}

// TestFastHTMLRealDumps holds fastHTML to the tokenizer on every post body of the real dumps and
// on the HTML goldmark renders of every comment, and logs how many it reads.
func TestFastHTMLRealDumps(t *testing.T) {
	docs, fast := 0, 0
	eachDumpAttr(t, "*.xml", []string{"Body", "Text"}, func(attr, s string) {
		if attr == "Text" { // a comment, in Markdown
			var buf bytes.Buffer
			if err := markdown.Convert([]byte(s), &buf); err != nil {
				t.Fatal(err)
			}
			s = buf.String()
		}
		docs++
		if checkFastHTML(t, s) {
			fast++
		}
	})
	t.Logf("fastHTML read %d of %d documents", fast, docs)
}

func FuzzFastHTML(f *testing.F) {
	f.Add(`<p>a <a href="x">b</a> &amp; c</p>`)
	f.Add(`<blockquote><p>q</p></blockquote><img alt="i"/>`)
	f.Add("<P>x</P><br/>")
	f.Fuzz(func(t *testing.T, s string) { checkFastHTML(t, s) })
}

// BenchmarkFromHTML strips a post's HTML with fastHTML and with the tokenizer.
func BenchmarkFromHTML(b *testing.B) {
	s := strings.Repeat(`<p>Try the <a href="https://example.com/a?b=1&amp;c=2">brakes</a> gently, then <em>harder</em> &mdash; `+
		`see <code>x &gt; y</code>.</p>`+"\n", 8) + `<blockquote><p>a quotation</p></blockquote>`
	for _, bb := range []struct {
		name string
		fn   func(string) Doc
	}{{"fast", FromHTML}, {"tokenizer", tokenizeHTML}} {
		b.Run(bb.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				bb.fn(s)
			}
		})
	}
}
