// Command royalty-bench-export measures the journal export: rows (postings) per second and the
// exporting process's peak memory, at two journal sizes to show that memory stays flat.
//
// It starts a throwaway PostgreSQL, bulk-loads ledger transactions with COPY (setup, not the
// ledger's write path: about five postings per transaction over a few thousand accounts), seals
// them with the real sealer (ledger/journal/postgres), and then, for each size, runs the export
// in a child process (this program again, so that its peak RSS is the export's alone) through
// csv.WriteJournal, the code behind AuditService.ExportJournal and `royalty export journal`,
// into a file. It verifies the last export offline as `royalty verify` does. Two baselines run
// in the same run, each with COPY … TO STDOUT (discarded):
//
//   - join: PostgreSQL itself writes the export's content as CSV, a five-table join of the
//     ledger tables (leaves, transactions, postings, accounts, checkpoints), one row per posting;
//   - leaves: PostgreSQL sends exactly the rows the export reads for a sealed journal: every
//     leaf with its stored leaf data (journal_leaves ⟕ journal_leaf_data, LeavesQuery without
//     its chunk bounds) and the checkpoints, in binary format as the export reads them. One row per transaction: the export's work of turning each into
//     its postings' CSV rows is what this baseline leaves out.
//
// Both are given in postings per second (the rows of the export) and as ratios, the baseline's
// time over the export's (above 1: the export is faster). It ends with
//
//	RESULT export rows=<n> rows_per_s=<n> peak_rss_mb=<n> join_rows_per_s=<n> ratio=<n> leaves_rows_per_s=<n> leaves_ratio=<n>
//
// for the largest size: ratio against the join, leaves_ratio against the leaf rows. Run it with
// `make bench-export`.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
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
	"github.com/openroyalty/royalty/ledger/csv"
	"github.com/openroyalty/royalty/ledger/journal"
	journalpg "github.com/openroyalty/royalty/ledger/journal/postgres"
)

type options struct {
	sizes     []int
	perTx     int
	accounts  int
	keep      bool
	childDSN  string
	childOut  string
	verify    bool
	blockSize int
	explain   bool
	profile   string
	trace     string
	hold      bool
}

func main() {
	var o options
	var sizes string
	flag.StringVar(&sizes, "sizes", "250000,1000000", "journal sizes to export, in postings, ascending")
	flag.IntVar(&o.perTx, "postings-per-tx", 5, "postings per transaction")
	flag.IntVar(&o.accounts, "accounts", 5000, "identity escrow accounts the transactions credit")
	flag.IntVar(&o.blockSize, "block", journalpg.DefaultMaxBlock, "transactions per sealed block")
	flag.BoolVar(&o.verify, "verify", true, "verify the largest export offline afterwards")
	flag.BoolVar(&o.keep, "keep", false, "keep the exported files (their paths are printed)")
	flag.BoolVar(&o.explain, "explain", false, "print PostgreSQL's plan of one export chunk")
	flag.BoolVar(&o.hold, "hold", false, "after loading the first size, print the database URL and wait for SIGINT (to experiment)")
	flag.StringVar(&o.childDSN, "child-export", "", "internal: export the journal at this DSN and report as JSON")
	flag.StringVar(&o.childOut, "child-out", "", "internal: the file the child writes")
	flag.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the last export (the child process) to this file")
	flag.StringVar(&o.trace, "trace", "", "write an execution trace of the last export (the child process) to this file")
	version.Flag("royalty-bench-export")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if o.childDSN != "" {
		err = child(ctx, o.childDSN, o.childOut, o.profile, o.trace)
	} else {
		for _, s := range strings.Split(sizes, ",") {
			n, perr := strconv.Atoi(strings.TrimSpace(s))
			if perr != nil || n <= 0 || (len(o.sizes) > 0 && n <= o.sizes[len(o.sizes)-1]) {
				fmt.Fprintf(os.Stderr, "bench-export: -sizes: want ascending positive numbers, got %q\n", sizes)
				os.Exit(2)
			}
			o.sizes = append(o.sizes, n)
		}
		err = run(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-export:", err)
		os.Exit(1)
	}
}

// childResult is what the export child reports.
type childResult struct {
	Rows    int64   `json:"rows"`
	Seconds float64 `json:"seconds"`
	Bytes   int64   `json:"bytes"`
	// PeakKB is the child's peak RSS from /proc/self/status (VmHWM), 0 where there is none.
	PeakKB int64 `json:"peak_kb"`
}

// peakRSSKB returns this process's peak resident set (VmHWM) in kB on Linux, or 0. The rusage
// of a child cannot tell: Go starts children with clone(CLONE_VM|CLONE_VFORK), and Linux carries
// the high-water mark of the memory left at exec (the parent's) into the child's ru_maxrss, so
// it reports the parent's peak whenever that is larger.
func peakRSSKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb
			}
		}
	}
	return 0
}

