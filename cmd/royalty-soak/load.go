package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openroyalty/royalty/internal/soak"
	"github.com/openroyalty/royalty/ledger"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// callTimeout bounds a call that is not meant to expire.
const callTimeout = 30 * time.Second

// pendingRequests keeps the request of every write whose outcome is still unknown, so that the
// settling retry sends exactly the same payload.
type pendingRequests struct {
	mu        sync.Mutex
	usage     map[soak.Key]*v1.ReportUsageRequest
	batches   map[int64]pendingBatch
	payouts   map[soak.Key]*v1.RequestPayoutRequest
	reversals map[soak.Key]*v1.ReverseUsageRequest
	nextBatch atomic.Int64
}

// pendingBatch is a ReportUsageBatch call whose outcome is unknown.
type pendingBatch struct {
	p       principal
	reports []*v1.ReportUsageRequest
}

// latencies records the latency of successful ReportUsage calls.
type latencies struct {
	mu     sync.Mutex
	d      []time.Duration
	median time.Duration // of the last 512 calls, refreshed every 64
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = append(l.d, d)
	if len(l.d)%64 == 0 {
		recent := append([]time.Duration(nil), l.d[max(0, len(l.d)-512):]...)
		sort.Slice(recent, func(i, j int) bool { return recent[i] < recent[j] })
		l.median = recent[len(recent)/2]
	}
}

