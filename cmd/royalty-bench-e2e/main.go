// Command royalty-bench-e2e measures the whole path of a usage report through the real server:
// a provider's ReportUsage call is authenticated, its response attributed against a Bleve
// index of at least 200,000 posts and booked exactly once in a durable PostgreSQL, with the
// journal sealer running, all in `royalty serve` as a separate process.
//
// It starts a throwaway durable PostgreSQL (internal/pgtmp), builds the royalty binary, runs
// `royalty migrate`, ingests the real Stack Exchange dumps of ../shared/data/stackexchange with
// `royalty ingest --format stackexchange` and then synthetic posts (a word model of the same
// dumps, attribution/eval) written as JSON lines and ingested with `royalty ingest --format
// jsonl` until the index holds -posts posts. It then starts `royalty serve`, waits for health
// SERVING, and drives ReportUsage with its own clients: -clients phases over gRPC (8 and 32 by
// default) and one over HTTP/JSON (-http-clients), -duration each, every call a response of
// about 90 words copying about three spans of indexed posts, with a unique request id.
// pgbench (TPC-B-like, -pgbench-scale, -pgbench-clients) runs for -duration against the same
// server before and after the whole load; pgbench_tps is the mean of the two runs.
//
// Each phase ends with a line
//
//	RESULT e2e transport=<grpc|http> clients=<n> reports_per_s=<n> p50_ms=<n> p99_ms=<n> pgbench_tps=<n> ratio=<reports_per_s / pgbench_tps>
//
// and the errors of the phase counted by code. When a call fails with UNAVAILABLE, the server
// log lines around it are printed.
//
// With -lineage-clients n it also compares, in the same run, usage reporting without and with
// training lineage (issue 21): the provider gets a feedback rate and a second model version
// lineage over two epochs, then n gRPC clients report for one version or the other in
// alternating slices (-duration of each in all); the last line is
//
//	RESULT e2e-lineage clients=<n> slices=<n> without_per_s=<n> with_per_s=<n> without_p50_ms=<n> with_p50_ms=<n> ratio=<with / without>
//
// With -dryrun-clients n (8 by default) a last phase sends the same responses to
// AttributionService.Attribute, a dry run: authentication, attribution and gRPC as in
// ReportUsage, and nothing booked. Its line comes before the others:
//
//	RESULT e2e-dryrun clients=<n> calls_per_s=<n> p50_ms=<n> p99_ms=<n> pgbench_tps=<n> ratio=<calls_per_s / pgbench_tps>
//
// Its ratio bounds what ReportUsage could reach if booking cost nothing.
//
// Every phase also prints the CPU each part used per report (server, PostgreSQL, this load
// generator, the rest of the machine), read from /proc, and from serve's
// royalty_ledger_group_commit_* metrics the reports per batch and where a report's time in the
// ledger went; each pgbench run prints its CPU per transaction alike. -serve-args passes extra
// flags to royalty serve; -tls serves and calls the API over TLS.
//
// Run it with `make bench-e2e`; `-posts 20000 -duration 5s` makes a quick run; `-profile FILE`
// writes a CPU profile of the server during the first phase (serve's --pprof-addr).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/openroyalty/royalty/internal/version"
)

type options struct {
	posts          int
	duration       time.Duration
	warmup         time.Duration
	clients        []int
	httpClients    int
	pgbenchScale   int
	pgbenchClients int
	seed           uint64
	data           string
	serverLogLevel string
	keep           bool
	sources        int
	profile        string
	lineageClients int
	dryrunClients  int
	tls            bool
	serveArgs      []string
	pgStatements   int
}