// child runs one export into out, the way `royalty export journal --out` does.
func child(ctx context.Context, dsn, out, profile, traceFile string) error {
	if traceFile != "" {
		tf, err := os.Create(traceFile)
		if err != nil {
			return err
		}
		defer tf.Close()
		if err := trace.Start(tf); err != nil {
			return err
		}
		defer trace.Stop()
	}
	if profile != "" {
		pf, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	cw := &countingWriter{w: f}
	start := time.Now()
	if err := csv.WriteJournal(ctx, journalpg.New(pool), time.Time{}, time.Time{}, cw); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	elapsed := time.Since(start)
	return json.NewEncoder(os.Stdout).Encode(childResult{Rows: cw.rows, Seconds: elapsed.Seconds(), Bytes: cw.n, PeakKB: peakRSSKB()})
}

// countingWriter counts bytes and CSV rows (line ends of rows; no exported cell holds CR LF).
type countingWriter struct {
	w    io.Writer
	n    int64
	rows int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.rows += int64(bytes.Count(p[:n], []byte{'\n'}))
	return n, err
}

func run(ctx context.Context, o options) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	say("starting a throwaway PostgreSQL")
	srv, err := pgtmp.Start(ctx, pgtmp.Options{Logger: log, Settings: map[string]string{"shared_buffers": "256MB", "work_mem": "64MB"}})
	if err != nil {
		return err
	}
	defer srv.Stop()
	dsn, err := srv.CreateMigrated(ctx, "export")
	if err != nil {
		return err
	}
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	dir, err := os.MkdirTemp("", "royalty-bench-export-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	priv, err := journal.GenerateKey(nil)
	if err != nil {
		return err
	}
	signer := journal.NewSigner(priv)
	sealer := journalpg.NewSealer(pool, signer, log, journalpg.SealerConfig{Margin: -1, MaxBlock: o.blockSize})
	l := &loader{pool: pool, perTx: o.perTx}
	if err := l.accounts(ctx, o.accounts); err != nil {
		return err
	}
	say("postgres on port %d; %d postings per transaction over %d escrow accounts; sealed blocks of up to %d transactions",
		srv.Port(), o.perTx, o.accounts, o.blockSize)

	cpu, haveCPU := newServerCPU(ctx, pool)
	serverUsed := func() time.Duration {
		if !haveCPU {
			return 0
		}
		d, err := cpu.used()
		if err != nil {
			haveCPU = false
		}
		return d
	}
	var last measurement
	var lastJoin baselineResult
	var lastLeaves leavesResult
	var lastFile string
	for _, size := range o.sizes {
		start := time.Now()
		txs := (size + o.perTx - 1) / o.perTx
		if err := l.load(ctx, txs-l.txs); err != nil {
			return err
		}
		loaded := time.Since(start)
		start = time.Now()
		sealed, err := sealer.SealPending(ctx)
		if err != nil {
			return err
		}
		sealTime := time.Since(start)
		if _, err := pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
			return err
		}
		say("size %d: loaded %d transactions (%d postings) in %.1fs; sealed %d in %.1fs (%.0f transactions/s)",
			size, l.txs, l.postings, loaded.Seconds(), sealed, sealTime.Seconds(), float64(sealed)/sealTime.Seconds())

		if o.hold {
			say("holding the database at %s; interrupt to stop", dsn)
			<-ctx.Done()
			return nil
		}
		if o.explain {
			if err := explain(ctx, pool); err != nil {
				return err
			}
		}
		cpu0 := serverUsed()
		base, err := baseline(ctx, pool)
		if err != nil {
			return err
		}
		cpuJ := serverUsed()
		say("  baseline join: PostgreSQL writes the same join as CSV (COPY TO STDOUT, discarded): %d rows in %.2fs, %.0f rows/s%s",
			base.rows, base.seconds, float64(base.rows)/base.seconds, cpuNote(haveCPU, cpuJ-cpu0, -1))
		leaves, err := baselineLeaves(ctx, pool)
		if err != nil {
			return err
		}
		cpu1 := serverUsed()
		say("  baseline leaves: PostgreSQL sends the rows the export reads (COPY TO STDOUT binary, discarded): %d leaves, %d checkpoints (%.0f MB) in %.2fs, %.0f postings/s%s",
			leaves.leaves, leaves.checkpoints, float64(leaves.bytes)/1e6, leaves.seconds, float64(l.postings)/leaves.seconds,
			cpuNote(haveCPU, cpu1-cpuJ, -1))
		lastFile = filepath.Join(dir, fmt.Sprintf("journal-%d.csv", size))
		m, err := exportInChild(ctx, dsn, lastFile, o.profile, o.trace)
		if err != nil {
			return err
		}
		cpu2 := serverUsed()
		if m.rows != l.postings {
			return fmt.Errorf("the export has %d rows, the ledger %d postings", m.rows, l.postings)
		}
		say("  export: %d rows (%.0f MB) in %.2fs: %.0f rows/s, peak RSS %.0f MB (ratio %.2f against the join, %.2f against the leaf rows)%s",
			m.rows, float64(m.bytes)/1e6, m.seconds, float64(m.rows)/m.seconds, m.peakMB, base.seconds/m.seconds, leaves.seconds/m.seconds,
			cpuNote(haveCPU, cpu2-cpu1, m.cpu))
		last, lastJoin, lastLeaves = m, base, leaves
	}
	if o.keep {
		say("files kept in %s", dir)
	}
	if o.verify {
		start := time.Now()
		sum, err := verifyFile(lastFile, journal.NewKeys(signer.PublicKey()))
		if err != nil {
			return fmt.Errorf("verifying the export: %w", err)
		}
		el := time.Since(start)
		say("verify: %d rows, %d transactions, %d checkpoints ok in %.2fs (%.0f rows/s)",
			sum.Rows, sum.Sealed, sum.Checkpoints, el.Seconds(), float64(sum.Rows)/el.Seconds())
	}
	fmt.Printf("RESULT export rows=%d rows_per_s=%.0f peak_rss_mb=%.0f join_rows_per_s=%.0f ratio=%.2f leaves_rows_per_s=%.0f leaves_ratio=%.2f\n",
		last.rows, float64(last.rows)/last.seconds, last.peakMB,
		float64(lastJoin.rows)/lastJoin.seconds, lastJoin.seconds/last.seconds,
		float64(last.rows)/lastLeaves.seconds, lastLeaves.seconds/last.seconds)
	return nil
}

