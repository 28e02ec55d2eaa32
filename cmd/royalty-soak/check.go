package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/cmd/wire"
	indexpg "github.com/openroyalty/royalty/indexer/postgres"
	"github.com/openroyalty/royalty/internal/soak"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/ledgertest"
	ledgerpg "github.com/openroyalty/royalty/ledger/postgres"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// check runs the final checks, prints the summary and the RESULT line, and reports whether
// the run passed.
func (s *soakRun) check(ctx context.Context) (bool, error) {
	// Through the API while the server still runs: a last complete export, the trial balance,
	// and every contributor's balance as the contributor sees it.
	sealed := s.checkSealed(ctx)
	final, err := s.exportOnce(ctx)
	if err != nil {
		s.problemf("the final journal export failed: %v", err)
	} else if sealed.key != "" {
		s.verifyOffline(ctx, final, sealed)
	}
	s.checkTrialBalance(ctx)
	seen := map[string][]*v1.Balance{}
	for _, c := range s.contributors {
		var bal *v1.GetBalanceResponse
		err := retrying(ctx, func(cc context.Context) (err error) {
			bal, err = s.contributor.GetBalance(c.p.ctx(cc), &v1.GetBalanceRequest{})
			return err
		})
		if err != nil {
			return false, fmt.Errorf("GetBalance of %s: %w", c.p.id, err)
		}
		seen[c.p.id] = bal.GetBalances()
	}
	if len(s.servers) > 1 {
		// Every replica's index follows the posts table; give each a few polls to take in the
		// posts that the settling ingested through another one.
		time.Sleep(4*followInterval + time.Second)
	}
	s.say("stopping royalty serve with SIGTERM")
	for _, sp := range s.servers {
		if err := sp.stop(40 * time.Second); err != nil {
			s.problemf("replica %s: %v", sp.name, err)
		}
	}
	balances, err := royaltyCmd(ctx, s.bin, s.dsn, "verify", "balances")
	if err != nil {
		s.problemf("royalty verify balances: %v", err)
	}

	// The books, read directly: every transaction balanced, keys unique, reversals exact, no
	// negative balance, Balances and TrialBalance equal to the sums of the postings.
	store, err := wire.OpenLedger(s.pool, s.log, ledgerpg.Config{GroupCommit: ledgerpg.GroupCommit{Disabled: true}})
	if err != nil {
		return false, err
	}
	defer store.Close()
	books, err := ledgertest.Check(ctx, store)
	if books == nil {
		return false, fmt.Errorf("reading the books: %w", err)
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			s.problemf("books: %s", line)
		}
	}
	covered := map[string]bool{s.canaryP.id: true}
	for _, p := range s.providers {
		covered[p.id] = true
	}
	for _, c := range s.contributors {
		covered[c.p.id] = true
	}
	res := soak.Check(s.writes, books, func(p string) bool { return covered[p] })
	for _, p := range res.Problems {
		s.problemf("%s", p)
	}
	for _, p := range s.exports.Check(books) {
		s.problemf("%s", p)
	}
	for _, c := range s.contributors {
		s.checkBalances(c, seen[c.p.id], books)
	}
	verified, byProof := s.checkClaims(books)
	var posts int
	for _, sp := range s.servers {
		notIndexed, notStored, n, err := s.compareIndex(ctx, sp.dataDir)
		if err != nil {
			return false, fmt.Errorf("replica %s: %w", sp.name, err)
		}
		posts = n
		if len(notIndexed)+len(notStored) > 0 {
			s.problemf("the index of replica %s and the posts table differ: %d posts not indexed (%s), %d indexed without a row (%s)",
				sp.name, len(notIndexed), firstFew(notIndexed), len(notStored), firstFew(notStored))
		}
	}
	fingerprints := -1
	if len(s.servers) > 1 {
		if fingerprints, err = s.checkFingerprints(ctx); err != nil {
			return false, err
		}
	}
	served, idle := s.served.summary(s.servers)
	if len(idle) > 0 {
		s.problemf("replicas %s booked no attributed usage report", strings.Join(idle, ", "))
	}

	var perRater map[[3]string]int64
	if s.fb != nil {
		if perRater, err = s.checkFeedbackEvents(ctx); err != nil {
			return false, err
		}
	}

	// Summary.
	s.say("writes per kind (acknowledged during the load / settled by retry / refused / still unknown):")
	for _, k := range []ledger.Kind{ledger.KindUsage, ledger.KindPayout, ledger.KindReversal} {
		s.say("  %-9s %6d: %d / %d / %d / %d", k, res.Writes[k], res.Acked[k], res.Settled[k], res.Refused[k], res.Unknown[k])
	}
	var releases int
	for _, t := range books.Transactions {
		if t.Kind == ledger.KindEscrowRelease {
			releases++
		}
	}
	exports, rows := s.exports.Count()
	s.say("books: %d transactions, %d postings, %d escrow releases; %d journal exports checked (%d rows), %d cut off by faults",
		len(books.Transactions), books.Postings, releases, exports, rows, s.faults.exportFailures.Load())
	s.say("claims: %d verified (%d by a proof post), each with an empty escrow", verified, byProof)
	s.say("journal: %d transactions sealed under checkpoint signatures; VerifyJournal and royalty verify of the final export: %s", sealed.size, sealed.verdict)
	s.say("index: %d post ids in the posts table and in the index of each of %d replicas; %d posts ingested during the load", posts, len(s.servers), len(s.ingest.acked))
	if fingerprints >= 0 {
		s.say("attribution from the SQL index (--index=sql): %d fingerprints in attribution_fingerprints, those of every post ingested during the load among them", fingerprints)
	}
	s.say("replicas: %s", served)
	if balances != "" {
		s.say("royalty verify balances: %s", strings.TrimSpace(balances))
	}
	s.say("faults: %s (%d backends terminated); %s", s.faults.String(), s.faults.backends, s.faults.recoverySummary())
	p50, n := s.lat.quantile(0.5)
	p99, _ := s.lat.quantile(0.99)
	s.say("ReportUsage latency over %d acknowledged calls: p50 %.1f ms, p99 %.1f ms", n, ms(p50), ms(p99))
	if s.fb != nil {
		// Last, as it books with a clock 35 days ahead (after every journal check).
		if err := s.settlePools(ctx, books, perRater); err != nil {
			return false, err
		}
		s.fb.mu.Lock()
		for _, p := range s.fb.problems {
			s.problemf("%s", p)
		}
		s.fb.mu.Unlock()
	}
	for _, k := range faultKinds {
		if s.faults.get(k) == 0 {
			s.problemf("no %s fault was injected", k)
		}
	}
	s.mu.Lock()
	problems := append([]string(nil), s.problems...)
	s.mu.Unlock()
	for i, p := range problems {
		if i == 40 {
			fmt.Printf("PROBLEM … and %d more\n", len(problems)-i)
			break
		}
		fmt.Printf("PROBLEM %s\n", p)
	}
	fmt.Printf("RESULT soak reports=%d acked=%d lost=%d duplicated=%d faults=%d p99_ms=%d\n",
		res.Writes[ledger.KindUsage], res.Acked[ledger.KindUsage], res.Lost, res.Duplicated, s.faults.total(), int(math.Round(ms(p99))))
	return len(problems) == 0 && res.Lost == 0 && res.Duplicated == 0, nil
}

