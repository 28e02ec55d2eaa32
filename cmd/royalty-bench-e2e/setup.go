package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/openroyalty/royalty/attribution/eval"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/internal/pgbench"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtmp"
	"github.com/openroyalty/royalty/internal/repo"
	"github.com/openroyalty/royalty/internal/serverproc"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// bench is one run: the processes, the keys and the posts the responses copy from.
type bench struct {
	o         options
	pg        *pgtmp.Server
	work      string
	bin       string
	dsn       string
	dataDir   string
	logPath   string
	addr      string      // the API port: gRPC and HTTP/JSON
	pprofAddr string      // the server's profiler, with -profile
	metrics   string      // the server's /metrics address
	clientTLS *tls.Config // with -tls: how clients trust the server's throwaway certificate
	server    *serverproc.Proc
	db        *pgxpool.Pool // the bench's own reads of royalty's database

	providerKey string
	// adminKey and providerID serve the lineage phases (lineage.go).
	adminKey, providerID string
	sources              []sourcePost // indexed posts the responses copy from
	sourceIDs            []string
}

func (b *bench) cleanup() {
	if b.server != nil {
		b.server.Kill()
	}
	if b.db != nil {
		b.db.Close()
	}
	if b.pg != nil {
		if err := b.pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench-e2e: stopping postgres:", err)
		}
	}
	if b.work != "" && !b.o.keep {
		os.RemoveAll(b.work)
	}
}

func setup(ctx context.Context, o options, log *slog.Logger) (*bench, error) {
	root, err := repo.Root()
	if err != nil {
		return nil, err
	}
	if o.data == "" {
		if o.data, err = eval.FindData(); err != nil {
			return nil, err
		}
	}
	b := &bench{o: o}
	if b.work, err = os.MkdirTemp("", "royalty-bench-e2e-"); err != nil {
		return nil, err
	}
	b.dataDir = filepath.Join(b.work, "data")
	b.logPath = filepath.Join(b.work, "server.log")
	say("building royalty")
	if b.bin, err = serverproc.Build(ctx, root, b.work); err != nil {
		return b, err
	}
	commit, _ := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	say("royalty built from commit %s", strings.TrimSpace(string(commit)))

	say("starting a throwaway durable PostgreSQL (fsync on)")
	pgo := pgtmp.Options{Durable: true, Logger: log}
	if o.pgStatements > 0 {
		pgo.Settings = map[string]string{"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track": "top"}
	}
	if b.pg, err = pgtmp.Start(ctx, pgo); err != nil {
		return b, err
	}
	if b.dsn, err = b.pg.CreateDatabase(ctx, "royalty", ""); err != nil {
		return b, err
	}
	if _, err := b.royalty(ctx, "migrate"); err != nil {
		return b, err
	}
	if b.db, err = pgdb.Open(ctx, b.dsn); err != nil {
		return b, err
	}
	if err := b.ingest(ctx, b.db); err != nil {
		return b, err
	}
	if err := b.loadSources(ctx, b.db); err != nil {
		return b, err
	}
	if err := initPgbench(ctx, b.pg, o); err != nil {
		return b, err
	}

	admin, err := b.createKey(ctx, "admin", "bench-admin")
	if err != nil {
		return b, err
	}
	provider, err := b.createKey(ctx, "provider", "bench-provider")
	if err != nil {
		return b, err
	}
	b.providerKey = provider.Key
	b.adminKey, b.providerID = admin.Key, provider.PrincipalID

	if err := b.serve(ctx); err != nil {
		return b, err
	}
	conn, err := grpc.NewClient(b.addr, b.grpcCreds())
	if err != nil {
		return b, err
	}
	defer conn.Close()
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+admin.Key)
	if _, err := v1.NewAdminServiceClient(conn).SetProviderAgreement(actx, &v1.SetProviderAgreementRequest{ProviderId: provider.PrincipalID, RoyaltyRate: "0.3"}); err != nil {
		return b, fmt.Errorf("SetProviderAgreement: %w", err)
	}
	return b, nil
}

// royalty runs one royalty subcommand to its end and returns its standard output.
func (b *bench) royalty(ctx context.Context, args ...string) (string, error) {
	return serverproc.Run(ctx, b.bin, b.dsn, args...)
}

type key struct {
	PrincipalID string `json:"principal_id"`
	Key         string `json:"key"`
}

func (b *bench) createKey(ctx context.Context, role, name string) (key, error) {
	out, err := b.royalty(ctx, "keys", "create", "--role", role, "--name", name, "-o", "json")
	if err != nil {
		return key{}, err
	}
	var k key
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &k); err != nil || k.Key == "" || k.PrincipalID == "" {
		return key{}, fmt.Errorf("royalty keys create -o json printed %q (%v)", out, err)
	}
	return k, nil
}

