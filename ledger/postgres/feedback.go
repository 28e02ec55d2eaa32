package postgres

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

// Feedback royalties (ledger.FeedbackLedger): feedback events, training lineage and the feedback
// rate live in their own tables (migrations 0904–0908); the money moves in the ledger: the usage
// transaction books the pools (lineageSQL, planFeedback), a feedback_settlement transaction
// keyed by the pool address splits a pool once.

var _ ledger.FeedbackLedger = (*Store)(nil)

// DefaultFeedbackWindow is how long after a pool's day and epoch have ended it waits for
// reversals before it may be settled, when Config.FeedbackWindow is zero.
const DefaultFeedbackWindow = 24 * time.Hour

// lineageKey names a model version of a provider.
type lineageKey struct{ provider, model string }

// lineagePairs are the distinct (provider, model) pairs of the items, as lineageSQL's arguments.
func lineagePairs(items []*usageItem) (providers, models []string) {
	seen := map[lineageKey]bool{}
	for _, it := range items {
		k := lineageKey{it.req.ProviderID, it.req.ModelID}
		if it.dupOf < 0 && !seen[k] {
			seen[k] = true
			providers, models = append(providers, k.provider), append(models, k.model)
		}
	}
	return providers, models
}

// lineageSQL reads, for the reports' (provider, model) pairs that have both a declared lineage
// and a feedback rate, the rate and the epochs (usageInputs sends it with the other inputs).
const lineageSQL = `
	SELECT l.provider_id, l.model_version, l.epoch, l.weight, r.feedback_rate
	FROM training_lineage l JOIN ledger_feedback_rates r ON r.provider_id = l.provider_id
	WHERE (l.provider_id, l.model_version) IN (SELECT p, m FROM unnest($1::UUID[], $2::TEXT[]) AS k (p, m))`

// scanLineage reads the rows of lineageSQL.
func scanLineage(rows pgx.Rows, err error) (map[lineageKey]feedbackTerm, error) {
	if err != nil {
		return nil, fmt.Errorf("reading training lineage: %w", err)
	}
	defer rows.Close()
	out := map[lineageKey]feedbackTerm{}
	for rows.Next() {
		var k lineageKey
		var e ledger.EpochWeight
		var rate decimal.Decimal
		if err := rows.Scan(&k.provider, &k.model, &e.Epoch, &e.Weight, &rate); err != nil {
			return nil, fmt.Errorf("reading training lineage: %w", err)
		}
		t := out[k]
		t.rate, t.epochs = rate, append(t.epochs, e)
		out[k] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading training lineage: %w", err)
	}
	return out, nil
}

type feedbackTerm struct {
	rate   decimal.Decimal
	epochs []ledger.EpochWeight
}

// planFeedback appends to a planned usage what it books into the feedback pools of its model
// version (ledger.PlanFeedbackPool), dated by the booking time, and inserts inside tx the rows
// of pool accounts not known to exist (they are remembered once the booking has committed,
// rememberPools).
func (s *Store) planFeedback(ctx context.Context, tx pgx.Tx, u *ledger.Usage, terms map[lineageKey]feedbackTerm, now time.Time) error {
	t, ok := terms[lineageKey{u.ProviderID, u.ModelID}]
	if !ok {
		return nil
	}
	plan, err := ledger.PlanFeedbackPool(u.ProviderID, u.Currency, u.Revenue, t.rate, t.epochs, ledger.DayOf(now), s.scale)
	if err != nil {
		return fmt.Errorf("planning the feedback pool of usage %s: %w", u.RequestID, err)
	}
	u.FeedbackRate = t.rate
	if len(plan.Postings) == 0 {
		return nil
	}
	if err := u.AddFeedback(plan); err != nil {
		return err
	}
	var missing []string
	for _, p := range plan.Pools {
		if _, ok := s.known.id(p.Account); !ok {
			missing = append(missing, p.Account)
		}
	}
	return insertAccountsTx(ctx, tx, missing)
}

