package postgres

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newStore(t *testing.T) *Store {
	t.Helper()
	pool, err := pgdb.Open(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return New(pool)
}

func prepared(t *testing.T, id, author, name, body string) *indexer.Post {
	t.Helper()
	p := &indexer.Post{ID: "forum:s/" + id, Platform: "forum", Site: "s", Kind: indexer.KindAnswer,
		CreatedAt: time.Date(2023, 1, 2, 3, 4, 5, 6000, time.UTC), URL: "https://s.example/" + id,
		Title: "T" + id, License: "CC BY 4.0", ParentID: "forum:s/0", Text: body, Format: indexer.FormatMarkdown}
	if author != "" {
		p.Author = &indexer.Identity{Platform: "forum", Site: "s", AuthorID: author, DisplayName: name}
	}
	if _, err := indexer.Prepare(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func authors(posts ...*indexer.Post) []indexer.Identity {
	var out []indexer.Identity
	for _, p := range posts {
		if p.Author != nil {
			out = append(out, *p.Author)
		}
	}
	return out
}

func TestWriteAndRead(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a := prepared(t, "1", "ana", "Ana", "> quoted\n\nMy own words, token-7f3a.")
	b := prepared(t, "2", "", "", "Orphan words.")
	c, err := s.Write(ctx, authors(a, b), []*indexer.Post{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if c != (indexer.WriteCounts{Inserted: 2}) {
		t.Errorf("first write %+v", c)
	}
	got, err := s.Post(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, a)
	}
	if got.Author == nil || *got.Author != *a.Author {
		t.Errorf("author %+v", got.Author)
	}
	if got, _ := s.Post(ctx, b.ID); got.Author != nil {
		t.Errorf("deleted author read back as %+v", got.Author)
	}

	tests := []struct {
		name  string
		posts []*indexer.Post
		want  indexer.WriteCounts
	}{
		{"same again", []*indexer.Post{a, b}, indexer.WriteCounts{Unchanged: 2}},
		{"one changed", []*indexer.Post{prepared(t, "1", "ana", "", "New words."), b}, indexer.WriteCounts{Updated: 1, Unchanged: 1}},
		{"identical text under a new id", []*indexer.Post{prepared(t, "3", "bo", "Bo", "Orphan words.")}, indexer.WriteCounts{Inserted: 1}},
		{"same id twice: the later wins", []*indexer.Post{prepared(t, "3", "bo", "", "First."), prepared(t, "3", "bo", "", "Orphan words.")}, indexer.WriteCounts{Unchanged: 1}},
	}
	for _, tt := range tests {
		c, err := s.Write(ctx, authors(tt.posts...), tt.posts)
		if err != nil {
			t.Fatal(err)
		}
		if c != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, c, tt.want)
		}
	}
	// An empty display name did not erase the known one.
	id, err := s.Identity(ctx, "forum:s/ana")
	if err != nil || id.DisplayName != "Ana" {
		t.Errorf("identity %+v %v", id, err)
	}
	if _, err := s.Post(ctx, "forum:s/404"); royalty.ErrorCode(err) != royalty.ENOTFOUND {
		t.Errorf("missing post: %v", err)
	}
	n, idents, err := s.Count(ctx)
	if err != nil || n != 3 || idents != 2 {
		t.Errorf("count %d posts %d identities %v", n, idents, err)
	}
	var all []string
	if err := s.ForEachID(ctx, 2, func(ids []string) error { all = append(all, ids...); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"forum:s/1", "forum:s/2", "forum:s/3"}; !reflect.DeepEqual(all, want) {
		t.Errorf("ids %q", all)
	}
	missing, err := s.Missing(ctx, []string{"forum:s/2", "forum:s/9"})
	if err != nil || !reflect.DeepEqual(missing, []string{"forum:s/9"}) {
		t.Errorf("missing %q %v", missing, err)
	}
}

func TestPostsByAuthorContaining(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	posts := []*indexer.Post{
		prepared(t, "1", "ana", "Ana", "I claim this identity: royalty-claim-7f3a."),
		prepared(t, "2", "ana", "Ana", "> royalty-claim-9999\n\nquoting is not claiming"),
		prepared(t, "3", "bo", "Bo", "royalty-claim-7f3a copied by bo"),
	}
	if _, err := s.Write(ctx, authors(posts...), posts); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		author, sub string
		want        []string
	}{
		{"forum:s/ana", "royalty-claim-7f3a", []string{"forum:s/1"}},
		{"forum:s/ana", "royalty-claim-9999", nil}, // only in a quotation
		{"forum:s/bo", "royalty-claim-7f3a", []string{"forum:s/3"}},
		{"forum:s/ana", "ROYALTY-CLAIM-7F3A", []string{"forum:s/1"}}, // case is ignored
	}
	for _, tt := range tests {
		got, err := s.PostsByAuthorContaining(ctx, tt.author, tt.sub, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range got {
			ids = append(ids, p.ID)
		}
		if !reflect.DeepEqual(ids, tt.want) {
			t.Errorf("%s %s: %q, want %q", tt.author, tt.sub, ids, tt.want)
		}
	}
}
