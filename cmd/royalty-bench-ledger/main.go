// Command royalty-bench-ledger measures how many usage reports per second the ledger books on
// a throwaway, durable PostgreSQL, and compares it in the same run with pgbench's TPC-B-like
// workload against the same server (docs/design.md §6).
//
// It starts its own server (fsync on) and initialises pgbench's tables (`pgbench -i -s 10`) in
// another database of it. It runs `pgbench -c 8 -j 2 -T <duration>` there, then books reports of
// 10 contributors each from concurrent clients with PostUsageBatch for the same time, optionally
// measures single PostUsage calls (coalesced by group commit) for a while, and runs pgbench
// again. pgbench_tps is the mean of its two runs: other processes share the machine, and a
// change of load during the run then weighs on both sides alike. It ends with
//
//	RESULT ledger reports_per_s=<n> postings_per_s=<n> pgbench_tps=<n> ratio=<reports_per_s / pgbench_tps>
//
// Run it with `make bench-ledger`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/internal/pgbench"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtmp"
	"github.com/openroyalty/royalty/internal/version"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/postgres"
)

type options struct {
	duration        time.Duration
	singlesDuration time.Duration
	clients         int
	batch           int
	perReport       int
	identities      int
	claimed         int
	pgbenchScale    int
	cpuProfile      string
	statements      bool
	evidence        bool
	flushers        int
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "how long each measured phase runs (ledger batches, pgbench)")
	flag.DurationVar(&o.singlesDuration, "singles-duration", 10*time.Second, "how long to measure single PostUsage calls (group commit); 0 skips it")
	flag.IntVar(&o.clients, "clients", 8, "concurrent clients")
	flag.IntVar(&o.batch, "batch", 100, "reports per PostUsageBatch call")
	flag.IntVar(&o.perReport, "contributors", 10, "credited identities per report")
	flag.IntVar(&o.identities, "identities", 2000, "identities the reports credit")
	flag.IntVar(&o.claimed, "claimed", 500, "identities owned by contributors (the rest credit escrow)")
	flag.IntVar(&o.pgbenchScale, "pgbench-scale", 10, "pgbench scale factor")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the ledger phase (the Go client side) to this file")
	flag.IntVar(&o.flushers, "flushers", 0, "group-commit transactions in flight for single PostUsage calls (0: the ledger's default)")
	flag.BoolVar(&o.evidence, "evidence", true, "attach an evidence span per credited identity, as attribution does")
	flag.BoolVar(&o.statements, "statements", false, "load pg_stat_statements and print where the server's time went")
	version.Flag("royalty-bench-ledger")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-ledger:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	settings := map[string]string{}
	if o.statements {
		settings["shared_preload_libraries"] = "pg_stat_statements"
		settings["pg_stat_statements.track"] = "all"
	}
	say("starting a throwaway durable PostgreSQL (fsync on)")
	srv, err := pgtmp.Start(ctx, pgtmp.Options{Durable: true, Settings: settings, Logger: log})
	if err != nil {
		return err
	}
	defer srv.Stop()
	dsn, err := srv.CreateMigrated(ctx, "ledger")
	if err != nil {
		return err
	}
	pool, err := openPool(ctx, dsn, o.clients+8)
	if err != nil {
		return err
	}
	defer pool.Close()
	store, err := wire.OpenLedger(pool, log, postgres.Config{GroupCommit: postgres.GroupCommit{Flushers: o.flushers}})
	if err != nil {
		return err
	}
	defer store.Close()
	w, err := setup(ctx, pool, store, o)
	if err != nil {
		return err
	}
	say("postgres %s on port %d; %d identities (%d claimed by %d contributors), %d clients, %d per batch, %d contributors per report",
		filepath.Base(filepath.Dir(srv.BinDir())), srv.Port(), o.identities, o.claimed, len(w.contributors), o.clients, o.batch, o.perReport)
	if o.statements {
		if _, err := pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
			return err
		}
	}

	if err := initPgbench(ctx, srv, o); err != nil {
		return err
	}
	tpsBefore, err := runPgbench(ctx, srv, o)
	if err != nil {
		return err
	}
	say("pgbench before the ledger (TPC-B-like, scale %d, %d clients, %s): %.0f tps", o.pgbenchScale, o.clients, o.duration, tpsBefore)

	// Warm up (caches, prepared statements, account rows), then measure.
	if _, err := w.drive(ctx, 2*time.Second, o, true); err != nil {
		return err
	}
	if o.statements {
		if _, err := pool.Exec(ctx, `SELECT pg_stat_statements_reset()`); err != nil {
			return err
		}
	}
	var prof *os.File
	if o.cpuProfile != "" {
		if prof, err = os.Create(o.cpuProfile); err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(prof); err != nil {
			return err
		}
	}
	res, err := w.drive(ctx, o.duration, o, true)
	if prof != nil {
		pprof.StopCPUProfile()
		prof.Close()
	}
	if err != nil {
		return err
	}
	say("ledger (PostUsageBatch of %d): %d reports, %d postings in %.1fs: %.0f reports/s, %.0f postings/s, batch latency p50 %s p99 %s",
		o.batch, res.reports, res.postings, res.elapsed.Seconds(), res.reportsPerS(), res.postingsPerS(), res.p(0.5), res.p(0.99))
	if o.statements {
		if err := printStatements(ctx, pool); err != nil {
			return err
		}
	}
	if o.singlesDuration > 0 {
		single, err := w.drive(ctx, o.singlesDuration, o, false)
		if err != nil {
			return err
		}
		say("ledger (single PostUsage, group commit): %d reports in %.1fs: %.0f reports/s, latency p50 %s p99 %s",
			single.reports, single.elapsed.Seconds(), single.reportsPerS(), single.p(0.5), single.p(0.99))
	}

	tpsAfter, err := runPgbench(ctx, srv, o)
	if err != nil {
		return err
	}
	tps := (tpsBefore + tpsAfter) / 2
	say("pgbench after the ledger: %.0f tps; mean %.0f tps", tpsAfter, tps)
	fmt.Printf("RESULT ledger reports_per_s=%.0f postings_per_s=%.0f pgbench_tps=%.0f ratio=%.2f\n",
		res.reportsPerS(), res.postingsPerS(), tps, res.reportsPerS()/tps)
	return nil
}

