package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/internal/soak"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/ledgertest"
	ledgerpg "github.com/openroyalty/royalty/ledger/postgres"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// Feedback royalties under the soak (issue 21): every provider has a feedback rate and declares
// that feedbackModel was trained on the feedback of the current epoch (rejecting spamRater's);
// a quarter of the usage reports are of feedbackModel, so they credit the providers' feedback
// pools in their own transactions; the workers report feedback events with retries of the same
// request id. After the load the checker holds the events against feedback_events, then settles
// the pools (see settlePools) and checks that each was settled exactly once, that its split
// counts every acknowledged event exactly once, and that the books balance.
const (
	feedbackModel = "soak-chat-fb"
	spamRater     = "r-spam"
)

var (
	raters        = []string{"r1", "r2", "r3", "r4", "r5", "r6", spamRater}
	feedbackKinds = map[v1.FeedbackKind]string{
		v1.FeedbackKind_FEEDBACK_KIND_THUMBS_UP: ledger.FeedbackThumbsUp, v1.FeedbackKind_FEEDBACK_KIND_THUMBS_DOWN: ledger.FeedbackThumbsDown,
		v1.FeedbackKind_FEEDBACK_KIND_PREFERENCE: ledger.FeedbackPreference, v1.FeedbackKind_FEEDBACK_KIND_CORRECTION: ledger.FeedbackCorrection,
	}
)

type feedbackKey struct{ provider, requestID string }

// feedbackEvent is the client's record of one ReportFeedback.
type feedbackEvent struct {
	p       principal
	req     *v1.ReportFeedbackRequest
	outcome soak.Outcome
	code    codes.Code
	sends   int
	fresh   int  // acknowledgements that were not replays: more than one is a duplicate
	settled bool // the outcome was learned only by the settling retry
}

// feedbackLog is the client's record of every feedback event sent. Safe for concurrent use.
type feedbackLog struct {
	mu       sync.Mutex
	events   map[feedbackKey]*feedbackEvent
	problems []string
}

func (l *feedbackLog) problemf(format string, args ...any) {
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

// setupFeedback gives every provider a feedback rate and declares feedbackModel's lineage.
func (s *soakRun) setupFeedback(ctx context.Context) error {
	s.fb = &feedbackLog{events: map[feedbackKey]*feedbackEvent{}}
	s.epoch = ledger.EpochOf(time.Now())
	for i, p := range s.providers {
		rate := fmt.Sprintf("0.0%d", 1+i%9)
		if _, err := s.feedbackC.SetFeedbackRate(s.adminP.ctx(ctx), &v1.SetFeedbackRateRequest{ProviderId: p.id, FeedbackRate: rate}); err != nil {
			return fmt.Errorf("SetFeedbackRate: %w", err)
		}
		if _, err := s.feedbackC.DeclareTraining(p.ctx(ctx), &v1.DeclareTrainingRequest{ModelVersion: feedbackModel,
			Epochs: []*v1.EpochWeight{{Epoch: s.epoch, Weight: "1"}}, RejectedRaterIds: []string{spamRater}}); err != nil {
			return fmt.Errorf("DeclareTraining: %w", err)
		}
	}
	return nil
}

// feedback reports one feedback event under a fresh request id, or now and then sends an
// acknowledged one again (which must be a replay). An unknown outcome is retried with the same
// request id a few times, or left for settling.
func (w *worker) feedback(ctx context.Context) {
	l := w.s.fb
	if len(w.fbAcked) > 0 && w.rng.IntN(4) == 0 {
		e := w.fbAcked[w.rng.IntN(len(w.fbAcked))]
		w.sendFeedback(ctx, e, callTimeout, false, true)
		return
	}
	w.fbSeq++
	req := &v1.ReportFeedbackRequest{RequestId: fmt.Sprintf("%s-fb-%d", w.name, w.fbSeq), RaterId: raters[w.rng.IntN(len(raters))],
		Kind: v1.FeedbackKind(1 + w.rng.IntN(4)), ModelVersion: "soak-chat"}
	if len(w.acked) > 0 && w.rng.IntN(2) == 0 {
		req.UsageRequestId = w.acked[w.rng.IntN(len(w.acked))].req.GetRequestId()
	}
	e := &feedbackEvent{p: w.p, req: req}
	l.mu.Lock()
	l.events[feedbackKey{w.p.id, req.RequestId}] = e
	l.mu.Unlock()
	for attempt := range 4 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
			}
		}
		timeout, short := callTimeout, attempt == 0 && w.rng.IntN(8) == 0
		if short {
			timeout = w.s.lat.shortDeadline(w.rng) // a deadline that expires mid-call
		}
		if w.sendFeedback(ctx, e, timeout, short, false) != soak.Unknown || w.rng.IntN(2) == 0 {
			return
		}
	}
}