// rememberPools records that the pool accounts of a committed usage exist.
func (s *Store) rememberPools(u ledger.Usage) {
	for _, p := range u.Feedback {
		s.known.add(p.Account, accountID(p.Account))
	}
}

// insertAccountsTx inserts account rows inside a booking transaction (ON CONFLICT DO NOTHING),
// for accounts found only inside it: a pool of a usage, a rater's escrow at settlement. Their
// principals are checked by the caller; the cache is not touched, since the transaction may
// still roll back.
func insertAccountsTx(ctx context.Context, tx pgx.Tx, addresses []string) error {
	if len(addresses) == 0 {
		return nil
	}
	slices.Sort(addresses)
	addresses = slices.Compact(addresses)
	accts := make([]ledger.Account, len(addresses))
	for i, addr := range addresses {
		a, err := ledger.ParseAccount("account", addr)
		if err != nil {
			return err
		}
		accts[i] = a
	}
	if _, err := tx.Exec(ctx, accountInsertSQL, newAccountRows(accts).args()...); err != nil {
		return fmt.Errorf("creating ledger accounts: %w", err)
	}
	return nil
}

// ReportFeedback records one feedback event.
func (s *Store) ReportFeedback(ctx context.Context, req ledger.FeedbackRequest) (ledger.FeedbackResult, error) {
	res, err := s.reportFeedback(ctx, []ledger.FeedbackRequest{req}, "")
	if err != nil {
		return ledger.FeedbackResult{}, err
	}
	return res[0], nil
}

// ReportFeedbackBatch records many events, all or nothing.
func (s *Store) ReportFeedbackBatch(ctx context.Context, reqs []ledger.FeedbackRequest) ([]ledger.FeedbackResult, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if len(reqs) > ledger.MaxBatch {
		return nil, royalty.FieldErrorf(royalty.EINVALID, "events", "%d events, at most %d per batch", len(reqs), ledger.MaxBatch)
	}
	return s.reportFeedback(ctx, reqs, "events[%d].")
}

