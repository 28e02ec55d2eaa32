package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/ledger"
)

// usageItem is one report on its way into a database transaction.
type usageItem struct {
	req    ledger.UsageRequest
	hash   []byte
	prefix string // field prefix for errors, "reports[i]." in a batch
	dupOf  int    // index of an earlier item with the same key in the same transaction, or -1

	// Set by bookUsages; reset on every attempt.
	res ledger.UsageResult
	err error
	// The transaction ids this process planned for the item, over every attempt. When a
	// COMMIT's answer is lost, the transaction may have committed; a later attempt that finds
	// the key taken by one of these booked the report itself and answers it as fresh, not as
	// a replay of an earlier call.
	tried []string
}

// PostUsage books one usage report. Concurrent calls share database transactions unless group
// commit is disabled; each call's outcome is its own (a conflict of one report does not fail
// the others).
func (s *Store) PostUsage(ctx context.Context, req ledger.UsageRequest) (ledger.UsageResult, error) {
	if err := ledger.ValidateUsage("", req, s.scale); err != nil {
		return ledger.UsageResult{}, err
	}
	item := &usageItem{req: req, hash: ledger.PayloadHash(req), dupOf: -1}
	if s.gc != nil {
		res, err := s.gc.submit(ctx, item) // which creates the accounts of the whole batch at once
		if err == nil {
			s.rememberPools(res.Usage)
		}
		return res, err
	}
	if err := s.ensureUsageAccounts(ctx, []*usageItem{item}); err != nil {
		return ledger.UsageResult{}, err
	}
	mode := &bookMode{}
	err := s.serializable(ctx, "posting usage", func(ctx context.Context, tx pgx.Tx) error {
		return s.bookUsages(ctx, tx, []*usageItem{item}, false, mode)
	})
	if err != nil {
		return ledger.UsageResult{}, err
	}
	if item.err == nil {
		s.rememberPools(item.res.Usage)
	}
	return item.res, item.err
}

// PostUsageBatch books many reports in one database transaction, all or nothing.
func (s *Store) PostUsageBatch(ctx context.Context, reqs []ledger.UsageRequest) ([]ledger.UsageResult, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if len(reqs) > ledger.MaxBatch {
		return nil, royalty.FieldErrorf(royalty.EINVALID, "reports", "%d reports, at most %d per batch", len(reqs), ledger.MaxBatch)
	}
	items := make([]*usageItem, len(reqs))
	first := map[[2]string]int{}
	for i, req := range reqs {
		prefix := fmt.Sprintf("reports[%d].", i)
		if err := ledger.ValidateUsage(prefix, req, s.scale); err != nil {
			return nil, err
		}
		items[i] = &usageItem{req: req, hash: ledger.PayloadHash(req), prefix: prefix, dupOf: -1}
		key := [2]string{req.ProviderID, req.RequestID}
		if j, ok := first[key]; ok {
			if !bytes.Equal(items[j].hash, items[i].hash) {
				return nil, royalty.FieldErrorf(royalty.ECONFLICT, prefix+"request_id",
					"%s is also the request id of reports[%d], with a different payload", quoteID(req.RequestID), j)
			}
			items[i].dupOf = j
		} else {
			first[key] = i
		}
	}
	if err := s.ensureUsageAccounts(ctx, items); err != nil {
		return nil, err
	}
	mode := &bookMode{}
	err := s.serializable(ctx, "posting a usage batch", func(ctx context.Context, tx pgx.Tx) error {
		return s.bookUsages(ctx, tx, items, true, mode)
	})
	if err != nil {
		return nil, err
	}
	out := make([]ledger.UsageResult, len(items))
	for i, it := range items {
		out[i] = it.res
		s.rememberPools(it.res.Usage)
	}
	return out, nil
}

// ensureUsageAccounts creates the accounts the reports may credit, except contributors'
// (those exist from the moment a contributor owns an identity). An unknown provider is reported
// on the first report that names it.
func (s *Store) ensureUsageAccounts(ctx context.Context, items []*usageItem) error {
	addrs := []string{ledger.PlatformAccount, ledger.UnattributedAccount}
	seen := map[string]bool{}
	for _, it := range items {
		if it.dupOf >= 0 {
			continue
		}
		if p := it.req.ProviderID; !seen[p] {
			seen[p] = true
			if err := s.ensureAccounts(ctx, s.pool, it.prefix+"provider_id", ledger.ProviderAccount(p), ledger.ProviderRetainedAccount(p)); err != nil {
				return err
			}
		}
		for _, sh := range it.req.Shares {
			addrs = append(addrs, ledger.EscrowAccount(sh.IdentityKey))
		}
	}
	return s.ensureAccounts(ctx, s.pool, "", addrs...)
}