type measurement struct {
	rows    int64
	bytes   int64
	seconds float64
	peakMB  float64
	cpu     time.Duration // the child process's, user and system
}

// cpuNote says how much CPU PostgreSQL (and the export process, when own >= 0) used.
func cpuNote(ok bool, server, own time.Duration) string {
	if !ok {
		return ""
	}
	if own < 0 {
		return fmt.Sprintf("; PostgreSQL CPU %.2fs", server.Seconds())
	}
	return fmt.Sprintf("; CPU: PostgreSQL %.2fs, export process %.2fs", server.Seconds(), own.Seconds())
}

// exportInChild runs the export in a child process and reads its result and peak RSS.
func exportInChild(ctx context.Context, dsn, out, profile, traceFile string) (measurement, error) {
	self, err := os.Executable()
	if err != nil {
		return measurement{}, err
	}
	cmd := exec.CommandContext(ctx, self, "-child-export", dsn, "-child-out", out, "-cpuprofile", profile, "-trace", traceFile)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.Output()
	if err != nil {
		return measurement{}, fmt.Errorf("export child: %w", err)
	}
	var r childResult
	if err := json.Unmarshal(stdout, &r); err != nil {
		return measurement{}, fmt.Errorf("export child said %q: %w", stdout, err)
	}
	m := measurement{rows: r.Rows - 1, bytes: r.Bytes, seconds: r.Seconds, // the header is not a row
		cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	if r.PeakKB > 0 {
		m.peakMB = float64(r.PeakKB) / 1024
	} else if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok { // may be the parent's peak (peakRSSKB)
		m.peakMB = float64(ru.Maxrss) / 1024 // kilobytes on Linux
		if runtime.GOOS == "darwin" {
			m.peakMB = float64(ru.Maxrss) / (1 << 20)
		}
	}
	return m, nil
}

type baselineResult struct {
	rows    int64
	seconds float64
}

// baseline has PostgreSQL produce the export's join as CSV by itself.
func baseline(ctx context.Context, pool *pgxpool.Pool) (baselineResult, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return baselineResult{}, err
	}
	defer conn.Release()
	start := time.Now()
	tag, err := conn.Conn().PgConn().CopyTo(ctx, io.Discard, `COPY (
		SELECT l.idx, l.leaf_hash, t.id, t.kind, t.principal_id, t.request_id, t.created_at, t.reverses,
		       a.address, a.type, p.currency, p.amount,
		       c.size, c.root_hash, c.created_at, c.key_id, c.signature
		FROM journal_leaves AS l
		JOIN ledger_transactions AS t ON t.id = l.transaction_id
		JOIN ledger_postings AS p ON p.transaction_id = l.transaction_id
		JOIN ledger_accounts AS a ON a.id = p.account_id
		LEFT JOIN journal_checkpoints AS c ON c.size = l.idx + 1
		ORDER BY l.idx, p.n) TO STDOUT WITH (FORMAT csv)`)
	if err != nil {
		return baselineResult{}, fmt.Errorf("baseline COPY: %w", err)
	}
	return baselineResult{rows: tag.RowsAffected(), seconds: time.Since(start).Seconds()}, nil
}

