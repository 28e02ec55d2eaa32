package text

import (
	"bytes"
	"encoding/xml"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/openroyalty/royalty/internal/repo"
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
	rng := rand.New(rand.NewSource(7))
	for trial := 0; trial < 100_000; trial++ {
		var b strings.Builder
		for range rng.Intn(24) {
			b.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		checkPlainMarkdown(t, b.String())
	}
}

// TestPlainMarkdownRealDumps holds the shortcut to goldmark on every comment of the real dumps.
func TestPlainMarkdownRealDumps(t *testing.T) {
	dir := repo.RequireSharedData(t, "stackexchange")
	files, _ := filepath.Glob(filepath.Join(dir, "*", "Comments.xml"))
	if len(files) == 0 {
		t.Fatalf("no Comments.xml in %s", dir)
	}
	comments, plain := 0, 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(bytes.NewReader(raw))
		for {
			tok, err := d.Token()
			if err != nil {
				break
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "row" {
				for _, a := range se.Attr {
					if a.Name.Local == "Text" {
						comments++
						if checkPlainMarkdown(t, a.Value) {
							plain++
						}
					}
				}
			}
		}
	}
	t.Logf("%d of %d comments are plain Markdown", plain, comments)
	if comments == 0 {
		t.Fatal("no comments read")
	}
}

func FuzzPlainMarkdown(f *testing.F) {
	f.Add("Try it gently, then harder. See www.example.com.")
	f.Add("first line\nsecond line\n\nnew paragraph")
	f.Add("a  \nb")
	f.Fuzz(func(t *testing.T, s string) { checkPlainMarkdown(t, s) })
}
