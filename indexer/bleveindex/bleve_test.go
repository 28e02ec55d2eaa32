package bleveindex

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/attribution/text"
	"github.com/openroyalty/royalty/indexer"
)

func post(id, author, site, body string, created time.Time) *indexer.Prepared {
	p := &indexer.Post{ID: "forum:" + site + "/" + id, Platform: "forum", Site: site, Kind: indexer.KindArticle,
		CreatedAt: created, URL: "https://" + site + ".example/" + id, Title: "Title " + id, Text: body, Format: indexer.FormatMarkdown}
	if author != "" {
		p.Author = &indexer.Identity{Platform: "forum", Site: site, AuthorID: author}
	}
	prep, err := indexer.Prepare(p)
	if err != nil {
		panic(err)
	}
	return prep
}

// openTemp opens a new index in a temporary directory, closed when the test ends.
func openTemp(t testing.TB) *Index {
	t.Helper()
	x, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

// withFingerprints returns a post of site s whose fingerprints are fps, whatever its words.
func withFingerprints(id, author string, fps ...uint64) *indexer.Prepared {
	p := post(id, author, "s", "some words", t0)
	p.Fingerprints = fps
	return p
}

func write(t testing.TB, x *Index, posts ...*indexer.Prepared) {
	t.Helper()
	done := make(chan error, 1)
	if err := x.Write(context.Background(), posts, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("batch never persisted")
	}
}

const (
	chain     = "Shift to the smallest cog, then wipe the chain with a rag while you pedal backwards for a full minute."
	lube      = "Put one small drop of wet lube on every roller and wipe off everything that is left on the outside."
	footer    = "Sent from the Spoke and Crumb forum app. Replies can take a day or two because we are out riding."
	unrelated = "Rye flour has almost no gluten, so kneading does little for the dough at all."
)

var t0 = time.Date(2023, 4, 1, 0, 0, 0, 0, time.UTC)

func TestRetrieval(t *testing.T) {
	dir := t.TempDir()
	x, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	posts := []*indexer.Prepared{
		post("1", "ana", "s", chain+" "+lube, t0),
		post("2", "dana", "s", chain+" "+lube, t0.Add(24*time.Hour)), // a repost
		post("3", "bo", "s", lube+"\n\n"+footer, t0),
		post("4", "chidi", "s", "> "+chain+"\n\nI agree with this completely.", t0), // quotes ana
		post("5", "dana", "s", unrelated+" "+footer, t0),
		post("6", "", "s", footer, t0),   // deleted author
		post("7", "bo", "s", footer, t0), // same author again
	}
	write(t, x, posts...)
	ctx := context.Background()

	t.Run("candidates", func(t *testing.T) {
		fps := hashes(chain + " " + lube)
		got, err := x.Candidates(ctx, fps, 3)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range got {
			ids = append(ids, s.PostID)
		}
		// The two full copies share every fingerprint; post 3 shares the lube sentence. The
		// quotation in post 4 is not fingerprinted.
		if want := []string{"forum:s/1", "forum:s/2", "forum:s/3"}; !reflect.DeepEqual(ids, want) {
			t.Fatalf("candidates %q, want %q", ids, want)
		}
		s := got[0]
		want := posts[0].Post
		if s.AuthorKey != "forum:s/ana" || s.Text != want.Text || s.URL != want.URL || s.ContentHash != want.ContentHash || !s.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("source %+v does not match the post", s)
		}
		if got[1].ContentHash != s.ContentHash {
			t.Error("repost does not share the content hash")
		}
		all, _ := x.Candidates(ctx, fps, 100)
		for _, c := range all {
			if c.PostID == "forum:s/4" {
				t.Error("a quoting post was retrieved by the quoted words")
			}
		}
	})

	t.Run("author counts", func(t *testing.T) {
		f := hashes(footer)
		c := hashes(chain)
		fps := []uint64{f[0], c[0], 42, f[0]}
		tests := []struct {
			max  int
			want []int
		}{
			// footer: bo (twice), dana, and a deleted author: 2 distinct authors.
			{10, []int{2, 2, 0, 2}},
			{2, []int{2, 2, 0, 2}},
			{1, []int{2, 2, 0, 2}}, // capped at max+1
			{0, []int{1, 1, 0, 1}},
		}
		for _, tt := range tests {
			got, err := x.AuthorCounts(ctx, fps, tt.max)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("max %d: %v, want %v", tt.max, got, tt.want)
			}
		}
	})

	t.Run("search", func(t *testing.T) {
		tests := []struct {
			name string
			q    indexer.Query
			want []string
		}{
			{"words", indexer.Query{Text: "gluten kneading", Size: 10}, []string{"forum:s/5"}},
			{"author filter", indexer.Query{Text: "lube roller", Author: "forum:s/dana", Size: 10}, []string{"forum:s/2"}},
			{"filter only", indexer.Query{Author: "forum:s/bo", Size: 10}, []string{"forum:s/3", "forum:s/7"}},
			{"other site", indexer.Query{Text: "lube", Site: "t", Size: 10}, nil},
			{"quoted words find the quoting post", indexer.Query{Text: "agree completely", Size: 10}, []string{"forum:s/4"}},
			{"page", indexer.Query{Platform: "forum", Size: 2, From: 6}, []string{"forum:s/7"}},
		}
		for _, tt := range tests {
			res, err := x.Search(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, h := range res.Hits {
				ids = append(ids, h.PostID)
			}
			sort.Strings(ids)
			if !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("%s: %q, want %q", tt.name, ids, tt.want)
			}
		}
		res, _ := x.Search(ctx, indexer.Query{Text: "gluten", Size: 1})
		if h := res.Hits[0]; h.Title != "Title 5" || h.URL != "https://s.example/5" || h.AuthorKey != "forum:s/dana" || !strings.Contains(h.Snippet, "gluten") {
			t.Errorf("hit %+v", h)
		}
	})

	t.Run("update replaces", func(t *testing.T) {
		write(t, x, post("1", "ana", "s", unrelated, t0))
		got, _ := x.Candidates(ctx, hashes(chain+" "+lube), 10)
		for _, s := range got {
			if s.PostID == "forum:s/1" {
				t.Error("the old text of an updated post is still retrievable")
			}
		}
		if n, _ := x.DocCount(); n != uint64(len(posts)) {
			t.Errorf("%d documents after an update, want %d", n, len(posts))
		}
	})

	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	// Everything written survives a reopen: the last batch was persisted before Close.
	x, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	var ids []string
	if err := x.ForEachID(ctx, func(id string) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ids) != len(posts) {
		t.Errorf("%d documents after reopening, want %d", len(ids), len(posts))
	}
	missing, err := x.Missing(ctx, []string{"forum:s/1", "forum:s/99"})
	if err != nil || !reflect.DeepEqual(missing, []string{"forum:s/99"}) {
		t.Errorf("Missing = %q, %v", missing, err)
	}
}