// quantile returns the q-quantile (nearest rank) and the number of samples.
func (l *latencies) quantile(q float64) (time.Duration, int) {
	l.mu.Lock()
	d := append([]time.Duration(nil), l.d...)
	l.mu.Unlock()
	if len(d) == 0 {
		return 0, 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(q*float64(len(d))+0.999999) - 1
	return d[max(0, min(i, len(d)-1))], len(d)
}

// shortDeadline is a deadline that expires in the middle of a typical call: between a fifth of
// the median latency and its double.
func (l *latencies) shortDeadline(rng *rand.Rand) time.Duration {
	l.mu.Lock()
	med := l.median
	l.mu.Unlock()
	if med == 0 {
		med = 10 * time.Millisecond
	}
	d := time.Duration(float64(med) * (0.2 + 1.8*rng.Float64()))
	return max(d, 300*time.Microsecond)
}

// load runs the workers and the fault schedule for the configured duration.
func (s *soakRun) load(ctx context.Context) error {
	loadCtx, stopLoad := context.WithTimeout(ctx, s.o.duration)
	defer stopLoad()
	s.say("load for %s with %d rounds of process faults", s.o.duration, s.o.rounds)
	s.loadStart = time.Now()
	var wg sync.WaitGroup
	for i, p := range s.providers {
		for j := range s.o.workers {
			w := &worker{s: s, p: p, name: fmt.Sprintf("w%d", i*s.o.workers+j), rng: rand.New(rand.NewPCG(s.o.seed, uint64(100+i*s.o.workers+j)))}
			wg.Add(1)
			go func() { defer wg.Done(); w.run(loadCtx) }()
		}
	}
	wg.Add(3)
	go func() { defer wg.Done(); s.contributorsLoop(loadCtx) }()
	go func() { defer wg.Done(); s.auditorLoop(loadCtx) }()
	go func() { defer wg.Done(); s.ingestLoop(loadCtx) }()
	progress := time.NewTicker(15 * time.Second)
	defer progress.Stop()
	faultsDone := make(chan error, 1)
	go func() { faultsDone <- s.injectFaults(loadCtx) }()
	var faultErr error
	for waiting := true; waiting; {
		select {
		case faultErr = <-faultsDone:
			if faultErr != nil {
				stopLoad()
			}
			waiting = false
		case <-progress.C:
			s.sayProgress()
		}
	}
	<-loadCtx.Done()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if faultErr != nil {
		return faultErr
	}
	if s.faults.get(faultDeadline) == 0 {
		s.forceDeadlineFault(ctx)
	}
	s.sayProgress()
	return nil
}

func (s *soakRun) sayProgress() {
	var acked, unknown, total int
	for _, w := range s.writes.Writes() {
		if w.Kind != ledger.KindUsage {
			continue
		}
		total++
		switch w.Outcome {
		case soak.Acked:
			acked++
		case soak.Unknown:
			unknown++
		}
	}
	p99, n := s.lat.quantile(0.99)
	s.say("%d reports sent, %d acknowledged, %d unknown; p99 %.1f ms over %d calls; faults %s", total, acked, unknown, ms(p99), n, s.faults.String())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// call runs fn with a timeout on a context that the end of the load does not cancel: a call in
// flight when the load stops finishes normally.
func call(ctx context.Context, timeout time.Duration, fn func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	return fn(cctx)
}

// worker is one reporting loop of a provider.
type worker struct {
	s    *soakRun
	p    principal
	name string
	rng  *rand.Rand
	seq  int
	// fbSeq numbers the feedback events; fbAcked are recent acknowledged ones, for replays.
	fbSeq   int
	fbAcked []*feedbackEvent
	// acked are recent acknowledged single reports, for replays, conflicts and reversals.
	acked []ackedReport
}

type ackedReport struct {
	req      *v1.ReportUsageRequest
	tx       string
	reversed bool
}

func (w *worker) run(ctx context.Context) {
	for ctx.Err() == nil {
		switch x := w.rng.IntN(100); {
		case x < 6 && w.s.fb != nil:
			w.feedback(ctx)
		case x < 60:
			w.single(ctx, false)
		case x < 74:
			w.batch(ctx)
		case x < 82:
			w.replay(ctx)
		case x < 85:
			w.conflict(ctx)
		case x < 90:
			w.concurrentDuplicate(ctx)
		case x < 92:
			w.reverse(ctx)
		default:
			w.single(ctx, true) // a client deadline that expires mid-call
		}
	}
}

// newReport makes a report under a fresh key and returns it with the revenue it should book.
func (w *worker) newReport() (*v1.ReportUsageRequest, decimal.Decimal) {
	w.seq++
	r := &v1.ReportUsageRequest{
		RequestId: fmt.Sprintf("%s-%d", w.name, w.seq), ModelId: "soak-chat", ModelVersionHash: "sha256:soak",
		InputTokens: uint64(50 + w.rng.IntN(500)), OutputTokens: uint64(50 + w.rng.IntN(800)),
		ResponseText: w.s.corpus.response(w.rng),
	}
	if w.s.fb != nil {
		r.ModelId = pickModel(w.rng)
	}
	switch x := w.rng.IntN(20); {
	case x < 15:
		r.Currency = "USD"
	case x < 19:
		r.Currency = "EUR"
	default:
		r.Currency = "JPY"
	}
	var amount decimal.Decimal
	if w.rng.IntN(10) == 0 {
		price := decimal.New(int64(1+w.rng.IntN(99999)), -9)
		r.Pricing = &v1.ReportUsageRequest_PricePerOutputToken{PricePerOutputToken: price.String()}
		amount = price.Mul(decimal.NewFromUint64(r.OutputTokens))
	} else {
		amount = decimal.New(int64(1+w.rng.IntN(3_000_000)), -6)
		r.Pricing = &v1.ReportUsageRequest_Revenue{Revenue: amount.String()}
	}
	return r, amount
}

func (w *worker) key(r *v1.ReportUsageRequest) soak.Key {
	return soak.Key{Kind: ledger.KindUsage, Principal: w.p.id, RequestID: r.GetRequestId()}
}

func amountOf(r *v1.ReportUsageRequest) decimal.Decimal {
	if p := r.GetPricePerOutputToken(); p != "" {
		return decimal.RequireFromString(p).Mul(decimal.NewFromUint64(r.GetOutputTokens()))
	}
	return decimal.RequireFromString(r.GetRevenue())
}

// single reports once under a fresh key; short gives the call a deadline meant to expire
// mid-call. An unknown outcome is retried now half the time and otherwise left for settling.
func (w *worker) single(ctx context.Context, short bool) {
	r, amount := w.newReport()
	k := w.key(r)
	w.s.pending.mu.Lock()
	w.s.pending.usage[k] = r
	w.s.pending.mu.Unlock()
	w.s.writes.Sent(soak.Write{Key: k, Amount: amount, Currency: r.GetCurrency()})
	timeout := callTimeout
	if short {
		timeout = w.s.lat.shortDeadline(w.rng)
	}
	start := time.Now()
	var resp *v1.ReportUsageResponse
	err := call(ctx, timeout, func(c context.Context) (err error) {
		resp, err = w.s.provider.ReportUsage(w.p.ctx(c), r)
		return err
	})
	took := time.Since(start)
	if short && status.Code(err) == codes.DeadlineExceeded {
		w.s.faults.add(faultDeadline, 1)
	}
	w.s.recordUsage(k, resp, err)
	switch soak.Classify(status.Code(err)) {
	case soak.Acked:
		w.s.lat.add(took)
		w.remember(r, resp.GetUsage().GetTransactionId())
	case soak.Unknown:
		if w.rng.IntN(2) == 0 {
			w.retry(ctx, k, r)
		}
	}
}

// retry sends r again with the same key until its outcome is known, a few times.
func (w *worker) retry(ctx context.Context, k soak.Key, r *v1.ReportUsageRequest) {
	for attempt := range 4 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
		}
		w.s.writes.Sent(soak.Write{Key: k, Amount: amountOf(r), Currency: r.GetCurrency()})
		var resp *v1.ReportUsageResponse
		err := call(ctx, 10*time.Second, func(c context.Context) (err error) {
			resp, err = w.s.provider.ReportUsage(w.p.ctx(c), r)
			return err
		})
		w.s.recordUsage(k, resp, err)
		if soak.Classify(status.Code(err)) != soak.Unknown {
			if err == nil {
				w.remember(r, resp.GetUsage().GetTransactionId())
			}
			return
		}
	}
}