type leavesResult struct {
	leaves, checkpoints int64
	bytes               int64
	seconds             float64
}

// baselineLeaves has PostgreSQL send the rows the export reads for a sealed journal, in the
// binary format the export reads them in: the leaves with their leaf data in position order (as
// LeavesQuery does chunk by chunk) and the checkpoints, one COPY after the other on one
// connection. (The leaf data names each posting's account by address, so the export reads no
// accounts for leaves that have it; it reads them only for leaves sealed without leaf data.)
func baselineLeaves(ctx context.Context, pool *pgxpool.Pool) (leavesResult, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return leavesResult{}, err
	}
	defer conn.Release()
	var r leavesResult
	w := &countingWriter{w: io.Discard}
	start := time.Now()
	for _, q := range []struct {
		n   *int64
		sql string
	}{
		{&r.leaves, `COPY (SELECT l.idx, l.leaf_hash, d.leaf_data
			FROM journal_leaves AS l LEFT JOIN journal_leaf_data AS d ON d.idx = l.idx
			ORDER BY l.idx) TO STDOUT WITH (FORMAT binary)`},
		{&r.checkpoints, `COPY (SELECT size, root_hash, created_at, key_id, signature
			FROM journal_checkpoints ORDER BY size) TO STDOUT WITH (FORMAT binary)`},
	} {
		tag, err := conn.Conn().PgConn().CopyTo(ctx, w, q.sql)
		if err != nil {
			return leavesResult{}, fmt.Errorf("baseline COPY of the leaf rows: %w", err)
		}
		*q.n = tag.RowsAffected()
	}
	r.seconds, r.bytes = time.Since(start).Seconds(), w.n
	return r, nil
}

// verifyFile verifies an export as `royalty verify` does.
func verifyFile(path string, keys journal.Keys) (journal.Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return journal.Summary{}, err
	}
	defer f.Close()
	dec := csv.NewJournalDecoder(bufio.NewReaderSize(f, 1<<20))
	v := journal.NewVerifier(keys, journal.VerifyOptions{})
	var r csv.JournalRow
	for {
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			return v.Close()
		}
		if err != nil {
			return journal.Summary{}, err
		}
		row := r.Row()
		if err := v.Add(&row); err != nil {
			return journal.Summary{}, err
		}
	}
}

// loader bulk-loads synthetic ledger transactions with COPY.
type loader struct {
	pool     *pgxpool.Pool
	perTx    int
	provider uuid.UUID
	accts    []account
	txs      int
	postings int64
	start    time.Time
}

type account struct {
	id      uuid.UUID
	address string
	typ     string
}