func hashes(s string) []uint64 {
	var out []uint64
	for _, f := range text.Fingerprints(s) {
		out = append(out, f.Hash)
	}
	return out
}

// TestFingerprintField checks the field's stored value: every hash, 8 bytes big-endian, in
// order, and nothing indexed.
func TestFingerprintField(t *testing.T) {
	x := openTemp(t)
	hs := []uint64{0, 1, 0xdeadbeef, ^uint64(0), 0xaaaa_ffffff_000001}
	for _, f := range x.Document(withFingerprints("1", "ana", hs...)).Fields {
		if f.Name() != FieldFP {
			continue
		}
		if f.Options() != index.StoreField {
			t.Errorf("fingerprint field options %v, want stored only", f.Options())
		}
		want := "0000000000000000" + "0000000000000001" + "00000000deadbeef" + "ffffffffffffffff" + "aaaaffffff000001"
		if got := hex.EncodeToString(f.Value()); got != want {
			t.Errorf("fingerprint field value %s, want %s", got, want)
		}
	}
}

// TestFingerprintsMatchWhole indexes fingerprints that share their top bits, which group them in
// a segment's table while it is built, and checks that retrieval matches whole hashes only,
// across segments.
func TestFingerprintsMatchWhole(t *testing.T) {
	x := openTemp(t)
	const (
		a = 0xaaaa_000000_000001
		b = 0xaaaa_000000_000002
		c = 0xaaaa_ffffff_000001 // same top bits and same low bits as a
		d = 0xaaab_000000_000001
		e = 0x5555_000000_000001 // the same bits below the top 16 as a
	)
	mk := withFingerprints
	write(t, x, mk("1", "ana", a), mk("2", "bo", b, c), mk("3", "chidi", d, a))
	write(t, x, mk("4", "", a), mk("5", "dee", e), mk("6", "eve", d))
	ctx := context.Background()
	tests := []struct {
		fp     uint64
		posts  []string
		author int
	}{
		{a, []string{"forum:s/1", "forum:s/3", "forum:s/4"}, 2},
		{b, []string{"forum:s/2"}, 1},
		{c, []string{"forum:s/2"}, 1},
		{d, []string{"forum:s/3", "forum:s/6"}, 2},
		{e, []string{"forum:s/5"}, 1},
		{0xaaaa_000000_000003, nil, 0},
		{0xaaa0_000000_000001, nil, 0},
	}
	for _, tt := range tests {
		got, err := x.Candidates(ctx, []uint64{tt.fp}, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range got {
			ids = append(ids, s.PostID)
		}
		if !reflect.DeepEqual(ids, tt.posts) {
			t.Errorf("%x: candidates %q, want %q", tt.fp, ids, tt.posts)
		}
		n, err := x.AuthorCounts(ctx, []uint64{tt.fp}, 10)
		if err != nil || n[0] != tt.author {
			t.Errorf("%x: %v authors (%v), want %d", tt.fp, n, err, tt.author)
		}
	}
}

// TestBuildFPTable builds the table of one segment of random fingerprints and compares it with
// the pairs sorted the plain way.
func TestBuildFPTable(t *testing.T) {
	x := openTemp(t)
	rng := rand.New(rand.NewSource(3))
	var posts []*indexer.Prepared
	var want []fpPair
	for i := 0; i < 300; i++ {
		fps := make([]uint64, rng.Intn(40))
		for k := range fps {
			fps[k] = rng.Uint64() >> (rng.Intn(3) * 20) // some with top bits in common
		}
		posts = append(posts, withFingerprints(strconv.Itoa(i), "ana", fps...))
	}
	write(t, x, posts...)
	r, err := x.raw.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	segs := snapshotOf(t, r).Segments()
	if len(segs) != 1 {
		t.Fatalf("%d segments, want 1", len(segs))
	}
	seg := segs[0].Segment()
	for doc := uint64(0); doc < seg.Count(); doc++ {
		id, err := seg.DocID(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range posts {
			if p.Post.ID == string(id) {
				for _, h := range p.Fingerprints {
					want = append(want, fpPair{h, uint32(doc)})
				}
			}
		}
	}
	sort.Slice(want, func(i, j int) bool {
		return want[i].hash < want[j].hash || want[i].hash == want[j].hash && want[i].doc < want[j].doc
	})
	tab, err := buildFPTable(seg)
	if err != nil {
		t.Fatal(err)
	}
	var got []fpPair
	for i := range tab.hashes {
		got = append(got, fpPair{tab.hashes[i], tab.docs[i]})
	}
	if len(want) < 1000 || !reflect.DeepEqual(got, want) {
		t.Fatalf("table of %d pairs differs from the %d sorted pairs", len(got), len(want))
	}
	// find returns exactly the entries of a hash, and none for a hash the table lacks.
	for _, h := range []uint64{want[0].hash, want[len(want)/2].hash, want[len(want)-1].hash, want[7].hash + 1, 0, ^uint64(0)} {
		n := 0
		for _, p := range want {
			if p.hash == h {
				n++
			}
		}
		lo, hi := tab.find(h)
		if hi-lo != n {
			t.Fatalf("find(%x) = [%d, %d), want %d entries", h, lo, hi, n)
		}
		for i := lo; i < hi; i++ {
			if tab.hashes[i] != h {
				t.Fatalf("find(%x) includes %x at %d", h, tab.hashes[i], i)
			}
		}
	}
}

func TestSnippet(t *testing.T) {
	body := strings.Repeat("alpha beta gamma ", 20) + "needle in the haystack " + strings.Repeat("delta epsilon ", 20)
	s := Snippet(body, "Needle", 60)
	if !strings.Contains(s, "needle") || !strings.HasPrefix(s, "…") || !strings.HasSuffix(s, "…") || len(s) > 60+2*len("…") {
		t.Errorf("snippet %q", s)
	}
	if s := Snippet("short", "x", 60); s != "short" {
		t.Errorf("short body: %q", s)
	}
}

// TestHeldByAnotherProcess opens the index in a child process and checks that opening it here
// fails at once with a message naming the holder.
func TestHeldByAnotherProcess(t *testing.T) {
	if os.Getenv("BLEVEINDEX_HOLD") != "" {
		x, err := Open(os.Getenv("BLEVEINDEX_HOLD"), Options{})
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("held\n")
		time.Sleep(time.Minute)
		x.Close()
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHeldByAnotherProcess$")
	cmd.Env = append(os.Environ(), "BLEVEINDEX_HOLD="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	buf := make([]byte, 5)
	if _, err := out.Read(buf); err != nil || string(buf) != "held\n" {
		t.Fatalf("child did not open the index: %q %v", buf, err)
	}
	start := time.Now()
	_, err := Open(dir, Options{})
	if err == nil {
		t.Fatal("opened an index held by another process")
	}
	if royalty.ErrorCode(err) != royalty.EUNAVAILABLE || !strings.Contains(err.Error(), "pid "+itoa(cmd.Process.Pid)) {
		t.Errorf("error %v does not name pid %d", err, cmd.Process.Pid)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to fail", d)
	}
	cmd.Process.Kill()
	cmd.Wait()
	// A holder that died (even by SIGKILL) leaves no lock behind.
	x, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("after the holder died: %v", err)
	}
	x.Close()
}

func itoa(n int) string { return strconv.Itoa(n) }

var _ = filepath.Join

// TestDocumentsHoldEveryField: posts with and without a title, quotations, fingerprints, an
// author or a site make documents with the same fields, so that zapx merges their segments by
// copying postings; the empty fields have no terms.
func TestDocumentsHoldEveryField(t *testing.T) {
	x := openTemp(t)
	full := post("1", "ann", "bikes", "> quoted words of someone\n\n"+chain, t0)
	bare, err := indexer.Prepare(&indexer.Post{ID: "reddit:/t1_x", Platform: "reddit", Kind: indexer.KindComment,
		CreatedAt: t0, URL: "https://reddit.example/x", Text: "too short"})
	if err != nil {
		t.Fatal(err)
	}
	if len(bare.Fingerprints) != 0 || bare.Post.Title != "" || bare.Post.Author != nil || len(bare.Post.Quoted) != 0 {
		t.Fatalf("bare post is not bare: %+v", bare.Post)
	}
	fields := func(p *indexer.Prepared) (names []string, terms map[string]int) {
		d := x.Document(p)
		terms = map[string]int{}
		seen := map[string]bool{}
		for _, f := range d.Fields {
			if f.Options().IsIndexed() {
				f.Analyze()
				terms[f.Name()] += len(f.AnalyzedTokenFrequencies())
			}
			if !seen[f.Name()] {
				seen[f.Name()] = true
				names = append(names, f.Name())
			}
		}
		sort.Strings(names)
		return names, terms
	}
	fullNames, _ := fields(full)
	bareNames, bareTerms := fields(bare)
	if !reflect.DeepEqual(fullNames, bareNames) {
		t.Fatalf("fields differ: %v and %v", fullNames, bareNames)
	}
	for _, f := range []string{FieldTitle, FieldQuoted, FieldFP, FieldAuthor, FieldSite} {
		if bareTerms[f] != 0 {
			t.Errorf("empty %s has %d terms", f, bareTerms[f])
		}
	}
	write(t, x, full, bare)
	res, err := x.Search(context.Background(), indexer.Query{Text: "short", Size: 10})
	if err != nil || len(res.Hits) != 1 || res.Hits[0].AuthorKey != "" || res.Hits[0].Title != "" {
		t.Fatalf("search for the bare post: %+v, %v", res, err)
	}
}

// TestLayoutRecorded opens an index built without the current layout (as an earlier version
// built them) and checks that Open refuses it, naming the layout, instead of reading its
// fingerprints wrong.
func TestLayoutRecorded(t *testing.T) {
	dir := t.TempDir()
	old, err := bleve.NewUsing(filepath.Join(dir, "bleve"), Mapping(), scorch.Name, scorch.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, Options{})
	if royalty.ErrorCode(err) != royalty.EPRECONDITION || !strings.Contains(err.Error(), Layout) || !strings.Contains(err.Error(), "--reconcile") {
		t.Fatalf("opening an index without a layout: %v", err)
	}
	x, err := Open(t.TempDir(), Options{}) // a new index records the layout and opens again
	if err != nil {
		t.Fatal(err)
	}
	dir2 := x.Dir()
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if x, err = Open(dir2, Options{}); err != nil {
		t.Fatalf("reopening: %v", err)
	}
	x.Close()
}

// TestFingerprintTablesFollowSnapshots checks that retrieval, which reads each segment's
// fingerprint table built at first use, answers from the snapshot of the moment: an updated
// post is found by its new fingerprints only, a deleted one not at all, documents in segments
// written after a table was built are found, and tables of segments merged away are dropped.
func TestFingerprintTablesFollowSnapshots(t *testing.T) {
	x := openTemp(t)
	mk := func(id string, fps ...uint64) *indexer.Prepared { return withFingerprints(id, "ana", fps...) }
	ctx := context.Background()
	find := func(h uint64) []string {
		t.Helper()
		got, err := x.Candidates(ctx, []uint64{h}, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range got {
			ids = append(ids, s.PostID)
		}
		return ids
	}
	const a, b, c = 0x1234_5678_9abc_def0, 0x1234_5678_9abc_def1, 0xfedc_ba98_7654_3210
	write(t, x, mk("1", a), mk("2", a, c))
	if got := find(a); !reflect.DeepEqual(got, []string{"forum:s/1", "forum:s/2"}) {
		t.Fatalf("a: %q", got)
	}
	write(t, x, mk("1", b), mk("3", a)) // post 1 updated in a new segment
	if got := find(a); !reflect.DeepEqual(got, []string{"forum:s/2", "forum:s/3"}) {
		t.Errorf("a after the update: %q", got)
	}
	if got := find(b); !reflect.DeepEqual(got, []string{"forum:s/1"}) {
		t.Errorf("b after the update: %q", got)
	}
	if err := x.Delete(ctx, []string{"forum:s/2"}); err != nil {
		t.Fatal(err)
	}
	if got := find(c); got != nil {
		t.Errorf("c after deleting post 2: %q", got)
	}
	for i := 0; i < 30; i++ { // many segments, which the merger folds together
		write(t, x, mk(strconv.Itoa(100+i), c))
	}
	if got := find(c); len(got) != 10 { // the limit
		t.Fatalf("c: %d candidates, want the limit 10", len(got))
	}
	built := x.tables.len()
	deadline := time.Now().Add(30 * time.Second)
	for { // the merger folds the segments together; a retrieval drops the tables of those it replaced
		if got := find(c); len(got) != 10 {
			t.Fatalf("c: %d candidates, want the limit 10", len(got))
		}
		live := len(snapshotSegments(t, x))
		if held := x.tables.len(); held == live && live < built {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("%d tables held for %d live segments (%d before merging)", held, live, built)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// snapshotSegments returns the segments of the index's current snapshot.
func snapshotSegments(t *testing.T, x *Index) []*scorch.SegmentSnapshot {
	t.Helper()
	r, err := x.raw.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return snapshotOf(t, r).Segments()
}

// snapshotOf returns the scorch snapshot behind a reader of the index.
func snapshotOf(t testing.TB, r index.IndexReader) *scorch.IndexSnapshot {
	t.Helper()
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		t.Fatalf("the reader is a %T", r)
	}
	return snap
}

// TestConcurrentRetrieval retrieves from several goroutines while batches are written and
// merged, so that fingerprint tables are built, shared and swept concurrently (run with -race),
// and checks that a post written before the retrievals began is found by every one of them.
func TestConcurrentRetrieval(t *testing.T) {
	x := openTemp(t)
	mk := func(id string, fps ...uint64) *indexer.Prepared { return withFingerprints(id, "ana", fps...) }
	const h, other = 0x0123_4567_89ab_cdef, 0x0123_4567_89ab_cdee
	write(t, x, mk("base", h))
	ctx := context.Background()
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				got, err := x.Candidates(ctx, []uint64{h}, 1)
				if err == nil && (len(got) != 1 || got[0].PostID != "forum:s/base") {
					err = fmt.Errorf("candidates %v, want forum:s/base", got)
				}
				if err != nil {
					errs <- err
					return
				}
				if _, err := x.AuthorCounts(ctx, []uint64{h, other}, 3); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for i := 0; i < 20; i++ {
		write(t, x, mk(strconv.Itoa(i), other))
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestVersionMark checks the index's version: its documents and its high-water mark, which
// every batch (writes and deletes) advances, which is stored with the documents and survives a
// reopen.
func TestVersionMark(t *testing.T) {
	dir := t.TempDir()
	x, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := x.Version(); err != nil || v != (indexer.IndexVersion{}) {
		t.Fatalf("new index: %+v, %v", v, err)
	}
	write(t, x, post("1", "ana", "s", chain, t0), post("2", "bo", "s", lube, t0))
	write(t, x, post("3", "ana", "s", footer, t0))
	if err := x.Delete(context.Background(), []string{"forum:s/2"}); err != nil {
		t.Fatal(err)
	}
	if v, err := x.Version(); err != nil || v != (indexer.IndexVersion{Posts: 2, Mark: 3}) {
		t.Fatalf("after two writes and a delete: %+v, %v", v, err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if x, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if v, err := x.Version(); err != nil || v != (indexer.IndexVersion{Posts: 2, Mark: 3}) {
		t.Fatalf("reopened: %+v, %v", v, err)
	}
	write(t, x, post("4", "bo", "s", unrelated, t0))
	if v, err := x.Version(); err != nil || v != (indexer.IndexVersion{Posts: 3, Mark: 4}) {
		t.Fatalf("after a write to the reopened index: %+v, %v", v, err)
	}
}

// TestCompact merges an index of many segments into one: retrieval and author counts give the
// same answers before and after, and deleted posts stay deleted.
func TestCompact(t *testing.T) {
	// The merger left alone (no tier is ever full), so that every batch stays a segment.
	x, err := Open(t.TempDir(), Options{mergePlan: map[string]interface{}{"maxSegmentSize": 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	ctx := context.Background()
	const shared = 0x0bad_cafe_0000_0001
	for i := 0; i < 12; i++ { // a batch each: many segments
		write(t, x, withFingerprints(strconv.Itoa(i), "a"+strconv.Itoa(i%3), shared, uint64(1000+i)))
	}
	if err := x.Delete(ctx, []string{"forum:s/5"}); err != nil {
		t.Fatal(err)
	}
	fps := []uint64{shared, 1000, 1005, 1011}
	answers := func() ([]string, []int) {
		t.Helper()
		got, err := x.Candidates(ctx, fps, 20)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range got {
			ids = append(ids, s.PostID)
		}
		slices.Sort(ids)
		counts, err := x.AuthorCounts(ctx, fps, 10)
		if err != nil {
			t.Fatal(err)
		}
		return ids, counts
	}
	ids, counts := answers()
	if len(ids) != 11 || slices.Contains(ids, "forum:s/5") {
		t.Fatalf("before compacting: %q", ids)
	}
	before, err := x.Segments()
	if err != nil {
		t.Fatal(err)
	}
	if before < 2 {
		t.Fatalf("%d segment before compacting; the test needs several", before)
	}
	if err := x.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := x.Segments(); err != nil || n != 1 {
		t.Fatalf("after compacting %d segments: %d, %v; want 1", before, n, err)
	}
	ids2, counts2 := answers()
	if !reflect.DeepEqual(ids, ids2) || !reflect.DeepEqual(counts, counts2) {
		t.Fatalf("after compacting: %q %v, before %q %v", ids2, counts2, ids, counts)
	}
}
