package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openroyalty/royalty/internal/soak"
	"github.com/openroyalty/royalty/ledger"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// settle learns the outcome of every write whose answer was lost: it reads the write by key
// (where the API allows), retries it with the same key and payload, and holds the two answers
// against each other (Log.Settle). Claims and ingest batches are finished the same way.
func (s *soakRun) settle(ctx context.Context) error {
	if _, err := s.waitRecovered(ctx, 90*time.Second); err != nil {
		return fmt.Errorf("before settling: %w", err)
	}
	unknown := s.writes.Unsettled()
	s.say("settling %d writes whose outcome is unknown", len(unknown))
	byPrincipal := map[string]principal{s.canaryP.id: s.canaryP}
	for _, p := range s.providers {
		byPrincipal[p.id] = p
	}
	for _, c := range s.contributors {
		byPrincipal[c.p.id] = c.p
	}
	batches := map[int64]bool{}
	for _, w := range unknown {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := byPrincipal[w.Principal]
		switch {
		case w.Kind == ledger.KindUsage && w.Batch != 0:
			batches[w.Batch] = true
		case w.Kind == ledger.KindUsage:
			s.pending.mu.Lock()
			r := s.pending.usage[w.Key]
			s.pending.mu.Unlock()
			if err := s.settleUsage(ctx, p, w.Key, r); err != nil {
				return err
			}
		case w.Kind == ledger.KindPayout:
			s.pending.mu.Lock()
			r := s.pending.payouts[w.Key]
			s.pending.mu.Unlock()
			if err := s.settlePayout(ctx, p, w, r); err != nil {
				return err
			}
		case w.Kind == ledger.KindReversal:
			s.pending.mu.Lock()
			r := s.pending.reversals[w.Key]
			s.pending.mu.Unlock()
			if err := s.settleReversal(ctx, p, w.Key, r); err != nil {
				return err
			}
		}
	}
	ids := make([]int64, 0, len(batches))
	for id := range batches {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if err := s.settleBatch(ctx, id); err != nil {
			return err
		}
	}
	for {
		s.ingest.mu.Lock()
		var batch []*v1.Post
		if len(s.ingest.pending) > 0 {
			batch, s.ingest.pending = s.ingest.pending[0], s.ingest.pending[1:]
		}
		s.ingest.mu.Unlock()
		if batch == nil {
			break
		}
		for tries := 0; !s.ingestBatch(ctx, batch); tries++ {
			if tries == 20 || ctx.Err() != nil {
				return fmt.Errorf("an ingest batch could not be settled")
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	s.settleClaims(ctx)
	s.say("settled %d reports (%d had been booked before the retry) and %d batches (%d had been booked)",
		s.settled.n, s.settled.booked, s.settledBatches.n, s.settledBatches.booked)
	if left := s.writes.Unsettled(); len(left) > 0 {
		return fmt.Errorf("%d writes still unsettled, the first %v", len(left), left[0].Key)
	}
	return nil
}

// retrying calls fn until its answer is not an unknown outcome, for up to a minute.
func retrying(ctx context.Context, fn func(context.Context) error) error {
	var err error
	for attempt := 0; attempt < 60; attempt++ {
		err = call(ctx, 10*time.Second, fn)
		if soak.Classify(status.Code(err)) != soak.Unknown || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Second)
	}
	return err
}

// lookUsage reads a report by request id: found with its transaction, or not found.
func (s *soakRun) lookUsage(ctx context.Context, p principal, requestID string) (bool, *v1.Usage, error) {
	var resp *v1.GetUsageResponse
	err := retrying(ctx, func(c context.Context) (err error) {
		resp, err = s.provider.GetUsage(p.ctx(c), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_RequestId{RequestId: requestID}})
		return err
	})
	switch status.Code(err) {
	case codes.OK:
		return true, resp.GetUsage(), nil
	case codes.NotFound:
		return false, nil, nil
	}
	return false, nil, fmt.Errorf("GetUsage %s: %w", requestID, err)
}

func (s *soakRun) settleUsage(ctx context.Context, p principal, k soak.Key, r *v1.ReportUsageRequest) error {
	if r == nil {
		return fmt.Errorf("%v: no request kept to settle it (harness bug)", k)
	}
	found, u, err := s.lookUsage(ctx, p, k.RequestID)
	if err != nil {
		return err
	}
	s.writes.Sent(soak.Write{Key: k, Amount: amountOf(r), Currency: r.GetCurrency()})
	var resp *v1.ReportUsageResponse
	err = retrying(ctx, func(c context.Context) (err error) {
		resp, err = s.provider.ReportUsage(p.ctx(c), r)
		return err
	})
	if err != nil {
		s.writes.Fail(k, status.Code(err))
		s.problemf("%v: the settling retry failed: %v", k, err)
		return nil
	}
	s.writes.Settle(k, found, u.GetTransactionId(), resp.GetUsage().GetTransactionId(), resp.GetReplayed(), time.Now())
	s.settled.add(found)
	return nil
}

// settleBatch settles a batch whose answer was lost: its reports must have been booked all
// or none (all or nothing), and the batch sent again books or replays them.
func (s *soakRun) settleBatch(ctx context.Context, id int64) error {
	s.pending.mu.Lock()
	b := s.pending.batches[id]
	s.pending.mu.Unlock()
	p, reports := b.p, b.reports
	if len(reports) == 0 {
		return fmt.Errorf("batch %d: no requests kept to settle it (harness bug)", id)
	}
	keys := make([]soak.Key, len(reports))
	found := make([]bool, len(reports))
	foundTx := make([]string, len(reports))
	booked := 0
	for i, r := range reports {
		keys[i] = soak.Key{Kind: ledger.KindUsage, Principal: p.id, RequestID: r.GetRequestId()}
		f, u, err := s.lookUsage(ctx, p, r.GetRequestId())
		if err != nil {
			return err
		}
		found[i], foundTx[i] = f, u.GetTransactionId()
		if f {
			booked++
		}
	}
	if booked != 0 && booked != len(reports) {
		s.problemf("batch %d: %d of its %d reports are booked: not all or nothing", id, booked, len(reports))
	}
	for i, r := range reports {
		s.writes.Sent(soak.Write{Key: keys[i], Amount: amountOf(r), Currency: r.GetCurrency(), Batch: id})
	}
	var resp *v1.ReportUsageBatchResponse
	err := retrying(ctx, func(c context.Context) (err error) {
		resp, err = s.provider.ReportUsageBatch(p.ctx(c), &v1.ReportUsageBatchRequest{Reports: reports})
		return err
	})
	if err != nil || len(resp.GetResults()) != len(reports) {
		for _, k := range keys {
			s.writes.Fail(k, status.Code(err))
		}
		s.problemf("batch %d: the settling retry failed: %v", id, err)
		return nil
	}
	now := time.Now()
	for i, k := range keys {
		res := resp.GetResults()[i]
		s.writes.Settle(k, found[i], foundTx[i], res.GetUsage().GetTransactionId(), res.GetReplayed(), now)
	}
	s.settledBatches.add(booked > 0)
	return nil
}

func (s *soakRun) settlePayout(ctx context.Context, p principal, w soak.Write, r *v1.RequestPayoutRequest) error {
	if r == nil {
		return fmt.Errorf("%v: no request kept to settle it (harness bug)", w.Key)
	}
	s.writes.Sent(soak.Write{Key: w.Key, Amount: w.Amount, Currency: w.Currency})
	var resp *v1.RequestPayoutResponse
	err := retrying(ctx, func(c context.Context) (err error) {
		resp, err = s.contributor.RequestPayout(p.ctx(c), r)
		return err
	})
	if err != nil {
		// FAILED_PRECONDITION (the money went elsewhere meanwhile) is an answer: the payout
		// was not booked, which the checker verifies.
		s.writes.Fail(w.Key, status.Code(err))
		if status.Code(err) != codes.FailedPrecondition {
			s.problemf("%v: the settling retry failed: %v", w.Key, err)
		}
		return nil
	}
	s.writes.Resolve(w.Key, resp.GetPayout().GetTransactionId(), resp.GetReplayed(), time.Now())
	return nil
}

func (s *soakRun) settleReversal(ctx context.Context, p principal, k soak.Key, r *v1.ReverseUsageRequest) error {
	if r == nil {
		return fmt.Errorf("%v: no request kept to settle it (harness bug)", k)
	}
	var before *v1.GetUsageResponse
	err := retrying(ctx, func(c context.Context) (err error) {
		before, err = s.provider.GetUsage(p.ctx(c), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_TransactionId{TransactionId: k.RequestID}})
		return err
	})
	if err != nil {
		return fmt.Errorf("GetUsage %s: %w", k.RequestID, err)
	}
	foundTx := before.GetUsage().GetReversalTransactionId()
	s.writes.Sent(soak.Write{Key: k})
	var resp *v1.ReverseUsageResponse
	err = retrying(ctx, func(c context.Context) (err error) {
		resp, err = s.provider.ReverseUsage(p.ctx(c), r)
		return err
	})
	if err != nil {
		s.writes.Fail(k, status.Code(err))
		if foundTx != "" || status.Code(err) != codes.FailedPrecondition {
			s.problemf("%v: the settling retry failed: %v (reversal before the retry: %q)", k, err, foundTx)
		}
		return nil
	}
	s.writes.Settle(k, foundTx != "", foundTx, resp.GetUsage().GetReversalTransactionId(), resp.GetReplayed(), time.Now())
	return nil
}

// settleCount counts settled writes and those the retry found booked already.
type settleCount struct{ n, booked int }

func (c *settleCount) add(booked bool) {
	c.n++
	if booked {
		c.booked++
	}
}
