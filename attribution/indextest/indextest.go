// Package indextest is the conformance suite of attribution.Index: one set of checks that every
// implementation must pass, so that attribution gives the same results on each. The in-memory
// index (attribution/memindex), the SQL index (indexer/postgres.FingerprintIndex) and the Bleve
// index (indexer/bleveindex) run it.
package indextest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/memindex"
	"github.com/openroyalty/royalty/attribution/text"
)

// Builder returns an index holding posts, written one after another in order: a post whose ID
// was written before replaces the earlier version, as a re-ingested post does. Post IDs have the
// form platform:site/local and author keys platform:site/id, as ingest requires.
type Builder func(t *testing.T, posts []memindex.Post) attribution.Index

// words returns n distinct words for the stretch named by tag: different tags share no word.
func words(tag string, n int) string {
	ws := make([]string, n)
	for i := range ws {
		ws[i] = fmt.Sprintf("%s%c%c", tag, 'a'+i/26, 'a'+i%26)
	}
	return strings.Join(ws, " ") + "."
}

func hashes(s string) []uint64 {
	var out []uint64
	for _, f := range text.Fingerprints(s) {
		out = append(out, f.Hash)
	}
	return out
}

func ids(srcs []attribution.Source) []string {
	out := make([]string, len(srcs))
	for i, s := range srcs {
		out[i] = s.PostID
	}
	return out
}

var created = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

func post(id, author, body string, quoted ...string) memindex.Post {
	return memindex.Post{ID: "forum:s/" + id, AuthorKey: author, CreatedAt: created, URL: "https://s.example/" + id,
		Text: body, Quoted: quoted}
}

