package hn

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/openroyalty/royalty/indexer"
)

const fixture = `{"by":"pg","descendants":15,"id":1,"kids":[15,234509],"score":57,"time":1160418111,"title":"Y Combinator","type":"story","url":"http://ycombinator.com"}
{"by":"norvig","id":2921983,"parent":2921506,"text":"Aw shucks, guys ... you make me blush with your compliments.<p>&gt; the language is a bit rough<p>Tell you what, I'll make a deal.","time":1314211127,"type":"comment"}
{"deleted":true,"id":3,"time":1160419233,"type":"comment"}
{"id":4,"parent":1,"text":"<p>No author here.</p>","time":"1160419234","type":"comment","dead":true}
{"by":"x","id":5,"time":1160419235,"type":"comment"}
{"by":"x","id":6,"text":"t","time":1160419235,"type":"rumour"}
{"by":"x","id":7,"text":"t","type":"comment"}
[1,2]
`

func TestParse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "items.jsonl")
	if err := os.WriteFile(path, []byte(fixture), 0o644); err != nil {
		t.Fatal(err)
	}
	srcs, _ := Sources([]string{path})
	recs, rejects, err := indexer.ReadAll(indexer.Chain(srcs, indexer.Position{}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		if r.Post == nil {
			got = append(got, "skip:"+r.Skip)
			continue
		}
		p, err := indexer.Prepare(r.Post)
		if err != nil {
			t.Fatalf("%v: %v", r.Pos, err)
		}
		got = append(got, p.Post.ID+"|"+p.Post.AuthorKey()+"|"+string(p.Post.Kind)+"|"+p.Post.URL+"|"+p.Post.Title+"|"+p.Post.Text+"|"+p.Post.ParentID)
	}
	want := []string{
		"hn:/1|hn:/pg|submission|https://news.ycombinator.com/item?id=1|Y Combinator||",
		"hn:/2921983|hn:/norvig|comment|https://news.ycombinator.com/item?id=2921983||Aw shucks, guys ... you make me blush with your compliments.\n\nTell you what, I'll make a deal.|hn:/2921506",
		"skip:deleted item",
		"hn:/4||comment|https://news.ycombinator.com/item?id=4||No author here.|hn:/1",
		"skip:item without text",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if q := recs[1].Post.Quoted; !reflect.DeepEqual(q, []string{"the language is a bit rough"}) {
		t.Errorf("quoted %q", q)
	}
	if c := recs[0].Post.CreatedAt; !c.Equal(time.Unix(1160418111, 0)) {
		t.Errorf("created %v", c)
	}
	var pos []string
	for _, r := range rejects {
		pos = append(pos, r.Field+":"+strconv.FormatInt(r.Pos.Line, 10))
	}
	if want := []string{"type:6", "time:7", ":8"}; !reflect.DeepEqual(pos, want) {
		t.Errorf("rejects %q, want %q", pos, want)
	}
}

func TestQuotesToBlockquotes(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"&gt; q<p>mine", "<blockquote> q</blockquote><p>mine"},
		{"a<P>&gt;b</p><p>c", "a<blockquote>b</blockquote><p>c"},
		{"x &gt; y", "x &gt; y"},
	}
	for _, tt := range tests {
		if got := QuotesToBlockquotes(tt.in); got != tt.want {
			t.Errorf("QuotesToBlockquotes(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"by":"norvig","id":2921983,"parent":2921506,"text":"a<p>&gt; q<p>b","time":1314211127,"type":"comment"}`))
	f.Add([]byte(`{"by":"pg","id":1,"time":1160418111,"title":"Y","type":"story"}`))
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
