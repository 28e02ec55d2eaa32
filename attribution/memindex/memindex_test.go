package memindex

import (
	"context"
	"testing"

	"github.com/openroyalty/royalty/attribution/text"
)

const (
	own   = "Spin the wheel slowly and tighten the spokes opposite the spot where the rim rubs against the pad."
	quote = "A bicycle is the most efficient machine ever made for turning human energy into motion."
)

func hashes(s string) []uint64 {
	var out []uint64
	for _, f := range text.Fingerprints(s) {
		out = append(out, f.Hash)
	}
	return out
}

func TestQuotedTextIsNeverFingerprinted(t *testing.T) {
	x := New()
	if err := x.Add(Post{ID: "p", AuthorKey: "a", Text: own, Quoted: []string{quote}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got, _ := x.Candidates(ctx, hashes(quote), 10); len(got) != 0 {
		t.Fatalf("quoted text retrieved %v", got)
	}
	got, _ := x.Candidates(ctx, hashes(own), 10)
	if len(got) != 1 || got[0].PostID != "p" || got[0].Text != own || got[0].ContentHash != text.ContentHash(own) {
		t.Fatalf("own text retrieved %+v", got)
	}
	if p, ok := x.Get("p"); !ok || len(p.Quoted) != 1 {
		t.Fatalf("Get = %+v, %v", p, ok)
	}
}

func TestAuthorCounts(t *testing.T) {
	x := New()
	for _, p := range []Post{
		{ID: "1", AuthorKey: "a", Text: own},
		{ID: "2", AuthorKey: "a", Text: own}, // same author twice counts once
		{ID: "3", AuthorKey: "b", Text: own},
		{ID: "4", AuthorKey: "", Text: own}, // deleted authors are not counted
		{ID: "5", AuthorKey: "c", Text: quote},
	} {
		if err := x.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	fps := hashes(own)
	tests := []struct {
		name string
		max  int
		want int
	}{
		{"exact below max", 5, 2},
		{"capped at max+1", 1, 2},
		{"max zero", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := x.AuthorCounts(context.Background(), fps, tt.max)
			if err != nil || len(got) != len(fps) {
				t.Fatalf("AuthorCounts = %v, %v", got, err)
			}
			for _, n := range got {
				if n != tt.want {
					t.Fatalf("count %d, want %d (%v)", n, tt.want, got)
				}
			}
		})
	}
	if got, _ := x.AuthorCounts(context.Background(), []uint64{12345}, 3); got[0] != 0 {
		t.Fatalf("unknown fingerprint counted %d", got[0])
	}
}

func TestReplaceAndDelete(t *testing.T) {
	x := New()
	ctx := context.Background()
	_ = x.Add(Post{ID: "p", AuthorKey: "a", Text: own})
	_ = x.Add(Post{ID: "p", AuthorKey: "a", Text: quote})
	if x.Len() != 1 {
		t.Fatalf("Len = %d after replacing", x.Len())
	}
	if got, _ := x.Candidates(ctx, hashes(own), 10); len(got) != 0 {
		t.Fatalf("replaced text still retrieved")
	}
	if got, _ := x.Candidates(ctx, hashes(quote), 10); len(got) != 1 {
		t.Fatalf("new text not retrieved")
	}
	if !x.Delete("p") || x.Delete("p") || x.Len() != 0 {
		t.Fatalf("Delete")
	}
	if got, _ := x.Candidates(ctx, hashes(quote), 10); len(got) != 0 {
		t.Fatalf("deleted post retrieved")
	}
	if err := x.Add(Post{}); err == nil {
		t.Fatalf("a post without ID was accepted")
	}
}

// TestCandidatesRankBySharedFingerprints: more shared fingerprints rank first, ties go to the
// smaller post ID.
func TestCandidatesRankBySharedFingerprints(t *testing.T) {
	x := New()
	short := "common words in every post here"
	long := short + " and then some more words that only one post has"
	for _, id := range []string{"c3", "c1", "c2"} {
		_ = x.Add(Post{ID: id, AuthorKey: id, Text: short})
	}
	_ = x.Add(Post{ID: "z", AuthorKey: "z", Text: long})
	got, _ := x.Candidates(context.Background(), hashes(long), 3)
	var ids []string
	for _, s := range got {
		ids = append(ids, s.PostID)
	}
	if len(ids) != 3 || ids[0] != "z" || ids[1] != "c1" || ids[2] != "c2" {
		t.Fatalf("ranking %v, want [z c1 c2]", ids)
	}
}