func (s *Store) reportFeedback(ctx context.Context, reqs []ledger.FeedbackRequest, prefixFormat string) ([]ledger.FeedbackResult, error) {
	prefix := func(i int) string {
		if prefixFormat == "" {
			return ""
		}
		return fmt.Sprintf(prefixFormat, i)
	}
	hashes := make([][]byte, len(reqs))
	first := map[[2]string]int{}
	providers := map[string]int{}
	for i, req := range reqs {
		if err := ledger.ValidateFeedback(prefix(i), req); err != nil {
			return nil, err
		}
		hashes[i] = ledger.HashFeedback(req)
		k := [2]string{req.ProviderID, req.RequestID}
		if j, ok := first[k]; ok && !bytes.Equal(hashes[i], hashes[j]) {
			return nil, royalty.FieldErrorf(royalty.ECONFLICT, prefix(i)+"request_id",
				"%s is also the request id of events[%d], with a different payload", quoteID(req.RequestID), j)
		} else if !ok {
			first[k] = i
		}
		if _, ok := providers[req.ProviderID]; !ok {
			providers[req.ProviderID] = i
		}
	}
	for p, i := range providers {
		if err := s.ensureAccounts(ctx, s.pool, prefix(i)+"provider_id", ledger.ProviderAccount(p)); err != nil {
			return nil, err
		}
	}
	out := make([]ledger.FeedbackResult, len(reqs))
	err := s.serializable(ctx, "recording feedback", func(ctx context.Context, tx pgx.Tx) error {
		now := s.clock()
		epoch := ledger.EpochOf(now)
		var pv, rq, rater, kind, model, epochs []string
		var usage []*string
		var hs [][]byte
		for i, req := range reqs {
			if first[[2]string{req.ProviderID, req.RequestID}] != i {
				continue
			}
			var u *string
			if req.UsageRequestID != "" {
				u = &req.UsageRequestID
			}
			pv, rq, rater, kind, model, epochs = append(pv, req.ProviderID), append(rq, req.RequestID), append(rater, req.RaterID),
				append(kind, req.Kind), append(model, req.ModelVersion), append(epochs, epoch)
			usage, hs = append(usage, u), append(hs, hashes[i])
		}
		rows, err := tx.Query(ctx, `
			INSERT INTO feedback_events (provider_id, request_id, payload_hash, rater_id, kind, model_version, usage_request_id, epoch, created_at)
			SELECT p, r, h, ra, k, m, u, e, $9
			FROM unnest($1::UUID[], $2::TEXT[], $3::BYTEA[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[]) AS t (p, r, h, ra, k, m, u, e)
			ON CONFLICT DO NOTHING
			RETURNING provider_id, request_id`, pv, rq, hs, rater, kind, model, usage, epochs, now)
		if err != nil {
			return fmt.Errorf("inserting feedback: %w", err)
		}
		inserted := map[[2]string]bool{}
		for rows.Next() {
			var k [2]string
			if err := rows.Scan(&k[0], &k[1]); err != nil {
				rows.Close()
				return fmt.Errorf("inserting feedback: %w", err)
			}
			inserted[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("inserting feedback: %w", err)
		}
		stored, err := feedbackByKeys(ctx, tx, pv, rq)
		if err != nil {
			return err
		}
		for i, req := range reqs {
			f, ok := stored[[2]string{req.ProviderID, req.RequestID}]
			if !ok {
				return errConcurrentKey
			}
			if !bytes.Equal(f.PayloadHash, hashes[i]) {
				return royalty.FieldErrorf(royalty.ECONFLICT, prefix(i)+"request_id",
					"feedback %s was recorded before with a different payload", quoteID(req.RequestID))
			}
			k := [2]string{req.ProviderID, req.RequestID}
			replayed := !inserted[k] || first[k] != i
			out[i] = ledger.FeedbackResult{Feedback: f, Replayed: replayed}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// feedbackByKeys reads events by their keys.
func feedbackByKeys(ctx context.Context, q querier, providers, requests []string) (map[[2]string]ledger.Feedback, error) {
	rows, err := q.Query(ctx, `
		SELECT provider_id, request_id, payload_hash, rater_id, kind, model_version, COALESCE(usage_request_id, ''), epoch, created_at
		FROM feedback_events WHERE (provider_id, request_id) IN (SELECT p, r FROM unnest($1::UUID[], $2::TEXT[]) AS k (p, r))`,
		providers, requests)
	if err != nil {
		return nil, fmt.Errorf("reading feedback: %w", err)
	}
	defer rows.Close()
	out := map[[2]string]ledger.Feedback{}
	for rows.Next() {
		var f ledger.Feedback
		if err := rows.Scan(&f.ProviderID, &f.RequestID, &f.PayloadHash, &f.RaterID, &f.Kind, &f.ModelVersion, &f.UsageRequestID, &f.Epoch, &f.CreatedAt); err != nil {
			return nil, fmt.Errorf("reading feedback: %w", err)
		}
		f.CreatedAt = f.CreatedAt.UTC()
		f.IdentityKey = ledger.RaterIdentityKey(f.ProviderID, f.RaterID)
		out[[2]string{f.ProviderID, f.RequestID}] = f
	}
	return out, rows.Err()
}

// DeclareTraining appends a training declaration.
func (s *Store) DeclareTraining(ctx context.Context, d ledger.TrainingDeclaration) (ledger.Lineage, error) {
	if err := ledger.ValidateDeclaration(d, s.scale); err != nil {
		return ledger.Lineage{}, err
	}
	if err := s.ensureAccounts(ctx, s.pool, "provider_id", ledger.ProviderAccount(d.ProviderID)); err != nil {
		return ledger.Lineage{}, err
	}
	var out ledger.Lineage
	err := s.serializable(ctx, "declaring training", func(ctx context.Context, tx pgx.Tx) error {
		now := s.clock()
		epochs := make([]string, len(d.Epochs))
		weights := make([]string, len(d.Epochs))
		for i, e := range d.Epochs {
			epochs[i], weights[i] = e.Epoch, e.Weight.String()
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO training_lineage (provider_id, model_version, epoch, weight, declared_at)
			SELECT $1, $2, e, w::NUMERIC, $5 FROM unnest($3::TEXT[], $4::TEXT[]) AS t (e, w)
			ON CONFLICT DO NOTHING`, d.ProviderID, d.ModelVersion, epochs, weights, now); err != nil {
			return fmt.Errorf("declaring training: %w", err)
		}
		var re, rr []string
		for _, e := range d.Epochs {
			for _, r := range d.Rejected {
				re, rr = append(re, e.Epoch), append(rr, r)
			}
		}
		if len(re) > 0 {
			if _, err := tx.Exec(ctx, `
				INSERT INTO feedback_rejections (provider_id, epoch, rater_id, declared_at)
				SELECT $1, e, r, $4 FROM unnest($2::TEXT[], $3::TEXT[]) AS t (e, r)
				ON CONFLICT DO NOTHING`, d.ProviderID, re, rr, now); err != nil {
				return fmt.Errorf("declaring rejections: %w", err)
			}
		}
		var err error
		if out, err = readLineage(ctx, tx, d.ProviderID, d.ModelVersion); err != nil {
			return err
		}
		for i, e := range d.Epochs {
			for _, got := range out.Epochs {
				if got.Epoch == e.Epoch && !got.Weight.Equal(e.Weight) {
					return royalty.FieldErrorf(royalty.ECONFLICT, "epochs["+strconv.Itoa(i)+"].weight",
						"epoch %s of %s was declared with weight %s; declarations are append-only", e.Epoch, quoteID(d.ModelVersion), got.Weight)
				}
			}
		}
		return nil
	})
	return out, err
}

// GetLineage returns a model version's lineage.
func (s *Store) GetLineage(ctx context.Context, providerID, modelVersion string) (ledger.Lineage, error) {
	if err := ledger.CheckID("provider_id", providerID); err != nil {
		return ledger.Lineage{}, err
	}
	var l ledger.Lineage
	err := s.readOnly(ctx, "reading lineage", func(ctx context.Context, tx pgx.Tx) error {
		var err error
		l, err = readLineage(ctx, tx, providerID, modelVersion)
		return err
	})
	if err != nil {
		return ledger.Lineage{}, err
	}
	if len(l.Epochs) == 0 {
		return ledger.Lineage{}, royalty.FieldErrorf(royalty.ENOTFOUND, "model_version", "no training declared for %s", quoteID(modelVersion))
	}
	return l, nil
}

func readLineage(ctx context.Context, q querier, providerID, model string) (ledger.Lineage, error) {
	l := ledger.Lineage{ProviderID: providerID, ModelVersion: model}
	rows, err := q.Query(ctx, `SELECT epoch, weight, declared_at FROM training_lineage WHERE provider_id = $1 AND model_version = $2 ORDER BY epoch`, providerID, model)
	if err != nil {
		return l, fmt.Errorf("reading lineage: %w", err)
	}
	var epochs []string
	for rows.Next() {
		var e ledger.DeclaredEpoch
		if err := rows.Scan(&e.Epoch, &e.Weight, &e.DeclaredAt); err != nil {
			rows.Close()
			return l, fmt.Errorf("reading lineage: %w", err)
		}
		e.DeclaredAt = e.DeclaredAt.UTC()
		l.Epochs = append(l.Epochs, e)
		epochs = append(epochs, e.Epoch)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return l, fmt.Errorf("reading lineage: %w", err)
	}
	rows, err = q.Query(ctx, `SELECT epoch, rater_id, declared_at FROM feedback_rejections WHERE provider_id = $1 AND epoch = ANY($2::TEXT[]) ORDER BY epoch, rater_id`, providerID, epochs)
	if err != nil {
		return l, fmt.Errorf("reading rejections: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r ledger.Rejection
		if err := rows.Scan(&r.Epoch, &r.RaterID, &r.DeclaredAt); err != nil {
			return l, fmt.Errorf("reading rejections: %w", err)
		}
		r.DeclaredAt = r.DeclaredAt.UTC()
		l.Rejected = append(l.Rejected, r)
	}
	return l, rows.Err()
}

// SetFeedbackRate sets a provider's feedback rate.
func (s *Store) SetFeedbackRate(ctx context.Context, providerID string, rate decimal.Decimal) (ledger.Agreement, error) {
	if err := ledger.CheckID("provider_id", providerID); err != nil {
		return ledger.Agreement{}, err
	}
	if err := ledger.CheckRate("feedback_rate", rate); err != nil {
		return ledger.Agreement{}, err
	}
	if err := s.ensureAccounts(ctx, s.pool, "provider_id", ledger.ProviderAccount(providerID)); err != nil {
		return ledger.Agreement{}, err
	}
	now := s.clock()
	err := s.serializable(ctx, "setting a feedback rate", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO ledger_feedback_rates (provider_id, feedback_rate, updated_at) VALUES ($1, $2::NUMERIC, $3)
			ON CONFLICT (provider_id) DO UPDATE SET feedback_rate = excluded.feedback_rate, updated_at = excluded.updated_at`,
			providerID, rate.String(), now)
		if err != nil {
			return fmt.Errorf("setting the feedback rate of %s: %w", providerID, err)
		}
		return nil
	})
	if err != nil {
		return ledger.Agreement{}, err
	}
	a, err := s.GetAgreement(ctx, providerID)
	a.FeedbackRate = rate
	return a, err
}

// feedbackRate reads a provider's feedback rate (zero without one).
func (s *Store) feedbackRate(ctx context.Context, providerID string) (decimal.Decimal, error) {
	var r decimal.Decimal
	err := s.pool.QueryRow(ctx, `SELECT feedback_rate FROM ledger_feedback_rates WHERE provider_id = $1`, providerID).Scan(&r)
	if isNoRows(err) {
		return decimal.Zero, nil
	}
	if err != nil {
		return decimal.Zero, fmt.Errorf("reading the feedback rate of %s: %w", providerID, err)
	}
	return r, nil
}

// SettleFeedback settles every due pool not settled yet.
func (s *Store) SettleFeedback(ctx context.Context, providerID string) ([]ledger.FeedbackSettlement, error) {
	var provider *string
	if providerID != "" {
		if err := ledger.CheckID("provider_id", providerID); err != nil {
			return nil, err
		}
		provider = &providerID
	}
	rows, err := s.pool.Query(ctx, `
		SELECT a.address FROM ledger_accounts a
		WHERE a.type = 'feedback_pool' AND ($1::UUID IS NULL OR a.principal_id = $1)
		  AND NOT EXISTS (SELECT 1 FROM ledger_transactions t
		                  WHERE t.principal_id = a.principal_id AND t.kind = 'feedback_settlement' AND t.request_id = a.address)
		ORDER BY a.address`, provider)
	if err != nil {
		return nil, fmt.Errorf("finding feedback pools: %w", err)
	}
	pools, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("finding feedback pools: %w", err)
	}
	now := s.clock()
	var out []ledger.FeedbackSettlement
	for _, addr := range pools {
		p, err := ledger.ParseFeedbackPool("pool", addr)
		if err != nil {
			return out, err
		}
		if now.Before(p.Ends(s.feedbackWindow)) {
			continue
		}
		st, err := s.SettlePool(ctx, addr)
		if err != nil {
			return out, err
		}
		if st.TransactionID != "" {
			out = append(out, st)
		}
	}
	return out, nil
}

// SettlePool settles one pool exactly once: the settlement's idempotency key is (provider,
// feedback_settlement, pool address), so a second settlement, concurrent or later, finds the
// first.
func (s *Store) SettlePool(ctx context.Context, address string) (ledger.FeedbackSettlement, error) {
	pool, err := ledger.ParseFeedbackPool("pool", address)
	if err != nil {
		return ledger.FeedbackSettlement{}, err
	}
	if due := pool.Ends(s.feedbackWindow); s.clock().Before(due) {
		return ledger.FeedbackSettlement{}, royalty.FieldErrorf(royalty.EPRECONDITION, "pool",
			"pool %s is not due before %s (its epoch and day must end and the reversal window of %s pass)", address, due.Format(time.RFC3339), s.feedbackWindow)
	}
	var out ledger.FeedbackSettlement
	err = s.serializable(ctx, "settling a feedback pool", func(ctx context.Context, tx pgx.Tx) error {
		out = ledger.FeedbackSettlement{}
		if prev, err := txByKey(ctx, tx, pool.ProviderID, ledger.KindFeedbackSettlement, address); err != nil {
			return err
		} else if prev != nil {
			out = settlementFrom(*prev)
			out.Replayed = true
			return nil
		}
		sums, err := sumAccount(ctx, tx, address, time.Time{})
		if err != nil {
			return err
		}
		balance := map[string]decimal.Decimal{}
		for cur, v := range sums {
			balance[cur] = v.Neg() // credit-normal
		}
		raters, err := epochRaters(ctx, tx, pool.ProviderID, pool.Epoch)
		if err != nil {
			return err
		}
		keys := make([]string, len(raters))
		for i, r := range raters {
			keys[i] = ledger.RaterIdentityKey(pool.ProviderID, r.RaterID)
		}
		owners, err := identityOwners(ctx, tx, keys)
		if err != nil {
			return err
		}
		plan, err := ledger.PlanFeedbackSettlement(ledger.SettlementInput{Pool: pool, Balance: balance, Raters: raters, Cap: s.feedbackCap, Owners: owners}, s.scale)
		if err != nil {
			return err
		}
		models, err := poolModels(ctx, tx, address)
		if err != nil {
			return err
		}
		now := s.clock()
		out = ledger.FeedbackSettlement{Pool: pool, Account: address, ModelVersions: models, Cap: s.feedbackCap, Settled: plan.Settled, Raters: plan.Raters, CountedTotal: plan.CountedTotal, CreatedAt: now}
		if len(plan.Postings) == 0 {
			return nil // an empty pool: nothing to book, and a later credit can still be settled
		}
		var accts []string
		for _, p := range plan.Postings {
			if _, ok := s.known.id(p.Account); !ok {
				accts = append(accts, p.Account)
			}
		}
		if err := insertAccountsTx(ctx, tx, accts); err != nil {
			return err
		}
		out.TransactionID = uuid.NewString()
		ok, err := s.insertTx(ctx, tx, now, newTx{
			id: out.TransactionID, kind: ledger.KindFeedbackSettlement, principal: pool.ProviderID, request: address,
			hash: ledger.HashFeedbackSettlement(address), meta: settlementMeta(out), postings: plan.Postings,
		})
		if err != nil {
			return err
		}
		if !ok {
			return errConcurrentKey
		}
		return nil
	})
	return out, err
}

// poolModels returns the model versions whose usage credited a pool, in order.
func poolModels(ctx context.Context, q querier, pool string) ([]string, error) {
	rows, err := q.Query(ctx, `
		SELECT DISTINCT t.metadata->>'model_id' AS model
		FROM ledger_postings AS p JOIN ledger_transactions AS t ON t.id = p.transaction_id
		WHERE p.account_id = $1 AND t.kind = 'usage' ORDER BY model`, accountID(pool))
	if err != nil {
		return nil, fmt.Errorf("reading the models of pool %s: %w", pool, err)
	}
	models, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading the models of pool %s: %w", pool, err)
	}
	return models, nil
}

// feedbackEvidence is the evidence of the settlement posting n, when it credits a rater.
func feedbackEvidence(n int64, m meta) *ledger.FeedbackCredit {
	if m.Pool == "" {
		return nil
	}
	pool, _ := ledger.ParseFeedbackPool("pool", m.Pool)
	for _, r := range m.Raters {
		if !slices.Contains(r.Postings, int(n)) {
			continue
		}
		fc := &ledger.FeedbackCredit{Pool: m.Pool, Epoch: pool.Epoch, RaterID: r.RaterID, ModelVersions: m.Models,
			Events: r.Events, Counted: r.Counted, CountedTotal: m.Counted, Cap: m.Cap}
		for _, s := range m.Settled {
			amt, cur, _ := strings.Cut(s, " ")
			v, _ := decimal.NewFromString(amt)
			fc.Settled = append(fc.Settled, ledger.Money{Amount: v, Currency: cur})
		}
		return fc
	}
	return nil
}

// epochRaters counts each rater's events in an epoch and marks the rejected.
func epochRaters(ctx context.Context, q querier, providerID, epoch string) ([]ledger.RaterCount, error) {
	rows, err := q.Query(ctx, `
		SELECT e.rater_id, count(*),
		       EXISTS (SELECT 1 FROM feedback_rejections r WHERE r.provider_id = e.provider_id AND r.epoch = e.epoch AND r.rater_id = e.rater_id)
		FROM feedback_events e WHERE e.provider_id = $1 AND e.epoch = $2
		GROUP BY e.provider_id, e.epoch, e.rater_id ORDER BY e.rater_id`, providerID, epoch)
	if err != nil {
		return nil, fmt.Errorf("counting feedback: %w", err)
	}
	defer rows.Close()
	var out []ledger.RaterCount
	for rows.Next() {
		var r ledger.RaterCount
		if err := rows.Scan(&r.RaterID, &r.Events, &r.Rejected); err != nil {
			return nil, fmt.Errorf("counting feedback: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// raterMeta is one rater of a settlement in its metadata.
type raterMeta struct {
	RaterID     string   `json:"rater_id"`
	Events      int64    `json:"events"`
	Counted     int64    `json:"counted"`
	Rejected    bool     `json:"rejected,omitempty"`
	Contributor string   `json:"contributor_id,omitempty"`
	Amounts     []string `json:"amounts,omitempty"` // "<amount> <currency>"
	Postings    []int    `json:"n,omitempty"`       // the posting of each amount
}

func settlementMeta(st ledger.FeedbackSettlement) meta {
	m := meta{Pool: st.Account, Cap: st.Cap, Counted: st.CountedTotal, Models: st.ModelVersions}
	for _, a := range st.Settled {
		m.Settled = append(m.Settled, a.Amount.String()+" "+a.Currency)
	}
	for _, r := range st.Raters {
		rm := raterMeta{RaterID: r.RaterID, Events: r.Events, Counted: r.Counted, Rejected: r.Rejected, Contributor: r.ContributorID, Postings: r.PostingIndexes}
		for _, a := range r.Amounts {
			rm.Amounts = append(rm.Amounts, a.Amount.String()+" "+a.Currency)
		}
		m.Raters = append(m.Raters, rm)
	}
	return m
}

// settlementFrom rebuilds a settlement from its stored transaction.
func settlementFrom(t storedTx) ledger.FeedbackSettlement {
	pool, _ := ledger.ParseFeedbackPool("pool", t.meta.Pool)
	st := ledger.FeedbackSettlement{TransactionID: t.ID, Pool: pool, Account: t.meta.Pool, ModelVersions: t.meta.Models, Cap: t.meta.Cap,
		CountedTotal: t.meta.Counted, CreatedAt: t.CreatedAt}
	for _, p := range t.Postings {
		if p.Type == ledger.AccountFeedbackPool {
			st.Settled = append(st.Settled, ledger.Money{Amount: p.Amount, Currency: p.Currency})
		}
	}
	for _, r := range t.meta.Raters {
		rs := ledger.RaterShare{RaterID: r.RaterID, IdentityKey: ledger.RaterIdentityKey(pool.ProviderID, r.RaterID), Events: r.Events,
			Counted: r.Counted, Rejected: r.Rejected, ContributorID: r.Contributor, PostingIndexes: r.Postings}
		for _, a := range r.Amounts {
			amt, cur, _ := strings.Cut(a, " ")
			m := ledger.Money{Currency: cur}
			m.Amount, _ = decimal.NewFromString(amt)
			rs.Amounts = append(rs.Amounts, m)
		}
		st.Raters = append(st.Raters, rs)
	}
	return st
}
