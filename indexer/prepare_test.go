package indexer

import (
	"reflect"
	"testing"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/attribution/text"
)

func fieldOf(err error) string {
	if e, ok := err.(*royalty.Error); ok {
		return e.Field
	}
	return ""
}

// TestPrepareMatchesAttribution checks that posts are hashed and fingerprinted exactly as
// attribution/text does it for responses.
func TestPrepareMatchesAttribution(t *testing.T) {
	tests := []struct {
		name, body string
		format     Format
		own        string
		quoted     []string
	}{
		{"html", "<p>Shift to the <em>smallest</em> cog, then wipe the chain with a rag.</p><blockquote>not mine at all, quoted words here</blockquote>", FormatHTML,
			"Shift to the smallest cog, then wipe the chain with a rag.", []string{"not mine at all, quoted words here"}},
		{"markdown", "> quoted words from someone else\n\nMy **own** words about brake pads and rims in the rain.", FormatMarkdown,
			"My own words about brake pads and rims in the rain.", []string{"quoted words from someone else"}},
		{"text", "Plain “curly” text — with dashes and ÉCOLE capitals in it.", FormatText,
			"Plain “curly” text — with dashes and ÉCOLE capitals in it.", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Post{ID: "x:s/1", Platform: "x", Site: "s", Kind: KindArticle, CreatedAt: time.Unix(1, 0), Text: tt.body, Format: tt.format}
			prep, err := Prepare(p)
			if err != nil {
				t.Fatal(err)
			}
			if p.Text != tt.own || !reflect.DeepEqual(p.Quoted, tt.quoted) || p.Format != FormatText {
				t.Fatalf("text %q quoted %q format %q", p.Text, p.Quoted, p.Format)
			}
			if p.ContentHash != text.ContentHash(tt.own) {
				t.Error("content hash differs from text.ContentHash")
			}
			var want []uint64
			seen := map[uint64]bool{}
			for _, f := range text.Fingerprints(tt.own) {
				if !seen[f.Hash] {
					seen[f.Hash] = true
					want = append(want, f.Hash)
				}
			}
			if !reflect.DeepEqual(prep.Fingerprints, want) || len(want) == 0 {
				t.Errorf("fingerprints %x, want %x", prep.Fingerprints, want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := func() *Post {
		return &Post{ID: "forum:s/1", Platform: "forum", Site: "s", Kind: KindAnswer, CreatedAt: time.Unix(1e9, 0), Text: "words"}
	}
	tests := []struct {
		name  string
		edit  func(p *Post)
		field string
	}{
		{"valid", func(p *Post) {}, ""},
		{"no id", func(p *Post) { p.ID = "" }, "id"},
		{"id without site part", func(p *Post) { p.ID = "forum:1" }, "id"},
		{"platform differs from id", func(p *Post) { p.Platform = "blog" }, "platform"},
		{"site differs from id", func(p *Post) { p.Site = "t" }, "site"},
		{"upper-case platform", func(p *Post) { p.ID, p.Platform = "Forum:s/1", "Forum" }, "id"},
		{"bad kind", func(p *Post) { p.Kind = "poem" }, "kind"},
		{"no time", func(p *Post) { p.CreatedAt = time.Time{} }, "created_at"},
		{"author with spaces", func(p *Post) { p.Author = &Identity{Platform: "forum", Site: "s", AuthorID: "a b"} }, "author.author_id"},
		{"control character in title", func(p *Post) { p.Title = "a\x00b" }, "title"},
		{"invalid UTF-8", func(p *Post) { p.Text = "\xff" }, "text"},
		{"too long", func(p *Post) { p.Text = string(make([]byte, MaxTextBytes+1)) }, "text"},
		{"bad format", func(p *Post) { p.Format = "rtf" }, "text_format"},
	}
	for _, tt := range tests {
		p := ok()
		tt.edit(p)
		err := p.Validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || fieldOf(err) != tt.field {
			t.Errorf("%s: error %v, want one about %s", tt.name, err, tt.field)
		}
	}
}

func TestKeys(t *testing.T) {
	tests := []struct{ key, platform, site, local string }{
		{"stackexchange:bicycles.meta/post/42", "stackexchange", "bicycles.meta", "post/42"},
		{"reddit:/t1_abc", "reddit", "", "t1_abc"},
		{"hn:/pg", "hn", "", "pg"},
	}
	for _, tt := range tests {
		p, s, l, err := ParseKey(tt.key)
		if err != nil || p != tt.platform || s != tt.site || l != tt.local {
			t.Errorf("ParseKey(%q) = %q %q %q %v", tt.key, p, s, l, err)
		}
	}
	for _, bad := range []string{"", "x", ":s/1", "x:s", "x:s/", "X:s/1"} {
		if _, _, _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
	if k := (Identity{Platform: "stackexchange", Site: "bicycles.meta", AuthorID: "123"}).Key(); k != "stackexchange:bicycles.meta/123" {
		t.Errorf("key %q", k)
	}
}
