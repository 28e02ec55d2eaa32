package text

import (
	"bytes"
	"reflect"
	"testing"
)

// renderMarkdown is FromMarkdown without its plain-text shortcut.
func renderMarkdown(t testing.TB, s string) Doc {
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(s), &buf); err != nil {
		t.Fatal(err)
	}
	return FromHTML(buf.String())
}

// checkPlainMarkdown fails when plainMarkdown accepts s and goldmark renders other words.
func checkPlainMarkdown(t testing.TB, s string) bool {
	t.Helper()
	if !plainMarkdown(s) {
		return false
	}
	if got, want := FromMarkdown(s), renderMarkdown(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("plain Markdown %q: the shortcut gives %q, goldmark %q", s, got, want)
	}
	return true
}

func TestPlainMarkdown(t *testing.T) {
	for _, tt := range []struct {
		s     string
		plain bool
	}{
		{"", true},
		{"Try it gently, then harder. See www.example.com/a?b=c or mail a@b.org.", true},
		{"first line\nsecond line\n\nnew paragraph (with parentheses) 2 + 2 = 4 - or not #1!", true},
		{"C# and F# are fine mid-line", true},
		{"Über naïve café", true},
		{"a  \nb", false},        // a hard line break
		{"1. a list", false},     // an ordered list
		{"- a list", false},      // a bullet list
		{"a\n---", false},        // a setext heading
		{"# heading", false},     // an ATX heading
		{"> quoted", false},      // a quotation
		{"    code", false},      // an indented code block
		{"_em_ and *em*", false}, // emphasis
		{"`code`", false},
		{"[link](x)", false},
		{"a &amp; b", false},
		{"a <b>c</b>", false},
		{"a | b", false},
		{"~~gone~~", false},
		{"a\\b", false},
		{"tab\there", false},
	} {
		if got := checkPlainMarkdown(t, tt.s); got != tt.plain {
			t.Errorf("plainMarkdown(%q) = %v, want %v", tt.s, got, tt.plain)
		}
	}
	// Random text of the characters plainMarkdown lets through, at line starts too.
	alphabet := []string{"a", "Z", "0", "9", " ", "\n", ".", ",", ":", ";", "'", "\"", "(", ")", "?", "!", "@", "/",
		"$", "%", "#", "-", "+", "=", "^", "{", "}", "www.", "http://", "x.com", "é", "\u00a0", "\u2028", "\u3000", "日", "\U0001F600"}
	randomTexts(7, alphabet, 100_000, 24, func(s string) { checkPlainMarkdown(t, s) })
}

// TestPlainMarkdownRealDumps holds the shortcut to goldmark on every comment of the real dumps.
func TestPlainMarkdownRealDumps(t *testing.T) {
	comments, plain := 0, 0
	eachDumpAttr(t, "Comments.xml", []string{"Text"}, func(_, s string) {
		comments++
		if checkPlainMarkdown(t, s) {
			plain++
		}
	})
	t.Logf("%d of %d comments are plain Markdown", plain, comments)
}

func FuzzPlainMarkdown(f *testing.F) {
	f.Add("Try it gently, then harder. See www.example.com.")
	f.Add("first line\nsecond line\n\nnew paragraph")
	f.Add("a  \nb")
	f.Fuzz(func(t *testing.T, s string) { checkPlainMarkdown(t, s) })
}