func openPool(ctx context.Context, dsn string, conns int) (*pgxpool.Pool, error) {
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	cfg := pool.Config()
	pool.Close()
	cfg.MaxConns = int32(conns)
	return pgxpool.NewWithConfig(ctx, cfg)
}

// workload is the cast: one provider (the hard case: every report debits the same account),
// contributors owning some identities, and identities the reports credit.
type workload struct {
	store        *postgres.Store
	provider     string
	contributors []string
	identities   []string
	seq          atomic.Int64
}

func setup(ctx context.Context, pool *pgxpool.Pool, store *postgres.Store, o options) (*workload, error) {
	w := &workload{store: store}
	if err := pool.QueryRow(ctx, `INSERT INTO principals (name, role) VALUES ('bench provider', 'provider') RETURNING id`).Scan(&w.provider); err != nil {
		return nil, err
	}
	for i := 0; i < o.claimed/5+1; i++ {
		var id string
		if err := pool.QueryRow(ctx, `INSERT INTO principals (name, role) VALUES ($1, 'contributor') RETURNING id`, fmt.Sprintf("contributor %d", i)).Scan(&id); err != nil {
			return nil, err
		}
		w.contributors = append(w.contributors, id)
	}
	for i := 0; i < o.identities; i++ {
		w.identities = append(w.identities, fmt.Sprintf("stackexchange:bench/%d", i))
	}
	for i := 0; i < o.claimed && i < o.identities; i++ {
		if _, err := store.ReleaseEscrow(ctx, ledger.EscrowReleaseRequest{IdentityKey: w.identities[i], ContributorID: w.contributors[i%len(w.contributors)]}); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// report builds one usage report: perReport identities, shares of 1/(2·perReport) each (half of
// the response attributed), with evidence, and a revenue of a few hundredths of a cent.
func (w *workload) report(rng *rand.Rand, perReport int, evidence bool) ledger.UsageRequest {
	n := w.seq.Add(1)
	req := ledger.UsageRequest{
		ProviderID: w.provider, RequestID: "bench-" + strconv.FormatInt(n, 10), ModelID: "bench-model", ModelVersionHash: "sha256:bench",
		InputTokens: 200, OutputTokens: 300, Revenue: decimal.New(300+rng.Int64N(900), -6), Currency: "USD",
		AttributionRef: "bench", Algorithm: "winnow-k5-w4",
	}
	share := big.NewRat(1, int64(2*perReport))
	for _, i := range distinct(rng, perReport, len(w.identities)) {
		key := w.identities[i]
		req.Shares = append(req.Shares, ledger.Share{IdentityKey: key, Share: share, Words: big.NewRat(15, 1)})
		if !evidence {
			continue
		}
		req.Evidence = append(req.Evidence, ledger.Evidence{IdentityKey: key, PostID: "stackexchange:bench/post/" + strconv.Itoa(i),
			PostURL: "https://bench.stackexchange.com/a/" + strconv.Itoa(i), ResponseStart: 10, ResponseEnd: 90, ResponseWordStart: 2,
			ResponseWordEnd: 17, SourceStart: 100, SourceEnd: 180, Text: "fifteen words of the response that came from this post and nowhere else"})
	}
	return req
}

// distinct draws k distinct indices below n.
func distinct(rng *rand.Rand, k, n int) []int {
	out := make([]int, 0, k)
	for len(out) < k {
		i := rng.IntN(n)
		if !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	return out
}

type result struct {
	reports, postings int64
	elapsed           time.Duration
	latencies         []time.Duration
}

func (r result) reportsPerS() float64  { return float64(r.reports) / r.elapsed.Seconds() }
func (r result) postingsPerS() float64 { return float64(r.postings) / r.elapsed.Seconds() }

func (r result) p(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	l := append([]time.Duration(nil), r.latencies...)
	slices.Sort(l)
	return l[int(q*float64(len(l)-1))].Round(100 * time.Microsecond)
}

// drive runs o.clients clients for d, each booking batches (or single reports) back to back.
func (w *workload) drive(ctx context.Context, d time.Duration, o options, batched bool) (result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	deadline := time.Now().Add(d)
	var mu sync.Mutex
	var res result
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < o.clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			var reports, postings int64
			var lat []time.Duration
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				if batched {
					reqs := make([]ledger.UsageRequest, o.batch)
					for i := range reqs {
						reqs[i] = w.report(rng, o.perReport, o.evidence)
					}
					t0 = time.Now()
					out, err := w.store.PostUsageBatch(ctx, reqs)
					if err != nil {
						mu.Lock()
						firstErr = errors.Join(firstErr, err)
						mu.Unlock()
						cancel()
						return
					}
					for _, r := range out {
						postings += int64(len(r.Usage.Postings))
					}
					reports += int64(len(out))
				} else {
					req := w.report(rng, o.perReport, o.evidence)
					t0 = time.Now()
					out, err := w.store.PostUsage(ctx, req)
					if err != nil {
						mu.Lock()
						firstErr = errors.Join(firstErr, err)
						mu.Unlock()
						cancel()
						return
					}
					postings += int64(len(out.Usage.Postings))
					reports++
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.reports += reports
			res.postings += postings
			res.latencies = append(res.latencies, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res, firstErr
}

// initPgbench creates pgbench's database and tables on srv.
func initPgbench(ctx context.Context, srv *pgtmp.Server, o options) error {
	fmt.Printf("pgbench -i -s %d\n", o.pgbenchScale)
	return pgbench.Init(ctx, srv, o.pgbenchScale)
}

// runPgbench runs pgbench's TPC-B-like workload for the measured duration and returns its tps.
func runPgbench(ctx context.Context, srv *pgtmp.Server, o options) (float64, error) {
	fmt.Printf("pgbench -c %d -j 2 -T %d\n", o.clients, int(o.duration.Round(time.Second).Seconds()))
	return pgbench.Run(ctx, srv, o.clients, o.duration)
}

// printStatements prints the statements that took the server's time during the ledger phase.
func printStatements(ctx context.Context, pool *pgxpool.Pool) error {
	rows, err := pool.Query(ctx, `
		SELECT calls, total_exec_time, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 110)
		FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12`)
	if err != nil {
		return err
	}
	defer rows.Close()
	fmt.Println("server time by statement (pg_stat_statements):")
	for rows.Next() {
		var calls, n int64
		var ms float64
		var q string
		if err := rows.Scan(&calls, &ms, &n, &q); err != nil {
			return err
		}
		fmt.Printf("  %8.0f ms %7d calls %9d rows  %s\n", ms, calls, n, q)
	}
	return rows.Err()
}
