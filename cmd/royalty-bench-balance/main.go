// Command royalty-bench-balance measures GetBalance's read (ledger/postgres Store.Balances, what
// LedgerService.GetBalance calls) for an account with 10,000 postings and one with 10,000,000 in
// the same run, on a throwaway PostgreSQL (docs/design.md §8: a balance is the newest balance
// checkpoint plus the postings after the fence, whatever the history). The goal is a ratio of
// at most 2.
//
// The history is bulk-loaded with COPY: transactions of -per-tx postings crediting the account,
// each balanced by a debit of a provider account, spaced one second apart in the past. The
// journal's real sealer then seals it in blocks, writing the balance checkpoints as it does in
// production, and -tail usage reports booked through the ledger credit both accounts and stay
// unsealed, so every call reads a checkpoint and a tail. The calls alternate between the two
// accounts. As the baseline, the same run times the full sum of every posting (the read before
// checkpoints) for both accounts. It ends with
//
//	RESULT balance p50_small_ms=<n> p50_big_ms=<n> full_small_ms=<n> full_big_ms=<n> small=<postings> big=<postings> ratio=<p50_big / p50_small>
//
// Run it with `make bench-balance`.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtmp"
	"github.com/openroyalty/royalty/internal/version"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/journal"
	journalpg "github.com/openroyalty/royalty/ledger/journal/postgres"
	"github.com/openroyalty/royalty/ledger/postgres"
)

type options struct {
	small, big int
	perTx      int
	tail       int
	calls      int
	fullBig    int
	maxBlock   int
	explain    bool
}

func main() {
	var o options
	flag.IntVar(&o.small, "small", 10_000, "postings of the small account")
	flag.IntVar(&o.big, "big", 10_000_000, "postings of the big account")
	flag.IntVar(&o.perTx, "per-tx", 1000, "postings crediting the account per bulk-loaded transaction")
	flag.IntVar(&o.tail, "tail", 20, "usage reports crediting both accounts booked after the last seal (the unsealed tail)")
	flag.IntVar(&o.calls, "calls", 300, "balance reads per account")
	flag.IntVar(&o.fullBig, "full-big", 2, "full sums of the big account for the baseline (each reads every posting)")
	flag.IntVar(&o.maxBlock, "max-block", 100, "transactions per sealed block while sealing the history")
	flag.BoolVar(&o.explain, "explain", true, "print PostgreSQL's plans of the balance read's queries for both accounts")
	version.Flag("royalty-bench-balance")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-balance:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) { fmt.Printf(format+"\n", args...) }

