package pushshift

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/openroyalty/royalty/indexer"
)

const fixture = `{"id":"abc","author":"spez","body":"&gt; quoted text here\n\nMy own words &amp; more.","created_utc":"1134028003","subreddit":"reddit.com","link_id":"t3_xyz","parent_id":"t1_par","permalink":"/r/reddit.com/comments/xyz/_/abc/"}
{"id":"def","author":"[deleted]","body":"A comment by a deleted author.","created_utc":1134028004,"subreddit":"pics","link_id":"t3_xyz","parent_id":"t3_xyz"}
{"id":"ghi","author":"kn0thing","body":"[removed]","created_utc":1134028005,"subreddit":"pics"}
{"id":"xyz","author":"kn0thing","title":"Look &amp; see","selftext":"Self text.","url":"https://example.com/","created_utc":1134028000.25,"permalink":"/r/pics/comments/xyz/look/","subreddit":"pics"}
{"id":"jkl","author":"kn0thing","title":"Link post","selftext":"[deleted]","url":"https://example.com/","created_utc":1134028001,"subreddit":"pics"}
{"id":"bad","author":"x","body":"no time","subreddit":"pics"}
{"id":"neither","author":"x","created_utc":1}
not json

`

func TestParse(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "RC_2005-12")
	if err := os.WriteFile(plain, []byte(fixture), 0o644); err != nil {
		t.Fatal(err)
	}
	// The .zst copy is written with a long window, as Pushshift's dumps are.
	zpath := filepath.Join(dir, "RC_2005-12.zst")
	f, _ := os.Create(zpath)
	enc, err := zstd.NewWriter(f, zstd.WithWindowSize(1<<27))
	if err != nil {
		t.Fatal(err)
	}
	enc.Write([]byte(fixture))
	enc.Close()
	f.Close()

	for _, path := range []string{plain, zpath} {
		t.Run(filepath.Base(path), func(t *testing.T) {
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
				got = append(got, p.Post.ID+"|"+p.Post.AuthorKey()+"|"+string(p.Post.Kind)+"|"+p.Post.Site+"|"+p.Post.URL+"|"+p.Post.Title+"|"+p.Post.Text+"|"+p.Post.ParentID)
			}
			want := []string{
				"reddit:/t1_abc|reddit:/spez|comment|reddit.com|https://www.reddit.com/r/reddit.com/comments/xyz/_/abc/||My own words & more.|reddit:/t1_par",
				"reddit:/t1_def||comment|pics|https://www.reddit.com/r/pics/comments/xyz/_/def/||A comment by a deleted author.|reddit:/t3_xyz",
				"skip:comment body deleted or removed",
				"reddit:/t3_xyz|reddit:/kn0thing|submission|pics|https://www.reddit.com/r/pics/comments/xyz/look/|Look & see|Self text.|",
				"reddit:/t3_jkl|reddit:/kn0thing|submission|pics|https://www.reddit.com/r/pics/comments/jkl/|Link post||",
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got\n%q\nwant\n%q", got, want)
			}
			var pos []string
			for _, r := range rejects {
				pos = append(pos, filepath.Base(r.Pos.File)+":"+r.Field+":"+itoa(r.Pos.Line))
			}
			base := filepath.Base(path)
			if want := []string{base + ":created_utc:6", base + ":body:7", base + ":" + ":8"}; !reflect.DeepEqual(pos, want) {
				t.Errorf("rejects %q, want %q", pos, want)
			}
			if tm := recs[3].Post.CreatedAt; !tm.Equal(time.Unix(1134028000, 25e7)) {
				t.Errorf("created %v", tm)
			}
			if q := recs[0].Post.Quoted; !reflect.DeepEqual(q, []string{"quoted text here"}) {
				t.Errorf("quoted %q", q)
			}
			// Resuming after the third record yields the rest, in the compressed file too.
			rest, _, err := indexer.ReadAll(indexer.Chain(srcs, recs[2].Next))
			if err != nil || len(rest) != 2 || rest[0].Post.ID != "reddit:/t3_xyz" {
				t.Errorf("resume: %v %d records", err, len(rest))
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func FuzzParse(f *testing.F) {
	for _, l := range splitLines(fixture) {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := Parse(line)
		if err != nil || rec.Post == nil {
			return
		}
		if rec.Post.Platform != Platform {
			t.Fatalf("platform %q", rec.Post.Platform)
		}
		if prep, err := indexer.Prepare(rec.Post); err == nil && prep.Post.ContentHash == "" {
			t.Fatal("prepared post without a content hash")
		}
	})
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
