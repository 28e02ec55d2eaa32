// Package hn reads Hacker News items (the official API's item objects: id, by, time, text as
// HTML, type, parent, title, url), one JSON object per line, plain or compressed (.zst, .gz).
//
// Post ids are `hn:/<id>` and identities `hn:/<by>`. Stories, polls and jobs are submissions;
// comments and poll options are comments. Deleted items are skipped (nothing is left of them);
// items without "by" have no author. Hacker News marks a quotation by starting a paragraph with
// ">"; such paragraphs are kept apart from the author's own words like a <blockquote>.
package hn

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/lines"
)

// Platform is the platform name of Hacker News posts and identities.
const Platform = "hn"

// Sources returns one source per file.
func Sources(paths []string) ([]indexer.Source, error) {
	out := make([]indexer.Source, 0, len(paths))
	for _, p := range paths {
		out = append(out, &lines.Source{Path: p, Parse: Parse})
	}
	return out, nil
}

type item struct {
	ID      indexer.FlexString `json:"id"`
	By      string             `json:"by"`
	Time    indexer.FlexString `json:"time"`
	Text    string             `json:"text"`
	Type    string             `json:"type"`
	Parent  indexer.FlexString `json:"parent"`
	Title   string             `json:"title"`
	Deleted bool               `json:"deleted"`
}

// Parse reads one line; blank lines hold no record.
func Parse(line []byte) (indexer.Record, error) {
	if len(bytes.TrimSpace(line)) == 0 {
		return indexer.Record{}, nil
	}
	var it item
	if err := json.Unmarshal(line, &it); err != nil {
		return indexer.Record{}, royalty.Errorf(royalty.EINVALID, "malformed JSON: %v", err)
	}
	id := string(it.ID)
	if id == "" {
		return indexer.Record{}, royalty.FieldErrorf(royalty.EINVALID, "id", "must not be empty")
	}
	p := &indexer.Post{
		ID: indexer.PostID(Platform, "", id), Platform: Platform, Title: it.Title,
		URL: "https://news.ycombinator.com/item?id=" + id, Format: indexer.FormatHTML,
	}
	rec := indexer.Record{Post: p}
	if it.Deleted {
		return indexer.Record{Skip: "deleted item"}, nil
	}
	switch it.Type {
	case "story", "poll", "job":
		p.Kind = indexer.KindSubmission
	case "comment", "pollopt":
		p.Kind = indexer.KindComment
	default:
		return rec, royalty.FieldErrorf(royalty.EINVALID, "type", "unknown item type %q", it.Type)
	}
	if strings.TrimSpace(it.Text) == "" && strings.TrimSpace(it.Title) == "" {
		return indexer.Record{Skip: "item without text"}, nil
	}
	p.Text = QuotesToBlockquotes(it.Text)
	if it.Parent != "" {
		p.ParentID = indexer.PostID(Platform, "", string(it.Parent))
	}
	if it.By != "" {
		p.Author = &indexer.Identity{Platform: Platform, AuthorID: it.By, DisplayName: it.By,
			ProfileURL: "https://news.ycombinator.com/user?id=" + it.By}
		// Only its author can edit an item's text (for two hours; moderators edit titles, which
		// claims do not read): the version read is the author's own.
		p.LastEditorKey = p.Author.Key()
	}
	t, err := indexer.ParseTime(string(it.Time))
	if err != nil {
		return rec, royalty.FieldErrorf(royalty.EINVALID, "time", "%v", err)
	}
	p.CreatedAt = t
	return rec, nil
}

var paragraph = regexp.MustCompile(`(?i)<p>`)

// QuotesToBlockquotes rewrites Hacker News' quotation convention, a paragraph that starts with
// ">" (written "&gt;"), into <blockquote> elements, so that text.FromHTML keeps it apart.
func QuotesToBlockquotes(html string) string {
	if !strings.Contains(html, "&gt;") && !strings.Contains(html, ">") {
		return html
	}
	paras := paragraph.Split(html, -1)
	var b strings.Builder
	b.Grow(len(html) + 32)
	for i, para := range paras {
		trimmed := strings.TrimLeft(para, " \t\n")
		quote, ok := strings.CutPrefix(trimmed, "&gt;")
		if !ok {
			quote, ok = strings.CutPrefix(trimmed, ">")
		}
		switch {
		case ok:
			b.WriteString("<blockquote>")
			b.WriteString(strings.TrimSuffix(quote, "</p>"))
			b.WriteString("</blockquote>")
		case i == 0:
			b.WriteString(para)
		default:
			b.WriteString("<p>")
			b.WriteString(para)
		}
	}
	return b.String()
}