// recordUsage feeds the outcome of one ReportUsage call to the log.
func (s *soakRun) recordUsage(k soak.Key, resp *v1.ReportUsageResponse, err error) {
	if err == nil {
		s.writes.Ack(k, resp.GetUsage().GetTransactionId(), resp.GetReplayed(), time.Now())
		if got := resp.GetUsage().GetRequestId(); got != k.RequestID {
			s.problemf("%v: acknowledged with request id %q", k, got)
		}
		s.pending.mu.Lock()
		delete(s.pending.usage, k)
		s.pending.mu.Unlock()
		return
	}
	s.writes.Fail(k, status.Code(err))
	if soak.Classify(status.Code(err)) == soak.Refused {
		s.problemf("%v: a valid report was refused: %v", k, err)
	}
}

func (w *worker) remember(r *v1.ReportUsageRequest, tx string) {
	if len(w.acked) >= 256 {
		w.acked = w.acked[1:]
	}
	w.acked = append(w.acked, ackedReport{req: r, tx: tx})
}

// batch reports 5 to 20 fresh keys in one ReportUsageBatch call.
func (w *worker) batch(ctx context.Context) {
	n := 5 + w.rng.IntN(16)
	id := w.s.pending.nextBatch.Add(1)
	req := &v1.ReportUsageBatchRequest{}
	keys := make([]soak.Key, n)
	for i := range n {
		r, amount := w.newReport()
		req.Reports = append(req.Reports, r)
		keys[i] = w.key(r)
		w.s.writes.Sent(soak.Write{Key: keys[i], Amount: amount, Currency: r.GetCurrency(), Batch: id})
	}
	w.s.pending.mu.Lock()
	w.s.pending.batches[id] = pendingBatch{p: w.p, reports: req.Reports}
	w.s.pending.mu.Unlock()
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			for i, r := range req.Reports {
				w.s.writes.Sent(soak.Write{Key: keys[i], Amount: amountOf(r), Currency: r.GetCurrency(), Batch: id})
			}
		}
		timeout, short := callTimeout, w.rng.IntN(12) == 0 // now and then a deadline that expires mid-call
		if short {
			timeout = 3 * w.s.lat.shortDeadline(w.rng)
		}
		var resp *v1.ReportUsageBatchResponse
		err := call(ctx, timeout, func(c context.Context) (err error) {
			resp, err = w.s.provider.ReportUsageBatch(w.p.ctx(c), req)
			return err
		})
		if short && status.Code(err) == codes.DeadlineExceeded {
			w.s.faults.add(faultDeadline, 1)
		}
		w.s.recordBatch(id, keys, resp, err)
		if soak.Classify(status.Code(err)) != soak.Unknown || w.rng.IntN(2) == 0 || ctx.Err() != nil {
			return
		}
	}
}

