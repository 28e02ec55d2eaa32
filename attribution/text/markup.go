package text

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer/html"
	xhtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Doc is a post reduced to plain text: the author's own words, and apart from them whatever the
// author quoted. Quoted text is searchable but never credited to the quoter.
type Doc struct {
	Own    string
	Quoted []string
}

// blockElements end a line of text; their content is not run together with what follows.
var blockElements = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Br: true, atom.Li: true, atom.Ul: true, atom.Ol: true,
	atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Pre: true, atom.Tr: true, atom.Td: true, atom.Th: true, atom.Table: true, atom.Hr: true,
	atom.Dd: true, atom.Dt: true, atom.Dl: true, atom.Section: true, atom.Article: true,
	atom.Header: true, atom.Footer: true, atom.Figure: true, atom.Figcaption: true,
}

// skipElements hold no prose.
var skipElements = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Head: true, atom.Noscript: true, atom.Template: true,
	atom.Iframe: true, atom.Svg: true, atom.Math: true,
}

// FromHTML strips tags and decodes entities. Text inside <blockquote> (at any depth; a nested
// quotation belongs to its outermost quote) goes to Quoted, one entry per outermost blockquote.
// Images contribute their alt text, links their anchor text.
//
// HTML made of plain tags, quoted attributes and entities, which is most of what posts hold, is
// read by fastHTML; anything else, and whatever fastHTML is unsure of, by golang.org/x/net/html's
// tokenizer. Both feed one stripper, and read alike what fastHTML reads (FuzzFastHTML,
// TestFastHTMLRealDumps).
func FromHTML(s string) Doc {
	var st stripper
	if fastHTML(s, &st) {
		return st.doc()
	}
	st = stripper{}
	fromTokenizer(s, &st)
	return st.doc()
}

// fromTokenizer feeds st the tokens of s as golang.org/x/net/html's tokenizer reads them.
func fromTokenizer(s string, st *stripper) {
	z := xhtml.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		switch tt {
		case xhtml.ErrorToken:
			return
		case xhtml.TextToken:
			st.text(z.Text())
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			var alt [][]byte
			if a == atom.Img && hasAttr && st.skipDepth == 0 {
				for {
					k, v, more := z.TagAttr()
					if string(k) == "alt" {
						alt = append(alt, v)
					}
					if !more {
						break
					}
				}
			}
			st.start(a, tt == xhtml.SelfClosingTagToken, alt)
		case xhtml.EndTagToken:
			name, _ := z.TagName()
			st.end(atom.Lookup(name))
		}
	}
}

// stripper turns the tokens of HTML into a Doc.
type stripper struct {
	own, quote            strings.Builder
	quoted                []string
	quoteDepth, skipDepth int
}

func (st *stripper) out() *strings.Builder {
	if st.quoteDepth > 0 {
		return &st.quote
	}
	return &st.own
}

// text takes a text token's unescaped text.
func (st *stripper) text(b []byte) {
	if st.skipDepth == 0 {
		st.out().Write(b)
	}
}

// start takes a start tag, or a self-closing one, and the values of an img's alt attributes.
func (st *stripper) start(a atom.Atom, selfClosing bool, alt [][]byte) {
	if skipElements[a] && !selfClosing {
		st.skipDepth++
		return
	}
	if st.skipDepth > 0 {
		return
	}
	switch {
	case a == atom.Blockquote && !selfClosing:
		st.out().WriteByte('\n')
		st.quoteDepth++
	case a == atom.Img:
		for _, v := range alt {
			if len(v) > 0 {
				st.out().WriteByte(' ')
				st.out().Write(v)
				st.out().WriteByte(' ')
			}
		}
	case blockElements[a]:
		st.out().WriteByte('\n')
	}
}

// end takes an end tag.
func (st *stripper) end(a atom.Atom) {
	if skipElements[a] {
		if st.skipDepth > 0 {
			st.skipDepth--
		}
		return
	}
	if st.skipDepth > 0 {
		return
	}
	switch {
	case a == atom.Blockquote && st.quoteDepth > 0:
		st.quoteDepth--
		st.out().WriteByte('\n')
		if st.quoteDepth == 0 {
			if q := tidy(st.quote.String()); q != "" {
				st.quoted = append(st.quoted, q)
			}
			st.quote.Reset()
		}
	case blockElements[a]:
		st.out().WriteByte('\n')
	}
}

