package postgres_test

import (
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/postgres"
)

// TestGroupCommitBatchKeepsEachOutcome books one shared transaction of concurrent reports
// among which are an exact replay and a conflicting replay of a booked key, a report of an
// unknown provider, and two copies of one new report. The batch is made deterministic by
// one flusher that books exactly when the batch is full (MaxBatch reports, no time limit).
// Its first attempt fails with an injected retryable error; the second, pipelined, finds the
// booked key taken and gives way to the third, which inserts sequentially and commits.
// Every good report must be booked exactly once, and every bad one must fail alone, and the
// store's running totals (GroupCommitStats) must count the batch, its reports and attempts.
func TestGroupCommitBatchKeepsEachOutcome(t *testing.T) {
	const n = 7
	e := newEnv(t, postgres.Config{GroupCommit: postgres.GroupCommit{Flushers: 1, MaxBatch: n, Wait: time.Hour}})
	direct, err := postgres.New(e.pool, nil, postgres.Config{GroupCommit: postgres.GroupCommit{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	prov := e.principal("provider")
	old, err := direct.PostUsage(e.ctx, usage(prov, "old", "1", key(1), big.NewRat(1, 2)))
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var batches []int
	attempts := 0
	e.store.SetTestHooksGroupCommit(func(n int) {
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, n)
	}, func() error {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts == 1 {
			return pgdb.Retryable(errors.New("injected serialization failure"))
		}
		return nil
	})

	reqs := []ledger.UsageRequest{
		usage(prov, "a", "2.5", key(2), big.NewRat(1, 3), key(3), big.NewRat(1, 3)),
		usage(prov, "b", "0.000000000007", key(4), big.NewRat(2, 3)), // splits at the quantum
		usage(prov, "old", "1", key(1), big.NewRat(1, 2)),            // exact replay
		usage(prov, "old", "2", key(1), big.NewRat(1, 2)),            // conflicting replay
		usage(uuid.NewString(), "c", "1", key(5), big.NewRat(1, 2)),  // not a provider
		usage(prov, "d", "1"), // all unattributed
		usage(prov, "a", "2.5", key(2), big.NewRat(1, 3), key(3), big.NewRat(1, 3)), // copy of a
	}
	if len(reqs) != n {
		t.Fatalf("%d requests for a batch of %d", len(reqs), n)
	}
	res, errs := postConcurrently(e, reqs)

	if len(batches) != 1 || batches[0] != n || attempts != 3 {
		t.Fatalf("batches %v, attempts %d: want one batch of %d booked on its third attempt", batches, attempts, n)
	}
	// The metrics' totals say the same.
	if st, ok := e.store.GroupCommitStats(); !ok || st.Batches != 1 || st.Reports != n || st.Attempts != 3 ||
		st.Queue <= 0 || st.Collect <= 0 || st.Statements <= 0 || st.Booking <= st.Statements {
		t.Fatalf("group commit stats %+v (ok %v); want 1 batch of %d reports in 3 attempts, and times", st, ok, n)
	}
	if st, ok := direct.GroupCommitStats(); ok {
		t.Fatalf("a store without group commit has stats %+v", st)
	}
	for _, i := range []int{0, 1, 5} {
		if errs[i] != nil || res[i].Usage.TransactionID == "" {
			t.Fatalf("report %d (%s): %+v, %v", i, reqs[i].RequestID, res[i], errs[i])
		}
	}
	if errs[6] != nil || res[6].Usage.TransactionID != res[0].Usage.TransactionID || res[0].Replayed == res[6].Replayed {
		t.Fatalf("two copies of a: %+v (%v) and %+v (%v); want one booking, one replay", res[0], errs[0], res[6], errs[6])
	}
	if errs[2] != nil || !res[2].Replayed || res[2].Usage.TransactionID != old.Usage.TransactionID {
		t.Fatalf("exact replay: %+v, %v; want the original %s", res[2], errs[2], old.Usage.TransactionID)
	}
	wantField(t, errs[3], royalty.ECONFLICT, "request_id")
	wantField(t, errs[4], royalty.ENOTFOUND, "provider_id")
	if !res[0].Usage.Royalty.Equal(d("0.25")) || !res[5].Usage.Unattributed.Equal(res[5].Usage.Royalty) {
		t.Fatalf("royalty of a %s (want 0.25 at the default rate); d: royalty %s, unattributed %s", res[0].Usage.Royalty, res[5].Usage.Royalty, res[5].Usage.Unattributed)
	}

	// Exactly once in the database: one transaction per key, postings for each.
	for _, k := range []string{"a", "b", "d", "old"} {
		var txs, postings int
		if err := e.pool.QueryRow(e.ctx, `SELECT count(*), (SELECT count(*) FROM ledger_postings p JOIN ledger_transactions t ON t.id = p.transaction_id WHERE t.request_id = $1)
			FROM ledger_transactions WHERE request_id = $1`, k).Scan(&txs, &postings); err != nil {
			t.Fatal(err)
		}
		if txs != 1 || postings == 0 {
			t.Fatalf("request %s: %d transactions with %d postings; want 1 with postings", k, txs, postings)
		}
	}
	var cs int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM ledger_transactions WHERE request_id = 'c'`).Scan(&cs); err != nil || cs != 0 {
		t.Fatalf("the report of an unknown provider was written: %d (%v)", cs, err)
	}
	for i, r := range res {
		if errs[i] == nil {
			if got, err := e.store.UsageByRequest(e.ctx, prov, reqs[i].RequestID); err != nil || got.TransactionID != r.Usage.TransactionID || len(got.Evidence) != len(r.Usage.Evidence) {
				t.Fatalf("stored usage of %s: %+v, %v; answered %+v", reqs[i].RequestID, got, err, r.Usage)
			}
		}
	}
	e.check()
}

// TestGroupCommitLostCommitAnswer loses the answer of a shared transaction's COMMIT after it
// committed, as a connection lost at COMMIT does. The batch's reports are then booked one by
// one, and each finds its key taken by the transaction it planned itself: each is answered
// as booked by this call (not as a replay of an earlier one, which the provider never sent),
// with the committed transaction, and booked once.
func TestGroupCommitLostCommitAnswer(t *testing.T) {
	const n = 3
	e := newEnv(t, postgres.Config{GroupCommit: postgres.GroupCommit{Flushers: 1, MaxBatch: n, Wait: time.Hour}})
	prov := e.principal("provider")
	var mu sync.Mutex
	lost := 0
	e.store.SetTestHookCommitted(func(size int) error {
		mu.Lock()
		defer mu.Unlock()
		if size == n && lost == 0 {
			lost++
			return errors.New("committing: connection reset by peer (injected after the commit)")
		}
		return nil
	})
	reqs := []ledger.UsageRequest{
		usage(prov, "x", "1", key(1), big.NewRat(1, 2)),
		usage(prov, "y", "2", key(2), big.NewRat(1, 3)),
		usage(prov, "z", "3"),
	}
	res, errs := postConcurrently(e, reqs)
	if lost != 1 {
		t.Fatalf("the injected loss ran %d times, want 1", lost)
	}
	for i, r := range reqs {
		if errs[i] != nil || res[i].Replayed {
			t.Errorf("report %s: replayed %v, err %v; want booked by this call", r.RequestID, res[i].Replayed, errs[i])
		}
		var txs int
		var id string
		if err := e.pool.QueryRow(e.ctx, `SELECT count(*), min(id::TEXT) FROM ledger_transactions WHERE request_id = $1`, r.RequestID).Scan(&txs, &id); err != nil {
			t.Fatal(err)
		}
		if txs != 1 || id != res[i].Usage.TransactionID {
			t.Errorf("report %s: %d transactions (%s), answered %s; want one, the one answered", r.RequestID, txs, id, res[i].Usage.TransactionID)
		}
	}
	e.check()
}

// postConcurrently posts every report of reqs at once, each from a goroutine of its own, and
// returns their results and errors in order.
func postConcurrently(e *env, reqs []ledger.UsageRequest) ([]ledger.UsageResult, []error) {
	res := make([]ledger.UsageResult, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = e.store.PostUsage(e.ctx, r)
		}()
	}
	wg.Wait()
	return res, errs
}