// recordBatch feeds the outcome of one ReportUsageBatch call to the log.
func (s *soakRun) recordBatch(id int64, keys []soak.Key, resp *v1.ReportUsageBatchResponse, err error) {
	if err != nil {
		for _, k := range keys {
			s.writes.Fail(k, status.Code(err))
		}
		if soak.Classify(status.Code(err)) == soak.Refused {
			s.problemf("batch %d: a valid batch was refused: %v", id, err)
		}
		return
	}
	if len(resp.GetResults()) != len(keys) {
		s.problemf("batch %d: %d results for %d reports", id, len(resp.GetResults()), len(keys))
		return
	}
	now := time.Now()
	for i, k := range keys {
		s.writes.Ack(k, resp.GetResults()[i].GetUsage().GetTransactionId(), resp.GetResults()[i].GetReplayed(), now)
	}
	s.pending.mu.Lock()
	delete(s.pending.batches, id)
	s.pending.mu.Unlock()
}

// replay sends an acknowledged report again: the answer must be the same transaction, replayed.
func (w *worker) replay(ctx context.Context) {
	if len(w.acked) == 0 {
		w.single(ctx, false)
		return
	}
	a := w.acked[w.rng.IntN(len(w.acked))]
	k := w.key(a.req)
	w.s.writes.Sent(soak.Write{Key: k, Amount: amountOf(a.req), Currency: a.req.GetCurrency()})
	var resp *v1.ReportUsageResponse
	err := call(ctx, callTimeout, func(c context.Context) (err error) {
		resp, err = w.s.provider.ReportUsage(w.p.ctx(c), a.req)
		return err
	})
	if err == nil && !resp.GetReplayed() {
		w.s.problemf("%v: a retry of acknowledged %s was not a replay (%s)", k, a.tx, resp.GetUsage().GetTransactionId())
	}
	w.s.recordUsage(k, resp, err)
}

// conflict sends an acknowledged report's key with another revenue: it must be refused with
// ALREADY_EXISTS and book nothing (the checker finds anything booked under the key but the
// original).
func (w *worker) conflict(ctx context.Context) {
	if len(w.acked) == 0 {
		w.single(ctx, false)
		return
	}
	a := w.acked[w.rng.IntN(len(w.acked))]
	r := proto.Clone(a.req).(*v1.ReportUsageRequest)
	r.Pricing = &v1.ReportUsageRequest_Revenue{Revenue: amountOf(a.req).Add(decimal.New(1, -2)).String()}
	err := call(ctx, callTimeout, func(c context.Context) error {
		_, err := w.s.provider.ReportUsage(w.p.ctx(c), r)
		return err
	})
	switch c := status.Code(err); {
	case c == codes.AlreadyExists:
	case soak.Classify(c) == soak.Unknown:
	default:
		w.s.problemf("%v: the same key with another revenue answered %v, want ALREADY_EXISTS", w.key(r), err)
	}
}

// concurrentDuplicate sends one fresh report twice at once: both answers must be the same
// transaction, one of them a replay.
func (w *worker) concurrentDuplicate(ctx context.Context) {
	r, amount := w.newReport()
	k := w.key(r)
	w.s.pending.mu.Lock()
	w.s.pending.usage[k] = r
	w.s.pending.mu.Unlock()
	w.s.writes.Sent(soak.Write{Key: k, Amount: amount, Currency: r.GetCurrency()})
	w.s.writes.Sent(soak.Write{Key: k, Amount: amount, Currency: r.GetCurrency()})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp *v1.ReportUsageResponse
			err := call(ctx, callTimeout, func(c context.Context) (err error) {
				resp, err = w.s.provider.ReportUsage(w.p.ctx(c), r)
				return err
			})
			w.s.recordUsage(k, resp, err)
		}()
	}
	wg.Wait()
	if wr, _ := w.s.writes.Get(k); wr.Outcome == soak.Acked {
		w.remember(r, wr.Tx)
	}
}