// ingest indexes the real dumps, then synthetic posts until the posts table holds o.posts.
func (b *bench) ingest(ctx context.Context, pool *pgxpool.Pool) error {
	dumps, err := os.ReadDir(b.o.data)
	if err != nil {
		return err
	}
	for _, d := range dumps {
		if !d.IsDir() {
			continue
		}
		dir := filepath.Join(b.o.data, d.Name())
		if _, err := os.Stat(filepath.Join(dir, "Posts.xml")); err != nil {
			continue
		}
		t0 := time.Now()
		if _, err := b.royalty(ctx, "ingest", "--format", "stackexchange", "--data-dir", b.dataDir, "--progress", "none", dir); err != nil {
			return err
		}
		say("ingested the dump %s in %s", d.Name(), time.Since(t0).Round(time.Second))
	}
	var real int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM posts`).Scan(&real); err != nil {
		return err
	}
	synthetic := b.o.posts - real
	say("%d posts from the real dumps; %d synthetic posts to reach %d", real, max(synthetic, 0), b.o.posts)
	if synthetic <= 0 {
		return nil
	}
	t0 := time.Now()
	texts, err := eval.LoadStackExchangeText(b.o.data)
	if err != nil {
		return err
	}
	corpus := eval.NewCorpus(eval.NewWordModel(texts), eval.CorpusConfig{Seed: b.o.seed, Posts: synthetic, HeldOut: 1})
	path := filepath.Join(b.work, "synthetic.jsonl")
	if err := writeJSONL(path, corpus.Posts); err != nil {
		return err
	}
	say("generated %d synthetic posts from a word model of %d Stack Exchange texts in %s", len(corpus.Posts), len(texts), time.Since(t0).Round(time.Second))
	corpus, texts = nil, nil
	t0 = time.Now()
	if _, err := b.royalty(ctx, "ingest", "--format", "jsonl", "--data-dir", b.dataDir, "--progress", "none", path); err != nil {
		return err
	}
	var total int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM posts`).Scan(&total); err != nil {
		return err
	}
	say("ingested the synthetic posts in %s: %d posts in the index", time.Since(t0).Round(time.Second), total)
	return os.Remove(path)
}

// jsonlRecord is the generic ingest format (indexer/jsonl).
type jsonlRecord struct {
	ID       string   `json:"id"`
	Platform string   `json:"platform"`
	Site     string   `json:"site"`
	AuthorID string   `json:"author_id,omitempty"`
	Created  string   `json:"created"`
	URL      string   `json:"url,omitempty"`
	Text     string   `json:"text"`
	Quoted   []string `json:"quoted,omitempty"`
	License  string   `json:"license"`
	Kind     string   `json:"kind"`
	Format   string   `json:"format"`
}

