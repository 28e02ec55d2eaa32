package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/ledger/journal"
)

// SealerConfig configures a Sealer. Zero fields take the defaults.
type SealerConfig struct {
	// Interval is the pause between sealing rounds; DefaultInterval when zero.
	Interval time.Duration
	// Margin leaves transactions younger than this for a later round, so that transactions
	// committed at nearly the same time are mostly sealed in created_at order; DefaultMargin
	// when zero, none when negative. It does not affect correctness: a transaction that commits
	// after younger ones were sealed is sealed in the next round.
	Margin time.Duration
	// Grace is how far behind the newest sealed transaction a round looks for transactions that
	// committed late; DefaultGrace when zero. Older stragglers are found by the sweep.
	Grace time.Duration
	// SweepEvery is the period of a full search for unsealed transactions, whatever their age
	// (one anti-join over all transactions); DefaultSweepEvery when zero. A sweep also runs
	// when the sealer starts.
	SweepEvery time.Duration
	// MaxBlock bounds the transactions of one block (one database transaction and one
	// checkpoint); DefaultMaxBlock when zero.
	MaxBlock int
	// Now is the clock of checkpoints and of Margin; time.Now when nil.
	Now func() time.Time
	// Lease, when its TTL is set, makes this sealer seal only while it holds the lease row
	// (one sealer among replicas, lease.go).
	Lease Lease
}

// Sealer defaults.
const (
	DefaultInterval   = time.Second
	DefaultMargin     = time.Second
	DefaultGrace      = 30 * time.Second
	DefaultSweepEvery = 10 * time.Minute
	DefaultMaxBlock   = 10000
)

// Sealer assigns journal positions to committed ledger transactions in blocks and signs a
// checkpoint for each block. Several sealers (one per server) may run against one database:
// they never fork the journal (see the package comment). It is safe for concurrent use.
type Sealer struct {
	pool   *pgxpool.Pool
	signer *journal.Signer
	log    *slog.Logger
	cfg    SealerConfig

	mu     sync.Mutex // one round at a time in this process
	tree   *journal.Frontier
	root   journal.Hash
	newest time.Time // created_at of the newest transaction this sealer has sealed
	cutoff time.Time // the current round's: transactions created after it are not candidates
	lease  *lease    // nil: no lease (a single sealer, or tests)

	accounts *accountCache

	// testHookInBlock, if set, runs inside a block's transaction before it commits (tests use
	// it to kill a sealer mid-seal).
	testHookInBlock func(ctx context.Context)
	// testFenceLoses, if set, makes every attempt to advance the balance fence fail as if it
	// lost a serialization conflict (tests of the fallback).
	testFenceLoses bool
	bad            map[string]bool

	stop chan struct{}
	done chan struct{}
}

// NewSealer returns a sealer that signs with signer. Start runs it in the background;
// SealPending seals on demand.
func NewSealer(pool *pgxpool.Pool, signer *journal.Signer, log *slog.Logger, cfg SealerConfig) *Sealer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	switch {
	case cfg.Margin == 0:
		cfg.Margin = DefaultMargin
	case cfg.Margin < 0:
		cfg.Margin = 0
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = DefaultSweepEvery
	}
	if cfg.MaxBlock <= 0 {
		cfg.MaxBlock = DefaultMaxBlock
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Sealer{pool: pool, signer: signer, log: log, cfg: cfg, bad: map[string]bool{}, accounts: newAccountCache(accountCacheSize)}
	if cfg.Lease.TTL > 0 {
		s.lease = newLease(cfg.Lease)
	}
	return s
}

// Start runs sealing rounds in the background until Stop: a sweep at once, then a round every
// Interval and a sweep every SweepEvery. Errors are logged and the round is tried again later.
func (s *Sealer) Start() {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.run()
}

// Stop stops the background rounds and waits for the current one to finish.
func (s *Sealer) Stop() {
	if s.stop == nil {
		return
	}
	close(s.stop)
	<-s.done
	s.stop = nil
	if s.lease != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.lease.release(ctx, s.pool); err != nil {
			s.log.Warn("journal: releasing the sealer lease", "err", err)
		}
	}
}

