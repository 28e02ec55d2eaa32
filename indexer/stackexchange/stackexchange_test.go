package stackexchange

import (
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/internal/repo"
)

func readDir(t *testing.T, dir string, opts Options) ([]indexer.Record, []*indexer.RecordError) {
	t.Helper()
	srcs, err := Sources([]string{dir}, opts)
	if err != nil {
		t.Fatal(err)
	}
	recs, rejects, err := indexer.ReadAll(indexer.Chain(srcs, indexer.Position{}))
	if err != nil {
		t.Fatal(err)
	}
	return recs, rejects
}

func TestTinyDump(t *testing.T) {
	dir := filepath.Join("testdata", "tiny.stackexchange.com")
	recs, rejects := readDir(t, dir, Options{})
	var posts []*indexer.Post
	var idents []string
	var skips int
	for _, r := range recs {
		switch {
		case r.Post != nil:
			posts = append(posts, r.Post)
		case r.Identity != nil:
			idents = append(idents, r.Identity.Key()+"="+r.Identity.DisplayName)
		default:
			skips++
		}
	}
	if want := []string{"stackexchange:tiny/5=Ana Wheel", "stackexchange:tiny/6=Bo & Chain"}; !reflect.DeepEqual(idents, want) {
		t.Errorf("identities = %q, want %q", idents, want)
	}
	if skips != 2 { // the Community user and the tag wiki
		t.Errorf("skipped %d records, want 2", skips)
	}
	var rejected []string
	for _, r := range rejects {
		rejected = append(rejected, filepath.Base(r.Pos.File)+":"+itoa(r.Pos.Line)+":"+r.Field)
	}
	if want := []string{"Users.xml:6:Id", "Posts.xml:7:CreationDate", "Posts.xml:8:", "Comments.xml:5:PostId"}; !reflect.DeepEqual(rejected, want) {
		t.Errorf("rejected = %q, want %q", rejected, want)
	}

	tests := []struct {
		id, kind, author, url, parent, license, title string
		format                                        indexer.Format
		created                                       time.Time
	}{
		{"stackexchange:tiny/post/1", "question", "stackexchange:tiny/5", "https://tiny.stackexchange.com/q/1", "", "CC BY-SA 2.5", "Truing a wheel", indexer.FormatHTML, time.Date(2010, 8, 25, 19, 50, 51, 187e6, time.UTC)},
		{"stackexchange:tiny/post/2", "answer", "stackexchange:tiny/6", "https://tiny.stackexchange.com/a/2", "stackexchange:tiny/post/1", "CC BY-SA 3.0", "", indexer.FormatHTML, time.Date(2010, 8, 26, 10, 0, 0, 0, time.UTC)},
		{"stackexchange:tiny/post/3", "answer", "", "https://tiny.stackexchange.com/a/3", "stackexchange:tiny/post/1", "CC BY-SA 4.0", "", indexer.FormatHTML, time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"stackexchange:tiny/post/7", "question", "", "https://tiny.stackexchange.com/q/7", "", "CC BY-SA 3.0", "Bot", indexer.FormatHTML, time.Date(2012, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"stackexchange:tiny/comment/10", "comment", "stackexchange:tiny/6", "https://tiny.stackexchange.com/posts/comments/10", "stackexchange:tiny/post/1", "CC BY-SA 2.5", "", indexer.FormatMarkdown, time.Date(2010, 8, 25, 20, 52, 30, 900e6, time.UTC)},
		{"stackexchange:tiny/comment/11", "comment", "", "https://tiny.stackexchange.com/posts/comments/11", "stackexchange:tiny/post/2", "CC BY-SA 2.5", "", indexer.FormatMarkdown, time.Date(2010, 8, 25, 20, 52, 31, 900e6, time.UTC)},
	}
	if len(posts) != len(tests) {
		t.Fatalf("got %d posts, want %d", len(posts), len(tests))
	}
	for i, tt := range tests {
		p := posts[i]
		t.Run(tt.id, func(t *testing.T) {
			got := []string{p.ID, string(p.Kind), p.AuthorKey(), p.URL, p.ParentID, p.License, p.Title, p.Site, p.Platform}
			want := []string{tt.id, tt.kind, tt.author, tt.url, tt.parent, tt.license, tt.title, "tiny", "stackexchange"}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %q\nwant %q", got, want)
			}
			if p.Format != tt.format || !p.CreatedAt.Equal(tt.created) {
				t.Errorf("format %q created %v, want %q %v", p.Format, p.CreatedAt, tt.format, tt.created)
			}
			if _, err := indexer.Prepare(p); err != nil {
				t.Errorf("Prepare: %v", err)
			}
		})
	}
	q := posts[0]
	if q.Text != "How do I true a wheel at home?" || !reflect.DeepEqual(q.Quoted, []string{"Someone else said spokes matter."}) {
		t.Errorf("question text %q quoted %q", q.Text, q.Quoted)
	}
	if posts[0].Author.ProfileURL != "https://tiny.stackexchange.com/users/5" {
		t.Errorf("profile URL %q", posts[0].Author.ProfileURL)
	}
	if posts[4].Text != "Try gently at first." {
		t.Errorf("comment text %q", posts[4].Text)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestSiteAndHost(t *testing.T) {
	tests := []struct{ folder, site, host string }{
		{"/x/bicycles.meta.stackexchange.com", "bicycles.meta", "bicycles.meta.stackexchange.com"},
		{"bicycles.meta", "bicycles.meta", "bicycles.meta.stackexchange.com"},
		{"/dumps/stackoverflow.com/", "stackoverflow", "stackoverflow.com"},
		{"meta.superuser.com", "meta.superuser", "meta.superuser.com"},
		{"mathoverflow.net", "mathoverflow", "mathoverflow.net"},
		{"ru.stackoverflow.com", "ru.stackoverflow", "ru.stackoverflow.com"},
		{"pt.meta.stackoverflow.com", "pt.meta.stackoverflow", "pt.meta.stackoverflow.com"},
		{"rus.stackexchange.com", "rus", "rus.stackexchange.com"},
		{"ru.stackexchange.com", "ru", "ru.stackexchange.com"},
	}
	for _, tt := range tests {
		site := SiteFromFolder(tt.folder)
		if site != tt.site || Host(site) != tt.host {
			t.Errorf("%s: site %q host %q, want %q %q", tt.folder, site, Host(site), tt.site, tt.host)
		}
	}
}

// TestRealDumps reads the real dumps in ../shared/data/stackexchange. The expected counts were
// taken independently with Python's xml.etree: rows by PostTypeId, comment rows, and distinct
// OwnerUserId/UserId values other than -1 over questions, answers and comments.
func TestRealDumps(t *testing.T) {
	root := repo.RequireSharedData(t, "stackexchange")
	tests := []struct {
		site                                                  string
		questions, answers, comments, skipped, authors, users int
		deleted                                               int
	}{
		{"bicycles.meta", 453, 971, 2448, 22 + 1, 310, 2550, 129},
		{"conlang.meta", 54, 115, 230, 8 + 1, 64, 271, 21},
	}
	for _, tt := range tests {
		t.Run(tt.site, func(t *testing.T) {
			recs, rejects := readDir(t, filepath.Join(root, tt.site), Options{})
			if len(rejects) != 0 {
				t.Errorf("rejected %d records, first %v", len(rejects), rejects[0])
			}
			kinds := map[indexer.Kind]int{}
			authors := map[string]bool{}
			var skipped, users, deleted int
			for _, r := range recs {
				switch {
				case r.Identity != nil:
					users++
				case r.Post != nil:
					kinds[r.Post.Kind]++
					if r.Post.Author != nil {
						authors[r.Post.AuthorKey()] = true
					} else {
						deleted++
					}
					if _, err := indexer.Prepare(r.Post); err != nil {
						t.Errorf("%v: %v", r.Pos, err)
					}
				default:
					skipped++
				}
			}
			got := []int{kinds[indexer.KindQuestion], kinds[indexer.KindAnswer], kinds[indexer.KindComment], skipped, len(authors), users, deleted}
			want := []int{tt.questions, tt.answers, tt.comments, tt.skipped, tt.authors, tt.users, tt.deleted}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("questions, answers, comments, skipped, authors, users, deleted = %v, want %v", got, want)
			}
		})
	}
}

// TestResume reads a dump from the middle: starting at a record's Next position yields exactly
// the records after it.
func TestResume(t *testing.T) {
	dir := filepath.Join("testdata", "tiny.stackexchange.com")
	srcs, err := Sources([]string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := indexer.ReadAll(indexer.Chain(srcs, indexer.Position{}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range all {
		rest, _, err := indexer.ReadAll(indexer.Chain(srcs, all[i].Next))
		if err != nil {
			t.Fatal(err)
		}
		if len(rest) != len(all)-i-1 {
			t.Fatalf("resuming after record %d (%v): %d records, want %d", i, all[i].Pos, len(rest), len(all)-i-1)
		}
		for j := range rest {
			if rest[j].Pos != all[i+1+j].Pos {
				t.Fatalf("resuming after record %d: record %d at %v, want %v", i, j, rest[j].Pos, all[i+1+j].Pos)
			}
		}
	}
}

func FuzzPostRow(f *testing.F) {
	f.Add([]byte(`<row Id="1" PostTypeId="1" CreationDate="2010-08-25T19:50:51.187" Body="&lt;p&gt;hi&lt;/p&gt;" OwnerUserId="5" Title="T" ContentLicense="CC BY-SA 2.5" />`))
	f.Add([]byte(`<row Id="2" PostTypeId="2" ParentId="1" CreationDate="2010-08-26T10:00:00.000" Body="&lt;blockquote&gt;q&lt;/blockquote&gt;" />`))
	f.Add([]byte(`<row Id="10" PostId="1" Text="Try _gently_." CreationDate="2010-08-25T20:52:30.900" UserId="6" />`))
	f.Add([]byte(`<row Id="5" DisplayName="Ana" />`))
	f.Add([]byte(`<row Id="5" Body="x`))
	p := &parser{site: "fuzz", host: Host("fuzz")}
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, parse := range []func([]byte) (indexer.Record, error){p.post, p.comment, p.user} {
			rec, err := parse(line)
			if err != nil || rec.Post == nil {
				continue
			}
			if rec.Post.Site != "fuzz" || rec.Post.Platform != Platform {
				t.Fatalf("post %+v escapes its site", rec.Post)
			}
			// Whatever parses must either prepare or be rejected with a field error, never panic.
			if prep, err := indexer.Prepare(rec.Post); err == nil && prep.Post.ContentHash == "" {
				t.Fatal("prepared post without a content hash")
			}
		}
	})
}
