// Command royalty-soak is royalty's reliability harness: it runs the real server under load and
// faults and then checks that nothing was lost or booked twice.
//
// It starts a throwaway durable PostgreSQL (internal/pgtmp, fsync on), builds and migrates
// royalty, ingests a small corpus (the in-repo sample and, when present, the Stack Exchange
// dumps bicycles.meta and conlang.meta in ../shared/data/stackexchange), and starts -replicas
// (default 2) `royalty serve` processes on the one database, each with --index=sql --follow
// (attribution reads the fingerprints in the database; each replica's search index follows the
// posts table, the second one built from it). Clients spread their calls over the replicas
// that are up and fail over while one is down.
// Then, for -duration (SOAK_DURATION, default 2m), concurrent providers report usage
// (ReportUsage and ReportUsageBatch, with retries of the same key, concurrent duplicates,
// conflicting payloads and reversals) and feedback events (-feedback: a quarter of the usage
// is of a model version with declared lineage, which credits feedback pools), contributors
// claim identities, have them approved and request payouts, an auditor exports the journal,
// and an admin ingests new posts, while faults are injected on a schedule that guarantees each
// kind at least once: pg_terminate_backend of the servers' PostgreSQL backends, a PostgreSQL
// restart (fast and immediate, alternately), SIGKILL of a replica picked at random followed by
// a restart, and client deadlines that expire mid-call.
//
// Afterwards every write whose outcome the client never learned is settled by a retry with
// the same key, the server is stopped, and the checker (internal/soak, ledger/ledgertest)
// holds the client's log against the books: every acknowledged write booked exactly once,
// every unknown one at most once and settled by its retry, postings summing to zero per
// transaction and currency, balances equal to the sums of their postings, journal exports
// complete and consistent, every replica's search index holding exactly the posts table's ids,
// every replica having booked attributed reports, the balance checkpoints verified (royalty
// verify balances), every feedback event stored once, and every feedback pool settled exactly
// once by concurrent settlers (with a clock past the pools' end, after the load). It ends
// with
//
//	RESULT soak reports=<n> acked=<n> lost=<n> duplicated=<n> faults=<n> p99_ms=<n>
//
// and exits non-zero when anything was lost or duplicated, a check failed, or a fault kind was
// never injected. Everything it starts lives under one temporary directory that is removed at
// the end, also when the harness is killed (pgtmp's watchdog).
//
// Run it with `make soak`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/openroyalty/royalty/internal/version"
)

type options struct {
	duration     time.Duration
	replicas     int
	feedback     bool
	providers    int
	workers      int
	contributors int
	rounds       int
	corpus       string
	seed         uint64
	verbose      bool
	keepLogs     string
}

func main() {
	o := options{duration: 2 * time.Minute}
	if s := os.Getenv("SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			fmt.Fprintf(os.Stderr, "soak: SOAK_DURATION=%q: %v\n", s, err)
			os.Exit(2)
		}
		o.duration = d
	}
	flag.DurationVar(&o.duration, "duration", o.duration, "how long the load runs (env SOAK_DURATION)")
	flag.IntVar(&o.replicas, "replicas", 2, "royalty serve replicas on the one database; with more than one, each runs with --index=sql --follow, the clients spread their calls over them, and the SIGKILL fault picks one at random")
	flag.BoolVar(&o.feedback, "feedback", true, "mix feedback royalties in: feedback rates, a model version with lineage, feedback events reported with retries; after the load every pool is settled and checked to be settled exactly once")
	flag.IntVar(&o.providers, "providers", 4, "provider principals reporting usage")
	flag.IntVar(&o.workers, "workers", 2, "concurrent reporting loops per provider")
	flag.IntVar(&o.contributors, "contributors", 4, "contributors claiming identities and requesting payouts")
	flag.IntVar(&o.rounds, "rounds", 0, "rounds of the three process faults (0: one per 40 s of -duration, at least 1)")
	flag.StringVar(&o.corpus, "corpus", "bicycles.meta,conlang.meta", "Stack Exchange dump folders under ../shared/data/stackexchange to ingest besides the sample corpus, comma-separated; missing ones are skipped (empty: the sample only)")
	flag.Uint64Var(&o.seed, "seed", uint64(time.Now().UnixNano()), "random seed")
	flag.BoolVar(&o.verbose, "v", false, "log every fault, claim and failed export")
	flag.StringVar(&o.keepLogs, "keep-logs", "", "on failure, copy the server's and PostgreSQL's logs into this directory (they are removed with the run's temporary directory otherwise)")
	version.Flag("royalty-soak")
	flag.Parse()
	if o.replicas < 1 {
		fmt.Fprintln(os.Stderr, "soak: -replicas must be at least 1")
		os.Exit(2)
	}
	if o.rounds == 0 {
		o.rounds = max(1, int(o.duration/(40*time.Second)))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// errFailed is returned after the RESULT line when a check failed; the details are printed.
var errFailed = errors.New("FAILED (see above)")

func run(ctx context.Context, o options) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := &soakRun{o: o, log: log, start: time.Now()}
	defer s.cleanup()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if err := s.setup(ctx, root); err != nil {
		return err
	}
	if err := s.load(ctx); err != nil {
		s.dumpLogs()
		return err
	}
	if err := s.settle(ctx); err != nil {
		s.dumpLogs()
		return err
	}
	if s.fb != nil {
		if err := s.settleFeedbackEvents(ctx); err != nil {
			s.dumpLogs()
			return err
		}
	}
	ok, err := s.check(ctx)
	if err != nil {
		s.dumpLogs()
		return err
	}
	if !ok {
		s.dumpLogs()
		return errFailed
	}
	return nil
}

// say prints a progress line with the time since the start.
func (s *soakRun) say(format string, args ...any) {
	fmt.Printf("soak %6.1fs  %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

// dumpLogs prints the end of the server's and PostgreSQL's logs, which are removed with the
// temporary directory, and copies them whole into -keep-logs.
func (s *soakRun) dumpLogs() {
	logs := map[string]string{}
	for _, sp := range s.servers {
		name := "royalty-serve-" + sp.name + ".log"
		logs[name] = readFile(sp.logPath)
		fmt.Fprintf(os.Stderr, "--- end of the log of royalty serve %s ---\n%s\n", sp.name, tail(logs[name], 6000/len(s.servers)))
	}
	if s.pg != nil {
		logs["postgres.log"] = readFile(filepath.Join(s.pg.Dir(), "postgres.log"))
		fmt.Fprintf(os.Stderr, "--- end of the PostgreSQL log ---\n%s\n", tail(logs["postgres.log"], 3000))
	}
	if s.o.keepLogs == "" {
		return
	}
	if err := os.MkdirAll(s.o.keepLogs, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "soak: -keep-logs:", err)
		return
	}
	for name, text := range logs {
		if err := os.WriteFile(filepath.Join(s.o.keepLogs, name), []byte(text), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "soak: -keep-logs:", err)
		}
	}
	fmt.Fprintf(os.Stderr, "soak: logs kept in %s\n", s.o.keepLogs)
}
