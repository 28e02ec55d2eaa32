package jsonl

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/indexer"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, line                   string
		id, author, kind, field, url string
		text                         string
		quoted                       []string
		created                      time.Time
		empty                        bool
	}{
		{name: "full", line: `{"id":"42","platform":"blog","site":"example.org","author_id":"ana","author_name":"Ana","author_url":"https://example.org/ana","created":"2024-05-01T10:00:00Z","url":"https://example.org/42","title":"T","text":"Hello there.","license":"CC BY 4.0"}`,
			id: "blog:example.org/42", author: "blog:example.org/ana", kind: "article", url: "https://example.org/42", text: "Hello there.", created: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
		{name: "numeric id and unix time", line: `{"id":7,"platform":"forum","site":"","author_id":12,"created":1700000000,"text":"x"}`,
			id: "forum:/7", author: "forum:/12", kind: "article", text: "x", created: time.Unix(1700000000, 0).UTC()},
		{name: "deleted author, markdown with a quote", line: `{"id":"8","platform":"forum","site":"s","created":"1700000000.5","text":"> quoted words\n\nmine","format":"markdown","kind":"comment"}`,
			id: "forum:s/8", kind: "comment", text: "mine", quoted: []string{"quoted words"}, created: time.Unix(1700000000, 5e8).UTC()},
		{name: "blank", line: "   ", empty: true},
		{name: "bad json", line: `{"id":`, field: "-"},
		{name: "no id", line: `{"platform":"x","created":1}`, field: "id"},
		{name: "no platform", line: `{"id":"1","created":1}`, field: "platform"},
		{name: "bad time", line: `{"id":"1","platform":"x","created":"yesterday","text":"t"}`, field: "created", id: "x:/1"},
		{name: "bad platform", line: `{"id":"1","platform":"X Y","created":1,"text":"t"}`, field: "id", id: "X Y:/1"},
		{name: "bad kind", line: `{"id":"1","platform":"x","created":1,"text":"t","kind":"poem"}`, field: "kind", id: "x:/1"},
		{name: "no text or title", line: `{"id":"1","platform":"x","created":1}`, field: "text", id: "x:/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := Parse([]byte(tt.line))
			if err == nil && rec.Post != nil {
				_, err = indexer.Prepare(rec.Post)
			}
			if tt.field != "" {
				if err == nil {
					t.Fatalf("accepted %s", tt.line)
				}
				if f := fieldOf(err); f != tt.field && tt.field != "-" {
					t.Errorf("error %v names field %q, want %q", err, f, tt.field)
				}
				if tt.id != "" && (rec.Post == nil || rec.Post.ID != tt.id) {
					t.Errorf("rejected record does not carry id %q: %+v", tt.id, rec.Post)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.empty {
				if rec.Post != nil {
					t.Fatalf("blank line gave %+v", rec.Post)
				}
				return
			}
			p := rec.Post
			if p.ID != tt.id || p.AuthorKey() != tt.author || string(p.Kind) != tt.kind || p.URL != tt.url || p.Text != tt.text ||
				!reflect.DeepEqual(p.Quoted, tt.quoted) || !p.CreatedAt.Equal(tt.created) {
				t.Errorf("got id %q author %q kind %q url %q text %q quoted %q created %v", p.ID, p.AuthorKey(), p.Kind, p.URL, p.Text, p.Quoted, p.CreatedAt)
			}
		})
	}
}

func fieldOf(err error) string {
	var e *royalty.Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// TestSampleCorpus checks the sample corpus shipped for the demo: every line parses and
// prepares, and it has the cases the demo shows.
func TestSampleCorpus(t *testing.T) {
	path := filepath.Join("..", "testdata", "sample", "posts.jsonl")
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	srcs, _ := Sources([]string{path})
	recs, rejects, err := indexer.ReadAll(indexer.Chain(srcs, indexer.Position{}))
	if err != nil || len(rejects) > 0 {
		t.Fatalf("err %v rejects %v", err, rejects)
	}
	authors := map[string]bool{}
	hashes := map[string]int{}
	quotes := 0
	for _, r := range recs {
		p, err := indexer.Prepare(r.Post)
		if err != nil {
			t.Fatalf("%v: %v", r.Pos, err)
		}
		authors[p.Post.AuthorKey()] = true
		hashes[p.Post.ContentHash]++
		quotes += len(p.Post.Quoted)
	}
	reposts := 0
	for _, n := range hashes {
		if n > 1 {
			reposts++
		}
	}
	if len(recs) < 10 || len(recs) > 30 || len(authors) < 3 || reposts < 1 || quotes < 1 {
		t.Errorf("sample corpus: %d posts, %d authors, %d reposted texts, %d quotations", len(recs), len(authors), reposts, quotes)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"id":"42","platform":"blog","site":"example.org","author_id":"ana","created":"2024-05-01T10:00:00Z","text":"Hello","format":"html"}`))
	f.Add([]byte(`{"id":7,"platform":"forum","author_id":12,"created":1700000000,"text":"> q\n\nx","format":"markdown"}`))
	f.Add([]byte(`{"id":"1","platform":"x","created":"1e99"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := Parse(line)
		if err != nil || rec.Post == nil {
			return
		}
		if prep, err := indexer.Prepare(rec.Post); err == nil && prep.Post.ContentHash == "" {
			t.Fatal("prepared post without a content hash")
		}
	})
}