// doc ends the input.
func (st *stripper) doc() Doc {
	d := Doc{Own: tidy(st.own.String()), Quoted: st.quoted}
	if q := tidy(st.quote.String()); q != "" { // unterminated blockquote
		d.Quoted = append(d.Quoted, q)
	}
	return d
}

var markdown = goldmark.New(
	goldmark.WithExtensions(extension.Strikethrough, extension.Table, extension.Linkify),
	goldmark.WithRendererOptions(html.WithUnsafe()), // raw HTML passes to FromHTML, which strips it
)

// FromMarkdown renders Markdown (CommonMark with tables and strikethrough, as Reddit and Hacker
// News writers use it) and strips the result with FromHTML, so `>` quotations are kept apart.
// Text in which no character can mean markup (plainMarkdown) renders to its own words, and is
// only tidied.
func FromMarkdown(s string) Doc {
	if plainMarkdown(s) {
		return Doc{Own: tidy(s)}
	}
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(s), &buf); err != nil {
		// goldmark fails only on writer errors; a bytes.Buffer has none. Keep the text regardless.
		return Doc{Own: tidy(s)}
	}
	return FromHTML(buf.String())
}

// plainMarkdown reports whether s is Markdown without markup: paragraphs of text whose lines
// start with a letter or one of a few punctuation marks (no list, heading, quotation, code
// block or setext underline can begin), end without white space (no hard line break), and hold
// none of the characters that open inline markup, entities, HTML or tables. Linkify may still
// turn a URL of such text into a link, whose text is the URL itself. Such text renders as
// paragraphs of the same words. 2,121 of the 2,678 comments of the real dumps are such text;
// rendering and stripping Markdown was 0.8 of the 2.7 CPU seconds that preparing make
// bench-ingest's 100,000 posts took (FuzzPlainMarkdown holds the two paths equal).
func plainMarkdown(s string) bool {
	lineStart := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if lineStart {
			lineStart = false
			if c != '\n' && !plainLineStart[c] {
				return false
			}
		}
		switch {
		case c == '\n':
			if i > 0 && (s[i-1] == ' ' || s[i-1] == '\t') {
				return false
			}
			lineStart = true
		case c < 0x20 || c == 0x7f || c < utf8.RuneSelf && markdownSyntax[c]:
			return false
		}
	}
	return len(s) == 0 || s[len(s)-1] != ' '
}

// markdownSyntax are the ASCII characters that can open or be part of Markdown markup anywhere
// in a line (emphasis, code, links, images, escapes, entities, HTML, autolinks, strikethrough,
// tables).
var markdownSyntax = func() (m [utf8.RuneSelf]bool) {
	for _, c := range []byte("*_`[]\\&<>~|") {
		m[c] = true
	}
	return m
}()

// plainLineStart are the bytes that a line of plain Markdown may start with: letters, non-ASCII
// and punctuation that begins no block (not a digit, which may be an ordered list's, nor
// white space, which may indent code, nor a colon, which may align a table column).
var plainLineStart = func() (m [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		m[c], m[c-'a'+'A'] = true, true
	}
	for c := utf8.RuneSelf; c < 256; c++ {
		m[c] = true
	}
	for _, c := range []byte("\"'(.,;?!@/$%") {
		m[c] = true
	}
	return m
}()

// tidy collapses runs of spaces and tabs, trims every line and drops blank lines beyond one. It
// is one pass over s: every line, split by Unicode white space, its words joined by one space
// (strings.Fields and strings.Join per line, without their allocations); each word is copied
// whole.
func tidy(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	blank := true  // what is written ends with a blank line, or nothing is written
	words := false // the current line has a word written
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\n' {
			switch {
			case words:
				b.WriteByte('\n')
				blank = false
			case !blank:
				b.WriteByte('\n')
				blank = true
			}
			words = false
			i++
			continue
		}
		if size := spaceAt(s, i); size > 0 {
			i += size
			continue
		}
		start := i // a word: up to the next white space
		for i < len(s) && s[i] != '\n' && spaceAt(s, i) == 0 {
			if s[i] < utf8.RuneSelf {
				i++
			} else {
				_, size := utf8.DecodeRuneInString(s[i:])
				i += size
			}
		}
		if words {
			b.WriteByte(' ')
		}
		b.WriteString(s[start:i])
		words = true
	}
	return strings.TrimSpace(b.String())
}