// bookMode is how bookUsages writes, kept across the attempts of one transaction.
type bookMode struct {
	// accounts, if not nil, are account rows to insert first in the transaction (the group
	// commit's escrow accounts); the caller remembers them once the transaction commits.
	accounts *accountRows
	// sequential makes the transactions insert first and their postings after, for the
	// inserted ones only. Otherwise both go in one round trip, and a key found taken fails the
	// attempt (errTakenInPipeline) and sets sequential for the next one: postings have no
	// foreign key, so the postings of a transaction that was not inserted must never commit.
	sequential bool
}

// errTakenInPipeline ends an attempt whose pipelined insert found an idempotency key taken; the
// attempt after it inserts sequentially.
var errTakenInPipeline = pgdb.Retryable(errors.New("an idempotency key of the batch was taken; booking again sequentially"))

// bookUsages books the items inside tx. Items whose key was booked before get the original
// (Replayed) or an ECONFLICT error; with allOrNothing, any item error is returned as the
// transaction's error so that nothing is booked, otherwise it is left in the item and the
// others commit. It is safe to run again on retry: it resets every item first.
func (s *Store) bookUsages(ctx context.Context, tx pgx.Tx, items []*usageItem, allOrNothing bool, mode *bookMode) error {
	var primaries []*usageItem
	var providers, identities []string
	seenP, seenI := map[string]bool{}, map[string]bool{}
	for _, it := range items {
		it.res, it.err = ledger.UsageResult{}, nil
		if it.dupOf >= 0 {
			continue
		}
		primaries = append(primaries, it)
		if !seenP[it.req.ProviderID] {
			seenP[it.req.ProviderID] = true
			providers = append(providers, it.req.ProviderID)
		}
		for _, sh := range it.req.Shares {
			if !seenI[sh.IdentityKey] {
				seenI[sh.IdentityKey] = true
				identities = append(identities, sh.IdentityKey)
			}
		}
	}
	// Rates and owners are read inside the transaction: a claim verified or a rate changed
	// concurrently either happened before this report or after it, never half-way. Both reads
	// go in one round trip, with the balance fence the transaction's time must follow
	// (fencedClock).
	in, err := s.usageInputs(ctx, tx, mode.accounts, providers, identities, primaries)
	if err != nil {
		return err
	}
	rates, owners, now, feedback := in.rates, in.owners, in.now, in.feedback
	planned := make(map[*usageItem]ledger.Usage, len(primaries))
	ids := make(map[*usageItem]pgtype.UUID, len(primaries))
	var ins txInsert
	for _, it := range primaries {
		u, err := ledger.PlanUsage(it.req, ledger.Terms{RoyaltyRate: rates[it.req.ProviderID], PlatformFee: s.fee}, owners, s.scale)
		if err != nil {
			return fmt.Errorf("planning usage %s: %w", it.req.RequestID, err)
		}
		if err := s.planFeedback(ctx, tx, &u, feedback, now); err != nil {
			return err
		}
		id := uuid.New()
		u.TransactionID, u.CreatedAt, u.PayloadHash = id.String(), now, it.hash
		it.tried = append(it.tried, u.TransactionID)
		planned[it], ids[it] = u, pgUUID(id)
		ins.add(pgUUID(id), ledger.KindUsage, it.req.ProviderID, it.req.RequestID, it.hash, "", usageMeta(u))
	}
	inserted, err := s.insertUsages(ctx, tx, &ins, primaries, planned, ids, now, mode)
	if err != nil {
		return err
	}
	// A key booked before answers each of its items by that item's own payload: a copy of a
	// conflicting report may itself be an exact replay.
	var taken []*usageItem
	wasTaken := map[*usageItem]bool{}
	for _, it := range primaries {
		if u := planned[it]; inserted[u.TransactionID] {
			it.res = ledger.UsageResult{Usage: u}
		} else {
			taken = append(taken, it)
			wasTaken[it] = true
		}
	}
	for _, it := range items {
		if it.dupOf >= 0 && wasTaken[items[it.dupOf]] {
			taken = append(taken, it)
		}
	}
	if err := s.resolveTaken(ctx, tx, taken); err != nil {
		return err
	}
	for _, it := range items {
		if it.dupOf < 0 || wasTaken[items[it.dupOf]] {
			continue
		}
		orig := items[it.dupOf]
		switch {
		case orig.err != nil:
			it.err = orig.err
		case bytes.Equal(orig.hash, it.hash):
			it.res = ledger.UsageResult{Usage: orig.res.Usage, Replayed: true}
		default:
			it.err = conflictErr(it.prefix+"request_id", it.req.RequestID, orig.res.Usage.TransactionID)
		}
	}
	if allOrNothing {
		for _, it := range items {
			if it.err != nil {
				return it.err
			}
		}
	}
	return nil
}

