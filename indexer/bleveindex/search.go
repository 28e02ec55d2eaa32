package bleveindex

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/openroyalty/royalty/attribution/text"
	"github.com/openroyalty/royalty/indexer"
)

// snippetBytes is the length of a search snippet.
const snippetBytes = 200

// Search implements indexer.Index: words match the text, the title (weighted double) and the
// quotations (weighted half); filters are exact. Hits are ordered by score, then post id, so
// that pages are stable.
func (x *Index) Search(ctx context.Context, q indexer.Query) (indexer.Result, error) {
	var must []query.Query
	if q.Text != "" {
		own := bleve.NewMatchQuery(q.Text)
		own.SetField(FieldText)
		title := bleve.NewMatchQuery(q.Text)
		title.SetField(FieldTitle)
		title.SetBoost(2)
		quoted := bleve.NewMatchQuery(q.Text)
		quoted.SetField(FieldQuoted)
		quoted.SetBoost(0.5)
		must = append(must, bleve.NewDisjunctionQuery(own, title, quoted))
	}
	for _, f := range []struct{ field, value string }{{FieldAuthor, q.Author}, {FieldSite, q.Site}, {FieldPlatform, q.Platform}} {
		if f.value != "" {
			t := bleve.NewTermQuery(f.value)
			t.SetField(f.field)
			must = append(must, t)
		}
	}
	var qq query.Query = bleve.NewMatchAllQuery()
	if len(must) > 0 {
		qq = bleve.NewConjunctionQuery(must...)
	}
	req := bleve.NewSearchRequestOptions(qq, q.Size, q.From, false)
	req.Fields = []string{FieldTitle, FieldURL, FieldAuthor, FieldText}
	req.SortBy([]string{"-_score", "_id"})
	res, err := x.idx.SearchInContext(ctx, req)
	if err != nil {
		return indexer.Result{}, err
	}
	out := indexer.Result{Total: res.Total, Hits: make([]indexer.Hit, 0, len(res.Hits))}
	for _, h := range res.Hits {
		hit := indexer.Hit{PostID: h.ID, Score: h.Score}
		hit.Title, _ = h.Fields[FieldTitle].(string)
		hit.URL, _ = h.Fields[FieldURL].(string)
		hit.AuthorKey, _ = h.Fields[FieldAuthor].(string)
		body, _ := h.Fields[FieldText].(string)
		hit.Snippet = Snippet(body, q.Text, snippetBytes)
		out.Hits = append(out.Hits, hit)
	}
	return out, nil
}

// Snippet returns up to about n bytes of body around the first word that also occurs in query
// (compared in attribution/text's normal form), cut at word boundaries and marked with "…"
// where it was cut. Without a match it is the beginning of body.
func Snippet(body, query string, n int) string {
	if len(body) <= n {
		return body
	}
	want := map[string]bool{}
	for _, w := range text.Words(query) {
		want[w.Text] = true
	}
	words := text.Words(body)
	at := 0
	for _, w := range words {
		if want[w.Text] {
			at = w.Start
			break
		}
	}
	start := at - n/4
	if start < 0 {
		start = 0
	}
	end := start + n
	if end > len(body) {
		end, start = len(body), max(0, len(body)-n)
	}
	// Snap to word boundaries so that no word is cut.
	if start > 0 {
		for _, w := range words {
			if w.End > start {
				start = w.Start
				break
			}
		}
	}
	last := start
	for _, w := range words {
		if w.End > end {
			break
		}
		last = w.End
	}
	if last > start {
		end = last
	}
	for start < end && !utf8.RuneStart(body[start]) {
		start++
	}
	s := strings.TrimSpace(body[start:end])
	if start > 0 {
		s = "…" + s
	}
	if end < len(body) {
		s += "…"
	}
	return s
}