// Run runs the suite against the indexes build returns.
func Run(t *testing.T, build Builder) {
	ctx := context.Background()
	w1, w2, w3, w4 := words("one", 40), words("two", 40), words("three", 40), words("four", 40)

	t.Run("RankingAndTies", func(t *testing.T) {
		// Byte order puts "B…" before "a…"; most collations put it after. Ties go by bytes.
		posts := []memindex.Post{
			post("a1", "forum:s/x", w1), post("B2", "forum:s/y", w1), post("full", "forum:s/z", w1+" "+w2),
			post("other", "forum:s/x", w3),
		}
		x := build(t, posts)
		got, err := x.Candidates(ctx, hashes(w1+" "+w2), 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"forum:s/full", "forum:s/B2", "forum:s/a1"}; !slices.Equal(ids(got), want) {
			t.Fatalf("Candidates = %v, want %v", ids(got), want)
		}
		got, err = x.Candidates(ctx, hashes(w1+" "+w2), 2)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"forum:s/full", "forum:s/B2"}; !slices.Equal(ids(got), want) {
			t.Fatalf("Candidates with limit 2 = %v, want %v", ids(got), want)
		}
		// A fingerprint given twice counts once.
		q := hashes(w2)
		got, err = x.Candidates(ctx, append(slices.Clone(q), q...), 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"forum:s/full"}; !slices.Equal(ids(got), want) {
			t.Fatalf("Candidates of w2 twice = %v, want %v", ids(got), want)
		}
		for _, limit := range []int{0, -1} {
			if got, err := x.Candidates(ctx, hashes(w1), limit); err != nil || len(got) != 0 {
				t.Fatalf("Candidates with limit %d = %v, %v; want nothing", limit, ids(got), err)
			}
		}
		if got, err := x.Candidates(ctx, nil, 10); err != nil || len(got) != 0 {
			t.Fatalf("Candidates of no fingerprints = %v, %v; want nothing", ids(got), err)
		}
		if got, err := x.Candidates(ctx, hashes(w4), 10); err != nil || len(got) != 0 {
			t.Fatalf("Candidates of unknown text = %v, %v; want nothing", ids(got), err)
		}
	})

	t.Run("Source", func(t *testing.T) {
		p := post("src", "forum:s/ana", w1+" Ünïcode “quotes” — and more.", w3)
		x := build(t, []memindex.Post{p, post("deleted", "", w2)})
		got, err := x.Candidates(ctx, hashes(w1), 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("Candidates = %v, want one", ids(got))
		}
		s := got[0]
		want := attribution.Source{PostID: p.ID, AuthorKey: p.AuthorKey, CreatedAt: created, URL: p.URL,
			ContentHash: text.ContentHash(p.Text), Text: p.Text}
		if !s.CreatedAt.Equal(created) {
			t.Errorf("CreatedAt = %v, want %v", s.CreatedAt, created)
		}
		s.CreatedAt = created
		if s != want {
			t.Errorf("source = %+v\nwant     %+v", s, want)
		}
		got, err = x.Candidates(ctx, hashes(w2), 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].AuthorKey != "" {
			t.Fatalf("the deleted author's post = %+v, want one with no author", got)
		}
	})

	t.Run("QuotedTextNeverRetrieves", func(t *testing.T) {
		x := build(t, []memindex.Post{post("q", "forum:s/ana", w1, w2)})
		got, err := x.Candidates(ctx, hashes(w2), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Fatalf("quoted text retrieved %v", ids(got))
		}
		counts, err := x.AuthorCounts(ctx, hashes(w2)[:3], 5)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(counts, []int{0, 0, 0}) {
			t.Fatalf("AuthorCounts of quoted text = %v, want zeros", counts)
		}
	})

	t.Run("AuthorCounts", func(t *testing.T) {
		x := build(t, []memindex.Post{
			post("1", "forum:s/x", w1), post("2", "forum:s/y", w1), post("3", "", w1), post("4", "forum:s/x", w1),
			post("5", "forum:s/z", w2),
		})
		h1, h2, h4 := hashes(w1)[0], hashes(w2)[0], hashes(w4)[0]
		q := []uint64{h1, h2, h4, h1}
		for _, c := range []struct {
			max  int
			want []int
		}{
			{5, []int{2, 1, 0, 2}}, // x twice, y, and a deleted author who counts for nobody
			{2, []int{2, 1, 0, 2}},
			{1, []int{2, 1, 0, 2}}, // capped at max+1
			{0, []int{1, 1, 0, 1}},
		} {
			got, err := x.AuthorCounts(ctx, q, c.max)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("AuthorCounts(max %d) = %v, want %v", c.max, got, c.want)
			}
		}
		if got, err := x.AuthorCounts(ctx, nil, 3); err != nil || len(got) != 0 {
			t.Fatalf("AuthorCounts of nothing = %v, %v", got, err)
		}
	})

	t.Run("ReplacedPost", func(t *testing.T) {
		x := build(t, []memindex.Post{
			post("r", "forum:s/old", w1), post("keep", "forum:s/k", w3),
			post("r", "forum:s/new", w2),
		})
		if got, err := x.Candidates(ctx, hashes(w1), 10); err != nil || len(got) != 0 {
			t.Fatalf("the replaced text still retrieves %v (%v)", ids(got), err)
		}
		got, err := x.Candidates(ctx, hashes(w2), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].PostID != "forum:s/r" || got[0].AuthorKey != "forum:s/new" || got[0].Text != w2 {
			t.Fatalf("the new version = %+v, want forum:s/r by forum:s/new", got)
		}
		counts, err := x.AuthorCounts(ctx, hashes(w1)[:1], 5)
		if err != nil {
			t.Fatal(err)
		}
		if counts[0] != 0 {
			t.Fatalf("AuthorCounts of the replaced text = %v, want 0", counts)
		}
		if got, err := x.Candidates(ctx, hashes(w3), 10); err != nil || !slices.Equal(ids(got), []string{"forum:s/keep"}) {
			t.Fatalf("another post = %v, %v", ids(got), err)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		x := build(t, []memindex.Post{post("c", "forum:s/x", w1)})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := x.Candidates(cctx, hashes(w1), 10); err == nil {
			t.Error("Candidates on a canceled context succeeded")
		}
		if _, err := x.AuthorCounts(cctx, hashes(w1), 10); err == nil {
			t.Error("AuthorCounts on a canceled context succeeded")
		}
	})

	t.Run("FingerprintParams", func(t *testing.T) {
		x := build(t, nil)
		fp, ok := x.(attribution.FingerprintParams)
		if !ok {
			t.Skip("the index does not say its parameters")
		}
		if k, w := fp.FingerprintParams(); k != text.DefaultK || w != text.DefaultW {
			t.Fatalf("FingerprintParams = %d, %d; want %d, %d", k, w, text.DefaultK, text.DefaultW)
		}
	})
}