func (s *Sealer) run() {
	// The channels are read here, where Start's writes are visible: Stop clears s.stop once
	// run has returned, which the goroutine below may outlive.
	stop, done := s.stop, s.done
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	ticker := time.NewTicker(s.cfg.Interval)
	defer ticker.Stop()
	lastSweep := time.Time{}
	for {
		full := lastSweep.IsZero() || time.Since(lastSweep) >= s.cfg.SweepEvery
		n, err := s.round(ctx, full)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errLeaseLost):
			s.log.Info("journal: the sealer lease lapsed or passed to another replica")
		case err != nil:
			s.log.Error("journal: sealing failed; trying again", "err", err)
		default:
			if full {
				lastSweep = time.Now()
			}
			if n > 0 {
				s.log.Debug("journal: sealed", "transactions", n, "full", full)
			}
		}
		select {
		case <-stop:
			return
		case <-ticker.C:
		}
	}
}

// SealPending seals every committed transaction not sealed yet (that is older than Margin) and
// returns how many it sealed.
func (s *Sealer) SealPending(ctx context.Context) (int, error) { return s.round(ctx, true) }

// errRaced means another sealer extended the journal first.
var errRaced = errors.New("another sealer extended the journal first")

// round seals blocks until no candidate is left. full searches all transactions; otherwise only
// those created after the newest sealed one minus Grace.
func (s *Sealer) round(ctx context.Context, full bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	if s.lease != nil {
		held, err := s.lease.hold(ctx, s.pool)
		if err != nil || !held {
			return 0, err
		}
	}
	for attempt := 0; ; {
		if s.lease != nil && total > 0 {
			// A long round (catching up) renews the lease between blocks, or it would lapse
			// mid-round and the next block would be refused.
			held, err := s.lease.hold(ctx, s.pool)
			if err != nil || !held {
				return total, err
			}
		}
		ids, err := s.candidates(ctx, full)
		if err != nil {
			return total, err
		}
		if len(ids) == 0 {
			return total, nil
		}
		es, err := entries(ctx, s.pool, ids, s.accounts)
		if err != nil {
			return total, err
		}
		es = s.dropUnsealable(ids, es)
		if len(es) == 0 {
			return total, nil
		}
		err = s.sealBlock(ctx, es)
		if errors.Is(err, errRaced) {
			// Another sealer extended the journal first, so the journal made progress; it may
			// have sealed some of these. Look again after a jittered pause that grows with the
			// races lost in a row, so that racing sealers spread out instead of colliding
			// again. There is no cap: every lost race is another sealer's progress, and the
			// loop ends when nothing is left to seal.
			s.tree = nil
			attempt++
			pause := time.Duration(rand.Int64N(int64(min(50*time.Millisecond, time.Millisecond<<min(attempt, 6)))))
			select {
			case <-ctx.Done():
				return total, ctx.Err()
			case <-time.After(pause):
			}
			continue
		}
		attempt = 0
		if errors.Is(err, errLeaseLost) {
			s.lease.lost()
		}
		if err != nil {
			return total, err
		}
		total += len(es)
		for _, e := range es {
			if e.CreatedAt.After(s.newest) {
				s.newest = e.CreatedAt
			}
		}
		if len(ids) < s.cfg.MaxBlock {
			return total, nil
		}
	}
}

// dropUnsealable leaves out transactions without postings: the canonical encoding has no form
// for them, and the ledger never writes one, so one is logged once and left unsealed.
func (s *Sealer) dropUnsealable(ids []string, es []journal.Entry) []journal.Entry {
	if len(es) == len(ids) {
		return es
	}
	found := make(map[string]bool, len(es))
	for _, e := range es {
		found[e.TransactionID] = true
	}
	for _, id := range ids {
		if !found[id] && !s.bad[id] {
			s.bad[id] = true
			s.log.Error("journal: transaction without postings cannot be sealed", "transaction_id", id)
		}
	}
	return es
}