// sendFeedback sends e once and records the outcome.
func (w *worker) sendFeedback(ctx context.Context, e *feedbackEvent, timeout time.Duration, short, replay bool) soak.Outcome {
	out := w.s.sendFeedback(ctx, e, timeout, short, replay)
	if out == soak.Acked && !replay {
		if len(w.fbAcked) >= 256 {
			w.fbAcked = w.fbAcked[1:]
		}
		w.fbAcked = append(w.fbAcked, e)
	}
	return out
}

// sendFeedback sends e once with timeout (short: meant to expire mid-call) and records the
// outcome; replay says that e was acknowledged before, so the answer must be a replay.
func (s *soakRun) sendFeedback(ctx context.Context, e *feedbackEvent, timeout time.Duration, short, replay bool) soak.Outcome {
	l := s.fb
	var resp *v1.ReportFeedbackResponse
	err := call(ctx, timeout, func(c context.Context) (err error) {
		resp, err = s.feedbackC.ReportFeedback(e.p.ctx(c), e.req)
		return err
	})
	if short && status.Code(err) == codes.DeadlineExceeded {
		s.faults.add(faultDeadline, 1)
	}
	out := soak.Classify(status.Code(err))
	l.mu.Lock()
	defer l.mu.Unlock()
	e.sends++
	key := feedbackKey{e.p.id, e.req.GetRequestId()}
	switch out {
	case soak.Acked:
		if got := resp.GetFeedback().GetRequestId(); got != key.requestID {
			l.problemf("feedback %v: acknowledged with request id %q", key, got)
		}
		if replay && !resp.GetReplayed() {
			l.problemf("feedback %v: a retry of an acknowledged event was not a replay", key)
		}
		if !resp.GetReplayed() {
			e.fresh++
		}
		e.outcome, e.code = soak.Acked, codes.OK
	case soak.Refused:
		l.problemf("feedback %v: a valid event was refused: %v", key, err)
		if e.outcome != soak.Acked {
			e.outcome, e.code = soak.Refused, status.Code(err)
		}
	}
	return out
}

// settleFeedbackEvents retries every event whose outcome is unknown, with the same request id,
// until it is known.
func (s *soakRun) settleFeedbackEvents(ctx context.Context) error {
	s.fb.mu.Lock()
	var unknown []*feedbackEvent
	for _, e := range s.fb.events {
		if e.outcome == soak.Unknown {
			unknown = append(unknown, e)
		}
	}
	s.fb.mu.Unlock()
	for _, e := range unknown {
		for attempt := 0; ; attempt++ {
			if s.sendFeedback(ctx, e, 10*time.Second, false, false) != soak.Unknown {
				break
			}
			if attempt == 20 || ctx.Err() != nil {
				return fmt.Errorf("feedback %s/%s: outcome still unknown after %d retries", e.p.name, e.req.GetRequestId(), attempt+1)
			}
			time.Sleep(500 * time.Millisecond)
		}
		s.fb.mu.Lock()
		e.settled = true
		s.fb.mu.Unlock()
	}
	s.say("settled %d feedback events whose outcome was unknown", len(unknown))
	return nil
}