// accounts creates a provider, its retained account, the platform, unattributed and n identity
// escrow accounts.
func (l *loader) accounts(ctx context.Context, n int) error {
	l.start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := l.pool.QueryRow(ctx, `INSERT INTO principals (name, role) VALUES ('bench provider', 'provider') RETURNING id`).Scan(&l.provider); err != nil {
		return err
	}
	p := l.provider.String()
	l.accts = []account{
		{uuid.New(), "provider:" + p, "provider"},
		{uuid.New(), "provider_retained:" + p, "provider_retained"},
		{uuid.New(), "platform", "platform"},
		{uuid.New(), "unattributed", "unattributed"},
	}
	for i := 0; i < n; i++ {
		l.accts = append(l.accts, account{uuid.New(), fmt.Sprintf("escrow:stackexchange:bench/%d", i), "identity_escrow"})
	}
	rows := make([][]any, len(l.accts))
	for i, a := range l.accts {
		rows[i] = []any{a.id, a.address, a.typ}
	}
	_, err := l.pool.CopyFrom(ctx, pgx.Identifier{"ledger_accounts"}, []string{"id", "address", "type"}, pgx.CopyFromRows(rows))
	return err
}

// load appends n transactions: the provider is debited the revenue, which is split between
// provider_retained, the platform, perTx-4 identity escrows and unattributed.
func (l *loader) load(ctx context.Context, n int) error {
	const chunk = 20000
	for done := 0; done < n; {
		k := min(chunk, n-done)
		var txRows, postRows [][]any
		for i := 0; i < k; i++ {
			seq := l.txs + i
			id := uuid.New()
			at := l.start.Add(time.Duration(seq) * time.Millisecond)
			var hash [32]byte
			binary.BigEndian.PutUint64(hash[:], uint64(seq))
			hash = sha256.Sum256(hash[:])
			txRows = append(txRows, []any{id, "usage", l.provider, "bench-" + strconv.Itoa(seq), hash[:], at, []byte(`{}`)})
			// Amounts in quanta of 1e-12: the parts are split off the revenue, the provider pays
			// it all, so the transaction sums to zero.
			revenue := int64(600_000_000 + seq%1000*7919)
			parts := make([]int64, 0, l.perTx-1)
			rest := revenue
			for j := 0; j < l.perTx-2; j++ {
				part := revenue / int64(l.perTx+j)
				parts = append(parts, part)
				rest -= part
			}
			parts = append(parts, rest)
			postRows = append(postRows, []any{id, int64(0), l.accts[0].id, "USD", decimal.New(revenue, -12), at})
			for j, part := range parts {
				var a account
				switch {
				case j == 0:
					a = l.accts[1]
				case j == 1:
					a = l.accts[2]
				case j == len(parts)-1:
					a = l.accts[3]
				default:
					a = l.accts[4+(seq*7+j*131)%(len(l.accts)-4)]
				}
				postRows = append(postRows, []any{id, int64(j + 1), a.id, "USD", decimal.New(-part, -12), at})
			}
		}
		if _, err := l.pool.CopyFrom(ctx, pgx.Identifier{"ledger_transactions"},
			[]string{"id", "kind", "principal_id", "request_id", "payload_hash", "created_at", "metadata"}, pgx.CopyFromRows(txRows)); err != nil {
			return fmt.Errorf("loading transactions: %w", err)
		}
		if _, err := l.pool.CopyFrom(ctx, pgx.Identifier{"ledger_postings"},
			[]string{"transaction_id", "n", "account_id", "currency", "amount", "created_at"}, pgx.CopyFromRows(postRows)); err != nil {
			return fmt.Errorf("loading postings: %w", err)
		}
		done += k
		l.txs += k
		l.postings += int64(len(postRows))
	}
	return nil
}

// explain prints the plans of the export's queries: a chunk of leaves, the same chunk from the
// ledger tables (what Verify and leaves sealed without leaf data use), the unsealed tail.
func explain(ctx context.Context, pool *pgxpool.Pool) error {
	if err := explainOne(ctx, pool, journalpg.LeavesQuery, 0, 20000); err != nil {
		return err
	}
	if err := explainOne(ctx, pool, journalpg.ChunkQuery, 0, 20000, nil, nil); err != nil {
		return err
	}
	return explainOne(ctx, pool, journalpg.UnsealedQuery, int64(1)<<62, nil, nil)
}

func explainOne(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) error {
	rows, err := pool.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS) `+sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return err
		}
		fmt.Println("    " + line)
	}
	return rows.Err()
}