func main() {
	var o options
	var clients string
	flag.IntVar(&o.posts, "posts", 200_000, "posts in the index: the real dumps plus synthetic posts up to this many")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "how long each load phase and each pgbench run lasts")
	flag.DurationVar(&o.warmup, "warmup", 15*time.Second, "unmeasured load before the first phase (index files, the per-segment author caches, prepared statements)")
	flag.StringVar(&clients, "clients", "8,32", "comma-separated client counts of the gRPC phases")
	flag.IntVar(&o.httpClients, "http-clients", 8, "clients of the HTTP/JSON phase; 0 skips it")
	flag.IntVar(&o.pgbenchScale, "pgbench-scale", 10, "pgbench scale factor")
	flag.IntVar(&o.pgbenchClients, "pgbench-clients", 8, "pgbench clients")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the synthetic corpus and of the responses")
	flag.StringVar(&o.data, "data", "", "Stack Exchange dumps (default ../shared/data/stackexchange)")
	flag.StringVar(&o.serverLogLevel, "server-log-level", "info", "--log-level of royalty serve (its log is read when calls fail)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (index, server log; the throwaway database is removed) and print its path")
	flag.IntVar(&o.sources, "sources", 50_000, "indexed posts (of at least 30 words) the responses copy from, drawn at random")
	flag.StringVar(&o.profile, "profile", "", "write a CPU profile of royalty serve during the first load phase to this file (go tool pprof reads it)")
	version.Flag("royalty-bench-e2e")
	flag.IntVar(&o.lineageClients, "lineage-clients", 0, "gRPC clients of the lineage comparison: alternating slices of reports for a model version without training lineage and one with lineage and a feedback rate (every report also books feedback pools); 0 skips it")
	flag.IntVar(&o.dryrunClients, "dryrun-clients", 8, "gRPC clients of a last phase that sends the same responses to AttributionService.Attribute (a dry run that books nothing); 0 skips it")
	flag.BoolVar(&o.tls, "tls", false, "serve the API over TLS (a throwaway certificate for 127.0.0.1) and call it over TLS")
	flag.IntVar(&o.pgStatements, "pg-statements", 0, "load pg_stat_statements into PostgreSQL and print the n statements of royalty's database that took the most time over the measured phases; 0 leaves it out")
	serveArgs := flag.String("serve-args", "", "extra flags of royalty serve, separated by spaces (e.g. \"--group-commit-flushers 2\")")
	flag.Parse()
	o.serveArgs = strings.Fields(*serveArgs)
	for _, s := range strings.Split(clients, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench-e2e: bad -clients %q\n", s)
			os.Exit(2)
		}
		o.clients = append(o.clients, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) {
	fmt.Printf("%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, o options) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := setup(ctx, o, log)
	if b != nil {
		defer b.cleanup()
	}
	if err != nil {
		return err
	}

	tpsBefore, err := b.pgbench(ctx)
	if err != nil {
		return err
	}
	say("pgbench before the load (TPC-B-like, scale %d, %d clients, %s): %.0f tps", o.pgbenchScale, o.pgbenchClients, o.duration, tpsBefore)

	type phase struct {
		transport string
		clients   int
	}
	var phases []phase
	for _, c := range o.clients {
		phases = append(phases, phase{"grpc", c})
	}
	if o.httpClients > 0 {
		phases = append(phases, phase{"http", o.httpClients})
	}
	if o.dryrunClients > 0 {
		phases = append(phases, phase{"dryrun", o.dryrunClients})
	}
	if len(phases) == 0 && o.lineageClients == 0 {
		return fmt.Errorf("no load phase: give -clients, -http-clients, -dryrun-clients or -lineage-clients")
	}
	if o.warmup > 0 && len(phases) > 0 {
		say("warm-up: %s of %d %s clients, not measured", o.warmup, phases[0].clients, phases[0].transport)
		if _, err := b.drive(ctx, "warmup", phases[0].transport, phases[0].clients, o.warmup); err != nil {
			return err
		}
	}
	if err := b.resetStatements(ctx); err != nil {
		return err
	}
	var results []phaseResult
	for i, p := range phases {
		say("load: %d %s clients for %s", p.clients, p.transport, o.duration)
		var profiled chan error
		if i == 0 && o.profile != "" {
			profiled = make(chan error, 1)
			go func() { profiled <- b.cpuProfile(ctx, o.profile, o.duration) }()
		}
		txsBefore, err := b.usageTransactions(ctx)
		if err != nil {
			return err
		}
		cpuBefore, gcBefore := b.sampleCPU(), b.groupCommitSample(ctx)
		r, err := b.drive(ctx, p.transport+strconv.Itoa(p.clients), p.transport, p.clients, o.duration)
		if err != nil {
			return err
		}
		cpuAfter, gcAfter := b.sampleCPU(), b.groupCommitSample(ctx)
		txsAfter, err := b.usageTransactions(ctx)
		if err != nil {
			return err
		}
		if profiled != nil {
			if err := <-profiled; err != nil {
				say("CPU profile: %v", err)
			} else {
				say("CPU profile of royalty serve during this phase: %s", o.profile)
			}
		}
		what := "reports booked"
		if p.transport == "dryrun" {
			what = "responses attributed without booking"
		}
		say("%s %d clients: %d %s (%d replays) in %.1fs: %.0f calls/s, latency p50 %.1f ms p99 %.1f ms max %.1f ms; %d attributed to at least one post",
			p.transport, p.clients, r.ok, what, r.replayed, r.elapsed.Seconds(), r.perS(), r.p(0.5), r.p(0.99), r.p(1), r.credited)
		say("  errors by code: %s", r.errorSummary())
		say("  %s", cpuSplit(cpuBefore, cpuAfter, r.ok))
		say("  %s", b.sealState(ctx))
		if n := txsAfter[1] - txsBefore[1]; n > 0 {
			say("  %d reports in %d database transactions: %.1f reports per transaction (group commit)", txsAfter[0]-txsBefore[0], n, float64(txsAfter[0]-txsBefore[0])/float64(n))
			say("  %s", groupCommitSplit(gcBefore, gcAfter))
		}
		results = append(results, r)
		b.explainUnavailable(r)
	}

	var lineage *lineageResult
	if o.lineageClients > 0 {
		if lineage, err = b.lineagePhases(ctx, o.lineageClients, o.duration); err != nil {
			return err
		}
	}

	if err := b.printStatements(ctx); err != nil {
		return err
	}
	tpsAfter, err := b.pgbench(ctx)
	if err != nil {
		return err
	}
	tps := (tpsBefore + tpsAfter) / 2
	say("pgbench after the load: %.0f tps; mean %.0f tps", tpsAfter, tps)
	if err := b.serverStop(); err != nil {
		say("stopping royalty serve: %v", err)
	}
	if o.keep {
		say("work directory kept: %s (server log %s)", b.work, b.logPath)
	}
	for _, r := range results {
		if r.transport == "dryrun" {
			fmt.Printf("RESULT e2e-dryrun clients=%d calls_per_s=%.0f p50_ms=%.1f p99_ms=%.1f pgbench_tps=%.0f ratio=%.3f\n",
				r.clients, r.perS(), r.p(0.5), r.p(0.99), tps, r.perS()/tps)
		}
	}
	for _, r := range results {
		if r.transport == "dryrun" {
			continue
		}
		fmt.Printf("RESULT e2e transport=%s clients=%d reports_per_s=%.0f p50_ms=%.1f p99_ms=%.1f pgbench_tps=%.0f ratio=%.3f\n",
			r.transport, r.clients, r.perS(), r.p(0.5), r.p(0.99), tps, r.perS()/tps)
	}
	if lineage != nil {
		lineage.print()
	}
	return nil
}

// get sends a GET to url and returns the body of a 200 answer, which the caller closes.
func get(ctx context.Context, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", req.URL.Path, resp.Status)
	}
	return resp.Body, nil
}