// checkFeedbackEvents holds the log against feedback_events: every acknowledged event stored
// once with what was sent, nothing stored that was refused or never sent. It returns the
// acknowledged events per provider, rater and epoch.
func (s *soakRun) checkFeedbackEvents(ctx context.Context) (map[[3]string]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT provider_id::text, request_id, rater_id, kind, model_version, COALESCE(usage_request_id, ''), epoch FROM feedback_events`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type stored struct{ rater, kind, model, usage, epoch string }
	got := map[feedbackKey]stored{}
	for rows.Next() {
		var k feedbackKey
		var st stored
		if err := rows.Scan(&k.provider, &k.requestID, &st.rater, &st.kind, &st.model, &st.usage, &st.epoch); err != nil {
			return nil, err
		}
		got[k] = st
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	l := s.fb
	l.mu.Lock()
	defer l.mu.Unlock()
	perRater := map[[3]string]int64{}
	// An event counts in the epoch (UTC month) the server booked it in: the run's, or the
	// next one's when the run crossed a month's end.
	epochs := map[string]bool{s.epoch: true, ledger.EpochOf(time.Now()): true}
	var sent, acked, settled, lost, duplicated int
	for k, e := range l.events {
		sent++
		st, ok := got[k]
		if e.fresh > 1 {
			duplicated += e.fresh - 1
			l.problemf("feedback %v: acknowledged as new %d times", k, e.fresh)
		}
		switch e.outcome {
		case soak.Acked:
			if e.settled {
				settled++
			} else {
				acked++
			}
			want := stored{e.req.GetRaterId(), feedbackKinds[e.req.GetKind()], e.req.GetModelVersion(), e.req.GetUsageRequestId(), st.epoch}
			switch {
			case !ok:
				lost++
				l.problemf("feedback %v: acknowledged, not in feedback_events", k)
			case st != want || !epochs[st.epoch]:
				lost++
				l.problemf("feedback %v: stored as %+v, sent %+v", k, st, want)
			default:
				perRater[[3]string{k.provider, st.rater, st.epoch}]++
			}
		case soak.Refused:
			if ok {
				duplicated++
				l.problemf("feedback %v: refused with %v, yet stored", k, e.code)
			}
		default:
			l.problemf("feedback %v: outcome still unknown", k)
		}
	}
	for k := range got {
		if _, ok := l.events[k]; !ok {
			duplicated++
			l.problemf("feedback %v: stored, but no client sent it", k)
		}
	}
	s.say("feedback events: %d sent, %d acknowledged during the load, %d settled by retry; lost %d, duplicated %d", sent, acked, settled, lost, duplicated)
	return perRater, nil
}

// settlePools settles the feedback pools after the load. A pool may be settled only after its
// UTC day and its epoch (the month) have ended and the reversal window has passed, which no
// soak lives to see; so, once the servers are stopped and the journal checked, three ledgers
// whose clock reads 35 days ahead settle every pool at once, concurrently (the settlement is
// keyed by the pool), and a fourth settles again. Then: each pool settled exactly once, its
// whole balance split, each rater's counted events equal to the events acknowledged to the
// client (spamRater counting nothing), and the books balanced per transaction and currency.
func (s *soakRun) settlePools(ctx context.Context, before *ledgertest.Books, perRater map[[3]string]int64) error {
	pools := map[string]map[string]decimal.Decimal{}
	for account, bal := range before.Balances {
		if _, err := ledger.ParseFeedbackPool("pool", account); err != nil {
			continue
		}
		for _, amount := range bal {
			if !amount.IsZero() {
				pools[account] = bal
				break
			}
		}
	}
	future := time.Now().AddDate(0, 0, 35)
	settle := func() ([]ledger.FeedbackSettlement, error) {
		store, err := wire.OpenLedger(s.pool, s.log, ledgerpg.Config{Now: func() time.Time { return future }, GroupCommit: ledgerpg.GroupCommit{Disabled: true}})
		if err != nil {
			return nil, err
		}
		defer store.Close()
		return store.SettleFeedback(ctx, "")
	}
	var mu sync.Mutex
	var all []ledger.FeedbackSettlement
	var errs []error
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sts, err := settle()
			mu.Lock()
			defer mu.Unlock()
			all = append(all, sts...)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		s.problemf("settling the feedback pools: %v", err)
	}
	again, err := settle()
	if err != nil {
		s.problemf("settling the feedback pools again: %v", err)
	}
	for _, st := range again {
		if !st.Replayed {
			s.problemf("feedback pool %s was settled by the second round (transaction %s)", st.Account, st.TransactionID)
		}
	}
	booked := map[string]int{}
	for _, st := range all {
		if st.Replayed {
			continue
		}
		booked[st.Account]++
		for _, r := range st.Raters {
			want := perRater[[3]string{st.Pool.ProviderID, r.RaterID, st.Pool.Epoch}]
			if r.Events != want {
				s.problemf("feedback pool %s: rater %s has %d events, the client had %d acknowledged", st.Account, r.RaterID, r.Events, want)
			}
			if r.RaterID == spamRater && (r.Counted != 0 || !r.Rejected || len(r.Amounts) > 0) {
				s.problemf("feedback pool %s: the rejected rater counted %d events and was paid %v", st.Account, r.Counted, r.Amounts)
			}
		}
	}

	store, err := wire.OpenLedger(s.pool, s.log, ledgerpg.Config{GroupCommit: ledgerpg.GroupCommit{Disabled: true}})
	if err != nil {
		return err
	}
	defer store.Close()
	after, err := ledgertest.Check(ctx, store)
	if after == nil {
		return fmt.Errorf("reading the books after settling: %w", err)
	}
	if err != nil {
		s.problemf("books after settling the feedback pools: %v", err)
	}
	settlements := map[string]int{} // pool → settlement transactions that move its money
	for _, t := range after.Transactions {
		if t.Kind != ledger.KindFeedbackSettlement {
			continue
		}
		touched := map[string]bool{}
		for _, p := range t.Postings {
			if p.Type == ledger.AccountFeedbackPool {
				touched[p.Account] = true
			}
		}
		for a := range touched {
			settlements[a]++
		}
	}
	accounts := make([]string, 0, len(pools))
	total := map[string]decimal.Decimal{}
	for a, bal := range pools {
		accounts = append(accounts, a)
		for cur, amount := range bal {
			total[cur] = total[cur].Add(amount)
		}
	}
	sort.Strings(accounts)
	for _, a := range accounts {
		if settlements[a] != 1 || booked[a] != 1 {
			s.problemf("feedback pool %s: %d settlement transactions in the books, %d settlements booked, want 1", a, settlements[a], booked[a])
		}
		for cur, amount := range after.Balances[a] {
			if !amount.IsZero() {
				s.problemf("feedback pool %s holds %s %s after its settlement", a, amount, cur)
			}
		}
	}
	curs := make([]string, 0, len(total))
	for cur := range total {
		curs = append(curs, cur)
	}
	sort.Strings(curs)
	var sums []string
	for _, cur := range curs {
		sums = append(sums, fmt.Sprintf("%s %s", total[cur].Abs(), cur))
	}
	s.say("feedback pools: %d pools (%s in all) settled by 3 concurrent settlers and checked to be settled once each; a fourth settled %d again",
		len(accounts), strings.Join(sums, ", "), countBooked(again))
	if len(accounts) == 0 {
		s.problemf("no feedback pool was credited: no usage of %s was booked?", feedbackModel)
	}
	return nil
}

func countBooked(sts []ledger.FeedbackSettlement) int {
	n := 0
	for _, st := range sts {
		if !st.Replayed {
			n++
		}
	}
	return n
}

// pickModel is the model of a new usage report: feedbackModel a quarter of the time.
func pickModel(rng *rand.Rand) string {
	if rng.IntN(4) == 0 {
		return feedbackModel
	}
	return "soak-chat"
}