// reverse refunds an acknowledged report. FAILED_PRECONDITION is a legitimate answer (the
// money was paid out since); the checker holds every outcome against the books.
func (w *worker) reverse(ctx context.Context) {
	var a *ackedReport
	for i := range w.acked {
		if !w.acked[i].reversed {
			a = &w.acked[i]
			break
		}
	}
	if a == nil {
		w.single(ctx, false)
		return
	}
	a.reversed = true
	req := &v1.ReverseUsageRequest{Target: &v1.ReverseUsageRequest_TransactionId{TransactionId: a.tx}, Reason: "soak refund"}
	k := soak.Key{Kind: ledger.KindReversal, Principal: w.p.id, RequestID: a.tx}
	w.s.writes.Sent(soak.Write{Key: k})
	w.s.pending.mu.Lock()
	w.s.pending.reversals[k] = req
	w.s.pending.mu.Unlock()
	var resp *v1.ReverseUsageResponse
	err := call(ctx, callTimeout, func(c context.Context) (err error) {
		resp, err = w.s.provider.ReverseUsage(w.p.ctx(c), req)
		return err
	})
	w.s.recordReversal(k, resp, err)
}

func (s *soakRun) recordReversal(k soak.Key, resp *v1.ReverseUsageResponse, err error) {
	if err != nil {
		s.writes.Fail(k, status.Code(err))
		if c := status.Code(err); soak.Classify(c) == soak.Refused && c != codes.FailedPrecondition {
			s.problemf("%v: reversal refused: %v", k, err)
		}
		if soak.Classify(status.Code(err)) == soak.Unknown {
			return
		}
	} else {
		s.writes.Ack(k, resp.GetUsage().GetReversalTransactionId(), resp.GetReplayed(), time.Now())
	}
	s.pending.mu.Lock()
	delete(s.pending.reversals, k)
	s.pending.mu.Unlock()
}

// payout asks for part or all of an available balance.
func (s *soakRun) payout(ctx context.Context, c *contributor, rng *rand.Rand) {
	var bal *v1.GetBalanceResponse
	err := call(ctx, callTimeout, func(cc context.Context) (err error) {
		bal, err = s.contributor.GetBalance(c.p.ctx(cc), &v1.GetBalanceRequest{})
		return err
	})
	if err != nil {
		return
	}
	for _, b := range bal.GetBalances() {
		avail := decimal.RequireFromString(b.GetAvailable().GetAmount())
		if avail.Sign() <= 0 {
			continue
		}
		cur := b.GetAvailable().GetCurrency()
		c.payouts++
		req := &v1.RequestPayoutRequest{RequestId: fmt.Sprintf("pay-%d", c.payouts), Currency: cur}
		var amount decimal.Decimal
		if rng.IntN(2) == 0 {
			unit := decimal.New(1, -ledger.MinorUnitScale(cur))
			units := avail.Div(unit).IntPart()
			amount = unit.Mul(decimal.NewFromInt(1 + rng.Int64N(units)))
			req.Amount = amount.String()
		}
		k := soak.Key{Kind: ledger.KindPayout, Principal: c.p.id, RequestID: req.RequestId}
		s.writes.Sent(soak.Write{Key: k, Amount: amount, Currency: cur})
		s.pending.mu.Lock()
		s.pending.payouts[k] = req
		s.pending.mu.Unlock()
		for attempt := range 3 {
			if attempt > 0 {
				s.writes.Sent(soak.Write{Key: k, Amount: amount, Currency: cur})
			}
			var resp *v1.RequestPayoutResponse
			err := call(ctx, callTimeout, func(cc context.Context) (err error) {
				resp, err = s.contributor.RequestPayout(c.p.ctx(cc), req)
				return err
			})
			s.recordPayout(k, amount, resp, err)
			if soak.Classify(status.Code(err)) != soak.Unknown || ctx.Err() != nil {
				break
			}
		}
		return
	}
}

