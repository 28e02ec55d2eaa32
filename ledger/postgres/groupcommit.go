package postgres

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

// groupCommitter coalesces concurrent PostUsage calls into shared database transactions. Each
// of a fixed number of flushers takes one waiting report, then every report that arrives
// within GroupCommit.Wait (up to MaxBatch; with a negative Wait only those already waiting),
// and books them together: one commit (one WAL flush) and one statement per table for many
// reports. The escrow accounts the reports credit are created in the batch's transaction.
//
// Each report keeps its own outcome: a conflicting key fails only that report (the others
// commit), and so does an unknown provider. A serialization failure retries the shared
// transaction whole (pgdb.Tx). When it fails for another reason, every report of it is tried
// again alone, so one bad report cannot fail its neighbours.
type groupCommitter struct {
	s        *Store
	queue    chan *pendingUsage // unbuffered: a send succeeds only when a flusher takes it
	stop     chan struct{}
	wg       sync.WaitGroup
	maxBatch int
	wait     time.Duration // < 0: no waiting
	timeout  time.Duration
	once     sync.Once

	// Running totals, for GroupCommitStats.
	batches, reports, attempts             atomic.Int64
	queueNanos, collectNanos, bookingNanos atomic.Int64
	statementNanos                         atomic.Int64

	// testHookBatch, if set, is called with the size of every batch before it is booked;
	// testHookBook, if set, runs at the start of every attempt of a shared transaction, and
	// an error it returns fails that attempt.
	testHookBatch func(n int)
	testHookBook  func() error
	// testHookCommitted, if set, runs after a shared transaction committed, and an error it
	// returns is returned as if the COMMIT's answer had been lost.
	testHookCommitted func(n int) error
}

type pendingUsage struct {
	item *usageItem
	done chan struct{} // closed when item.res or item.err is final
	at   time.Time     // when submit was called
}

// GroupCommitStats are running totals of a store's group commit since it opened, for metrics:
// divided by one another they give the mean batch and where a report's time in the ledger
// goes. Times are summed over reports (Queue) or over batches (Collect, Booking).
type GroupCommitStats struct {
	// Batches is the number of batches booked, Reports the reports in them, and Attempts the
	// database transactions they took: retries after serialization failures, and the
	// one-by-one transactions of a batch whose shared transaction failed, count too.
	Batches, Reports, Attempts int64
	// Queue is the time reports waited for a flusher to take them, summed over reports.
	Queue time.Duration
	// Collect is the time flushers spent collecting batches after their first report (at most
	// GroupCommit.Wait each), Booking the time from then until every report of the batch had
	// its outcome; both summed over batches.
	Collect, Booking time.Duration
	// Statements is the part of Booking spent between BEGIN and COMMIT (reading the inputs,
	// planning, writing), summed over attempts; the rest of Booking is BEGIN, COMMIT (with its
	// WAL flush), waits between retries and the check of the providers' accounts.
	Statements time.Duration
}

// GroupCommitStats returns the running totals of the store's group commit; ok is false when
// group commit is disabled.
func (s *Store) GroupCommitStats() (st GroupCommitStats, ok bool) {
	g := s.gc
	if g == nil {
		return st, false
	}
	return GroupCommitStats{
		Batches: g.batches.Load(), Reports: g.reports.Load(), Attempts: g.attempts.Load(),
		Queue: time.Duration(g.queueNanos.Load()), Collect: time.Duration(g.collectNanos.Load()),
		Booking: time.Duration(g.bookingNanos.Load()), Statements: time.Duration(g.statementNanos.Load()),
	}, true
}

func newGroupCommitter(s *Store, cfg GroupCommit) *groupCommitter {
	g := &groupCommitter{
		s:        s,
		queue:    make(chan *pendingUsage),
		stop:     make(chan struct{}),
		maxBatch: cfg.MaxBatch,
		wait:     cfg.Wait,
		timeout:  cfg.Timeout,
	}
	if g.wait == 0 {
		g.wait = DefaultGroupCommitWait
	}
	if g.maxBatch <= 0 {
		g.maxBatch = 256
	}
	if g.timeout <= 0 {
		g.timeout = 30 * time.Second
	}
	flushers := cfg.Flushers
	if flushers <= 0 {
		flushers = DefaultGroupCommitFlushers
	}
	g.wg.Add(flushers)
	for i := 0; i < flushers; i++ {
		go g.run()
	}
	return g
}

// submit hands item to a flusher and waits for its outcome. When ctx ends first, submit
// returns ctx's error and the report may or may not have been booked, as with any request
// whose answer is lost: retrying with the same key tells.
func (g *groupCommitter) submit(ctx context.Context, item *usageItem) (ledger.UsageResult, error) {
	p := &pendingUsage{item: item, done: make(chan struct{}), at: time.Now()}
	select {
	case g.queue <- p:
	case <-g.stop:
		return ledger.UsageResult{}, royalty.Errorf(royalty.EUNAVAILABLE, "the ledger is shutting down")
	case <-ctx.Done():
		return ledger.UsageResult{}, ctx.Err()
	}
	select {
	case <-p.done:
		return item.res, item.err
	case <-ctx.Done():
		return ledger.UsageResult{}, ctx.Err()
	}
}