// resolveTaken answers the items whose key was already booked: the original usage when the
// payload hash matches, ECONFLICT otherwise.
func (s *Store) resolveTaken(ctx context.Context, tx pgx.Tx, taken []*usageItem) error {
	if len(taken) == 0 {
		return nil
	}
	principals := make([]string, len(taken))
	requests := make([]string, len(taken))
	for i, it := range taken {
		principals[i], requests[i] = it.req.ProviderID, it.req.RequestID
	}
	txs, err := queryTxs(ctx, tx, `
		WHERE kind = 'usage' AND (principal_id, request_id) IN (
			SELECT p, r FROM unnest($1::UUID[], $2::TEXT[]) AS k (p, r))`, principals, requests)
	if err != nil {
		return err
	}
	usages, err := usagesOf(ctx, tx, txs)
	if err != nil {
		return err
	}
	byKey := make(map[[2]string]ledger.Usage, len(usages))
	for _, u := range usages {
		byKey[[2]string{u.ProviderID, u.RequestID}] = u
	}
	for _, it := range taken {
		u, ok := byKey[[2]string{it.req.ProviderID, it.req.RequestID}]
		switch {
		case !ok:
			// The insert conflicted with a row this transaction cannot see: a concurrent
			// commit. Running again sees it.
			return errConcurrentKey
		case bytes.Equal(u.PayloadHash, it.hash):
			it.res = ledger.UsageResult{Usage: u, Replayed: !slices.Contains(it.tried, u.TransactionID)}
		default:
			it.err = conflictErr(it.prefix+"request_id", it.req.RequestID, u.TransactionID)
		}
	}
	return nil
}

// inputs are what a booking transaction reads before it plans.
type inputs struct {
	rates    map[string]decimal.Decimal // royaltyRates
	owners   map[string]string          // identityOwners
	now      time.Time                  // fencedClock
	feedback map[lineageKey]feedbackTerm
}