func writeJSONL(path string, posts []*eval.Post) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	for _, p := range posts {
		platform, site, local, err := indexer.ParseKey(p.ID)
		if err != nil {
			f.Close()
			return err
		}
		r := jsonlRecord{ID: local, Platform: platform, Site: site, Created: p.CreatedAt.UTC().Format(time.RFC3339),
			URL: p.URL, Text: p.Text, Quoted: p.Quoted, License: "CC0-1.0", Kind: string(indexer.KindAnswer), Format: string(indexer.FormatText)}
		if p.AuthorKey != "" {
			_, _, r.AuthorID, err = indexer.ParseKey(p.AuthorKey)
			if err != nil {
				f.Close()
				return err
			}
		}
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadSources reads o.sources random indexed posts of at least 30 words with an author: the
// responses copy spans of them.
func (b *bench) loadSources(ctx context.Context, pool *pgxpool.Pool) error {
	rows, err := pool.Query(ctx, `SELECT id, text FROM posts WHERE author_key IS NOT NULL ORDER BY random() LIMIT $1`, b.o.sources*2)
	if err != nil {
		return err
	}
	defer rows.Close()
	real := 0
	for rows.Next() && len(b.sources) < b.o.sources {
		var id, text string
		if err := rows.Scan(&id, &text); err != nil {
			return err
		}
		words := strings.Fields(text)
		if len(words) < 30 {
			continue
		}
		if !strings.HasPrefix(id, "synthetic:") {
			real++
		}
		b.sources = append(b.sources, newSourcePost(words))
		b.sourceIDs = append(b.sourceIDs, id)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(b.sources) == 0 {
		return fmt.Errorf("no indexed post has 30 words")
	}
	say("responses copy from %d indexed posts (%d of them real)", len(b.sources), real)
	return nil
}

// serve starts `royalty serve` and waits for health SERVING.
func (b *bench) serve(ctx context.Context) error {
	var err error
	if b.addr, err = serverproc.FreeAddr(); err != nil {
		return err
	}
	if b.metrics, err = serverproc.FreeAddr(); err != nil {
		return err
	}
	args := []string{"--metrics-addr", b.metrics, "--data-dir", b.dataDir, "--log-level", b.o.serverLogLevel, "--log-format", "json"}
	if b.o.profile != "" {
		if b.pprofAddr, err = serverproc.FreeAddr(); err != nil {
			return err
		}
		args = append(args, "--pprof-addr", b.pprofAddr)
	}
	if b.o.tls {
		cert, key, client, err := selfSignedCert(b.work)
		if err != nil {
			return err
		}
		b.clientTLS = client
		args = append(args, "--tls-cert", cert, "--tls-key", key)
	}
	if b.o.dryrunClients > 0 {
		// The dry-run phase calls Attribute as fast as ReportUsage is called; its rate limit
		// protects a public server from abuse, not this one from its benchmark.
		args = append(args, "--rate-attribute", "0")
	}
	args = append(args, b.o.serveArgs...)
	t0 := time.Now()
	b.server, err = serverproc.Start(ctx, serverproc.Server{Bin: b.bin, DSN: b.dsn, GRPCAddr: b.addr, Args: args, LogPath: b.logPath, TLS: b.clientTLS}, 5*time.Minute)
	if err != nil {
		return err
	}
	say("royalty serve (pid %d) is SERVING on %s after %s", b.server.Pid(), b.addr, time.Since(t0).Round(100*time.Millisecond))
	return nil
}

// serverStop stops the server with SIGTERM and waits for it.
func (b *bench) serverStop() error {
	if b.server == nil {
		return nil
	}
	p := b.server
	b.server = nil
	return p.Stop(45 * time.Second)
}

// initPgbench creates pgbench's database and tables on srv.
func initPgbench(ctx context.Context, srv *pgtmp.Server, o options) error {
	say("pgbench -i -s %d", o.pgbenchScale)
	return pgbench.Init(ctx, srv, o.pgbenchScale)
}

// pgbench runs pgbench's TPC-B-like workload for o.duration and returns its tps.
// It also prints the CPU a pgbench transaction cost, as the phases print it per report.
func (b *bench) pgbench(ctx context.Context) (float64, error) {
	say("pgbench -c %d -j 2 -T %d", b.o.pgbenchClients, max(1, int(b.o.duration.Round(time.Second).Seconds())))
	before := b.sampleCPU()
	t0 := time.Now()
	tps, err := pgbench.Run(ctx, b.pg, b.o.pgbenchClients, b.o.duration)
	if err == nil {
		took := time.Since(t0)
		// pgbench's backends exit as it disconnects; their CPU is in the postmaster's total
		// only once it has reaped them.
		time.Sleep(time.Second)
		say("  %s", pgbenchCPU(before, b.sampleCPU(), tps*took.Seconds()))
	}
	return tps, err
}

// sourcePost is a post's words joined by single spaces, with where each word starts: one string
// and no pointers per word, so that the load generator's heap (tens of thousands of posts) costs
// its garbage collector little, and the machine's CPU goes to what is measured.
type sourcePost struct {
	text  string
	start []int32
}

func newSourcePost(words []string) sourcePost {
	p := sourcePost{start: make([]int32, len(words))}
	var sb strings.Builder
	for i, w := range words {
		if i > 0 {
			sb.WriteByte(' ')
		}
		p.start[i] = int32(sb.Len()) //nolint:gosec // a post is far below 2 GiB
		sb.WriteString(w)
	}
	p.text = sb.String()
	return p
}

// words returns words [i, j) of p joined by single spaces.
func (p sourcePost) words(i, j int) string {
	end := len(p.text)
	if j < len(p.start) {
		end = int(p.start[j]) - 1
	}
	return p.text[p.start[i]:end]
}

// response makes a model response of about 90 words: three runs of 15 to 25 words, each from
// a random indexed post, between words of its own.
func (b *bench) response(rng *rand.Rand) string {
	buf := make([]byte, 0, 1024)
	buf = append(buf, filler[rng.IntN(len(filler))]...)
	for range 3 {
		p := b.sources[rng.IntN(len(b.sources))]
		n := 15 + rng.IntN(11)
		start := rng.IntN(max(1, len(p.start)-n))
		end := min(len(p.start), start+n)
		buf = append(buf, ' ')
		buf = append(buf, p.words(start, end)...)
		buf = append(buf, ' ')
		buf = append(buf, filler[rng.IntN(len(filler))]...)
	}
	return string(buf)
}

var filler = []string{
	"Here is what I would suggest, with the caveats that matter most.",
	"In short, it depends on the details of your setup and what you need.",
	"Photosynthesis converts light into chemical energy stored in sugar molecules.",
	"The committee postponed the vote until the spring session of next year.",
	"Let me know whether that answers the question or whether you need more.",
	"A quick summary follows, and after it a longer explanation of each step.",
	"Granite cools slowly deep underground, which is why its crystals are large.",
	"Most of the delay came from the ferry schedule, not from the roads.",
}
