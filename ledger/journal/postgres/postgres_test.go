package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/journal"
	journalpg "github.com/openroyalty/royalty/ledger/journal/postgres"
	ledgerpg "github.com/openroyalty/royalty/ledger/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type env struct {
	t       testing.TB
	ctx     context.Context
	pool    *pgxpool.Pool
	ledger  *ledgerpg.Store
	store   *journalpg.Store
	signer  *journal.Signer
	sealer  *journalpg.Sealer
	prov    string
	alice   string
	counter int
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	l, err := ledgerpg.New(pool, nil, ledgerpg.Config{DefaultRoyaltyRate: "0.5", PlatformFee: "0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	priv, err := journal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, pool: pool, ledger: l, store: journalpg.New(pool), signer: journal.NewSigner(priv)}
	e.sealer = e.newSealer()
	e.prov, e.alice = e.principal("provider"), e.principal("contributor")
	return e
}

func (e *env) newSealer() *journalpg.Sealer {
	return journalpg.NewSealer(e.pool, e.signer, nil, journalpg.SealerConfig{Margin: -1})
}

func (e *env) keys() journal.Keys { return journal.NewKeys(e.signer.PublicKey()) }

func (e *env) principal(role string) string {
	e.t.Helper()
	var id string
	if err := e.pool.QueryRow(e.ctx, `INSERT INTO principals (name, role) VALUES ($1, $2) RETURNING id`, role+" test", role).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// usage books a report crediting two identities and returns its transaction id.
func (e *env) usage(l *ledgerpg.Store, revenue string) string {
	e.t.Helper()
	e.counter++
	req := ledger.UsageRequest{
		ProviderID: e.prov, RequestID: fmt.Sprintf("req-%d", e.counter), ModelID: "m", ModelVersionHash: "sha256:x",
		InputTokens: 10, OutputTokens: 30, Revenue: decimal.RequireFromString(revenue), Currency: "USD",
		Shares: []ledger.Share{
			{IdentityKey: "hn:/pg", Share: big.NewRat(1, 3)},
			{IdentityKey: fmt.Sprintf("stackexchange:bicycles/%d", e.counter%4), Share: big.NewRat(1, 3)},
		},
	}
	res, err := l.PostUsage(e.ctx, req)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Usage.TransactionID
}

// book writes every kind of transaction: usages, a reversal, an escrow release and a payout.
func (e *env) book() []string {
	e.t.Helper()
	var ids []string
	for i := 0; i < 6; i++ {
		ids = append(ids, e.usage(e.ledger, fmt.Sprintf("%d.123456789012", i+1)))
	}
	rev, err := e.ledger.ReverseUsage(e.ctx, ledger.ReversalRequest{ProviderID: e.prov, TransactionID: ids[1], Reason: "refund"})
	if err != nil {
		e.t.Fatal(err)
	}
	rel, err := e.ledger.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: "hn:/pg", ContributorID: e.alice})
	if err != nil {
		e.t.Fatal(err)
	}
	pay, err := e.ledger.Payout(e.ctx, ledger.PayoutRequest{ContributorID: e.alice, RequestID: "pay-1", Currency: "USD"})
	if err != nil {
		e.t.Fatal(err)
	}
	ids = append(ids, e.usage(e.ledger, "0.000000000003"))
	return append(ids, rev.Usage.Reversal.TransactionID, rel.TransactionID, pay.Payout.TransactionID)
}

