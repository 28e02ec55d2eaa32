package postgres_test

import (
	"bytes"
	"context"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/csv"
	"github.com/openroyalty/royalty/ledger/journal"
	journalpg "github.com/openroyalty/royalty/ledger/journal/postgres"
)

// source is a csv.JournalSource that exports with options.
type source struct {
	s *journalpg.Store
	o journalpg.ExportOptions
}

func (s source) Export(ctx context.Context, since, until time.Time, fn func(*journal.Row) error) error {
	return s.s.ExportWith(ctx, since, until, s.o, fn)
}

func (e *env) csv(o journalpg.ExportOptions, since, until time.Time) []byte {
	e.t.Helper()
	var b bytes.Buffer
	if err := csv.WriteJournal(e.ctx, source{e.store, o}, since, until, &b); err != nil {
		e.t.Fatal(err)
	}
	return b.Bytes()
}

// hostile books a usage whose request id and identity need escapes in the leaf data and
// quoting and neutralisation in the CSV.
func (e *env) hostile() string {
	e.t.Helper()
	res, err := e.ledger.PostUsage(e.ctx, ledger.UsageRequest{
		ProviderID: e.prov, RequestID: `=cmd "a, b" \t\\x`, ModelID: "m", ModelVersionHash: "sha256:x",
		InputTokens: 1, OutputTokens: 3, Revenue: decimal.RequireFromString("0.5"), Currency: "USD",
		Shares: []ledger.Share{{IdentityKey: `hn:/"q,\r'`, Share: big.NewRat(1, 2)}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Usage.TransactionID
}

// TestExportFromLeavesMatchesTables holds the export read from the stored leaf data to the
// export read from the ledger tables: the same CSV bytes, whole, bounded by time, in small
// chunks, with an unsealed tail, and with leaves sealed before leaf data was stored.
func TestExportFromLeavesMatchesTables(t *testing.T) {
	e := newEnv(t)
	e.book()
	e.hostile()
	e.seal(e.sealer)
	for i := 0; i < 3; i++ {
		e.usage(e.ledger, "0.25")
		e.seal(e.sealer)
	}
	e.hostile() // not sealed
	var times []time.Time
	if err := e.pool.QueryRow(e.ctx, `SELECT array_agg(created_at ORDER BY created_at) FROM ledger_transactions`).Scan(&times); err != nil {
		t.Fatal(err)
	}
	since, until := times[2], times[len(times)-3]
	check := func(what string) {
		t.Helper()
		tables := journalpg.ExportOptions{FromTables: true}
		full := e.csv(tables, time.Time{}, time.Time{})
		if !bytes.Contains(full, []byte(`:=cmd ""a, b"" \t\\x"`)) {
			t.Fatalf("%s: the hostile request id is not in the export:\n%s", what, full)
		}
		for _, o := range []journalpg.ExportOptions{{}, {Chunk: 1, Readers: 3}, {Chunk: 3, Readers: 1}} {
			if got := e.csv(o, time.Time{}, time.Time{}); !bytes.Equal(got, full) {
				t.Fatalf("%s: export with %+v differs from the tables':\n%s\nwant\n%s", what, o, got, full)
			}
			want := e.csv(journalpg.ExportOptions{FromTables: true, Chunk: o.Chunk}, since, until)
			if got := e.csv(o, since, until); !bytes.Equal(got, want) {
				t.Fatalf("%s: bounded export with %+v differs from the tables':\n%s\nwant\n%s", what, o, got, want)
			}
			if n := bytes.Count(want, []byte("\r\n")); n < 3 || n >= bytes.Count(full, []byte("\r\n")) {
				t.Fatalf("%s: the bounded export has %d lines", what, n)
			}
		}
		if _, err := e.store.Verify(e.ctx, e.keys()); err != nil {
			t.Fatalf("%s: Verify: %v", what, err)
		}
	}
	check("leaf data stored")
	// Leaves sealed before migration 0404 have none: their chunks are read from the tables.
	if _, err := e.pool.Exec(e.ctx, `DELETE FROM journal_leaf_data WHERE idx % 3 = 1`); err != nil {
		t.Fatal(err)
	}
	check("some leaves without leaf data")
}

// TestStoredLeafDataIsTheSealedData checks that the sealer stores each transaction's leaf data,
// hashing to its leaf hash.
func TestStoredLeafDataIsTheSealedData(t *testing.T) {
	e := newEnv(t)
	ids := e.book()
	e.seal(e.sealer)
	for _, id := range ids {
		var data, leaf []byte
		if err := e.pool.QueryRow(e.ctx, `SELECT d.leaf_data, l.leaf_hash FROM journal_leaves AS l
			JOIN journal_leaf_data AS d ON d.idx = l.idx WHERE l.transaction_id = $1`, id).Scan(&data, &leaf); err != nil {
			t.Fatal(err)
		}
		p, err := e.store.InclusionProof(e.ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := journal.LeafHash(data); !bytes.Equal(got[:], leaf) || !bytes.Equal(data, p.LeafData) {
			t.Fatalf("transaction %s: stored leaf data %q, proof's %q", id, data, p.LeafData)
		}
	}
}

// TestTamperedLeafData changes the stored leaf data that exports show: the export no longer
// verifies, and Verify, which reads the tables, names the transaction's first row.
func TestTamperedLeafData(t *testing.T) {
	e := newEnv(t)
	ids := e.book()
	e.seal(e.sealer)
	rows := e.export()
	target := ids[4]
	first := uint64(0)
	for i, r := range rows {
		if r.TransactionID == target {
			first = uint64(i + 1)
			break
		}
	}
	var data []byte
	const at = `(SELECT idx FROM journal_leaves WHERE transaction_id = $1)`
	if err := e.pool.QueryRow(e.ctx, `SELECT leaf_data FROM journal_leaf_data WHERE idx = `+at, target).Scan(&data); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	// Move a quantum from the second posting to the third: still balanced and canonical.
	lines[3] = strings.Replace(lines[3], "\tUSD\t-", "\tUSD\t-1", 1)
	lines[4] = strings.Replace(lines[4], "\tUSD\t-", "\tUSD\t1", 1)
	forged := strings.Join(lines, "\n")
	if _, err := e.pool.Exec(e.ctx, `UPDATE journal_leaf_data SET leaf_data = $2 WHERE idx = `+at, target, []byte(forged)); err != nil {
		t.Fatal(err)
	}
	if _, err := verify(e.keys(), journal.VerifyOptions{}, e.export()); err == nil {
		t.Fatal("an export of forged leaf data verified")
	}
	_, err := e.store.Verify(e.ctx, e.keys())
	re, ok := journal.IsRowError(err)
	if !ok || re.Row != first || !strings.Contains(re.Msg, "leaf data") {
		t.Fatalf("Verify = %v, want a row error at row %d about the leaf data", err, first)
	}
}
