// Command royalty-bench-sqlindex measures attribution on the SQL index (indexer/postgres
// FingerprintIndex, `royalty serve --index=sql`) against the in-memory one (the Bleve index's
// per-process fingerprint tables, `--index=memory`) in the same run, on the same generated,
// labelled corpus (attribution/eval: a word model trained on the real Stack Exchange dumps) and
// the same responses. It loads the corpus in stages into both; at every checkpoint it attributes
// the same responses one at a time on each index, alternating, and prints latency and
// correctness. From the two largest sizes it derives how latency grows per 10× posts.
//
// PostgreSQL is a throwaway server (internal/pgtmp) on this machine. The SQL index is loaded
// with COPY (posts, identities, then the fingerprints with the primary key built after the
// load, which is the same table as ingest writes, built faster); ingest's own write path is
// tested, not timed, here.
//
// The last line is
//
//	RESULT sqlindex posts=<n> responses=<n> sql_p50_ms=… sql_p99_ms=… mem_p50_ms=… mem_p99_ms=… sql_growth_p50_per_10x=… mem_growth_p50_per_10x=… ratio=<sql_p50/mem_p50>
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/eval"
	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/indexer"
	indexpg "github.com/openroyalty/royalty/indexer/postgres"
	"github.com/openroyalty/royalty/internal/benchattr"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtmp"
	"github.com/openroyalty/royalty/internal/version"
)

type options struct {
	posts       int
	checkpoints []int
	responses   int
	words       int
	seed        uint64
	batch       int
	data        string
	pad         []int
}

func main() {
	var o options
	var cps string
	flag.IntVar(&o.posts, "posts", 1_000_000, "posts in the largest index")
	flag.StringVar(&cps, "checkpoints", "200000", "comma-separated smaller index sizes to measure on the way")
	flag.IntVar(&o.responses, "responses", 1000, "responses attributed at each checkpoint, on each index")
	flag.IntVar(&o.words, "words", 300, "words per response")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the corpus and the responses")
	flag.IntVar(&o.batch, "batch", 500, "posts per Bleve batch")
	flag.StringVar(&o.data, "data", "", "Stack Exchange dumps for the word model (default ../shared/data/stackexchange)")
	var pads string
	flag.StringVar(&pads, "pad", "", "comma-separated post counts: after the largest index, pad the fingerprint table with random fingerprints to as many rows as that many posts would have, and measure the SQL index again (the in-memory one stays at the real size)")
	version.Flag("royalty-bench-sqlindex")
	flag.Parse()
	for _, s := range strings.Split(cps, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench: bad checkpoint %q\n", s)
			os.Exit(2)
		}
		if n < o.posts {
			o.checkpoints = append(o.checkpoints, n)
		}
	}
	for _, s := range strings.Split(pads, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= o.posts {
			fmt.Fprintf(os.Stderr, "bench: bad -pad %q: want a post count above -posts\n", s)
			os.Exit(2)
		}
		o.pad = append(o.pad, n)
	}
	slices.Sort(o.pad)
	o.checkpoints = append(o.checkpoints, o.posts)
	slices.Sort(o.checkpoints)
	o.checkpoints = slices.Compact(o.checkpoints)
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type row struct {
	posts                          int
	sqlP50, sqlP99, memP50, memP99 float64
	sqlSum, memSum                 eval.Summary
	loadSQL, loadMem               time.Duration
	tableMB                        float64
}