func (s *soakRun) recordPayout(k soak.Key, amount decimal.Decimal, resp *v1.RequestPayoutResponse, err error) {
	if err != nil {
		s.writes.Fail(k, status.Code(err))
		if c := status.Code(err); soak.Classify(c) == soak.Refused && c != codes.FailedPrecondition {
			s.problemf("%v: payout refused: %v", k, err)
		}
		if soak.Classify(status.Code(err)) == soak.Unknown {
			return
		}
	} else {
		s.writes.Ack(k, resp.GetPayout().GetTransactionId(), resp.GetReplayed(), time.Now())
		if got := resp.GetPayout().GetAmount().GetAmount(); !amount.IsZero() && !decimal.RequireFromString(got).Equal(amount) {
			s.problemf("%v: asked to pay out %s, paid %s", k, amount, got)
		}
	}
	s.pending.mu.Lock()
	delete(s.pending.payouts, k)
	s.pending.mu.Unlock()
}

// auditorLoop exports the journal every 10 to 15 seconds and checks each complete export, and
// that the trial balance sums to zero per currency.
func (s *soakRun) auditorLoop(ctx context.Context) {
	rng := rand.New(rand.NewPCG(s.o.seed, 3))
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(10_000+rng.IntN(5_000)) * time.Millisecond):
		}
		if _, err := s.exportOnce(ctx); err != nil && s.o.verbose {
			s.say("export failed: %v", err)
		}
		s.checkTrialBalance(ctx)
	}
}

// exportOnce reads a whole journal export and adds it to the checked exports. An export cut
// off by a fault is not checked (it is incomplete by nature); one that ends cleanly must be
// balanced and complete.
func (s *soakRun) exportOnce(ctx context.Context) ([]byte, error) {
	s.inflight.export.Add(1)
	defer s.inflight.export.Add(-1)
	started := time.Now()
	var buf bytes.Buffer
	err := call(ctx, 2*time.Minute, func(c context.Context) error {
		stream, err := s.audit.ExportJournal(s.auditorP.ctx(c), &v1.ExportJournalRequest{})
		if err != nil {
			return err
		}
		for {
			m, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return err
			}
			buf.Write(m.GetChunk())
		}
	})
	if err != nil {
		s.faults.exportFailures.Add(1)
		return nil, err
	}
	e, err := soak.ReadExport(buf.Bytes(), started)
	if err != nil {
		s.problemf("export asked for at %s: %v", started.Format(time.RFC3339Nano), err)
		return nil, err
	}
	s.exports.Add(e, s.writes)
	return buf.Bytes(), nil
}

func (s *soakRun) checkTrialBalance(ctx context.Context) {
	var tb *v1.GetTrialBalanceResponse
	err := call(ctx, callTimeout, func(c context.Context) (err error) {
		tb, err = s.audit.GetTrialBalance(s.auditorP.ctx(c), &v1.GetTrialBalanceRequest{})
		return err
	})
	if err != nil {
		return
	}
	for _, t := range tb.GetTotals() {
		if !decimal.RequireFromString(t.GetAmount()).IsZero() {
			s.problemf("trial balance does not balance: %s %s", t.GetAmount(), t.GetCurrency())
		}
	}
}

// ingestState tracks the posts the admin ingests during the load.
type ingestState struct {
	mu      sync.Mutex
	next    int
	acked   map[string]bool
	pending [][]*v1.Post // batches whose outcome is unknown
	done    [][]*v1.Post // acknowledged batches, some ingested again
	proofs  []*v1.Post   // proof posts of claims, not sent yet
}

