package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/indexer"
)

// TestPreparedPostsAreStorable writes hostile posts: each must either be refused by Prepare
// with a field error (the pipeline then reports and skips it) or be stored. A post that
// prepares but fails to store stops the whole ingest run, and resuming it fails at the same
// batch again: one crawled record would block ingest for good.
func TestPreparedPostsAreStorable(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		change func(*indexer.Post)
	}{
		{"NUL in plain text", func(p *indexer.Post) { p.Text, p.Format = "a\x00b words", indexer.FormatText }},
		{"NUL in HTML", func(p *indexer.Post) { p.Text, p.Format = "<p>a\x00b</p>", indexer.FormatHTML }},
		{"NUL in Markdown", func(p *indexer.Post) { p.Text = "a\x00b" }},
		{"NUL in a quotation", func(p *indexer.Post) { p.Quoted = []string{"q\x00"} }},
		{"NUL in a Markdown quotation", func(p *indexer.Post) { p.Text = "> q\x00\n\nown words" }},
		{"NUL in the title", func(p *indexer.Post) { p.Title = "t\x00" }},
		{"SQL in every field", func(p *indexer.Post) {
			p.Title, p.Text, p.License, p.URL = "'; DROP TABLE posts; --", "x'); DELETE FROM posts; --", "' OR '1'='1", "https://x/'--"
		}},
		{"formula in every field", func(p *indexer.Post) {
			p.Title, p.Text = `=HYPERLINK("http://evil","click")`, "=1+1"
			p.Author.DisplayName = "@SUM(A1)"
		}},
		{"unpaired surrogate escape", func(p *indexer.Post) { p.Text = "\\ud800 words" }},
		{"bidi overrides", func(p *indexer.Post) { p.Text, p.Title = "a\u202eb", "t\u202e" }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := prepared(t, "x", "ana", "Ana", "ok")
			p.ID = p.ID + strings.Repeat("i", i+1)
			p.Format, p.Text, p.Quoted, p.ContentHash = indexer.FormatMarkdown, "words", nil, ""
			tt.change(p)
			if _, err := indexer.Prepare(p); err != nil {
				if royalty.ErrorCode(err) != royalty.EINVALID {
					t.Fatalf("Prepare: %v, want EINVALID", err)
				}
				if got, err := s.Post(ctx, p.ID); err == nil {
					t.Fatalf("refused post %q exists: %+v", p.ID, got)
				}
				return
			}
			if _, err := s.Write(ctx, authors(p), []*indexer.Post{p}); err != nil {
				t.Fatalf("Prepare accepted the post, the store refuses it: %v", err)
			}
			got, err := s.Post(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Text != p.Text || got.Title != p.Title || strings.Join(got.Quoted, "|") != strings.Join(p.Quoted, "|") {
				t.Fatalf("stored %+v, want %+v", got, p)
			}
		})
	}
}
