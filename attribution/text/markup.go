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
func FromHTML(s string) Doc {
	z := xhtml.NewTokenizer(strings.NewReader(s))
	var own strings.Builder
	var quote strings.Builder
	var quoted []string
	quoteDepth, skipDepth := 0, 0
	out := func() *strings.Builder {
		if quoteDepth > 0 {
			return &quote
		}
		return &own
	}
	for {
		tt := z.Next()
		switch tt {
		case xhtml.ErrorToken:
			d := Doc{Own: tidy(own.String()), Quoted: quoted}
			if q := tidy(quote.String()); q != "" { // unterminated blockquote
				d.Quoted = append(d.Quoted, q)
			}
			return d
		case xhtml.TextToken:
			if skipDepth == 0 {
				out().Write(z.Text())
			}
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			if skipElements[a] && tt == xhtml.StartTagToken {
				skipDepth++
				continue
			}
			if skipDepth > 0 {
				continue
			}
			switch {
			case a == atom.Blockquote && tt == xhtml.StartTagToken:
				out().WriteByte('\n')
				quoteDepth++
			case a == atom.Img && hasAttr:
				for {
					k, v, more := z.TagAttr()
					if string(k) == "alt" && len(v) > 0 {
						out().WriteByte(' ')
						out().Write(v)
						out().WriteByte(' ')
					}
					if !more {
						break
					}
				}
			case blockElements[a]:
				out().WriteByte('\n')
			}
		case xhtml.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if skipElements[a] {
				if skipDepth > 0 {
					skipDepth--
				}
				continue
			}
			if skipDepth > 0 {
				continue
			}
			switch {
			case a == atom.Blockquote && quoteDepth > 0:
				quoteDepth--
				out().WriteByte('\n')
				if quoteDepth == 0 {
					if q := tidy(quote.String()); q != "" {
						quoted = append(quoted, q)
					}
					quote.Reset()
				}
			case blockElements[a]:
				out().WriteByte('\n')
			}
		}
	}
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
// (strings.Fields and strings.Join per line, without their allocations).
func tidy(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	blank := true  // what is written ends with a blank line, or nothing is written
	words := false // the current line has a word written
	space := false // white space since the current line's last word
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
			words, space = false, false
			i++
			continue
		}
		r, size := rune(c), 1
		if c >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		if unicode.IsSpace(r) {
			space = true
		} else {
			if words && space {
				b.WriteByte(' ')
			}
			b.WriteString(s[i : i+size])
			words, space = true, false
		}
		i += size
	}
	return strings.TrimSpace(b.String())
}