// usageInputs inserts accounts (if not nil) and reads, in one round trip, the royalty rate of
// each provider, the owners of the identities, the newest balance fence (giving the time to
// stamp the transaction with, as fencedClock) and the feedback terms of the items' models
// (lineageSQL).
func (s *Store) usageInputs(ctx context.Context, tx pgx.Tx, accounts *accountRows, providers, identities []string, items []*usageItem) (in inputs, err error) {
	b := &pgx.Batch{}
	if accounts != nil {
		b.Queue(accountInsertSQL, accounts.args()...)
	}
	b.Queue(fenceSQL)
	b.Queue(ratesSQL, providers)
	if len(identities) > 0 {
		b.Queue(ownersSQL, identities)
	}
	lineageProviders, models := lineagePairs(items)
	if len(lineageProviders) > 0 {
		b.Queue(lineageSQL, lineageProviders, models)
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	if accounts != nil {
		if _, err := br.Exec(); err != nil {
			return in, fmt.Errorf("creating ledger accounts: %w", err)
		}
	}
	if in.now, err = s.afterFence(scanFence(br.QueryRow())); err != nil {
		return in, err
	}
	if in.rates, err = s.scanRatesOf(providers)(br.Query()); err != nil {
		return in, err
	}
	in.owners = map[string]string{}
	if len(identities) > 0 {
		if in.owners, err = scanOwners(br.Query()); err != nil {
			return in, err
		}
	}
	in.feedback = map[lineageKey]feedbackTerm{}
	if len(lineageProviders) > 0 {
		if in.feedback, err = scanLineage(br.Query()); err != nil {
			return in, err
		}
	}
	if err := br.Close(); err != nil {
		return in, fmt.Errorf("reading the inputs of a booking: %w", err)
	}
	return in, nil
}

// insertUsages inserts the transactions of ins, skipping those whose idempotency key exists, and
// the postings of the primaries whose transaction was inserted; it returns the ids of the
// transactions inserted. See bookMode for the two ways it writes.
func (s *Store) insertUsages(ctx context.Context, tx pgx.Tx, ins *txInsert, primaries []*usageItem,
	planned map[*usageItem]ledger.Usage, ids map[*usageItem]pgtype.UUID, now any, mode *bookMode) (map[string]bool, error) {
	inserted := make(map[string]bool, len(ins.ids))
	if len(ins.ids) == 0 {
		return inserted, nil
	}
	posts := postingInsert{cache: &s.known, expect: len(primaries)}
	var responses responseInsert
	if mode.sequential {
		rows, err := tx.Query(ctx, txInsertSQL, ins.args(now)...)
		if err := scanInserted(rows, err, inserted); err != nil {
			return nil, err
		}
		for _, it := range primaries {
			if u := planned[it]; inserted[u.TransactionID] {
				posts.add(ids[it], u.Postings)
				responses.add(ids[it], it.req.Response)
			}
		}
		if err := posts.exec(ctx, tx, now); err != nil {
			return nil, err
		}
		return inserted, responses.exec(ctx, tx)
	}
	for _, it := range primaries {
		posts.add(ids[it], planned[it].Postings)
		responses.add(ids[it], it.req.Response)
	}
	b := &pgx.Batch{}
	b.Queue(txInsertSQL, ins.args(now)...)
	if len(posts.txIDs) > 0 {
		b.Queue(postingInsertSQL, posts.args(now)...)
	}
	if len(responses.ids) > 0 {
		b.Queue(responseInsertSQL, responses.ids, responses.texts)
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err := scanInserted(rows, err, inserted); err != nil {
		return nil, err
	}
	if len(posts.txIDs) > 0 {
		if _, err := br.Exec(); err != nil {
			return nil, fmt.Errorf("inserting postings: %w", err)
		}
	}
	if len(responses.ids) > 0 {
		if _, err := br.Exec(); err != nil {
			return nil, fmt.Errorf("inserting usage responses: %w", err)
		}
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("inserting ledger transactions and postings: %w", err)
	}
	if len(inserted) != len(ins.ids) {
		mode.sequential = true
		return nil, errTakenInPipeline
	}
	return inserted, nil
}

const ratesSQL = `SELECT provider_id, royalty_rate FROM ledger_provider_agreements WHERE provider_id = ANY($1::UUID[])`

const ownersSQL = `SELECT identity_key, contributor_id FROM ledger_identity_owners WHERE identity_key = ANY($1::TEXT[])`

// scanOwners reads the rows of ownersSQL.
func scanOwners(rows pgx.Rows, err error) (map[string]string, error) {
	if err != nil {
		return nil, fmt.Errorf("reading identity owners: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, c string
		if err := rows.Scan(&k, &c); err != nil {
			return nil, fmt.Errorf("reading identity owners: %w", err)
		}
		out[k] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading identity owners: %w", err)
	}
	return out, nil
}

// royaltyRates returns the royalty rate of each provider: its agreement's, or the default.
func (s *Store) royaltyRates(ctx context.Context, q querier, providers []string) (map[string]decimal.Decimal, error) {
	return s.scanRatesOf(providers)(q.Query(ctx, ratesSQL, providers))
}

// scanRatesOf returns a reader of the rows of ratesSQL: the rate of every provider read, and
// the default rate for each of providers without a row.
func (s *Store) scanRatesOf(providers []string) func(pgx.Rows, error) (map[string]decimal.Decimal, error) {
	return func(rows pgx.Rows, err error) (map[string]decimal.Decimal, error) {
		if err != nil {
			return nil, fmt.Errorf("reading provider agreements: %w", err)
		}
		defer rows.Close()
		rates := make(map[string]decimal.Decimal, len(providers))
		for _, p := range providers {
			rates[p] = s.defaultRate
		}
		for rows.Next() {
			var p string
			var r decimal.Decimal
			if err := rows.Scan(&p, &r); err != nil {
				return nil, fmt.Errorf("reading provider agreements: %w", err)
			}
			rates[p] = r
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("reading provider agreements: %w", err)
		}
		return rates, nil
	}
}

// txInsert accumulates transaction rows for one multi-row insert.
type txInsert struct {
	ids                                []pgtype.UUID
	kinds, principals, requests, metas []string
	hashes, evidence                   [][]byte
	reverses                           []*string
}

func (b *txInsert) add(id pgtype.UUID, kind ledger.Kind, principal, request string, hash []byte, reverses string, m meta) {
	b.ids = append(b.ids, id)
	b.kinds = append(b.kinds, string(kind))
	b.principals = append(b.principals, principal)
	b.requests = append(b.requests, request)
	b.hashes = append(b.hashes, hash)
	var r *string
	if reverses != "" {
		r = &reverses
	}
	b.reverses = append(b.reverses, r)
	b.metas = append(b.metas, m.encode())
	b.evidence = append(b.evidence, encodeEvidence(m.Evidence))
}

// exec inserts the rows, skipping those whose idempotency key exists, and returns the ids of
// the rows inserted. ON CONFLICT has no target so that a reversal colliding with a concurrent
// reversal of the same usage on the unique `reverses` is skipped too (and the caller retries)
// rather than failing with a unique violation on an index that is not the arbiter.
func (b *txInsert) exec(ctx context.Context, tx pgx.Tx, now any) (map[string]bool, error) {
	inserted := make(map[string]bool, len(b.ids))
	if len(b.ids) == 0 {
		return inserted, nil
	}
	rows, err := tx.Query(ctx, txInsertSQL, b.args(now)...)
	if err := scanInserted(rows, err, inserted); err != nil {
		return nil, err
	}
	return inserted, nil
}

const txInsertSQL = `
		INSERT INTO ledger_transactions (id, kind, principal_id, request_id, payload_hash, created_at, reverses, metadata, evidence)
		SELECT id, kind, principal_id, request_id, payload_hash, $6, reverses, metadata::JSONB, evidence
		FROM unnest($1::UUID[], $2::TEXT[], $3::UUID[], $4::TEXT[], $5::BYTEA[], $7::UUID[], $8::TEXT[], $9::BYTEA[])
		     AS t (id, kind, principal_id, request_id, payload_hash, reverses, metadata, evidence)
		ON CONFLICT DO NOTHING
		RETURNING id`

// args are the arguments of txInsertSQL.
func (b *txInsert) args(now any) []any {
	return []any{b.ids, b.kinds, b.principals, b.requests, b.hashes, now, b.reverses, b.metas, b.evidence}
}

// scanInserted adds the ids txInsertSQL returned to inserted.
func scanInserted(rows pgx.Rows, err error, inserted map[string]bool) error {
	if err != nil {
		return fmt.Errorf("inserting ledger transactions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("inserting ledger transactions: %w", err)
		}
		inserted[id] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("inserting ledger transactions: %w", err)
	}
	return nil
}

// postingInsert accumulates postings for one multi-row insert. Ids are binary UUIDs: encoding
// them costs pgx nothing, where UUID strings would be parsed one by one.
type postingInsert struct {
	cache               *accountCache
	expect              int // transactions expected, for preallocation; 0 counts as 1
	txIDs, accounts     []pgtype.UUID
	currencies, amounts []string
	ns                  []int64
}

func (b *postingInsert) add(txID pgtype.UUID, postings []ledger.Posting) {
	if len(b.txIDs) == 0 { // most adds come in a loop over a batch of similar transactions
		b.grow(len(postings))
	}
	for n, p := range postings {
		id, _ := b.cache.id(p.Account)
		b.txIDs = append(b.txIDs, txID)
		b.ns = append(b.ns, int64(n))
		b.accounts = append(b.accounts, id)
		b.currencies = append(b.currencies, p.Currency)
		// Exact decimal text; the value was checked against the column's scale in Go.
		b.amounts = append(b.amounts, p.Amount.String())
	}
}

// grow makes room for about n postings per expected transaction of a batch.
func (b *postingInsert) grow(n int) {
	if b.expect > 1 {
		n *= b.expect
	}
	b.txIDs = slices.Grow(b.txIDs, n)
	b.accounts = slices.Grow(b.accounts, n)
	b.currencies = slices.Grow(b.currencies, n)
	b.amounts = slices.Grow(b.amounts, n)
	b.ns = slices.Grow(b.ns, n)
}

func (b *postingInsert) exec(ctx context.Context, tx pgx.Tx, now any) error {
	if len(b.txIDs) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, postingInsertSQL, b.args(now)...); err != nil {
		return fmt.Errorf("inserting postings: %w", err)
	}
	return nil
}

const postingInsertSQL = `
		INSERT INTO ledger_postings (transaction_id, n, account_id, currency, amount, created_at)
		SELECT transaction_id, n, account_id, currency, amount::NUMERIC, $6
		FROM unnest($1::UUID[], $2::INT8[], $3::UUID[], $4::TEXT[], $5::TEXT[])
		     AS p (transaction_id, n, account_id, currency, amount)`

// args are the arguments of postingInsertSQL.
func (b *postingInsert) args(now any) []any {
	return []any{b.txIDs, b.ns, b.accounts, b.currencies, b.amounts, now}
}
