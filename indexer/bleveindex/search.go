package bleveindex

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/openroyalty/royalty/attribution/text"
	"github.com/openroyalty/royalty/indexer"
)

// snippetBytes is the length of a search snippet.
const snippetBytes = 200

// SplitPhrases splits a query into its "quoted phrases" and the remaining words. An unclosed
// quote runs to the end of the query.
func SplitPhrases(s string) (phrases []string, words string) {
	var rest strings.Builder
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			rest.WriteString(s)
			break
		}
		rest.WriteString(s[:i])
		rest.WriteByte(' ')
		s = s[i+1:]
		j := strings.IndexByte(s, '"')
		if j < 0 {
			j = len(s)
		}
		if p := strings.TrimSpace(s[:j]); p != "" {
			phrases = append(phrases, p)
		}
		s = s[min(j+1, len(s)):]
	}
	return phrases, strings.Join(strings.Fields(rest.String()), " ")
}

// Search implements indexer.Index: words match the text, the title (weighted double) and the
// quotations (weighted half); "quoted phrases" must occur in the text or the title; filters are
// exact. Hits are ordered by score, then post id, so that pages are stable, except that posts
// holding the query's words verbatim (in their order, ignoring case and punctuation) come
// first, oldest first: someone pasting a sentence finds the post it comes from, not posts that
// use its words more often.
func (x *Index) Search(ctx context.Context, q indexer.Query) (indexer.Result, error) {
	phrases, words := SplitPhrases(q.Text)
	var must []query.Query
	for _, p := range phrases {
		own := bleve.NewMatchPhraseQuery(p)
		own.SetField(FieldText)
		title := bleve.NewMatchPhraseQuery(p)
		title.SetField(FieldTitle)
		must = append(must, bleve.NewDisjunctionQuery(own, title))
	}
	for _, f := range []struct{ field, value string }{{FieldAuthor, q.Author}, {FieldSite, q.Site}, {FieldPlatform, q.Platform}} {
		if f.value != "" {
			t := bleve.NewTermQuery(f.value)
			t.SetField(f.field)
			must = append(must, t)
		}
	}
	var verbatim []indexer.Hit
	if n := len(text.Words(words)); n >= verbatimMinWords {
		phrase := bleve.NewMatchPhraseQuery(words)
		phrase.SetField(FieldText)
		hits, _, err := x.search(ctx, bleve.NewConjunctionQuery(append([]query.Query{phrase}, must...)...), verbatimMax, 0, q.Text)
		if err != nil {
			return indexer.Result{}, err
		}
		verbatim = keepVerbatim(hits, words)
	}
	if words != "" {
		own := bleve.NewMatchQuery(words)
		own.SetField(FieldText)
		title := bleve.NewMatchQuery(words)
		title.SetField(FieldTitle)
		title.SetBoost(2)
		quoted := bleve.NewMatchQuery(words)
		quoted.SetField(FieldQuoted)
		quoted.SetBoost(0.5)
		must = append(must, bleve.NewDisjunctionQuery(own, title, quoted))
	}
	var qq query.Query = bleve.NewMatchAllQuery()
	if len(must) > 0 {
		qq = bleve.NewConjunctionQuery(must...)
	}
	if len(verbatim) == 0 {
		hits, total, err := x.search(ctx, qq, q.Size, q.From, q.Text)
		return result(hits, total), err
	}
	ids := make([]string, len(verbatim))
	for i, h := range verbatim {
		ids[i] = h.PostID
	}
	rest := bleve.NewBooleanQuery()
	rest.AddMust(qq)
	rest.AddMustNot(bleve.NewDocIDQuery(ids))
	v := len(verbatim)
	from := max(q.From-v, 0)
	size := q.Size - max(min(v-q.From, q.Size), 0)
	hits, total, err := x.search(ctx, rest, max(size, 1), from, q.Text)
	if err != nil {
		return indexer.Result{}, err
	}
	if size == 0 {
		hits = nil
	}
	out := result(hits, total+uint64(v))
	if q.From < v {
		out.Hits = append(verbatim[q.From:min(v, q.From+q.Size)], out.Hits...)
	}
	return out, nil
}

// Verbatim matching: queries of at least verbatimMinWords words are looked up as a phrase, and
// at most verbatimMax posts holding them verbatim are ranked first.
const (
	verbatimMinWords = 4
	verbatimMax      = 100
)

// keepVerbatim keeps the hits whose text holds the words of s in order and adjacent (the
// phrase query also matches across stop words and punctuation it ignores), oldest first.
func keepVerbatim(hits []hit, s string) []indexer.Hit {
	want := text.Words(s)
	var out []hit
	for _, h := range hits {
		have := text.Words(h.body)
	next:
		for i := 0; i+len(want) <= len(have); i++ {
			for j := range want {
				if have[i+j].Text != want[j].Text {
					continue next
				}
			}
			out = append(out, h)
			break
		}
	}
	slices.SortStableFunc(out, func(a, b hit) int {
		return cmp.Or(strings.Compare(a.created, b.created), strings.Compare(a.PostID, b.PostID))
	})
	return result(out, 0).Hits
}

// hit is a search hit with the stored fields verbatim ranking needs.
type hit struct {
	indexer.Hit
	body, created string
}

// result converts hits to an indexer.Result.
func result(hits []hit, total uint64) indexer.Result {
	out := indexer.Result{Total: total, Hits: make([]indexer.Hit, len(hits))}
	for i, h := range hits {
		out.Hits[i] = h.Hit
	}
	return out
}

// search runs one query and converts its hits, with snippets around the words of text.
func (x *Index) search(ctx context.Context, qq query.Query, size, from int, q string) ([]hit, uint64, error) {
	req := bleve.NewSearchRequestOptions(qq, size, from, false)
	req.Fields = []string{FieldTitle, FieldURL, FieldAuthor, FieldText, FieldCreated}
	req.SortBy([]string{"-_score", "_id"})
	res, err := x.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, 0, err
	}
	out := make([]hit, 0, len(res.Hits))
	for _, h := range res.Hits {
		var o hit
		o.PostID, o.Score = h.ID, h.Score
		o.Title, _ = h.Fields[FieldTitle].(string)
		o.URL, _ = h.Fields[FieldURL].(string)
		o.AuthorKey, _ = h.Fields[FieldAuthor].(string)
		o.body, _ = h.Fields[FieldText].(string)
		o.created, _ = h.Fields[FieldCreated].(string)
		o.Snippet = Snippet(o.body, q, snippetBytes)
		out = append(out, o)
	}
	return out, res.Total, nil
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