func run(ctx context.Context, o options) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	say("starting a throwaway PostgreSQL")
	srv, err := pgtmp.Start(ctx, pgtmp.Options{Logger: log})
	if err != nil {
		return err
	}
	defer srv.Stop()
	dsn, err := srv.CreateMigrated(ctx, "balance")
	if err != nil {
		return err
	}
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	store, err := postgres.New(pool, log, postgres.Config{GroupCommit: postgres.GroupCommit{Disabled: true}})
	if err != nil {
		return err
	}
	defer store.Close()
	priv, err := journal.GenerateKey(nil)
	if err != nil {
		return err
	}
	sealer := journalpg.NewSealer(pool, journal.NewSigner(priv), log, journalpg.SealerConfig{Margin: -1, MaxBlock: o.maxBlock})

	// The cast: a provider and two contributors, each owning one identity.
	var provider string
	if err := pool.QueryRow(ctx, `INSERT INTO principals (name, role) VALUES ('bench provider', 'provider') RETURNING id`).Scan(&provider); err != nil {
		return err
	}
	type acct struct {
		name, contributor, identity, address string
		id                                   uuid.UUID
		postings                             int
	}
	accts := []*acct{{name: "small", postings: o.small}, {name: "big", postings: o.big}}
	for _, a := range accts {
		if err := pool.QueryRow(ctx, `INSERT INTO principals (name, role) VALUES ($1, 'contributor') RETURNING id`, "bench "+a.name).Scan(&a.contributor); err != nil {
			return err
		}
		a.identity, a.address = "bench:"+a.name+"/1", ledger.ContributorAccount(a.contributor)
		if _, err := store.ReleaseEscrow(ctx, ledger.EscrowReleaseRequest{IdentityKey: a.identity, ContributorID: a.contributor}); err != nil {
			return err
		}
	}
	report := func(i int) error {
		req := ledger.UsageRequest{
			ProviderID: provider, RequestID: fmt.Sprintf("r-%d", i), ModelID: "m", ModelVersionHash: "sha256:x",
			InputTokens: 10, OutputTokens: 30, Revenue: decimal.RequireFromString("0.01"), Currency: "USD",
			Shares: []ledger.Share{{IdentityKey: accts[0].identity, Share: big.NewRat(1, 3)}, {IdentityKey: accts[1].identity, Share: big.NewRat(1, 3)}},
		}
		_, err := store.PostUsage(ctx, req)
		return err
	}
	if err := report(0); err != nil { // creates the provider's accounts
		return err
	}
	for _, a := range append(accts, &acct{address: ledger.ProviderAccount(provider)}) {
		if err := pool.QueryRow(ctx, `SELECT id FROM ledger_accounts WHERE address = $1`, a.address).Scan(&a.id); err != nil {
			return fmt.Errorf("account %s: %w", a.address, err)
		}
		if a.name == "" {
			accts = append(accts, a)
		}
	}
	providerAcct := accts[2]
	accts = accts[:2]

	// Bulk-load the histories with COPY.
	start := time.Now()
	origin := time.Now().Add(-time.Duration(o.small+o.big)/time.Duration(o.perTx)*time.Second - time.Hour).UTC().Truncate(time.Second)
	seq := 0
	for _, a := range accts {
		if err := load(ctx, pool, provider, providerAcct.id, a.id, a.postings, o.perTx, origin, &seq); err != nil {
			return err
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		return err
	}
	say("loaded %d + %d postings with COPY in %s", o.small, o.big, time.Since(start).Round(time.Second))

	// Seal the history with the real sealer: leaves, signed checkpoints, balance checkpoints.
	start = time.Now()
	sealed, err := sealer.SealPending(ctx)
	if err != nil {
		return err
	}
	say("sealed %d transactions in %s", sealed, time.Since(start).Round(time.Second))
	for i := 1; i <= o.tail; i++ {
		if err := report(i); err != nil {
			return err
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		return err
	}

	// Check once that both reads agree, then time them, alternating.
	for _, a := range accts {
		full, err := store.FullBalance(ctx, a.address)
		if err != nil {
			return err
		}
		bs, err := store.Balances(ctx, a.address, time.Time{})
		if err != nil {
			return err
		}
		if len(bs) != 1 || !bs[0].Balance.Equal(full["USD"].Neg()) {
			return fmt.Errorf("%s: balance through checkpoints %v, full sum %v", a.name, bs, full)
		}
		say("%s account: %d postings, balance %s USD (checkpoint + %d unsealed reports = full sum)", a.name, a.postings, bs[0].Balance, o.tail)
	}
	if o.explain {
		var fence time.Time
		if err := pool.QueryRow(ctx, `SELECT fence FROM ledger_balance_fences ORDER BY journal_size DESC LIMIT 1`).Scan(&fence); err != nil {
			return err
		}
		for _, a := range accts {
			for _, q := range []string{
				`SELECT currency, debits, credits, postings FROM ledger_balance_checkpoints WHERE account_id = $1 AND journal_size = (SELECT max(journal_size) FROM ledger_balance_checkpoints WHERE account_id = $1)`,
				`SELECT transaction_id, currency, amount FROM ledger_postings WHERE account_id = $1 AND created_at >= $2`,
			} {
				args := []any{a.id}
				if strings.Contains(q, "$2") {
					args = append(args, fence)
				}
				rows, err := pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q, args...)
				if err != nil {
					return err
				}
				plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					return err
				}
				say("plan for the %s account:\n  %s", a.name, strings.Join(plan, "\n  "))
			}
		}
	}
	times := [2][]time.Duration{}
	for i := 0; i < o.calls+20; i++ {
		for j, a := range accts {
			t0 := time.Now()
			if _, err := store.Balances(ctx, a.address, time.Time{}); err != nil {
				return err
			}
			if i >= 20 { // the first 20 warm up
				times[j] = append(times[j], time.Since(t0))
			}
		}
	}
	full := [2][]time.Duration{}
	for j, a := range accts {
		n := 20
		if j == 1 {
			n = o.fullBig
		}
		for i := 0; i < n; i++ {
			t0 := time.Now()
			if _, err := store.FullBalance(ctx, a.address); err != nil {
				return err
			}
			full[j] = append(full[j], time.Since(t0))
		}
	}
	p50s, p50b := pct(times[0], 50), pct(times[1], 50)
	say("GetBalance through checkpoints: small p50 %.3f ms p99 %.3f ms; big p50 %.3f ms p99 %.3f ms (%d calls each)",
		ms(p50s), ms(pct(times[0], 99)), ms(p50b), ms(pct(times[1], 99)), o.calls)
	say("baseline, full sum of every posting: small p50 %.3f ms; big p50 %.1f ms (%d calls)", ms(pct(full[0], 50)), ms(pct(full[1], 50)), o.fullBig)
	fmt.Printf("RESULT balance p50_small_ms=%.3f p50_big_ms=%.3f full_small_ms=%.3f full_big_ms=%.1f small=%d big=%d ratio=%.2f\n",
		ms(p50s), ms(p50b), ms(pct(full[0], 50)), ms(pct(full[1], 50)), o.small, o.big, float64(p50b)/float64(p50s))
	return nil
}

