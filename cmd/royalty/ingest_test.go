package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"

	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/bleveindex"
	"github.com/openroyalty/royalty/indexer/postgres"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
	"github.com/openroyalty/royalty/internal/repo"
	royaltyv1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/services"
)

func TestIngestSampleCorpus(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	dataDir := t.TempDir()
	sample := filepath.Join("..", "..", "indexer", "testdata", "sample", "posts.jsonl")
	args := []string{"ingest", "--database-url", dsn, "--data-dir", dataDir, "--format", "jsonl", "--progress", "none", sample}
	out, err := runCmd(t, context.Background(), args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "posts:      16 read, 16 new, 0 updated, 0 unchanged") {
		t.Errorf("first run:\n%s", out)
	}
	// The JSON lines format names identities as the posts' authors: 4 distinct ones.
	if !strings.Contains(out, "identities: 4 read") {
		t.Errorf("first run does not count the posts' authors:\n%s", out)
	}
	// The same input again is an update of nothing, not a copy.
	out, err = runCmd(t, context.Background(), args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "posts:      16 read, 0 new, 0 updated, 16 unchanged") {
		t.Errorf("second run:\n%s", out)
	}
	dbIDs, indexIDs := storedIDs(t, dsn, dataDir)
	if len(dbIDs) != 16 || !reflect.DeepEqual(dbIDs, indexIDs) {
		t.Errorf("database %d ids, index %d ids", len(dbIDs), len(indexIDs))
	}
}

// TestIngestRealDumps ingests ../shared/data/stackexchange and checks the database and the index
// against counts taken independently (see indexer/stackexchange's TestRealDumps).
func TestIngestRealDumps(t *testing.T) {
	root := repo.RequireSharedData(t, "stackexchange")
	dsn := pgtest.NewDatabase(t)
	dataDir := t.TempDir()
	out, err := runCmd(t, context.Background(), "ingest", "--database-url", dsn, "--data-dir", dataDir, "--format", "stackexchange",
		"--progress", "none", filepath.Join(root, "bicycles.meta"), filepath.Join(root, "conlang.meta"))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	const posts = 453 + 971 + 2448 + 54 + 115 + 230
	if !strings.Contains(out, fmt.Sprintf("posts:      %d read, %d new, 0 updated, 0 unchanged", posts, posts)) || !strings.Contains(out, "rejected:   0") {
		t.Errorf("summary:\n%s", out)
	}
	pool := openPool(t, dsn)
	var authors, deleted, identities int
	err = pool.QueryRow(context.Background(), `SELECT count(DISTINCT author_key), count(*) FILTER (WHERE author_key IS NULL),
		(SELECT count(*) FROM identities) FROM posts`).Scan(&authors, &deleted, &identities)
	if err != nil {
		t.Fatal(err)
	}
	if authors != 310+64 || deleted != 129+21 || identities != 2550+271 {
		t.Errorf("distinct authors %d, posts without author %d, identities %d", authors, deleted, identities)
	}
	dbIDs, indexIDs := storedIDs(t, dsn, dataDir)
	if len(dbIDs) != posts || !reflect.DeepEqual(dbIDs, indexIDs) {
		t.Errorf("database %d ids, index %d ids, want %d in both", len(dbIDs), len(indexIDs), posts)
	}
	// Display names come from Users.xml although posts only name the user id.
	p, err := postgres.New(pool).Post(context.Background(), "stackexchange:conlang.meta/post/1")
	if err != nil || p.Author == nil || p.Author.DisplayName == "" || p.License != "CC BY-SA 3.0" {
		t.Errorf("post 1: %+v %v", p, err)
	}
}

func openPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgdb.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// storedIDs returns the sorted post ids in the database and in the index.
func storedIDs(t *testing.T, dsn, dataDir string) (db, index []string) {
	t.Helper()
	ctx := context.Background()
	pool := openPool(t, dsn)
	err := postgres.New(pool).ForEachID(ctx, 0, func(ids []string) error { db = append(db, ids...); return nil })
	if err != nil {
		t.Fatal(err)
	}
	x, err := bleveindex.Open(indexDir(dataDir), bleveindex.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if err := x.ForEachID(ctx, func(id string) error { index = append(index, id); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Strings(db)
	sort.Strings(index)
	if n, _ := x.DocCount(); n != uint64(len(index)) {
		t.Errorf("index counts %d documents but lists %d", n, len(index))
	}
	return db, index
}

// writeCrawl writes n synthetic posts in the generic format, with a few malformed lines and a
// few ids that occur twice (the later one an update), and returns the distinct valid ids.
func writeCrawl(t *testing.T, path string, n int) []string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	rng := rand.New(rand.NewSource(7))
	words := strings.Fields("chain wheel spoke rim tyre brake lever cable saddle pedal crank gear cog hub axle valve pump frame fork stem bar grip bell light rack mudguard bottle cage lock helmet glove jersey route climb descent rain wind commute tour race sprint")
	ids := map[string]bool{}
	for i := 0; i < n; i++ {
		id := fmt.Sprint(i)
		if i%97 == 5 {
			id = fmt.Sprint(i - 3) // an update of an earlier post
		}
		if i%250 == 17 {
			fmt.Fprintf(w, "{\"id\": \"broken %d\n", i)
			continue
		}
		var text strings.Builder
		for j := 0; j < 20+rng.Intn(200); j++ {
			text.WriteString(words[rng.Intn(len(words))])
			text.WriteByte(' ')
		}
		rec := map[string]any{"id": id, "platform": "forum", "site": "crash", "author_id": fmt.Sprint("u", rng.Intn(50)),
			"created": 1600000000 + i, "url": "https://crash.example/" + id, "title": "Post " + id, "text": text.String(), "license": "CC BY 4.0"}
		b, _ := json.Marshal(rec)
		w.Write(b)
		w.WriteByte('\n')
		ids["forum:crash/"+id] = true
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(ids))
	for id := range ids {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// TestIngestCrashResume runs `royalty ingest` as a real process, kills it with SIGKILL at
// random moments while it writes, runs it again until it finishes, and checks that the database
// and the index then hold exactly the post ids of a clean run: nothing duplicated, nothing
// missing.
func TestIngestCrashResume(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "royalty")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	crawl := filepath.Join(t.TempDir(), "crawl.jsonl")
	want := writeCrawl(t, crawl, 6000)

	ingest := func(dsn, dataDir string) *exec.Cmd {
		cmd := exec.Command(bin, "ingest", "--format", "jsonl", "--batch-size", "100", "--progress", "log", "--log-every", "1ms", crawl)
		cmd.Env = append(os.Environ(), "ROYALTY_DATABASE_URL="+dsn, "ROYALTY_DATA_DIR="+dataDir)
		return cmd
	}

	cleanDSN, cleanDir := pgtest.NewDatabase(t), t.TempDir()
	if out, err := ingest(cleanDSN, cleanDir).CombinedOutput(); err != nil {
		t.Fatalf("clean run: %v\n%s", err, out)
	}
	cleanDB, cleanIndex := storedIDs(t, cleanDSN, cleanDir)
	if !reflect.DeepEqual(cleanDB, want) || !reflect.DeepEqual(cleanIndex, want) {
		t.Fatalf("clean run: database %d ids, index %d ids, want %d", len(cleanDB), len(cleanIndex), len(want))
	}

	dsn, dataDir := pgtest.NewDatabase(t), t.TempDir()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	kills := 0
	for attempt := 0; attempt < 20; attempt++ {
		cmd := ingest(dsn, dataDir)
		stderr, _ := cmd.StderrPipe()
		cmd.Stdout = nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of progress lines: at a random point of writing.
		lines := make(chan string, 1000)
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		target := 1 + rng.Intn(15)
		seen := 0
		for line := range lines {
			if strings.Contains(line, "ingest progress") {
				seen++
			}
			if seen == target {
				time.Sleep(time.Duration(rng.Intn(30)) * time.Millisecond)
				break
			}
		}
		if seen == target && cmd.Process.Signal(syscall.SIGKILL) == nil {
			kills++
		}
		for range lines {
		}
		err := cmd.Wait()
		if err == nil {
			break // finished before the kill
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("ingest failed on its own: %v", err)
		}
		if kills >= 4 {
			// Enough crashes: finish the job.
			out, err := ingest(dsn, dataDir).CombinedOutput()
			if err != nil {
				t.Fatalf("resume: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "rejected:   24") {
				t.Errorf("the resumed run's summary lost the rejected records of earlier runs:\n%s", out)
			}
			break
		}
	}
	if kills == 0 {
		t.Fatal("never managed to kill the ingest mid-run")
	}
	db, index := storedIDs(t, dsn, dataDir)
	if !reflect.DeepEqual(db, cleanDB) || !reflect.DeepEqual(index, cleanIndex) {
		t.Errorf("after %d kills: database %d ids, index %d ids; clean run %d", kills, len(db), len(index), len(cleanDB))
	}
	// The updated posts hold their later version in both stores.
	p, err := postgres.New(openPool(t, dsn)).Post(context.Background(), "forum:crash/2")
	if err != nil || p.CreatedAt.Unix() != 1600000005 {
		t.Errorf("forum:crash/2 was not updated by its later record: %+v %v", p, err)
	}
	t.Logf("killed %d times", kills)
}

// TestIngestThroughServer sends a dump to a server's IngestPosts over loopback (the index is
// the server's), and checks the summary, the rejected records' file positions and the result.
func TestIngestThroughServer(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	pool := openPool(t, dsn)
	serverDir := t.TempDir()
	x, err := bleveindex.Open(indexDir(serverDir), bleveindex.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.New(pool)
	svc := &indexer.Service{Store: store, Index: x, Pipeline: indexer.NewPipeline(store, x, indexer.Options{})}
	g := grpc.NewServer()
	royaltyv1.RegisterIndexServiceServer(g, services.NewIndexServer(svc, nil))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	defer g.Stop()

	// The CLI cannot open the index the server holds…
	dump := filepath.Join("..", "..", "indexer", "stackexchange", "testdata", "tiny.stackexchange.com")
	out, err := runCmd(t, ctx, "ingest", "--database-url", dsn, "--data-dir", serverDir, "--format", "stackexchange", dump)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("opening a held index: %v\n%s", err, out)
	}
	// …so it goes through the server.
	args := []string{"ingest", "--server", lis.Addr().String(), "--data-dir", t.TempDir(), "--format", "stackexchange", "--progress", "none", "--batch-size", "2", dump}
	out, err = runCmd(t, ctx, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"posts:      6 read, 6 new, 0 updated, 0 unchanged",
		"identities: 2 read",
		"rejected:   4",
		"Users.xml:6: Id: want a positive integer",
		"Posts.xml:7: stackexchange:tiny/post/5: CreationDate: want a time",
		"Comments.xml:5: stackexchange:tiny/comment/12: PostId: want a positive integer",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	p, err := store.Post(ctx, "stackexchange:tiny/comment/10")
	if err != nil || p.Author == nil || p.Author.DisplayName != "Bo & Chain" {
		t.Errorf("comment 10: %+v %v", p, err)
	}
	g.Stop()
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	db, index := storedIDs(t, dsn, serverDir)
	if len(db) != 6 || !reflect.DeepEqual(db, index) {
		t.Errorf("database %q index %q", db, index)
	}
}

// TestReconcile loses part of the index and adds a stray document, then checks that
// `ingest --reconcile` makes the index match the database again.
func TestReconcile(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	dataDir := t.TempDir()
	sample := filepath.Join("..", "..", "indexer", "testdata", "sample", "posts.jsonl")
	if out, err := runCmd(t, ctx, "ingest", "--database-url", dsn, "--data-dir", dataDir, "--format", "jsonl", "--progress", "none", sample); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want, _ := storedIDs(t, dsn, dataDir)
	x, err := bleveindex.Open(indexDir(dataDir), bleveindex.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Delete(ctx, want[:5]); err != nil {
		t.Fatal(err)
	}
	stray := &indexer.Post{ID: "forum:spokeandcrumb/999", Platform: "forum", Site: "spokeandcrumb", Kind: indexer.KindComment,
		CreatedAt: time.Unix(1e9, 0), Text: "not in the database"}
	prep, err := indexer.Prepare(stray)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	if err := x.Write(ctx, []*indexer.Prepared{prep}, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	<-done
	x.Close()

	out, err := runCmd(t, ctx, "ingest", "--reconcile", "--database-url", dsn, "--data-dir", dataDir)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "16 posts in the database, 5 indexed again, 1 documents without a post deleted") {
		t.Errorf("reconcile said:\n%s", out)
	}
	db, index := storedIDs(t, dsn, dataDir)
	if !reflect.DeepEqual(db, want) || !reflect.DeepEqual(index, want) {
		t.Errorf("after reconcile: database %q, index %q", db, index)
	}
	// The re-indexed posts are retrievable by their fingerprints again.
	x, err = bleveindex.Open(indexDir(dataDir), bleveindex.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	p, err := postgres.New(openPool(t, dsn)).Post(ctx, want[0])
	if err != nil {
		t.Fatal(err)
	}
	pp, _ := indexer.Prepare(p)
	got, err := x.Candidates(ctx, pp.Fingerprints, 1)
	if err != nil || len(got) != 1 || got[0].ContentHash != p.ContentHash {
		t.Errorf("candidates for %s: %+v %v", p.ID, got, err)
	}
}

// TestIngestZstdProgress ingests a Pushshift .zst dump with progress log lines and checks that
// they say how far the ingest is and when it will end: progress of a compressed input is
// measured in compressed bytes read against the file's size.
func TestIngestZstdProgress(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	path := filepath.Join(t.TempDir(), "RC_2006-01.zst")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := zstd.NewWriter(f, zstd.WithWindowSize(1<<27))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(enc)
	rng := rand.New(rand.NewSource(3))
	words := strings.Fields("chain wheel spoke rim tyre brake lever cable saddle pedal crank gear cog hub axle valve pump frame fork stem")
	const n = 2000
	for i := 0; i < n; i++ {
		var body strings.Builder
		for j := 0; j < 60+rng.Intn(60); j++ {
			fmt.Fprintf(&body, "%s%d ", words[rng.Intn(len(words))], rng.Intn(1000))
		}
		b, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("c%d", i), "author": fmt.Sprint("u", rng.Intn(40)),
			"body": body.String(), "created_utc": 1136073600 + i, "subreddit": "bicycling", "link_id": "t3_a"})
		w.Write(b)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	out, err := runCmd(t, context.Background(), "ingest", "--database-url", dsn, "--data-dir", t.TempDir(), "--format", "pushshift",
		"--batch-size", "100", "--progress", "log", "--log-every", "1ms", path)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, fmt.Sprintf("posts:      %d read, %d new", n, n)) {
		t.Fatalf("summary:\n%s", out)
	}
	var logs, withETA int
	last := 0.0
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "ingest progress") {
			continue
		}
		logs++
		attrs := map[string]string{}
		for _, f := range strings.Fields(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				attrs[k] = v
			}
		}
		pct, err := strconv.ParseFloat(attrs["done_pct"], 64)
		if err != nil || pct <= 0 || pct > 100 || pct < last {
			t.Fatalf("done_pct %q after %.1f in %q", attrs["done_pct"], last, line)
		}
		last = pct
		if eta, ok := attrs["eta"]; ok {
			if _, err := time.ParseDuration(eta); err != nil {
				t.Fatalf("eta %q in %q", eta, line)
			}
			withETA++
		}
	}
	if logs < 2 || withETA == 0 || last < 90 {
		t.Errorf("%d progress lines, %d with an eta, last at %.1f%%:\n%s", logs, withETA, last, out)
	}
}

// TestIngestWrongFormat gives ingest inputs in another format than --format says: it must fail
// before reading when the first records show the right format, and say which.
func TestIngestWrongFormat(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hnFile := write("items.jsonl", `{"id":1,"by":"pg","time":1160418111,"type":"story","title":"Y Combinator","text":"hello"}`+"\n"+
		`{"id":2,"by":"sama","time":1160418112,"type":"comment","parent":1,"text":"hi"}`+"\n")
	redditFile := write("RC_2020-01", `{"id":"abc","author":"ana","body":"words","created_utc":1577836800,"subreddit":"test"}`+"\n")
	generic := filepath.Join("..", "..", "indexer", "testdata", "sample", "posts.jsonl")
	seDump := filepath.Join("..", "..", "indexer", "stackexchange", "testdata", "tiny.stackexchange.com")
	tests := []struct {
		format, path, want string
	}{
		{"jsonl", hnFile, "looks like hn, not jsonl: use --format hn"},
		{"hn", redditFile, "looks like pushshift, not hn: use --format pushshift"},
		{"pushshift", generic, "looks like jsonl, not pushshift: use --format jsonl"},
		{"stackexchange", generic, "looks like jsonl, not stackexchange: use --format jsonl"},
		{"jsonl", seDump, "looks like a Stack Exchange dump folder: use --format stackexchange"},
		{"", hnFile, "--format is required: " + hnFile + " looks like hn: use --format hn"},
	}
	for _, tt := range tests {
		// No database: the format is checked before anything is opened.
		out, err := runCmd(t, context.Background(), "ingest", "--data-dir", t.TempDir(), "--format", tt.format, tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--format %q %s: %v, want %q\n%s", tt.format, tt.path, err, tt.want, out)
		}
	}
	// The right format passes the check.
	for format, path := range map[string]string{"hn": hnFile, "pushshift": redditFile, "jsonl": generic, "stackexchange": seDump} {
		if err := checkFormat(format, []string{path}); err != nil {
			t.Errorf("--format %s %s: %v", format, path, err)
		}
	}
}

// TestIngestEverythingRejected ingests a file none of whose records parse in any format: the
// summary is printed and the command fails, instead of exiting 0 having ingested nothing.
func TestIngestEverythingRejected(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	path := filepath.Join(t.TempDir(), "odd.jsonl")
	if err := os.WriteFile(path, []byte("{\"id\":\"1\"}\n{\"id\":\"2\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, context.Background(), "ingest", "--database-url", dsn, "--data-dir", t.TempDir(), "--format", "jsonl", "--progress", "none", path)
	if err == nil || !strings.Contains(err.Error(), "all 2 records were rejected: is --format jsonl right?") {
		t.Errorf("err = %v\n%s", err, out)
	}
	if !strings.Contains(out, "rejected:   2") {
		t.Errorf("no summary:\n%s", out)
	}
}
