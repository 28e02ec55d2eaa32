package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

// groupCommitter coalesces concurrent PostUsage calls into shared database transactions. Each
// of a fixed number of flushers takes one waiting report, then every other report already
// waiting (up to MaxBatch), and books them together. A report therefore never waits for a
// timer: under light load it is booked alone at once, and under heavy load the reports that
// queue while the flushers are busy share the next transactions, which costs one commit (one
// WAL flush) for many reports.
//
// Each report keeps its own outcome: a conflicting key fails only that report (the others
// commit). When the shared transaction fails for another reason, every report of it is tried
// again alone, so one bad report cannot fail its neighbours.
type groupCommitter struct {
	s        *Store
	queue    chan *pendingUsage // unbuffered: a send succeeds only when a flusher takes it
	stop     chan struct{}
	wg       sync.WaitGroup
	maxBatch int
	timeout  time.Duration
	once     sync.Once
}

type pendingUsage struct {
	item *usageItem
	done chan struct{} // closed when item.res or item.err is final
}

func newGroupCommitter(s *Store, cfg GroupCommit) *groupCommitter {
	g := &groupCommitter{
		s:        s,
		queue:    make(chan *pendingUsage),
		stop:     make(chan struct{}),
		maxBatch: cfg.MaxBatch,
		timeout:  cfg.Timeout,
	}
	if g.maxBatch <= 0 {
		g.maxBatch = 256
	}
	if g.timeout <= 0 {
		g.timeout = 30 * time.Second
	}
	flushers := cfg.Flushers
	if flushers <= 0 {
		flushers = 4
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
	p := &pendingUsage{item: item, done: make(chan struct{})}
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
		batch := []*pendingUsage{p}
	drain:
		for len(batch) < g.maxBatch {
			select {
			case q := <-g.queue:
				batch = append(batch, q)
			default:
				break drain
			}
		}
		g.flush(batch)
	}
}

// flush books a batch in one transaction, or each report alone if that fails.
func (g *groupCommitter) flush(batch []*pendingUsage) {
	items := make([]*usageItem, len(batch))
	first := map[[2]string]int{}
	for i, p := range batch {
		it := p.item
		it.dupOf = -1
		key := [2]string{it.req.ProviderID, it.req.RequestID}
		if j, ok := first[key]; ok {
			it.dupOf = j
		} else {
			first[key] = i
		}
		items[i] = it
	}
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
	for _, p := range batch {
		close(p.done)
	}
}

func (g *groupCommitter) book(items []*usageItem) error {
	// The transaction serves many callers, so no caller's context may cancel it.
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	return g.s.serializable(ctx, "posting usage", func(ctx context.Context, tx pgx.Tx) error {
		return g.s.bookUsages(ctx, tx, items, false)
	})
}

func (g *groupCommitter) close() {
	g.once.Do(func() { close(g.stop) })
	g.wg.Wait()
}