func (e *env) seal(s *journalpg.Sealer) int {
	e.t.Helper()
	n, err := s.SealPending(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// export returns the rows of a full export.
func (e *env) export() []journal.Row {
	e.t.Helper()
	var rows []journal.Row
	err := e.store.Export(e.ctx, time.Time{}, time.Time{}, func(r *journal.Row) error {
		c := *r
		if r.Checkpoint != nil {
			cp := *r.Checkpoint
			c.Checkpoint = &cp
		}
		rows = append(rows, c)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func verify(keys journal.Keys, opts journal.VerifyOptions, rows []journal.Row) (journal.Summary, error) {
	v := journal.NewVerifier(keys, opts)
	for i := range rows {
		if err := v.Add(&rows[i]); err != nil {
			return journal.Summary{}, err
		}
	}
	return v.Close()
}

func TestSealExportVerify(t *testing.T) {
	e := newEnv(t)
	ids := e.book()
	if n := e.seal(e.sealer); n != len(ids) {
		t.Fatalf("sealed %d transactions, want %d", n, len(ids))
	}
	if n := e.seal(e.sealer); n != 0 {
		t.Fatalf("sealing again sealed %d", n)
	}
	more := e.usage(e.ledger, "2")
	if n := e.seal(e.sealer); n != 1 {
		t.Fatalf("sealed %d, want the one new transaction", n)
	}
	ids = append(ids, more)

	rows := e.export()
	// Small chunks read ahead by several connections give the same rows.
	var small []journal.Row
	err := e.store.ExportWith(e.ctx, time.Time{}, time.Time{}, journalpg.ExportOptions{Chunk: 2, Readers: 3}, func(r *journal.Row) error {
		c := *r
		if r.Checkpoint != nil {
			cp := *r.Checkpoint
			c.Checkpoint = &cp
		}
		small = append(small, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(small) != len(rows) {
		t.Fatalf("chunked export has %d rows, want %d", len(small), len(rows))
	}
	for i := range rows {
		a, b := small[i], rows[i]
		if (a.Checkpoint == nil) != (b.Checkpoint == nil) || a.Checkpoint != nil && a.Checkpoint.Size != b.Checkpoint.Size {
			t.Fatalf("row %d: checkpoints differ", i+1)
		}
		a.Checkpoint, b.Checkpoint = nil, nil
		if a != b {
			t.Fatalf("row %d differs:\n%+v\n%+v", i+1, a, b)
		}
	}
	sum, err := verify(e.keys(), journal.VerifyOptions{MinSize: uint64(len(ids))}, rows)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sealed != uint64(len(ids)) || sum.Checkpoints != 2 || sum.Newest.Size != uint64(len(ids)) || sum.Unsealed != 0 {
		t.Fatalf("summary = %+v", sum)
	}
	// Every posting is exported once, with the ledger's amounts.
	var postings int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM ledger_postings`).Scan(&postings); err != nil {
		t.Fatal(err)
	}
	if len(rows) != postings {
		t.Fatalf("export has %d rows, the ledger %d postings", len(rows), postings)
	}
	if got, err := e.store.Verify(e.ctx, e.keys()); err != nil || got.Rows != uint64(postings) {
		t.Fatalf("Verify = %+v, %v", got, err)
	}

	// Unsealed transactions come last without chain fields.
	late := e.usage(e.ledger, "3")
	rows = e.export()
	last := rows[len(rows)-1]
	if last.TransactionID != late || last.Sealed {
		t.Fatalf("last row = %+v, want unsealed %s", last, late)
	}
	if _, err := verify(e.keys(), journal.VerifyOptions{}, rows); err == nil {
		t.Fatal("an export with unsealed rows verified without AllowUnsealed")
	}
	if sum, err := verify(e.keys(), journal.VerifyOptions{AllowUnsealed: true}, rows); err != nil || sum.Unsealed != 1 {
		t.Fatalf("with AllowUnsealed: %+v, %v", sum, err)
	}
	if _, err := e.store.Verify(e.ctx, e.keys()); err != nil {
		t.Fatalf("Verify with a pending transaction: %v", err)
	}
}

func TestInclusionProofs(t *testing.T) {
	e := newEnv(t)
	ids := e.book()
	e.seal(e.sealer)
	first, ok, err := e.store.Latest(e.ctx)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	later := e.usage(e.ledger, "1")
	e.seal(e.sealer)
	for _, id := range append(ids, later) {
		p, err := e.store.InclusionProof(e.ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Verify(e.keys())
		if err != nil {
			t.Fatalf("proof of %s: %v", id, err)
		}
		if got.TransactionID != id || len(got.Postings) < 2 {
			t.Fatalf("proof of %s proves %+v", id, got)
		}
	}
	// Against an older checkpoint.
	p, err := e.store.InclusionProof(e.ctx, ids[0], first.Size)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(e.keys()); err != nil || p.Checkpoint.Size != first.Size {
		t.Fatalf("proof under checkpoint %d: %v", first.Size, err)
	}
	_, err = e.store.InclusionProof(e.ctx, later, first.Size)
	wantCode(t, err, royalty.EPRECONDITION)
	_, err = e.store.InclusionProof(e.ctx, ids[0], first.Size+100)
	wantCode(t, err, royalty.ENOTFOUND)
	_, err = e.store.InclusionProof(e.ctx, "00000000-0000-4000-8000-000000000000", 0)
	wantCode(t, err, royalty.ENOTFOUND)
	_, err = e.store.InclusionProof(e.ctx, "nope", 0)
	wantCode(t, err, royalty.EINVALID)
	pending := e.usage(e.ledger, "1")
	_, err = e.store.InclusionProof(e.ctx, pending, 0)
	wantCode(t, err, royalty.ENOTFOUND)
}

// TestConcurrentExports runs more exports at once than the pool has connections, each reading
// ahead on several: none holds a connection while waiting for another, so all finish.
func TestConcurrentExports(t *testing.T) {
	e := newEnv(t)
	e.book()
	e.seal(e.sealer)
	e.usage(e.ledger, "1") // and one not sealed
	want := len(e.export())
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			err := e.store.ExportWith(ctx, time.Time{}, time.Time{}, journalpg.ExportOptions{Chunk: 1, Readers: 4}, func(*journal.Row) error { n++; return nil })
			if err == nil && n != want {
				err = fmt.Errorf("%d rows, want %d", n, want)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckpointsPage(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 5; i++ {
		e.usage(e.ledger, "1")
		e.seal(e.sealer)
	}
	var sizes []uint64
	var before uint64
	for page := 0; ; page++ {
		cps, next, err := e.store.Checkpoints(e.ctx, before, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cps {
			sizes = append(sizes, c.Size)
			if err := c.Verify(e.keys()); err != nil {
				t.Fatal(err)
			}
		}
		if next == 0 {
			break
		}
		before = next
	}
	if fmt.Sprint(sizes) != "[5 4 3 2 1]" {
		t.Fatalf("checkpoint sizes = %v", sizes)
	}
	_, _, err := e.store.Checkpoints(e.ctx, 0, 0)
	wantCode(t, err, royalty.EINVALID)
	if _, err := e.store.Checkpoint(e.ctx, 3); err != nil {
		t.Fatal(err)
	}
	_, err = e.store.Checkpoint(e.ctx, 6)
	wantCode(t, err, royalty.ENOTFOUND)
}

// TestLateCommit books a transaction whose created_at is older than transactions already
// sealed, as a transaction that commits late does: the next round seals it at a later position.
func TestLateCommit(t *testing.T) {
	e := newEnv(t)
	e.usage(e.ledger, "1")
	e.seal(e.sealer)
	past := func(d time.Duration) *ledgerpg.Store {
		l, err := ledgerpg.New(e.pool, nil, ledgerpg.Config{Now: func() time.Time { return time.Now().Add(-d) }, GroupCommit: ledgerpg.GroupCommit{Disabled: true}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return l
	}
	recent := e.usage(past(5*time.Second), "1") // within Grace (30 s)
	if n, err := e.sealer.SealRecent(e.ctx); err != nil || n != 1 {
		t.Fatalf("recent round sealed %d, %v; want the late transaction", n, err)
	}
	// Another server's sealer, which has sealed nothing itself, looks back from the journal's
	// newest leaf: it finds a recent late commit, and leaves older ones to its sweep.
	other := e.newSealer()
	late := e.usage(past(10*time.Second), "1")
	if n, err := other.SealRecent(e.ctx); err != nil || n != 1 {
		t.Fatalf("the other sealer's recent round sealed %d, %v; want the late transaction", n, err)
	}
	// A ledger whose clock is an hour behind cannot stamp a transaction below the newest
	// balance fence (docs/design.md §8): it is stamped just after it, so a recent round, not
	// only the sweep, seals it.
	old := e.usage(past(time.Hour), "1")
	if n, err := other.SealRecent(e.ctx); err != nil || n != 1 {
		t.Fatalf("recent round sealed %d, %v; want the transaction stamped after the fence", n, err)
	}
	if n := e.seal(e.sealer); n != 0 {
		t.Fatalf("sweep sealed %d, want 0", n)
	}
	rows := e.export()
	if _, err := verify(e.keys(), journal.VerifyOptions{}, rows); err != nil {
		t.Fatal(err)
	}
	index := map[string]uint64{}
	for _, r := range rows {
		index[r.TransactionID] = r.JournalIndex
	}
	if index[recent] != 1 || index[late] != 2 || index[old] != 3 {
		t.Fatalf("positions: %d, %d, %d; want 1, 2, 3 (sealing order, not created_at order)", index[recent], index[late], index[old])
	}
}

// TestConcurrentSealers runs three sealers (three servers) against one database while reports
// are booked: every transaction is sealed exactly once, the positions have no gaps, every
// checkpoint extends the previous one, and the journal verifies.
func TestConcurrentSealers(t *testing.T) {
	e := newEnv(t)
	// Create the accounts first: concurrent first uses of an account are the ledger's business,
	// not this test's.
	for i := 0; i < 5; i++ {
		req := ledger.UsageRequest{ProviderID: e.prov, RequestID: fmt.Sprintf("warm-%d", i), ModelID: "m", Revenue: decimal.New(1, 0), Currency: "USD",
			Shares: []ledger.Share{{IdentityKey: fmt.Sprintf("hn:/u%d", i), Share: big.NewRat(1, 2)}}}
		if _, err := e.ledger.PostUsage(e.ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	var wg sync.WaitGroup
	var booked sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 3; w++ {
		booked.Add(1)
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			defer booked.Done()
			for i := 0; i < 40; i++ {
				req := ledger.UsageRequest{ProviderID: e.prov, RequestID: fmt.Sprintf("w%d-%d", w, i), ModelID: "m", Revenue: decimal.New(int64(i+1), -3), Currency: "USD",
					Shares: []ledger.Share{{IdentityKey: fmt.Sprintf("hn:/u%d", i%5), Share: big.NewRat(1, 2)}}}
				if _, err := e.ledger.PostUsage(ctx, req); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	sealers := []*journalpg.Sealer{e.newSealer(), e.newSealer(), e.newSealer()}
	done := make(chan struct{})
	for _, s := range sealers {
		wg.Add(1)
		go func(s *journalpg.Sealer) {
			defer wg.Done()
			for {
				if _, err := s.SealPending(ctx); err != nil {
					errs <- err
					return
				}
				select {
				case <-done:
					return
				default:
				}
			}
		}(s)
	}
	booked.Wait()
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	e.seal(sealers[0])

	var txs, leaves, maxIdx, cps int64
	if err := e.pool.QueryRow(e.ctx, `SELECT (SELECT count(*) FROM ledger_transactions), (SELECT count(*) FROM journal_leaves),
		(SELECT max(idx) FROM journal_leaves), (SELECT count(*) FROM journal_checkpoints)`).Scan(&txs, &leaves, &maxIdx, &cps); err != nil {
		t.Fatal(err)
	}
	if txs != 125 || leaves != txs || maxIdx != txs-1 {
		t.Fatalf("%d transactions, %d leaves, max index %d", txs, leaves, maxIdx)
	}
	var broken int64
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM journal_checkpoints AS c
		WHERE c.prev_size > 0 AND NOT EXISTS (SELECT 1 FROM journal_checkpoints AS p WHERE p.size = c.prev_size)`).Scan(&broken); err != nil {
		t.Fatal(err)
	}
	if broken != 0 {
		t.Fatalf("%d checkpoints extend a checkpoint that does not exist", broken)
	}
	if _, err := e.store.Verify(e.ctx, e.keys()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d transactions sealed in %d blocks by 3 sealers", txs, cps)
}

// TestTamperedDatabase changes the books behind the ledger's back after sealing: Verify names
// the row and a proof of the changed transaction no longer verifies, while the export still
// shows the transaction as it was sealed (its stored leaf data).
func TestTamperedDatabase(t *testing.T) {
	tests := []struct {
		name string
		sql  string
	}{
		{"changed amount", `UPDATE ledger_postings SET amount = amount + 0.000000000001 WHERE transaction_id = $1 AND n = 1`},
		{"deleted posting", `DELETE FROM ledger_postings WHERE transaction_id = $1 AND n = 1`},
		{"changed request id", `UPDATE ledger_transactions SET request_id = 'other' WHERE id = $1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ids := e.book()
			e.seal(e.sealer)
			rows := e.export()
			target := ids[3]
			var firstRow, lastRow uint64
			for i, r := range rows {
				if r.TransactionID == target {
					if firstRow == 0 {
						firstRow = uint64(i + 1)
					}
					lastRow = uint64(i + 1)
				}
			}
			if _, err := e.pool.Exec(e.ctx, tt.sql, target); err != nil {
				t.Fatal(err)
			}
			if _, err := verify(e.keys(), journal.VerifyOptions{}, e.export()); err != nil {
				t.Fatalf("the export of the sealed leaf data: %v", err)
			}
			_, err := e.store.Verify(e.ctx, e.keys())
			re, ok := journal.IsRowError(err)
			if !ok {
				t.Fatalf("Verify = %v, want a row error", err)
			}
			// The export recomputes posting hashes from the changed data, so the change shows
			// when the transaction's leaf is checked: at the row after it.
			if re.Row < firstRow || re.Row > lastRow+1 {
				t.Fatalf("error at row %d, want within rows %d-%d: %v", re.Row, firstRow, lastRow+1, err)
			}
			p, err := e.store.InclusionProof(e.ctx, target, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Verify(e.keys()); !errors.Is(err, journal.ErrProof) {
				t.Fatalf("proof of the changed transaction: %v", err)
			}
		})
	}
}

func TestSealerStartStop(t *testing.T) {
	e := newEnv(t)
	s := journalpg.NewSealer(e.pool, e.signer, nil, journalpg.SealerConfig{Interval: 20 * time.Millisecond, Margin: -1})
	s.Start()
	defer s.Stop()
	id := e.usage(e.ledger, "1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := e.store.InclusionProof(e.ctx, id, 0); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background sealer did not seal the transaction within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	s.Stop() // idempotent
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if royalty.ErrorCode(err) != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
}