func (g *groupCommitter) run() {
	defer g.wg.Done()
	for {
		var p *pendingUsage
		select {
		case p = <-g.queue:
		case <-g.stop:
			return
		}
		taken := time.Now()
		g.queueNanos.Add(int64(taken.Sub(p.at)))
		batch := g.collect(p)
		collected := time.Now()
		g.flush(batch)
		// Counted before the callers are answered, so that a caller sees its batch counted.
		g.collectNanos.Add(int64(collected.Sub(taken)))
		g.bookingNanos.Add(int64(time.Since(collected)))
		g.batches.Add(1)
		g.reports.Add(int64(len(batch)))
		for _, p := range batch {
			close(p.done)
		}
	}
}

// collect returns a batch of p and the reports that arrive within g.wait, at most g.maxBatch.
func (g *groupCommitter) collect(p *pendingUsage) []*pendingUsage {
	batch := []*pendingUsage{p}
	if g.wait < 0 {
		for len(batch) < g.maxBatch {
			select {
			case q := <-g.queue:
				g.queueNanos.Add(int64(time.Since(q.at)))
				batch = append(batch, q)
			default:
				return batch
			}
		}
		return batch
	}
	timer := time.NewTimer(g.wait)
	defer timer.Stop()
	for len(batch) < g.maxBatch {
		select {
		case q := <-g.queue:
			g.queueNanos.Add(int64(time.Since(q.at)))
			batch = append(batch, q)
		case <-timer.C:
			return batch
		case <-g.stop:
			return batch
		}
	}
	return batch
}

// flush books a batch in one transaction, or each report alone if that fails; every item of
// the batch then has its outcome, and the caller closes the batch's done channels.
func (g *groupCommitter) flush(batch []*pendingUsage) {
	if g.testHookBatch != nil {
		g.testHookBatch(len(batch))
	}
	items := make([]*usageItem, len(batch))
	for i, p := range batch {
		items[i] = p.item
		items[i].res, items[i].err = ledger.UsageResult{}, nil
	}
	// The providers' accounts are checked and created outside the shared transaction (once per
	// provider and process): an unknown provider fails its own reports only.
	ok := items[:0:0]
	failed := map[string]error{}
	for _, it := range items {
		p := it.req.ProviderID
		err, seen := failed[p]
		if !seen {
			err = g.providerAccounts(p)
			failed[p] = err
		}
		if err != nil {
			it.err = err
		} else {
			ok = append(ok, it)
		}
	}
	items = ok
	if len(items) == 0 {
		return
	}
	markDuplicates(items)
	err := g.book(items)
	if err != nil && len(items) > 1 {
		g.s.log.Warn("ledger: shared usage transaction failed; booking its reports one by one", "reports", len(items), "err", err)
		for _, it := range items {
			it.dupOf = -1
			if err := g.book([]*usageItem{it}); err != nil {
				it.res, it.err = ledger.UsageResult{}, err
			}
		}
	} else if err != nil {
		items[0].res, items[0].err = ledger.UsageResult{}, err
	}
}

// markDuplicates points every item at the first earlier one with its key, if any.
func markDuplicates(items []*usageItem) {
	first := make(map[[2]string]int, len(items))
	for i, it := range items {
		it.dupOf = -1
		key := [2]string{it.req.ProviderID, it.req.RequestID}
		if j, ok := first[key]; ok {
			it.dupOf = j
		} else {
			first[key] = i
		}
	}
}

// providerAccounts checks that p is a provider and creates its accounts, unless known.
func (g *groupCommitter) providerAccounts(p string) error {
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	return g.s.ensureAccounts(ctx, g.s.pool, "provider_id", ledger.ProviderAccount(p), ledger.ProviderRetainedAccount(p))
}

// book books items in one transaction. The escrow, platform and unattributed accounts they
// credit that are not known to exist are inserted in the same transaction, in the round trip
// that reads the rates and owners: no transaction (and no commit) of their own.
func (g *groupCommitter) book(items []*usageItem) error {
	addrs := []string{ledger.PlatformAccount, ledger.UnattributedAccount}
	for _, it := range items {
		for _, sh := range it.req.Shares {
			addrs = append(addrs, ledger.EscrowAccount(sh.IdentityKey))
		}
	}
	missing, err := g.s.unknownAccounts(addrs)
	if err != nil {
		return err
	}
	mode := &bookMode{}
	if len(missing) > 0 {
		mode.accounts = newAccountRows(missing)
	}
	// The transaction serves many callers, so no caller's context may cancel it.
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	err = g.s.serializable(ctx, "posting usage", func(ctx context.Context, tx pgx.Tx) error {
		g.attempts.Add(1)
		began := time.Now()
		defer func() { g.statementNanos.Add(int64(time.Since(began))) }()
		if g.testHookBook != nil {
			if err := g.testHookBook(); err != nil {
				return err
			}
		}
		return g.s.bookUsages(ctx, tx, items, false, mode)
	})
	if err == nil && mode.accounts != nil {
		mode.accounts.remember(&g.s.known)
	}
	if err == nil && g.testHookCommitted != nil {
		err = g.testHookCommitted(len(items))
	}
	return err
}

func (g *groupCommitter) close() {
	g.once.Do(func() { close(g.stop) })
	g.wg.Wait()
}
