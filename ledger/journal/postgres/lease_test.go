package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger/journal"
	journalpg "github.com/openroyalty/royalty/ledger/journal/postgres"
)

// TestSealerLease runs two sealers (two replicas) on one database with a lease: only the holder
// seals; the holder is killed in the middle of a block (its transaction abandoned, the lease
// never released); the other takes over once the lease expires and seals everything, the
// killed one cannot seal with its stale lease, and the journal verifies with every transaction
// sealed once. A clean stop releases the lease.
func TestSealerLease(t *testing.T) {
	e := newEnv(t)
	const ttl = time.Second
	newSealer := func(holder string) *journalpg.Sealer {
		return journalpg.NewSealer(e.pool, e.signer, nil, journalpg.SealerConfig{
			Margin: -1, Interval: 50 * time.Millisecond, Lease: journalpg.Lease{TTL: ttl, Holder: holder},
		})
	}
	a, b := newSealer("replica-a"), newSealer("replica-b")
	holder := func() string {
		t.Helper()
		var h string
		err := e.pool.QueryRow(e.ctx, `SELECT holder FROM journal_sealer_lease`).Scan(&h)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		return h
	}

	for i := 0; i < 3; i++ {
		e.usage(e.ledger, "1")
	}
	if n := e.seal(a); n != 3 {
		t.Fatalf("the first sealer sealed %d, want 3", n)
	}
	e.usage(e.ledger, "2")
	if n := e.seal(b); n != 0 || holder() != "replica-a" {
		t.Fatalf("the sealer without the lease sealed %d (lease held by %q)", n, holder())
	}

	// Kill a mid-seal: its block's transaction has written leaves, checkpoints and balances
	// when the process dies; nothing of it commits and the lease is not released.
	ctx, kill := context.WithCancel(e.ctx)
	inBlock := make(chan struct{})
	a.SetTestHookInBlock(func(ctx context.Context) {
		close(inBlock)
		<-ctx.Done()
	})
	died := make(chan error, 1)
	go func() {
		_, err := a.SealPending(ctx)
		died <- err
	}()
	<-inBlock
	kill()
	if err := <-died; err == nil {
		t.Fatal("the killed sealer's round succeeded")
	}
	a.SetTestHookInBlock(nil)
	if holder() != "replica-a" {
		t.Fatalf("lease holder after the kill = %q, want the dead replica-a until it expires", holder())
	}

	// b takes over once the lease has expired, and seals what a left.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := b.SealPending(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			if n != 1 {
				t.Fatalf("the new holder sealed %d, want 1", n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second sealer did not take over within 30 s (lease held by %q)", holder())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if holder() != "replica-b" {
		t.Fatalf("lease holder = %q, want replica-b", holder())
	}

	// a comes back: the lease is b's, so it seals nothing.
	e.usage(e.ledger, "3")
	if n, err := a.SealPending(e.ctx); n != 0 || err != nil {
		t.Fatalf("the replica that lost the lease sealed %d, %v", n, err)
	}
	if n := e.seal(b); n != 1 {
		t.Fatalf("the holder sealed %d, want 1", n)
	}

	rows := e.export()
	sum, err := verify(e.keys(), journal.VerifyOptions{MinSize: 5}, rows)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		if r.JournalIndex >= 5 {
			t.Fatalf("journal index %d beyond the 5 transactions", r.JournalIndex)
		}
		seen[r.TransactionID] = true
	}
	if len(seen) != 5 {
		t.Fatalf("%d transactions in the journal, want 5 (%+v)", len(seen), sum)
	}
	if _, err := e.store.VerifyBalances(e.ctx); err != nil {
		t.Fatal(err)
	}

	// A clean stop releases the lease at once.
	b.Start()
	for holder() != "replica-b" {
		time.Sleep(10 * time.Millisecond)
	}
	b.Stop()
	if h := holder(); h != "" {
		t.Fatalf("lease held by %q after a clean stop", h)
	}

	// A holder that stalls past its expiry still believes it holds the lease (it renews only
	// when half of its own TTL has passed), but its block is refused inside the transaction
	// once another replica has taken the lease over.
	z := journalpg.NewSealer(e.pool, e.signer, nil, journalpg.SealerConfig{Margin: -1, Lease: journalpg.Lease{TTL: time.Hour, Holder: "replica-z"}})
	e.usage(e.ledger, "4")
	if n := e.seal(z); n != 1 || holder() != "replica-z" {
		t.Fatalf("replica-z sealed %d holding the lease as %q", n, holder())
	}
	if _, err := e.pool.Exec(e.ctx, `UPDATE journal_sealer_lease SET expires_at = now() - INTERVAL '1 second'`); err != nil {
		t.Fatal(err)
	}
	e.usage(e.ledger, "5")
	if n := e.seal(b); n != 1 || holder() != "replica-b" {
		t.Fatalf("replica-b sealed %d after the stall, lease held by %q", n, holder())
	}
	e.usage(e.ledger, "6")
	n, err := z.SealPending(e.ctx)
	if n != 0 || royalty.ErrorCode(err) != royalty.EUNAVAILABLE {
		t.Fatalf("the stalled replica sealed %d, %v; want 0 and UNAVAILABLE", n, err)
	}
	if n := e.seal(b); n != 1 {
		t.Fatalf("the holder sealed %d, want 1", n)
	}
	if _, err := verify(e.keys(), journal.VerifyOptions{MinSize: 8}, e.export()); err != nil {
		t.Fatal(err)
	}
}