// spaceAt returns the length of the white space character at s[i], or 0 when there is none.
func spaceAt(s string, i int) int {
	c := s[i]
	if c < utf8.RuneSelf {
		if asciiSpace[c] {
			return 1
		}
		return 0
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	if unicode.IsSpace(r) {
		return size
	}
	return 0
}

// asciiSpace marks the ASCII bytes unicode.IsSpace holds white space.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// fastHTML feeds st the tokens of s, and reports true, when s is made of text without
// carriage returns or NUL bytes and of complete tags that it reads exactly as the tokenizer
// does: start, end and self-closing tags of fastTags, attributes by name or with quoted values,
// separated by white space. It reports false at the first thing of any other kind, and st must
// then be discarded.
func fastHTML(s string, st *stripper) bool {
	for i := 0; i < len(s); {
		end := len(s)
		if j := strings.IndexByte(s[i:], '<'); j >= 0 {
			end = i + j
		}
		if end > i {
			t := s[i:end]
			if strings.ContainsAny(t, "\r\x00") {
				return false
			}
			if st.skipDepth == 0 {
				st.out().WriteString(xhtml.UnescapeString(t))
			}
		}
		if end == len(s) {
			return true
		}
		n := fastTag(s[end:], st)
		if n == 0 {
			return false
		}
		i = end + n
	}
	return true
}

// fastTags are the elements whose tags fastHTML reads: the markup of posts, none of which the
// tokenizer reads its content of as raw text, and none of the elements FromHTML skips.
var fastTags = func() map[atom.Atom]bool {
	m := map[atom.Atom]bool{}
	for _, a := range []atom.Atom{
		atom.P, atom.Div, atom.Br, atom.Li, atom.Ul, atom.Ol, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5,
		atom.H6, atom.Pre, atom.Code, atom.A, atom.Em, atom.Strong, atom.B, atom.I, atom.Blockquote, atom.Img,
		atom.Hr, atom.Sup, atom.Sub, atom.Span, atom.Table, atom.Thead, atom.Tbody, atom.Tr, atom.Td, atom.Th,
		atom.Dl, atom.Dt, atom.Dd, atom.Kbd, atom.Del, atom.Ins, atom.S, atom.Strike, atom.U, atom.Small,
	} {
		m[a] = true
	}
	return m
}()

// fastTag reads the tag at the start of s (which starts with '<'), feeds it to st and returns
// its length, or returns 0 when it is not a tag that fastHTML reads.
func fastTag(s string, st *stripper) int {
	i := 1
	closing := i < len(s) && s[i] == '/'
	if closing {
		i++
	}
	var name [12]byte
	n := 0
	for ; i < len(s) && (isASCIILetter(s[i]) || n > 0 && '0' <= s[i] && s[i] <= '9'); i++ {
		if n == len(name) {
			return 0
		}
		name[n] = s[i] | 0x20 // lower case
		n++
	}
	a := atom.Lookup(name[:n])
	if n == 0 || !fastTags[a] {
		return 0
	}
	if closing {
		if i < len(s) && s[i] == '>' {
			st.end(a)
			return i + 1
		}
		return 0
	}
	var alt [][]byte
	for {
		if i >= len(s) {
			return 0
		}
		switch {
		case s[i] == '>':
			st.start(a, false, alt)
			return i + 1
		case s[i] == '/':
			if i+1 < len(s) && s[i+1] == '>' {
				st.start(a, true, alt)
				return i + 2
			}
			return 0
		case s[i] != ' ' && s[i] != '\n':
			return 0
		}
		for i < len(s) && (s[i] == ' ' || s[i] == '\n') {
			i++
		}
		if i < len(s) && (s[i] == '>' || s[i] == '/') {
			continue
		}
		// An attribute: a name, and maybe a quoted value.
		start := i
		for i < len(s) && (isASCIILetter(s[i]) || i > start && ('0' <= s[i] && s[i] <= '9' || s[i] == '-' || s[i] == '_')) {
			i++
		}
		if i == start || i >= len(s) {
			return 0
		}
		key := s[start:i]
		if s[i] != '=' {
			if a == atom.Img && strings.EqualFold(key, "alt") {
				alt = append(alt, nil)
			}
			continue
		}
		i++
		if i >= len(s) || s[i] != '"' && s[i] != '\'' {
			return 0
		}
		q := strings.IndexByte(s[i+1:], s[i])
		if q < 0 {
			return 0
		}
		val := s[i+1 : i+1+q]
		if strings.ContainsAny(val, "\r\x00") {
			return 0
		}
		if a == atom.Img && strings.EqualFold(key, "alt") {
			if strings.IndexByte(val, '&') >= 0 {
				return 0 // an attribute's references unescape by other rules than text's
			}
			alt = append(alt, []byte(val))
		}
		i += q + 2
	}
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