func run(ctx context.Context, o options) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if o.data == "" {
		var err error
		if o.data, err = eval.FindData(); err != nil {
			return err
		}
	}
	texts, err := eval.LoadStackExchangeText(o.data)
	if err != nil {
		return err
	}
	start := time.Now()
	corpus := eval.NewCorpus(eval.NewWordModel(texts), eval.CorpusConfig{Seed: o.seed, Posts: o.posts, HeldOut: 5_000})
	fmt.Printf("corpus: %d posts generated in %s from a word model of %d Stack Exchange texts\n",
		len(corpus.Posts), time.Since(start).Round(time.Millisecond), len(texts))
	responses := map[int][]eval.Response{}
	for _, cp := range o.checkpoints {
		responses[cp] = corpus.Prefix(cp).Responses(eval.ResponseConfig{Seed: o.seed + 100, Count: o.responses,
			Words: o.words, FromCopies: 0.2, Boilerplate: 0.3})
	}
	posts := corpus.Posts
	corpus, texts = nil, nil

	pg, err := pgtmp.Start(ctx, pgtmp.Options{Settings: map[string]string{
		"shared_buffers": "2GB", "maintenance_work_mem": "1GB", "max_wal_size": "8GB", "checkpoint_timeout": "30min",
	}})
	if err != nil {
		return err
	}
	defer pg.Stop()
	dsn, err := pg.CreateMigrated(ctx, "benchsqlindex")
	if err != nil {
		return err
	}
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()

	dir, err := os.MkdirTemp("", "bench-sqlindex-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bleve, err := wire.OpenIndex(dir, log)
	if err != nil {
		return err
	}
	defer bleve.Close()

	acfg := attribution.DefaultConfig()
	fmt.Printf("algorithm: %s\nsql: PostgreSQL (internal/pgtmp, fsync off), indexer/postgres.FingerprintIndex with its default cache; memory: Bleve v2.6.1 fingerprint tables; GOMAXPROCS=%d\n\n",
		acfg.Algorithm(), runtime.GOMAXPROCS(0))
	fmt.Printf("%8s %9s %9s %9s | %11s %11s %11s %11s | %9s %9s %9s %9s\n",
		"posts", "load_sql", "load_mem", "table_MB", "sql_p50_ms", "sql_p99_ms", "mem_p50_ms", "mem_p99_ms",
		"sql_rec", "sql_prec", "mem_rec", "mem_prec")
	var rows []row
	loaded := 0
	authors := map[string]bool{}
	for _, cp := range o.checkpoints {
		r := row{posts: cp}
		// Posts are prepared once, as ingest does, and written to both indexes a chunk at a
		// time; load_sql and load_mem are the times of the writes alone.
		if _, err := pool.Exec(ctx, `ALTER TABLE attribution_fingerprints DROP CONSTRAINT IF EXISTS attribution_fingerprints_pkey`); err != nil {
			return err
		}
		const chunk = 20_000
		for lo := loaded; lo < cp; lo += chunk {
			prepared, err := benchattr.Prepare(posts[lo:min(lo+chunk, cp)])
			if err != nil {
				return err
			}
			t0 := time.Now()
			if err := copySQL(ctx, pool, prepared, authors); err != nil {
				return err
			}
			r.loadSQL += time.Since(t0)
			t0 = time.Now()
			if err := benchattr.WriteBlevePrepared(ctx, bleve, prepared, o.batch); err != nil {
				return err
			}
			r.loadMem += time.Since(t0)
			clear(posts[lo:min(lo+chunk, cp)])
			fmt.Fprintf(os.Stderr, "loaded %d posts\n", min(lo+chunk, cp))
		}
		t0 := time.Now()
		if _, err := pool.Exec(ctx, `ALTER TABLE attribution_fingerprints ADD PRIMARY KEY (fingerprint, post_id)`); err != nil {
			return err
		}
		for _, t := range []string{"attribution_fingerprints", "posts", "identities"} {
			if _, err := pool.Exec(ctx, `ANALYZE `+t); err != nil {
				return err
			}
		}
		r.loadSQL += time.Since(t0)
		loaded = cp
		benchattr.WaitQuiet(10 * time.Minute)
		if r.tableMB, err = tableMB(ctx, pool); err != nil {
			return err
		}
		runtime.GC()
		sql := indexpg.NewFingerprintIndex(pool, indexpg.FingerprintOptions{})
		if err := measure(ctx, &r, sql, bleve, responses[cp], acfg); err != nil {
			return err
		}
		fmt.Printf("%8d %8.0fs %8.0fs %9.0f | %11.2f %11.2f %11.2f %11.2f | %9.4f %9.4f %9.4f %9.4f\n",
			cp, r.loadSQL.Seconds(), r.loadMem.Seconds(), r.tableMB, r.sqlP50, r.sqlP99, r.memP50, r.memP99,
			r.sqlSum.Recall, r.sqlSum.Precision, r.memSum.Recall, r.memSum.Precision)
		rows = append(rows, r)
	}
	last := rows[len(rows)-1]
	sqlGrowth, memGrowth := math.NaN(), math.NaN()
	if len(rows) > 1 {
		prev := rows[len(rows)-2]
		decades := math.Log10(float64(last.posts) / float64(prev.posts))
		sqlGrowth = math.Pow(last.sqlP50/prev.sqlP50, 1/decades)
		memGrowth = math.Pow(last.memP50/prev.memP50, 1/decades)
		fmt.Printf("\ngrowth of p50 per 10x posts, from %d to %d posts: sql %.2fx, memory %.2fx (p99: sql %.2fx, memory %.2fx)\n",
			prev.posts, last.posts, sqlGrowth, memGrowth,
			math.Pow(last.sqlP99/prev.sqlP99, 1/decades), math.Pow(last.memP99/prev.memP99, 1/decades))
	}
	if last.sqlSum.String() != last.memSum.String() {
		fmt.Printf("\nthe evaluations DIFFER at %d posts:\nsql:\n%s\nmemory:\n%s\n", last.posts, last.sqlSum, last.memSum)
	} else {
		fmt.Printf("\nthe evaluation is identical on both indexes at %d posts:\n%s\n", last.posts, last.sqlSum)
	}
	fmt.Printf("RESULT sqlindex posts=%d responses=%d sql_p50_ms=%.2f sql_p99_ms=%.2f mem_p50_ms=%.2f mem_p99_ms=%.2f sql_growth_p50_per_10x=%.2f mem_growth_p50_per_10x=%.2f recall_sql=%.4f recall_mem=%.4f ratio=%.2f\n",
		last.posts, last.sqlSum.Responses, last.sqlP50, last.sqlP99, last.memP50, last.memP99, sqlGrowth, memGrowth,
		last.sqlSum.Recall, last.memSum.Recall, last.sqlP50/last.memP50)
	if len(o.pad) == 0 {
		return nil
	}
	// Padding: random fingerprints of posts that do not exist, as many rows per post as the real
	// ones have, so that the table and its primary key grow as with more posts while the
	// responses still find only the real ones. It measures what the table's size costs a lookup
	// (deeper B-tree, fewer pages in memory), not what more candidates cost.
	var rowsNow int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM attribution_fingerprints`).Scan(&rowsNow); err != nil {
		return err
	}
	perPost := float64(rowsNow) / float64(o.posts)
	fmt.Printf("\npadded: the fingerprint table grown with random rows (%.1f per post, as the real posts have); memory stays at %d posts\n", perPost, o.posts)
	base := last
	var padded row
	for _, target := range o.pad {
		add := int64(perPost*float64(target)) - rowsNow
		t0 := time.Now()
		if _, err := pool.Exec(ctx, `ALTER TABLE attribution_fingerprints DROP CONSTRAINT IF EXISTS attribution_fingerprints_pkey`); err != nil {
			return err
		}
		if _, err := pool.Exec(ctx, `INSERT INTO attribution_fingerprints (fingerprint, post_id, author_key)
SELECT ((random() - 0.5) * 1.8e19)::INT8, 'pad:x/post/' || (($2::INT8 + g) / 60), 'pad:x/' || ((($2::INT8 + g) / 60) % 40000)
FROM generate_series(1, $1::INT8) AS g`, add, rowsNow); err != nil {
			return fmt.Errorf("padding: %w", err)
		}
		if _, err := pool.Exec(ctx, `ALTER TABLE attribution_fingerprints ADD PRIMARY KEY (fingerprint, post_id)`); err != nil {
			return fmt.Errorf("padding: %w", err)
		}
		if _, err := pool.Exec(ctx, `ANALYZE attribution_fingerprints`); err != nil {
			return err
		}
		rowsNow += add
		r := row{posts: target, loadSQL: time.Since(t0)}
		if r.tableMB, err = tableMB(ctx, pool); err != nil {
			return err
		}
		runtime.GC()
		if err := measure(ctx, &r, indexpg.NewFingerprintIndex(pool, indexpg.FingerprintOptions{}), bleve, responses[o.posts], acfg); err != nil {
			return err
		}
		fmt.Printf("%7d* %8.0fs %9s %9.0f | %11.2f %11.2f %11.2f %11.2f | %9.4f %9.4f %9.4f %9.4f\n",
			target, r.loadSQL.Seconds(), "-", r.tableMB, r.sqlP50, r.sqlP99, r.memP50, r.memP99,
			r.sqlSum.Recall, r.sqlSum.Precision, r.memSum.Recall, r.memSum.Precision)
		padded = r
	}
	decades := math.Log10(float64(padded.posts) / float64(base.posts))
	g50 := math.Pow(padded.sqlP50/base.sqlP50, 1/decades)
	g99 := math.Pow(padded.sqlP99/base.sqlP99, 1/decades)
	fmt.Printf("growth of the SQL index's p50 per 10x table rows, from %d real to %d padded posts: %.2fx (p99 %.2fx)\n", base.posts, padded.posts, g50, g99)
	fmt.Printf("RESULT sqlindex_padded posts=%d real_posts=%d responses=%d sql_p50_ms=%.2f sql_p99_ms=%.2f mem_p50_ms=%.2f mem_p99_ms=%.2f sql_growth_p50_per_10x=%.2f ratio=%.2f\n",
		padded.posts, base.posts, padded.sqlSum.Responses, padded.sqlP50, padded.sqlP99, padded.memP50, padded.memP99, g50, padded.sqlP50/padded.memP50)
	return nil
}

// measure attributes the responses one at a time on each index, alternating, after a warm-up
// of 50 responses on each.
func measure(ctx context.Context, r *row, sql, mem attribution.Index, responses []eval.Response, cfg attribution.Config) error {
	as, am := attribution.New(sql, cfg), attribution.New(mem, cfg)
	for _, resp := range responses[:min(50, len(responses))] {
		for _, a := range []*attribution.Attributor{as, am} {
			if _, err := a.Attribute(ctx, resp.Text); err != nil {
				return err
			}
		}
	}
	ms, mm := &eval.Metrics{}, &eval.Metrics{}
	var ls, lm []float64
	for _, resp := range responses {
		t0 := time.Now()
		res, err := as.Attribute(ctx, resp.Text)
		if err != nil {
			return err
		}
		ls = append(ls, benchattr.MS(time.Since(t0)))
		ms.Add(resp, res)
		t0 = time.Now()
		res, err = am.Attribute(ctx, resp.Text)
		if err != nil {
			return err
		}
		lm = append(lm, benchattr.MS(time.Since(t0)))
		mm.Add(resp, res)
	}
	if len(ls) == 0 {
		return errors.New("no responses")
	}
	r.sqlP50, r.sqlP99 = benchattr.Quantile(ls, 0.5), benchattr.Quantile(ls, 0.99)
	r.memP50, r.memP99 = benchattr.Quantile(lm, 0.5), benchattr.Quantile(lm, 0.99)
	r.sqlSum, r.memSum = ms.Summary(), mm.Summary()
	return nil
}

// copySQL writes posts, their new authors and their fingerprints with COPY.
func copySQL(ctx context.Context, pool *pgxpool.Pool, prepared []*indexer.Prepared, authors map[string]bool) error {
	var idents, prows, frows [][]any
	for _, pp := range prepared {
		p := pp.Post
		var author *string
		if p.Author != nil {
			k := p.Author.Key()
			author = &k
			if !authors[k] {
				authors[k] = true
				idents = append(idents, []any{k, p.Author.Platform, p.Author.Site, p.Author.AuthorID})
			}
		}
		quoted := p.Quoted
		if quoted == nil {
			quoted = []string{}
		}
		q, err := json.Marshal(quoted)
		if err != nil {
			return err
		}
		prows = append(prows, []any{p.ID, p.Platform, p.Site, string(p.Kind), author, p.CreatedAt.UTC(), p.URL, p.Title,
			p.License, p.ParentID, p.Text, q, p.ContentHash, p.Digest()})
		for _, h := range pp.Fingerprints {
			frows = append(frows, []any{int64(h), p.ID, author})
		}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"identities"}, []string{"key", "platform", "site", "author_id"}, pgx.CopyFromRows(idents)); err != nil {
		return fmt.Errorf("copying identities: %w", err)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"posts"}, []string{"id", "platform", "site", "kind", "author_key", "created_at", "url", "title",
		"license", "parent_id", "text", "quoted", "content_hash", "digest"}, pgx.CopyFromRows(prows)); err != nil {
		return fmt.Errorf("copying posts: %w", err)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"attribution_fingerprints"}, []string{"fingerprint", "post_id", "author_key"}, pgx.CopyFromRows(frows)); err != nil {
		return fmt.Errorf("copying fingerprints: %w", err)
	}
	return nil
}

// tableMB is the size of the fingerprint table with its indexes, in MiB (PostgreSQL only: the
// benchmark runs on its own throwaway server).
func tableMB(ctx context.Context, pool *pgxpool.Pool) (float64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT pg_total_relation_size('attribution_fingerprints')`).Scan(&n)
	return float64(n) / (1 << 20), err
}
