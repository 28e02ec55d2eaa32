package bleveindex_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/openroyalty/royalty/attribution/text"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/bleveindex"
	"github.com/openroyalty/royalty/indexer/stackexchange"
	"github.com/openroyalty/royalty/internal/repo"
)

func TestSplitPhrases(t *testing.T) {
	for _, c := range []struct {
		in      string
		phrases []string
		words   string
	}{
		{`chain squeak`, nil, "chain squeak"},
		{`"chain squeak" rain`, []string{"chain squeak"}, "rain"},
		{`a "b c" d "e`, []string{"b c", "e"}, "a d"},
		{`""  x`, nil, "x"},
	} {
		p, w := bleveindex.SplitPhrases(c.in)
		if !slices.Equal(p, c.phrases) || w != c.words {
			t.Errorf("SplitPhrases(%q) = %q, %q; want %q, %q", c.in, p, w, c.phrases, c.words)
		}
	}
}

// TestVerbatimSentenceRanksFirst indexes the real Stack Exchange dumps and searches for nine
// consecutive words of sampled posts, as someone pasting a sentence would: the post they come
// from must be the first hit, after only posts holding the same words (quotations of it, or
// the post it quotes).
// Before phrase matches were boosted, such a search ranked its post as low as 38th.
func TestVerbatimSentenceRanksFirst(t *testing.T) {
	data := repo.RequireSharedData(t, "stackexchange")
	ctx := context.Background()
	idx, err := bleveindex.Open(t.TempDir(), bleveindex.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	srcs, err := stackexchange.Sources([]string{filepath.Join(data, "bicycles.meta"), filepath.Join(data, "conlang.meta")}, stackexchange.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := indexer.Chain(srcs, indexer.Position{})
	defer r.Close()
	var posts []*indexer.Post
	text := map[string]string{}
	var batch []*indexer.Prepared
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := idx.Write(ctx, batch, func(error) {}); err != nil {
			t.Fatal(err)
		}
		batch = batch[:0]
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var re *indexer.RecordError
		if errors.As(err, &re) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		if rec.Post == nil {
			continue
		}
		p, err := indexer.Prepare(rec.Post)
		if err != nil {
			continue
		}
		posts = append(posts, rec.Post)
		text[rec.Post.ID] = rec.Post.Text
		batch = append(batch, p)
		if len(batch) == indexer.DefaultBatchSize {
			flush()
		}
	}
	flush()
	if len(posts) < 1000 {
		t.Fatalf("read %d posts from the dumps, want at least 1000", len(posts))
	}
	checked, worst := 0, 0
	for i := 0; i < len(posts) && checked < 200; i += len(posts) / 400 {
		p := posts[i]
		ws := words(p.Text)
		if len(ws) < 30 {
			continue
		}
		mid := len(ws) / 2
		sentence := p.Text[ws[mid].Start:ws[mid+8].End]
		if strings.ContainsAny(sentence, "\"\n") {
			continue
		}
		checked++
		res, err := idx.Search(ctx, indexer.Query{Text: sentence, Size: 50})
		if err != nil {
			t.Fatal(err)
		}
		rank := -1
		for k, h := range res.Hits {
			if h.PostID == p.ID {
				rank = k
				break
			}
		}
		if rank < 0 {
			t.Errorf("post %s is not among the first 50 hits for its own words %q", p.ID, sentence)
			continue
		}
		worst = max(worst, rank)
		for _, h := range res.Hits[:rank] {
			if !holds(text[h.PostID], sentence) {
				t.Errorf("post %s ranks %d for its own words %q, after %s which does not hold them", p.ID, rank+1, sentence, h.PostID)
				break
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d posts checked", checked)
	}
	t.Logf("%d of %d posts checked; the worst rank, after posts quoting the same words, was %d", checked, len(posts), worst+1)
}

func words(s string) []text.Token { return text.Words(s) }

// holds reports whether body holds the words of s in order and adjacent.
func holds(body, s string) bool {
	var b, w []string
	for _, t := range text.Words(body) {
		b = append(b, t.Text)
	}
	for _, t := range text.Words(s) {
		w = append(w, t.Text)
	}
	return strings.Contains(" "+strings.Join(b, " ")+" ", " "+strings.Join(w, " ")+" ")
}