// ingestLoop streams new posts every 2 to 4 seconds through IngestPosts, and now and then
// posts ingested before (an update that changes nothing). Once acknowledged, a post is quoted
// by responses like the corpus.
func (s *soakRun) ingestLoop(ctx context.Context) {
	rng := rand.New(rand.NewPCG(s.o.seed, 4))
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(2000+rng.IntN(2000)) * time.Millisecond):
		}
		s.ingest.mu.Lock()
		var batch []*v1.Post
		switch {
		case len(s.ingest.pending) > 0:
			batch, s.ingest.pending = s.ingest.pending[0], s.ingest.pending[1:]
		case len(s.ingest.proofs) > 0:
			// A proof goes with new posts, as a crawl would bring it.
			batch, s.ingest.proofs = s.ingest.proofs, nil
			for range 3 + rng.IntN(8) {
				s.ingest.next++
				batch = append(batch, syntheticPost(s.ingest.next, rng))
			}
		case len(s.ingest.done) > 0 && rng.IntN(5) == 0:
			batch = s.ingest.done[rng.IntN(len(s.ingest.done))]
		default:
			for range 5 + rng.IntN(20) {
				s.ingest.next++
				batch = append(batch, syntheticPost(s.ingest.next, rng))
			}
		}
		s.ingest.mu.Unlock()
		if !s.ingestBatch(ctx, batch) {
			s.ingest.mu.Lock()
			s.ingest.pending = append(s.ingest.pending, batch)
			s.ingest.mu.Unlock()
		}
	}
}

// ingestBatch sends one batch in one stream and records the outcome; false means the outcome
// is unknown and the batch must be sent again.
func (s *soakRun) ingestBatch(ctx context.Context, batch []*v1.Post) bool {
	s.inflight.ingest.Add(1)
	defer s.inflight.ingest.Add(-1)
	var sum *v1.IngestPostsResponse
	err := call(ctx, time.Minute, func(c context.Context) error {
		stream, err := s.index.IngestPosts(s.adminP.ctx(c))
		if err != nil {
			return err
		}
		for i := 0; i < len(batch); i += 10 {
			if err := stream.Send(&v1.IngestPostsRequest{Posts: batch[i:min(i+10, len(batch))]}); err != nil {
				break // the error comes with CloseAndRecv
			}
		}
		sum, err = stream.CloseAndRecv()
		return err
	})
	s.ingest.mu.Lock()
	defer s.ingest.mu.Unlock()
	if err != nil {
		if soak.Classify(status.Code(err)) == soak.Refused {
			s.problemf("IngestPosts refused a valid batch: %v", err)
		}
		return false
	}
	if sum.GetReceived() != uint64(len(batch)) || sum.GetRejected() != 0 {
		s.problemf("IngestPosts of %d valid posts: %v", len(batch), sum)
	}
	fresh := false
	for _, p := range batch {
		if !s.ingest.acked[p.GetId()] {
			fresh = true
			s.ingest.acked[p.GetId()] = true
			s.corpus.add(corpusPost{id: p.GetId(), author: "soak:gen/" + p.GetAuthor().GetAuthorId(), words: strings.Fields(p.GetText())})
		}
	}
	if fresh {
		s.ingest.done = append(s.ingest.done, batch)
	}
	return true
}

var vocabulary = strings.Fields(`lantern orchard copper meadow harbor violet thunder saddle glacier
	pepper anchor ribbon marble falcon canyon velvet ember willow compass quartz tundra lagoon
	cobalt prairie beacon juniper summit timber walnut cinder harvest marrow pebble bramble
	thistle fjord kestrel lichen mortar parsnip quiver russet sorrel trellis umber vellum wicker
	yarrow zephyr almond basalt cedar dune estuary fennel garnet hazel indigo jasper kelp loam`)

// syntheticPost is a new post of 40 to 80 words by one of 20 authors of the made-up platform
// "soak".
func syntheticPost(n int, rng *rand.Rand) *v1.Post {
	words := make([]string, 40+rng.IntN(41))
	for i := range words {
		words[i] = vocabulary[rng.IntN(len(vocabulary))]
	}
	words[rng.IntN(len(words))] = fmt.Sprintf("token%d", n)
	author := syntheticAuthor(rng.IntN(syntheticAuthors))
	return &v1.Post{
		Id: fmt.Sprintf("soak:gen/p%d", n), Platform: "soak", Site: "gen", Kind: v1.PostKind_POST_KIND_ARTICLE,
		Author:    &v1.Identity{Platform: "soak", Site: "gen", AuthorId: author, DisplayName: "Author " + author},
		CreatedAt: timestamppb.Now(), Url: fmt.Sprintf("https://soak.example/p%d", n), Text: strings.Join(words, " "),
		License: "CC0",
	}
}