// cpuProfile fetches a CPU profile of the server over most of a phase of duration d (its first
// and last second left out) and writes it to path.
func (b *bench) cpuProfile(ctx context.Context, path string, d time.Duration) error {
	secs := max(1, int((d - 2*time.Second).Seconds()))
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	body, err := get(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.pprofAddr, secs))
	if err != nil {
		return err
	}
	defer body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sealState says how far the journal and the balance fence are behind the newest transaction.
func (b *bench) sealState(ctx context.Context) string {
	var unsealed int64
	var newest, fence *time.Time
	err := b.db.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM ledger_transactions AS t WHERE NOT EXISTS (SELECT 1 FROM journal_leaves AS l WHERE l.transaction_id = t.id)),
		       (SELECT max(created_at) FROM ledger_transactions),
		       (SELECT fence FROM ledger_balance_fences ORDER BY journal_size DESC LIMIT 1)`).Scan(&unsealed, &newest, &fence)
	if err != nil {
		return "reading the journal's state: " + err.Error()
	}
	lag := "no balance fence yet"
	if fence != nil && newest != nil {
		lag = fmt.Sprintf("the balance fence %.1f s behind the newest transaction", newest.Sub(*fence).Seconds())
	}
	return fmt.Sprintf("at the end: %d transactions not sealed yet; %s", unsealed, lag)
}

// usageTransactions counts the usage reports booked and the database transactions that booked
// them: the reports of one group-commit transaction share its created_at.
func (b *bench) usageTransactions(ctx context.Context) ([2]int64, error) {
	var n [2]int64
	err := b.db.QueryRow(ctx, `SELECT count(*), count(DISTINCT created_at) FROM ledger_transactions WHERE kind = 'usage'`).Scan(&n[0], &n[1])
	return n, err
}
