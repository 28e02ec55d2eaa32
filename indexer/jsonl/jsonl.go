// Package jsonl reads the generic JSON lines crawl format (docs/design.md §5), one post per line:
//
//	{"id": "42", "platform": "blog", "site": "example.org", "author_id": "ana",
//	 "author_name": "Ana", "author_url": "https://example.org/ana",
//	 "created": "2024-05-01T10:00:00Z", "url": "https://example.org/42", "title": "…",
//	 "text": "…", "license": "CC BY 4.0"}
//
// Optional fields: "kind" (question, answer, comment, submission or article, the default),
// "format" (text, the default, html or markdown), "parent_id" (a local id on the same site) and
// "quoted" (strings the author quoted) and "last_editor_id" (the author id, on the same site, of
// whoever last edited the text: a post proves a contributor's claim only when that is its author,
// so a source that does not know must leave it out). "created" may also be Unix seconds. The post id is
// `<platform>:<site>/<id>` and the identity key `<platform>:<site>/<author_id>`; an empty or
// missing author_id means the author is deleted. Files may be compressed (.zst, .gz).
package jsonl

import (
	"bytes"
	"encoding/json"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/lines"
)

// Sources returns one source per file.
func Sources(paths []string) ([]indexer.Source, error) {
	out := make([]indexer.Source, 0, len(paths))
	for _, p := range paths {
		out = append(out, &lines.Source{Path: p, Parse: Parse})
	}
	return out, nil
}

type record struct {
	ID         indexer.FlexString `json:"id"`
	Platform   string             `json:"platform"`
	Site       string             `json:"site"`
	AuthorID   indexer.FlexString `json:"author_id"`
	AuthorName string             `json:"author_name"`
	AuthorURL  string             `json:"author_url"`
	// LastEditorID is the author id (same platform and site) of whoever last edited the text;
	// absent when unknown, and then the post cannot prove a claim.
	LastEditorID indexer.FlexString `json:"last_editor_id"`
	Created      indexer.FlexString `json:"created"`
	URL          string             `json:"url"`
	Title        string             `json:"title"`
	Text         string             `json:"text"`
	License      string             `json:"license"`
	Kind         string             `json:"kind"`
	Format       string             `json:"format"`
	ParentID     indexer.FlexString `json:"parent_id"`
	Quoted       []string           `json:"quoted"`
}

// Parse reads one line; blank lines hold no record.
func Parse(line []byte) (indexer.Record, error) {
	if len(bytes.TrimSpace(line)) == 0 {
		return indexer.Record{}, nil
	}
	var r record
	if err := json.Unmarshal(line, &r); err != nil {
		return indexer.Record{}, royalty.Errorf(royalty.EINVALID, "malformed JSON: %v", err)
	}
	if r.ID == "" {
		return indexer.Record{}, royalty.FieldErrorf(royalty.EINVALID, "id", "must not be empty")
	}
	if r.Platform == "" {
		return indexer.Record{}, royalty.FieldErrorf(royalty.EINVALID, "platform", "must not be empty")
	}
	p := &indexer.Post{
		ID: indexer.PostID(r.Platform, r.Site, string(r.ID)), Platform: r.Platform, Site: r.Site,
		Kind: indexer.Kind(r.Kind), URL: r.URL, Title: r.Title, License: r.License,
		Text: r.Text, Format: indexer.Format(r.Format), Quoted: r.Quoted,
	}
	rec := indexer.Record{Post: p}
	if p.Kind == "" {
		p.Kind = indexer.KindArticle
	}
	if r.ParentID != "" {
		p.ParentID = indexer.PostID(r.Platform, r.Site, string(r.ParentID))
	}
	if r.AuthorID != "" {
		p.Author = &indexer.Identity{Platform: r.Platform, Site: r.Site, AuthorID: string(r.AuthorID),
			DisplayName: r.AuthorName, ProfileURL: r.AuthorURL}
		if r.LastEditorID != "" {
			p.LastEditorKey = indexer.IdentityKey(r.Platform, r.Site, string(r.LastEditorID))
		}
	}
	t, err := indexer.ParseTime(string(r.Created))
	if err != nil {
		return rec, royalty.FieldErrorf(royalty.EINVALID, "created", "%v", err)
	}
	p.CreatedAt = t
	return rec, nil
}