// candidates returns the ids of transactions not sealed yet, oldest first (ties by id, only to
// make the order deterministic), at most MaxBlock of them.
func (s *Sealer) candidates(ctx context.Context, full bool) ([]string, error) {
	upto := s.cfg.Now().Add(-s.cfg.Margin)
	s.cutoff = upto
	var from *time.Time
	if !full {
		// Look back Grace behind the newest transaction sealed, by this sealer or by another
		// server's (then this one has not seen it): the journal's last leaf tells. But never
		// behind the balance fence: every transaction created before it is sealed (the fence
		// steps check it, SERIALIZABLE), and it is usually a second or two behind, where Grace
		// reaches back 30 s: under load that window held some 30,000 sealed transactions to
		// compare with the journal every round.
		ref := s.newest
		var last, fence *time.Time
		err := s.pool.QueryRow(ctx, `SELECT
			(SELECT t.created_at FROM journal_leaves AS l
			 JOIN ledger_transactions AS t ON t.id = l.transaction_id
			 WHERE l.idx = (SELECT MAX(size) - 1 FROM journal_checkpoints)),
			(SELECT fence FROM ledger_balance_fences ORDER BY journal_size DESC LIMIT 1)`).Scan(&last, &fence)
		if err != nil {
			return nil, fmt.Errorf("reading the newest sealed transaction: %w", err)
		}
		if last != nil && last.After(ref) {
			ref = *last
		}
		if !ref.IsZero() {
			f := ref.Add(-s.cfg.Grace)
			if fence != nil && fence.After(f) {
				f = *fence
			}
			from = &f
		}
	}
	// A round's window is short: it probes journal_leaves' index for each of its transactions
	// (as NOT EXISTS, PostgreSQL hashed the whole journal instead, every round). A sweep reads
	// every transaction, and there the planner's anti-join is right.
	query := `
		SELECT t.id FROM ledger_transactions AS t
		LEFT JOIN LATERAL (SELECT true AS sealed FROM journal_leaves AS l WHERE l.transaction_id = t.id LIMIT 1) AS s ON true
		WHERE t.created_at <= $1 AND t.created_at >= $2 AND s.sealed IS NULL
		ORDER BY t.created_at, t.id
		LIMIT $3`
	if from == nil {
		query = `
		SELECT t.id FROM ledger_transactions AS t
		WHERE t.created_at <= $1 AND ($2::TIMESTAMPTZ IS NULL OR t.created_at >= $2)
		  AND NOT EXISTS (SELECT 1 FROM journal_leaves AS l WHERE l.transaction_id = t.id)
		ORDER BY t.created_at, t.id
		LIMIT $3`
	}
	rows, err := s.pool.Query(ctx, query, upto, from, s.cfg.MaxBlock+len(s.bad))
	if err != nil {
		return nil, fmt.Errorf("finding unsealed transactions: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("finding unsealed transactions: %w", err)
	}
	out := ids[:0]
	for _, id := range ids {
		if !s.bad[id] {
			out = append(out, id)
		}
	}
	if len(out) > s.cfg.MaxBlock {
		out = out[:s.cfg.MaxBlock]
	}
	return out, nil
}

// sealBlock appends es to the journal: leaves, completed subtrees and a signed checkpoint in one
// transaction that fails with errRaced when the journal grew meanwhile.
func (s *Sealer) sealBlock(ctx context.Context, es []journal.Entry) error {
	base, ok, err := latest(ctx, s.pool)
	if err != nil {
		return err
	}
	var prevRoot journal.Hash
	if ok {
		prevRoot = base.Root
	} else {
		prevRoot = journal.EmptyRoot()
	}
	if s.tree == nil || s.tree.Size() != base.Size || s.root != prevRoot {
		if s.tree, err = frontier(ctx, s.pool, base.Size); err != nil {
			return err
		}
		if got := s.tree.Root(); got != prevRoot {
			return fmt.Errorf("journal: the stored nodes of size %d hash to %s, but checkpoint %d says %s", base.Size, got, base.Size, prevRoot)
		}
	}
	tree := s.tree.Clone()
	var (
		leafIdx              []int64
		txIDs                []string
		leafHashes, leafData [][]byte
		nodeLevel, nodeIndex []int64
		nodeHashes           [][]byte
	)
	collect := func(n journal.Node) {
		nodeLevel, nodeIndex = append(nodeLevel, int64(n.Level)), append(nodeIndex, int64(n.Index))
		nodeHashes = append(nodeHashes, append([]byte(nil), n.Hash[:]...))
	}
	for i := range es {
		data, leaf, err := journal.EntryLeaf(&es[i])
		if err != nil {
			return err
		}
		leafIdx = append(leafIdx, int64(tree.Size()))
		txIDs = append(txIDs, es[i].TransactionID)
		leafHashes = append(leafHashes, append([]byte(nil), leaf[:]...))
		leafData = append(leafData, data)
		tree.Append(leaf, collect)
	}
	root := tree.Root()
	cp, err := s.signer.Sign(tree.Size(), root, s.cfg.Now())
	if err != nil {
		return err
	}
	// The block carries the previous balance fence forward: advancing it reads the range of
	// unsealed transactions below the cutoff, which conflicts with the writes landing there, and
	// under a steady stream of reports a block doing that kept losing (SQLSTATE 40001) and was
	// written up to four times. A small transaction of its own advances the fence after the
	// block (advanceFence); losing it costs little. Account ids are read before the block:
	// inside it, the read would conflict with every write that creates an account.
	ids, err := accountIDs(ctx, s.pool, s.accounts, es)
	if err != nil {
		return err
	}
	err = pgdb.Serializable(ctx, s.pool, s.blockTx(base, prevRoot, cp, leafIdx, txIDs, leafHashes, leafData, nodeLevel, nodeIndex, nodeHashes, es, ids))
	if err != nil {
		if isUniqueViolation(err) {
			return errRaced
		}
		return err
	}
	s.tree, s.root = tree, root
	s.advanceFence(ctx, cp.Size)
	return nil
}

// fenceAttempts bounds the attempts of each transaction that advances the balance fence.
const fenceAttempts = 3

// fenceSteps bounds the transactions that advance the fence after one block (each moves it over
// at most fenceStep transactions): the next block goes on from there.
const fenceSteps = 256

// advanceFence moves the balance fence of the block that made the journal size long towards the
// round's cutoff, in small SERIALIZABLE transactions of their own (advanceFenceTx): their reads
// of the range below the new fence are what make a write that would commit late below it
// conflict with them (docs/design.md §8). When a step loses fenceAttempts times, or another
// block came first, the fence stays where it got to: older than it could be (balances read a
// longer tail), never wrong. The next block goes on.
func (s *Sealer) advanceFence(ctx context.Context, size uint64) {
	for range fenceSteps {
		var more bool
		err := pgdb.Tx(ctx, s.pool, pgdb.TxOptions{Op: "advancing the balance fence", MaxAttempts: fenceAttempts}, func(ctx context.Context, tx pgx.Tx) (err error) {
			if s.testFenceLoses {
				return pgdb.Retryable(errors.New("test: the balance fence loses"))
			}
			more, err = advanceFenceTx(ctx, tx, size, s.cutoff)
			return err
		})
		if err != nil {
			if ctx.Err() == nil {
				s.log.Debug("journal: the balance fence stays where it got to", "journal_size", size, "err", err)
			}
			return
		}
		if !more {
			return
		}
	}
}

// blockTx is the transaction that writes a block: its leaves, nodes, checkpoint and balance
// checkpoints, and the previous fence carried forward.
func (s *Sealer) blockTx(base journal.Checkpoint, prevRoot journal.Hash, cp journal.Checkpoint, leafIdx []int64, txIDs []string,
	leafHashes, leafData [][]byte, nodeLevel, nodeIndex []int64, nodeHashes [][]byte, es []journal.Entry, ids map[string]string) func(context.Context, pgx.Tx) error {
	return func(ctx context.Context, tx pgx.Tx) error {
		now, ok, err := latest(ctx, tx)
		if err != nil {
			return err
		}
		if now.Size != base.Size || (ok && now.Root != prevRoot) {
			return errRaced
		}
		if s.lease != nil {
			if err := s.lease.check(ctx, tx); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO journal_leaves (idx, transaction_id, leaf_hash)
			SELECT * FROM unnest($1::INT8[], $2::UUID[], $3::BYTEA[])`, leafIdx, txIDs, leafHashes); err != nil {
			return fmt.Errorf("inserting journal leaves: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO journal_leaf_data (idx, leaf_data)
			SELECT * FROM unnest($1::INT8[], $2::BYTEA[])`, leafIdx, leafData); err != nil {
			return fmt.Errorf("inserting journal leaf data: %w", err)
		}
		if len(nodeLevel) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO journal_nodes (level, idx, hash)
				SELECT * FROM unnest($1::INT8[], $2::INT8[], $3::BYTEA[])`, nodeLevel, nodeIndex, nodeHashes); err != nil {
				return fmt.Errorf("inserting journal nodes: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO journal_checkpoints (size, prev_size, root_hash, created_at, key_id, signature)
			VALUES ($1, $2, $3, $4, $5, $6)`, int64(cp.Size), int64(base.Size), cp.Root[:], cp.Time, cp.KeyID, cp.Signature); err != nil {
			return fmt.Errorf("inserting checkpoint %d: %w", cp.Size, err)
		}
		if err := writeBalances(ctx, tx, base.Size, cp.Size, es, ids); err != nil {
			return err
		}
		if s.testHookInBlock != nil {
			s.testHookInBlock(ctx)
		}
		return nil
	}
}

// parseAmount reads a NUMERIC printed as text.
func parseAmount(s string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return d, fmt.Errorf("amount %q: %w", s, err)
	}
	return d, nil
}
