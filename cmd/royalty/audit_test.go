package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/openroyalty/royalty/auth"
	authpg "github.com/openroyalty/royalty/auth/postgres"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
	"github.com/openroyalty/royalty/ledger"
	ledgercsv "github.com/openroyalty/royalty/ledger/csv"
	"github.com/openroyalty/royalty/ledger/journal"
	ledgerpg "github.com/openroyalty/royalty/ledger/postgres"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// auditEnv is a running server with a signing key over a database with books of every kind of
// transaction, sealed, and an auditor's and a contributor's keys.
type auditEnv struct {
	ctx         context.Context
	dsn         string
	srv         *runningServer
	audit       v1.AuditServiceClient
	auditorKey  string
	contributor auth.Principal
	contribKey  string
	credited    string // a transaction crediting the contributor
	pubkey      string
	dir         string
}

func newAuditEnv(t *testing.T) *auditEnv {
	t.Helper()
	ctx := context.Background()
	e := &auditEnv{ctx: ctx, dsn: pgtest.NewDatabase(t), dir: t.TempDir()}
	pool, err := pgdb.Open(ctx, e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	as := authpg.New(pool)
	_, _, e.auditorKey, err = as.CreatePrincipal(ctx, "auditor", auth.RoleAuditor)
	if err != nil {
		t.Fatal(err)
	}
	e.contributor, _, e.contribKey, err = as.CreatePrincipal(ctx, "ana", auth.RoleContributor)
	if err != nil {
		t.Fatal(err)
	}
	prov, _, _, err := as.CreatePrincipal(ctx, "acme", auth.RoleProvider)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledgerpg.New(pool, nil, ledgerpg.Config{PlatformFee: "0.1", FeedbackWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	report := func(rid, revenue, currency string, keys ...string) string {
		req := ledger.UsageRequest{ProviderID: prov.ID, RequestID: rid, ModelID: "m", Revenue: decimal.RequireFromString(revenue), Currency: currency}
		for _, k := range keys {
			req.Shares = append(req.Shares, ledger.Share{IdentityKey: k, Share: big.NewRat(1, int64(len(keys)+1))})
		}
		res, err := l.PostUsage(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return res.Usage.TransactionID
	}
	first := report("r1", "1.234567890123", "USD", "hn:/ana", "stackexchange:bicycles/7")
	report("r2", "0.000000000007", "USD", "hn:/ana")
	report("r3", "3", "EUR", "hn:/ana", "reddit:/x")
	if _, err := l.ReverseUsage(ctx, ledger.ReversalRequest{ProviderID: prov.ID, TransactionID: first, Reason: "refund"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ReleaseEscrow(ctx, ledger.EscrowReleaseRequest{IdentityKey: "hn:/ana", ContributorID: e.contributor.ID}); err != nil {
		t.Fatal(err)
	}
	e.credited = report("r4", "7.5", "USD", "hn:/ana")
	if _, err := l.Payout(ctx, ledger.PayoutRequest{ContributorID: e.contributor.ID, RequestID: "p1", Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	feedbackRoyalties(t, ctx, pool, l, prov.ID)

	keyFile := filepath.Join(e.dir, "signing.pem")
	if _, err := writeSigningKey(keyFile); err != nil {
		t.Fatal(err)
	}
	cfg := &config{DatabaseURL: e.dsn, GRPCAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", DataDir: t.TempDir(), SigningKeyFile: keyFile}
	e.srv, err = startServer(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.srv.Shutdown(0) })
	conn, err := grpc.NewClient(e.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e.audit = v1.NewAuditServiceClient(conn)
	pk, err := e.audit.GetPublicKey(e.as(e.auditorKey), &v1.GetPublicKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	e.pubkey = pk.GetPublicKey()
	// The server's own sealer seals the nine transactions within a few seconds (it leaves the
	// youngest second for the next round).
	deadline := time.Now().Add(20 * time.Second)
	for {
		cps, err := e.audit.ListCheckpoints(e.as(e.auditorKey), &v1.ListCheckpointsRequest{PageSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(cps.GetCheckpoints()) == 1 && cps.GetCheckpoints()[0].GetSize() == 9 {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not seal the 9 transactions within 20 s: %v", cps.GetCheckpoints())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *auditEnv) as(key string) context.Context {
	return metadata.AppendToOutgoingContext(e.ctx, "authorization", "Bearer "+key)
}

// exportJournal writes the journal CSV with `royalty export journal` and returns its lines.
func (e *auditEnv) exportJournal(t *testing.T) (string, []string) {
	t.Helper()
	path := filepath.Join(e.dir, "journal.csv")
	if out, err := runCmd(t, e.ctx, "export", "journal", "--out", path, "--database-url", e.dsn); err != nil {
		t.Fatalf("export journal: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, strings.SplitAfter(strings.TrimSuffix(string(b), "\r\n"), "\r\n")
}

// TestVerifyCommand runs `royalty verify` on an untouched export and on edited copies: every
// edit fails verification with exit status 1 and names the edited row.
func TestVerifyCommand(t *testing.T) {
	e := newAuditEnv(t)
	path, lines := e.exportJournal(t)
	out, err := runCmd(t, e.ctx, "verify", path, "--pubkey", e.pubkey)
	if err != nil || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("verify of the untouched export: %v\n%s", err, out)
	}
	rows := len(lines) - 1
	var cpRow int // the last row carries the newest checkpoint
	for i := 1; i < len(lines); i++ {
		if cells := strings.Split(lines[i], ","); cells[12] != "" {
			cpRow = i
		}
	}
	if cpRow != rows {
		t.Fatalf("the newest checkpoint is on row %d of %d", cpRow, rows)
	}
	write := func(ls []string) string {
		p := filepath.Join(t.TempDir(), "edited.csv")
		text := ""
		for _, l := range ls {
			text += strings.TrimSuffix(l, "\r\n") + "\r\n"
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cell := func(row, col int, f func(string) string) []string {
		ls := append([]string(nil), lines...)
		cells := strings.Split(strings.TrimSuffix(ls[row], "\r\n"), ",")
		cells[col] = f(cells[col])
		ls[row] = strings.Join(cells, ",")
		return ls
	}
	tests := []struct {
		name string
		ls   []string
		row  int
	}{
		{"changed amount", cell(5, 6, func(a string) string { return decimal.RequireFromString(a).Add(decimal.New(1, -12)).String() }), 5},
		{"dropped row", append(append([]string(nil), lines[:4]...), lines[5:]...), 4},
		{"added row", append(append(append([]string(nil), lines[:8]...), lines[3]), lines[8:]...), 8},
		{"swapped rows", func() []string {
			ls := append([]string(nil), lines...)
			ls[2], ls[3] = ls[3], ls[2]
			return ls
		}(), 2},
		{"altered checkpoint signature", cell(cpRow, 16, func(s string) string {
			if s[1] == 'A' {
				return s[:1] + "B" + s[2:]
			}
			return s[:1] + "A" + s[2:]
		}), cpRow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCmd(t, e.ctx, "verify", write(tt.ls), "--pubkey", e.pubkey)
			var ec exitCode
			if !errors.As(err, &ec) || ec != 1 {
				t.Fatalf("verify = %v, want exit status 1\n%s", err, out)
			}
			if want := fmt.Sprintf(": row %d: ", tt.row); !strings.Contains(out, want) {
				t.Fatalf("verify output does not name row %d:\n%s", tt.row, out)
			}
		})
	}
	if _, err := runCmd(t, e.ctx, "verify", path); err == nil {
		t.Error("verify without --pubkey succeeded")
	}
	keyFile := filepath.Join(t.TempDir(), "key.pub")
	if err := os.WriteFile(keyFile, []byte(e.pubkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd(t, e.ctx, "verify", path, "--pubkey", keyFile); err != nil {
		t.Errorf("verify with the key in a file: %v\n%s", err, out)
	}
	other, err := writeSigningKey(filepath.Join(t.TempDir(), "other.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, e.ctx, "verify", path, "--pubkey", journal.EncodePublicKey(other.PublicKey())); err == nil {
		t.Error("an export verified with another key")
	}

	vr, err := e.audit.VerifyJournal(e.as(e.auditorKey), &v1.VerifyJournalRequest{})
	if err != nil || !vr.GetOk() || vr.GetRows() != uint64(rows) {
		t.Fatalf("VerifyJournal = %v, %v", vr, err)
	}
}

// TestProofCommands fetches a contributor's inclusion proof with `royalty export proof` and
// checks it with `royalty verify proof`; an edited proof fails.
func TestProofCommands(t *testing.T) {
	e := newAuditEnv(t)
	proof := filepath.Join(e.dir, "proof.json")
	out, err := runCmd(t, e.ctx, "export", "proof", "--transaction", e.credited, "--out", proof, "--grpc-addr", e.srv.GRPCAddr(), "--api-key", e.contribKey)
	if err != nil {
		t.Fatalf("export proof: %v\n%s", err, out)
	}
	out, err = runCmd(t, e.ctx, "verify", "proof", proof, "--pubkey", e.pubkey)
	if err != nil || !strings.Contains(out, "ok: transaction "+e.credited) || !strings.Contains(out, "contributor:"+e.contributor.ID) {
		t.Fatalf("verify proof: %v\n%s", err, out)
	}
	b, err := os.ReadFile(proof)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), "\\tUSD\\t-", "\\tUSD\\t-1", 1)
	if edited == string(b) {
		t.Fatal("nothing to edit in the proof")
	}
	bad := filepath.Join(e.dir, "bad.json")
	if err := os.WriteFile(bad, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runCmd(t, e.ctx, "verify", "proof", bad, "--pubkey", e.pubkey)
	var ec exitCode
	if !errors.As(err, &ec) || !strings.Contains(out, "FAILED") {
		t.Fatalf("verify of an edited proof = %v\n%s", err, out)
	}
	// Another contributor's transaction is not found for this contributor.
	_, err = runCmd(t, e.ctx, "export", "proof", "--transaction", "00000000-0000-4000-8000-000000000000", "--out", proof, "--grpc-addr", e.srv.GRPCAddr(), "--api-key", e.contribKey)
	if err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Fatalf("proof of an unknown transaction: %v", err)
	}
}

// TestHledgerExport writes the books as an hledger journal, runs `hledger check` on it and
// compares hledger's balances per account type with GetTrialBalance, to the last digit.
func TestHledgerExport(t *testing.T) {
	bin, err := exec.LookPath("hledger")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("hledger is not installed (apt-get install -y hledger); CI=true, so this fails")
		}
		t.Skip("hledger is not installed (apt-get install -y hledger)")
	}
	e := newAuditEnv(t)
	file := filepath.Join(e.dir, "books.journal")
	if out, err := runCmd(t, e.ctx, "export", "hledger", "--out", file, "--database-url", e.dsn); err != nil {
		t.Fatalf("export hledger: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"check"}, {"check", "--strict"}} {
		if out, err := exec.Command(bin, append([]string{"-f", file}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("hledger %v: %v\n%s", args, err, out)
		}
	}
	// The same journal from the verified CSV export.
	csvPath, _ := e.exportJournal(t)
	fromCSV := filepath.Join(e.dir, "from-csv.journal")
	if out, err := runCmd(t, e.ctx, "export", "hledger", "--from", csvPath, "--out", fromCSV); err != nil {
		t.Fatalf("export hledger --from: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(file)
	b, _ := os.ReadFile(fromCSV)
	if string(a) != string(b) {
		t.Fatal("the hledger journal from the CSV export differs from the one from the database")
	}

	out, err := exec.Command(bin, "-f", file, "balance", "--depth", "1", "--output-format", "csv").Output()
	if err != nil {
		t.Fatalf("hledger balance: %v", err)
	}
	got := map[string]decimal.Decimal{} // "type/currency" → balance
	printed := map[string]string{}      // the same, as hledger printed it
	recs, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	typeOf := map[string]string{"escrow": "identity_escrow"}
	for _, rec := range recs[1:] {
		if rec[0] == "total" {
			continue
		}
		typ := rec[0]
		if tt, ok := typeOf[typ]; ok {
			typ = tt
		}
		for _, amt := range strings.Split(rec[1], ", ") {
			f := strings.Fields(amt)
			if len(f) != 2 {
				t.Fatalf("unexpected hledger amount %q", amt)
			}
			got[typ+"/"+f[1]] = decimal.RequireFromString(f[0])
			printed[typ+"/"+f[1]] = f[0]
		}
	}
	tb, err := e.audit.GetTrialBalance(e.as(e.auditorKey), &v1.GetTrialBalanceRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, l := range tb.GetLines() {
		typ := strings.ToLower(strings.TrimPrefix(l.GetAccountType().String(), "ACCOUNT_TYPE_"))
		if !decimal.RequireFromString(l.GetBalance()).IsZero() {
			want[typ+"/"+l.GetCurrency()] = l.GetBalance()
		}
	}
	if len(got) != len(want) {
		t.Fatalf("hledger has balances %v, GetTrialBalance %v", got, want)
	}
	for k, w := range want {
		// Exact decimals: hledger prints 12 places, so "0.123" is "0.123000000000" there.
		if g, ok := got[k]; !ok || !g.Equal(decimal.RequireFromString(w)) {
			t.Errorf("%s: hledger says %s, GetTrialBalance %s", k, g, w)
		}
		// hledger must print every place, or its balances would be compared rounded.
		if _, frac, _ := strings.Cut(printed[k], "."); len(frac) != 12 {
			t.Errorf("%s: hledger printed %q, not 12 places", k, printed[k])
		}
	}

	// The trial balance CSV says the same as GetTrialBalance.
	tbFile := filepath.Join(e.dir, "tb.csv")
	if out, err := runCmd(t, e.ctx, "export", "trial-balance", "--out", tbFile, "--database-url", e.dsn); err != nil {
		t.Fatalf("export trial-balance: %v\n%s", err, out)
	}
	tbRecs := readCSV(t, tbFile)
	lines := 0
	for _, rec := range tbRecs[1:] {
		if rec[0] == "total" {
			if !decimal.RequireFromString(rec[5]).IsZero() {
				t.Errorf("total %s = %s", rec[1], rec[5])
			}
			continue
		}
		lines++
		if w, ok := want[rec[0]+"/"+rec[1]]; ok && !decimal.RequireFromString(rec[5]).Equal(decimal.RequireFromString(w)) {
			t.Errorf("trial balance CSV %s/%s = %s, GetTrialBalance %s", rec[0], rec[1], rec[5], w)
		}
	}
	if lines != len(tb.GetLines()) {
		t.Errorf("trial balance CSV has %d lines, GetTrialBalance %d", lines, len(tb.GetLines()))
	}
}

func TestStatementExport(t *testing.T) {
	e := newAuditEnv(t)
	file := filepath.Join(e.dir, "statement.csv")
	if out, err := runCmd(t, e.ctx, "export", "statement", "--contributor", e.contributor.ID, "--out", file, "--database-url", e.dsn); err != nil {
		t.Fatalf("export statement: %v\n%s", err, out)
	}
	recs := readCSV(t, file)
	if got := strings.Join(recs[0], ","); got != strings.Join(ledgercsv.StatementColumns, ",") || ledgercsv.StatementColumns[11] != "released_by" {
		t.Fatalf("header %s", got)
	}
	sums := map[string]decimal.Decimal{}
	releases := map[string]decimal.Decimal{} // release transaction id/currency → its amount
	moved := map[string]decimal.Decimal{}    // release transaction id/currency → the entries it moved
	rows := 0
	for _, rec := range recs[1:] {
		amount := decimal.RequireFromString(rec[5])
		if by := rec[11]; by != "" {
			if rec[3] != ledger.EscrowAccount("hn:/ana") {
				t.Errorf("a released entry on account %s, want the escrow of hn:/ana", rec[3])
			}
			if rec[2] == "usage" && rec[10] == "" && rec[6] == "" {
				t.Errorf("a released credit without its identity: %v", rec)
			}
			moved[by+"/"+rec[4]] = moved[by+"/"+rec[4]].Add(amount)
			continue
		}
		rows++
		sums[rec[4]] = sums[rec[4]].Add(amount)
		if rec[2] == "escrow_release" {
			releases[rec[1]+"/"+rec[4]] = amount
		}
	}
	// The escrow release (in USD and EUR), a credit and a payout of everything in EUR: the EUR
	// balance is below a cent. The rows of released entries do not count twice.
	if rows != 4 || !sums["EUR"].LessThan(decimal.New(1, -2)) || sums["USD"].Sign() <= 0 {
		t.Fatalf("statement rows = %d, sums %v:\n%v", rows, sums, recs)
	}
	// Every release is followed by the entries it moved (the credits of r1, r2, r3 and r1's
	// reversal), which sum exactly to it.
	if len(releases) != 2 || len(moved) != len(releases) || len(recs)-1-rows != 4 {
		t.Fatalf("releases %v, moved %v, %d released rows:\n%v", releases, moved, len(recs)-1-rows, recs)
	}
	for id, amount := range releases {
		if !moved[id].Equal(amount) {
			t.Errorf("release %s of %s moved entries summing to %s", id, amount, moved[id])
		}
	}
	if _, err := runCmd(t, e.ctx, "export", "statement", "--out", file, "--database-url", e.dsn); err == nil {
		t.Error("statement without --contributor succeeded")
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestVerifyBalancesCommand runs `royalty verify balances` on the server's sealed journal: every
// balance checkpoint equals the sum of its sealed postings; a checkpoint changed in the database
// fails with exit status 1 and names the account.
func TestVerifyBalancesCommand(t *testing.T) {
	e := newAuditEnv(t)
	out, err := runCmd(t, e.ctx, "verify", "balances", "--database-url", e.dsn)
	if err != nil || !strings.HasPrefix(out, "ok: ") || strings.HasPrefix(out, "ok: 0 ") {
		t.Fatalf("verify balances = %v\n%s", err, out)
	}
	pool, err := pgdb.Open(e.ctx, e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var account string
	if err := pool.QueryRow(e.ctx, `UPDATE ledger_balance_checkpoints SET debits = '1234.5' WHERE journal_size = (SELECT max(journal_size) FROM ledger_balance_checkpoints)
		AND account_id = (SELECT min(account_id::TEXT)::UUID FROM ledger_balance_checkpoints) RETURNING account_id::TEXT`).Scan(&account); err != nil {
		t.Fatal(err)
	}
	out, err = runCmd(t, e.ctx, "verify", "balances", "--database-url", e.dsn)
	var ec exitCode
	if !errors.As(err, &ec) || ec != 1 || !strings.Contains(out, "FAILED") || !strings.Contains(out, account) {
		t.Fatalf("verify balances of a changed checkpoint = %v, want exit status 1 naming %s\n%s", err, account, out)
	}
}