// load writes postings crediting account in transactions of perTx postings, each balanced by one
// debit of the provider account, one second apart from origin on.
func load(ctx context.Context, pool *pgxpool.Pool, provider string, providerAcct, account uuid.UUID, postings, perTx int, origin time.Time, seq *int) error {
	amount := decimal.New(-1, -6) // -0.000001 per posting
	hash := make([]byte, 32)
	var txIDs []uuid.UUID
	var stamps []time.Time
	for left := postings; left > 0; left -= perTx {
		txIDs = append(txIDs, uuid.New())
		stamps = append(stamps, origin.Add(time.Duration(*seq)*time.Second))
		*seq++
	}
	i := 0
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"ledger_transactions"},
		[]string{"id", "kind", "principal_id", "request_id", "payload_hash", "created_at", "metadata"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(txIDs) {
				return nil, nil
			}
			row := []any{txIDs[i], "usage", provider, fmt.Sprintf("bulk-%s", txIDs[i]), hash, stamps[i], "{}"}
			i++
			return row, nil
		}))
	if err != nil {
		return fmt.Errorf("copying transactions: %w", err)
	}
	tx, n, left := 0, 0, postings
	var k int
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"ledger_postings"},
		[]string{"transaction_id", "n", "account_id", "currency", "amount", "created_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if tx == len(txIDs) {
				return nil, nil
			}
			if n == 0 { // the balancing debit of the provider
				k = min(perTx, left)
				n++
				return []any{txIDs[tx], 0, providerAcct, "USD", amount.Mul(decimal.NewFromInt(int64(-k))), stamps[tx]}, nil
			}
			row := []any{txIDs[tx], n, account, "USD", amount, stamps[tx]}
			n++
			if n > k {
				left -= k
				tx, n = tx+1, 0
			}
			return row, nil
		}))
	if err != nil {
		return fmt.Errorf("copying postings: %w", err)
	}
	return nil
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