// checkBalances compares what GetBalance told a contributor with the sums of the postings.
func (s *soakRun) checkBalances(c *contributor, api []*v1.Balance, books *ledgertest.Books) {
	want := books.Balances[ledger.ContributorAccount(c.p.id)]
	got := map[string]decimal.Decimal{}
	for _, b := range api {
		got[b.GetBalance().GetCurrency()] = decimal.RequireFromString(b.GetBalance().GetAmount())
	}
	for cur, w := range want {
		if !got[cur].Equal(w) {
			s.problemf("contributor %s: GetBalance says %s %s, the postings sum to %s", c.p.id, got[cur], cur, w)
		}
	}
	for cur, g := range got {
		if _, ok := want[cur]; !ok && !g.IsZero() {
			s.problemf("contributor %s: GetBalance says %s %s, there are no postings in %s", c.p.id, g, cur, cur)
		}
	}
}

// compareIndex opens a stopped replica's index and compares its ids with the posts table's;
// every post acknowledged during the load must be in both.
func (s *soakRun) compareIndex(ctx context.Context, dataDir string) (notIndexed, notStored []string, n int, err error) {
	x, err := wire.OpenIndex(filepath.Join(dataDir, "index"), s.log)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("opening the index after the run: %w", err)
	}
	defer x.Close()
	var indexed, stored []string
	if err := x.ForEachID(ctx, func(id string) error { indexed = append(indexed, id); return nil }); err != nil {
		return nil, nil, 0, err
	}
	if err := indexpg.New(s.pool).ForEachID(ctx, 0, func(ids []string) error { stored = append(stored, ids...); return nil }); err != nil {
		return nil, nil, 0, err
	}
	notIndexed, notStored = soak.CompareIDs(stored, indexed)
	have := map[string]bool{}
	for _, id := range stored {
		have[id] = true
	}
	var lost []string
	for id := range s.ingest.acked {
		if !have[id] {
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 {
		s.problemf("%d posts acknowledged by IngestPosts are not in the posts table (%s)", len(lost), firstFew(lost))
	}
	return notIndexed, notStored, len(stored), nil
}

func firstFew(ids []string) string {
	if len(ids) > 5 {
		return strings.Join(ids[:5], ", ") + ", …"
	}
	return strings.Join(ids, ", ")
}

// sealState is what the journal checks found.
type sealState struct {
	key     string // the checkpoint signing key, base64
	size    uint64 // transactions under the newest checkpoint
	verdict string
}

// checkSealed waits until the server's sealer has sealed every transaction (the hash chain and
// signed checkpoints survive the faults) and VerifyJournal finds the journal consistent.
func (s *soakRun) checkSealed(ctx context.Context) sealState {
	var st sealState
	var pk *v1.GetPublicKeyResponse
	if err := retrying(ctx, func(c context.Context) (err error) {
		pk, err = s.audit.GetPublicKey(s.auditorP.ctx(c), &v1.GetPublicKeyRequest{})
		return err
	}); err != nil {
		s.problemf("GetPublicKey: %v", err)
		return st
	}
	st.key = pk.GetPublicKey()
	var n uint64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM ledger_transactions`).Scan(&n); err != nil {
		s.problemf("counting transactions: %v", err)
		return st
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		var v *v1.VerifyJournalResponse
		err := retrying(ctx, func(c context.Context) (err error) {
			v, err = s.audit.VerifyJournal(s.auditorP.ctx(c), &v1.VerifyJournalRequest{})
			return err
		})
		switch {
		case err != nil:
			s.problemf("VerifyJournal: %v", err)
			st.verdict = "failed"
			return st
		case !v.GetOk():
			s.problemf("VerifyJournal: row %d: %s", v.GetErrorRow(), v.GetError())
			st.verdict = "failed"
			return st
		}
		st.size = v.GetCheckpoint().GetSize()
		if st.size >= n {
			st.verdict = "ok"
			return st
		}
		if time.Now().After(deadline) {
			s.problemf("the journal is sealed up to %d of %d transactions 90 s after the load", st.size, n)
			st.verdict = "not sealed"
			return st
		}
		time.Sleep(time.Second)
	}
}

// verifyOffline runs `royalty verify` on an export, as an auditor would, trusting only the
// public key.
func (s *soakRun) verifyOffline(ctx context.Context, export []byte, st sealState) {
	path := filepath.Join(s.work, "journal.csv")
	if err := os.WriteFile(path, export, 0o644); err != nil {
		s.problemf("%v", err)
		return
	}
	out, err := royaltyCmd(ctx, s.bin, s.dsn, "verify", path, "--pubkey", st.key, "--min-size", fmt.Sprint(st.size))
	if err != nil {
		s.problemf("royalty verify of the final export: %v\n%s", err, out)
	}
	// The same export with one posting moved by a quantum between two accounts still balances;
	// the verifier must see through it, or its "ok" above means nothing.
	lines := strings.Split(string(export), "\r\n")
	if len(lines) < 4 {
		return
	}
	tampered := append([]string(nil), lines...)
	for i := 1; i < len(tampered)-1; i++ {
		cells := strings.Split(tampered[i], ",")
		if len(cells) > 6 && !strings.ContainsAny(tampered[i], "\"") {
			cells[6] += "1"
			tampered[i] = strings.Join(cells, ",")
			break
		}
	}
	bad := filepath.Join(s.work, "journal-tampered.csv")
	if err := os.WriteFile(bad, []byte(strings.Join(tampered, "\r\n")), 0o644); err != nil {
		s.problemf("%v", err)
		return
	}
	if _, err := royaltyCmd(ctx, s.bin, s.dsn, "verify", bad, "--pubkey", st.key); err == nil {
		s.problemf("royalty verify accepted an export with a changed amount")
	}
}
