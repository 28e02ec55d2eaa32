package services_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/ledger/csv"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/services"
	"github.com/openroyalty/royalty/usage"
)

const (
	anaText = "Shift to the smallest cog, then wipe the chain with a rag while you pedal backwards for a full minute. " +
		"Brush the cassette with an old toothbrush and a little degreaser, rinse with warm soapy water and let it dry in the sun."
	boText = "Wet lube is what you want for rainy commutes. Dry lube is thinner and rinses away in the first puddle, " +
		"which is exactly the squeak you describe. Reapply after every long wet ride and wipe off the excess."
	novelText = "Photosynthesis converts light energy into chemical energy stored in glucose molecules inside plant leaves."
)

func usageReq(requestID, revenue, text string) *v1.ReportUsageRequest {
	return &v1.ReportUsageRequest{
		RequestId: requestID, ModelId: "acme-chat", ModelVersionHash: "sha256:abc", InputTokens: 100, OutputTokens: 60,
		Pricing: &v1.ReportUsageRequest_Revenue{Revenue: revenue}, Currency: "USD", ResponseText: text,
	}
}

func TestReportUsageEndToEnd(t *testing.T) {
	e := newEnv(t)
	admin := e.principal("ops", auth.RoleAdmin)
	acme := e.principal("acme", auth.RoleProvider)
	e.ingest(admin, post("1", "ana", anaText), post("2", "bo", boText))
	if _, err := e.admin.SetProviderAgreement(admin.ctx(), &v1.SetProviderAgreementRequest{ProviderId: acme.ID, RoyaltyRate: "0.2"}); err != nil {
		t.Fatal(err)
	}

	response := "Here is how. " + anaText + " Also: " + boText
	r, err := e.provider.ReportUsage(acme.ctx(), usageReq("r-1", "2.50", response))
	if err != nil {
		t.Fatal(err)
	}
	u := r.GetUsage()
	if r.GetReplayed() || u.GetProviderId() != acme.ID || u.GetRevenue().GetAmount() != "2.5" || u.GetRoyaltyRate() != "0.2" || u.GetRoyalty().GetAmount() != "0.5" {
		t.Fatalf("usage = %v", u)
	}
	credited := map[string]bool{}
	sum := decimal.Zero
	for _, c := range u.GetCredits() {
		credited[c.GetAccount()] = true
		sum = sum.Add(decimal.RequireFromString(c.GetAmount()))
	}
	if !credited["escrow:forum:s/ana"] || !credited["escrow:forum:s/bo"] {
		t.Fatalf("credits = %v", u.GetCredits())
	}
	if got := sum.Add(decimal.RequireFromString(u.GetUnattributed().GetAmount())); !got.Equal(decimal.RequireFromString("0.5")) {
		t.Fatalf("credits + unattributed = %s, want the royalty 0.5", got)
	}
	if len(u.GetEvidence()) < 2 || u.GetEvidence()[0].GetPostId() == "" || !strings.Contains(response, u.GetEvidence()[0].GetText()) {
		t.Fatalf("evidence = %v", u.GetEvidence())
	}
	postings := decimal.Zero
	for _, p := range u.GetPostings() {
		postings = postings.Add(decimal.RequireFromString(p.GetAmount().GetAmount()))
	}
	if !postings.IsZero() || len(u.GetPostings()) < 4 {
		t.Fatalf("postings %v sum to %s", u.GetPostings(), postings)
	}

	byTx, err := e.provider.GetUsage(acme.ctx(), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_TransactionId{TransactionId: u.GetTransactionId()}})
	if err != nil || !proto.Equal(byTx.GetUsage(), u) {
		t.Fatalf("GetUsage by transaction = %v, %v", byTx, err)
	}
	byReq, err := e.provider.GetUsage(acme.ctx(), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_RequestId{RequestId: "r-1"}})
	if err != nil || byReq.GetUsage().GetTransactionId() != u.GetTransactionId() {
		t.Fatalf("GetUsage by request = %v, %v", byReq, err)
	}

	novel, err := e.provider.ReportUsage(acme.ctx(), usageReq("r-novel", "1", novelText))
	if err != nil || len(novel.GetUsage().GetCredits()) != 0 || novel.GetUsage().GetUnattributed().GetAmount() != "0.2" {
		t.Fatalf("novel response = %v, %v", novel, err)
	}

	again, err := e.provider.ReportUsage(acme.ctx(), usageReq("r-1", "2.50", response))
	if err != nil || !again.GetReplayed() || !proto.Equal(again.GetUsage(), u) {
		t.Fatalf("retry = %v, %v", again, err)
	}

	failures := []struct {
		name  string
		req   *v1.ReportUsageRequest
		code  codes.Code
		field string
	}{
		{"same id, other payload", usageReq("r-1", "2.51", response), codes.AlreadyExists, "request_id"},
		{"no request id", usageReq("", "1", response), codes.InvalidArgument, "request_id"},
		{"negative revenue", usageReq("r-x", "-1", response), codes.InvalidArgument, "revenue"},
		{"too precise", usageReq("r-x", "0.0000000000001", response), codes.InvalidArgument, "revenue"},
		{"unknown currency", func() *v1.ReportUsageRequest { r := usageReq("r-x", "1", response); r.Currency = "ABC"; return r }(), codes.InvalidArgument, "currency"},
		{"no model", func() *v1.ReportUsageRequest { r := usageReq("r-x", "1", response); r.ModelId = ""; return r }(), codes.InvalidArgument, "model_id"},
		{"empty response", usageReq("r-x", "1", ""), codes.InvalidArgument, "response_text"},
		{"response too long", usageReq("r-x", "1", strings.Repeat("word ", 64<<10/5+1)), codes.InvalidArgument, "response_text"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.provider.ReportUsage(acme.ctx(), tt.req)
			wantCode(t, err, tt.code)
			if !strings.HasPrefix(status.Convert(err).Message(), tt.field) {
				t.Fatalf("message %q does not name %s", status.Convert(err).Message(), tt.field)
			}
		})
	}
	_, err = e.provider.GetUsage(acme.ctx(), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_RequestId{RequestId: "r-x"}})
	wantCode(t, err, codes.NotFound) // none of the failures booked anything

	// Reversal: once, with a reason; replaying it is harmless, changing the reason is refused.
	rv, err := e.provider.ReverseUsage(acme.ctx(), &v1.ReverseUsageRequest{Target: &v1.ReverseUsageRequest_RequestId{RequestId: "r-1"}, Reason: "refund"})
	if err != nil || rv.GetReplayed() || rv.GetUsage().GetReversalTransactionId() == "" || rv.GetUsage().GetReversalReason() != "refund" {
		t.Fatalf("reverse = %v, %v", rv, err)
	}
	rv2, err := e.provider.ReverseUsage(acme.ctx(), &v1.ReverseUsageRequest{Target: &v1.ReverseUsageRequest_TransactionId{TransactionId: u.GetTransactionId()}, Reason: "refund"})
	if err != nil || !rv2.GetReplayed() || rv2.GetUsage().GetReversalTransactionId() != rv.GetUsage().GetReversalTransactionId() {
		t.Fatalf("reverse again = %v, %v", rv2, err)
	}
	_, err = e.provider.ReverseUsage(acme.ctx(), &v1.ReverseUsageRequest{Target: &v1.ReverseUsageRequest_RequestId{RequestId: "r-1"}, Reason: "other"})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = e.provider.ReverseUsage(acme.ctx(), &v1.ReverseUsageRequest{Target: &v1.ReverseUsageRequest_RequestId{RequestId: "r-novel"}})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.provider.ReverseUsage(acme.ctx(), &v1.ReverseUsageRequest{Target: &v1.ReverseUsageRequest_RequestId{RequestId: "nope"}, Reason: "x"})
	wantCode(t, err, codes.NotFound)
	g, err := e.provider.GetUsage(acme.ctx(), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_RequestId{RequestId: "r-1"}})
	if err != nil || g.GetUsage().GetReversalReason() != "refund" {
		t.Fatalf("GetUsage after reversal = %v, %v", g, err)
	}

	t.Run("batch", func(t *testing.T) {
		res, err := e.provider.ReportUsageBatch(acme.ctx(), &v1.ReportUsageBatchRequest{Reports: []*v1.ReportUsageRequest{
			usageReq("b-1", "1", anaText), usageReq("b-2", "1", boText), usageReq("r-novel", "1", novelText),
		}})
		if err != nil || len(res.GetResults()) != 3 || res.GetResults()[0].GetReplayed() || !res.GetResults()[2].GetReplayed() ||
			res.GetResults()[2].GetUsage().GetTransactionId() != novel.GetUsage().GetTransactionId() {
			t.Fatalf("batch = %v, %v", res, err)
		}
		_, err = e.provider.ReportUsageBatch(acme.ctx(), &v1.ReportUsageBatchRequest{Reports: []*v1.ReportUsageRequest{
			usageReq("b-3", "1", anaText), usageReq("b-4", "-1", boText),
		}})
		wantCode(t, err, codes.InvalidArgument)
		if !strings.HasPrefix(status.Convert(err).Message(), "reports[1].revenue") {
			t.Fatalf("batch error %q does not name reports[1].revenue", status.Convert(err).Message())
		}
		_, err = e.provider.GetUsage(acme.ctx(), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_RequestId{RequestId: "b-3"}})
		wantCode(t, err, codes.NotFound) // all or nothing
		_, err = e.provider.ReportUsageBatch(acme.ctx(), &v1.ReportUsageBatchRequest{Reports: []*v1.ReportUsageRequest{
			usageReq("b-5", "1", anaText), usageReq("b-1", "2", anaText),
		}})
		wantCode(t, err, codes.AlreadyExists)
		_, err = e.provider.ReportUsageBatch(acme.ctx(), &v1.ReportUsageBatchRequest{})
		wantCode(t, err, codes.InvalidArgument)
		big := &v1.ReportUsageBatchRequest{}
		for range usage.MaxBatch + 1 {
			big.Reports = append(big.Reports, usageReq("x", "1", "hi"))
		}
		_, err = e.provider.ReportUsageBatch(acme.ctx(), big)
		wantCode(t, err, codes.InvalidArgument)
	})

	t.Run("journal export matches the trial balance", func(t *testing.T) {
		// In three currencies, each of which must balance on its own.
		for _, r := range []*v1.ReportUsageRequest{usageReq("eur-1", "3.10", anaText), usageReq("jpy-1", "470", response)} {
			r.Currency = map[string]string{"eur-1": "EUR", "jpy-1": "JPY"}[r.RequestId]
			if _, err := e.provider.ReportUsage(acme.ctx(), r); err != nil {
				t.Fatal(err)
			}
		}
		tot := e.checkExport(t, admin)
		for _, c := range []string{"USD", "EUR", "JPY"} {
			if _, ok := tot.ByType["provider/"+c]; !ok {
				t.Errorf("the export has no %s provider postings: %v", c, tot.ByType)
			}
		}
	})
	t.Run("journal export of a period", func(t *testing.T) {
		stream, err := e.audit.ExportJournal(admin.ctx(), &v1.ExportJournalRequest{Until: u.GetCreatedAt()})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		for {
			m, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			buf.Write(m.GetChunk())
		}
		if buf.String() != strings.Join(csv.JournalColumns, ",")+"\r\n" {
			t.Fatalf("export before the first report = %q, want the header only", buf.String())
		}
	})
}

// checkExport exports the journal over the API and checks that it balances per transaction and
// currency and equals GetTrialBalance per account type to the last digit.
func (e *env) checkExport(t *testing.T, reader principal) csv.JournalTotals {
	t.Helper()
	stream, err := e.audit.ExportJournal(reader.ctx(), &v1.ExportJournalRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		buf.Write(m.GetChunk())
	}
	tot, err := csv.CheckJournal(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := e.audit.GetTrialBalance(reader.ctx(), &v1.GetTrialBalanceRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if uint64(tot.Rows) != tb.GetPostings() {
		t.Fatalf("export has %d rows, trial balance sums %d postings", tot.Rows, tb.GetPostings())
	}
	if len(tb.GetLines()) != len(tot.ByType) {
		t.Fatalf("trial balance has %d lines, the export %d account types", len(tb.GetLines()), len(tot.ByType))
	}
	for _, l := range tb.GetLines() {
		key := strings.ToLower(strings.TrimPrefix(l.GetAccountType().String(), "ACCOUNT_TYPE_")) + "/" + l.GetCurrency()
		if got := tot.ByType[key]; !got.Equal(decimal.RequireFromString(l.GetBalance())) {
			t.Errorf("%s: export sums to %s, trial balance says %s", key, got, l.GetBalance())
		}
	}
	for _, m := range tb.GetTotals() {
		if !decimal.RequireFromString(m.GetAmount()).IsZero() {
			t.Errorf("trial balance total %v is not zero", m)
		}
	}
	return tot
}

// TestConcurrentIdenticalReports sends the same ReportUsage 100 times at once: one booking, and
// every caller receives the same usage.
func TestConcurrentIdenticalReports(t *testing.T) {
	e := newEnv(t)
	admin := e.principal("ops", auth.RoleAdmin)
	acme := e.principal("acme", auth.RoleProvider)
	e.ingest(admin, post("1", "ana", anaText), post("2", "bo", boText))
	req := usageReq("same-1", "3.00", anaText+" "+boText)
	const n = 100
	results := make([]*v1.ReportUsageResponse, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = e.provider.ReportUsage(acme.ctx(), req)
		}()
	}
	close(start)
	wg.Wait()
	fresh := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if !proto.Equal(results[i].GetUsage(), results[0].GetUsage()) {
			t.Fatalf("call %d got a different usage:\n%v\nvs\n%v", i, results[i].GetUsage(), results[0].GetUsage())
		}
		if !results[i].GetReplayed() {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d callers were told they booked it, want exactly 1", fresh)
	}
	tot := e.checkExport(t, admin)
	if tot.Transactions != 1 || tot.Rows != len(results[0].GetUsage().GetPostings()) {
		t.Fatalf("journal has %d transactions and %d postings, want one booking of %d", tot.Transactions, tot.Rows, len(results[0].GetUsage().GetPostings()))
	}
}

// slowAttributor attributes only after its caller's deadline has passed: the server is at work
// on the call when the deadline expires.
type slowAttributor struct {
	usage.Attributor
	started chan struct{}
}

func (a slowAttributor) Attribute(ctx context.Context, response string) (*attribution.Result, error) {
	select {
	case a.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return a.Attributor.Attribute(ctx, response)
}

// TestDeadlines: a call whose deadline passes fails with DEADLINE_EXCEEDED and books nothing:
// one that expires before it is sent, one that expires while the server attributes it (the
// handler sees its context end), and in the usage service the handler calls.
func TestDeadlines(t *testing.T) {
	started := make(chan struct{}, 1)
	e := newEnvWith(t, func(o *services.Options) {
		o.Usage = usage.NewService(o.Ledger, slowAttributor{Attributor: o.Attributor, started: started}, usage.Limits{})
	})
	admin := e.principal("ops", auth.RoleAdmin)
	acme := e.principal("acme", auth.RoleProvider)
	e.ingest(admin, post("1", "ana", anaText))

	ctx, cancel := context.WithDeadline(acme.ctx(), time.Now().Add(-time.Second))
	defer cancel()
	_, err := e.provider.ReportUsage(ctx, usageReq("late-1", "1", anaText))
	wantCode(t, err, codes.DeadlineExceeded)

	ctx, cancel3 := context.WithTimeout(acme.ctx(), 300*time.Millisecond)
	defer cancel3()
	_, err = e.provider.ReportUsage(ctx, usageReq("late-3", "1", anaText))
	wantCode(t, err, codes.DeadlineExceeded)
	select {
	case <-started:
	default:
		t.Fatal("the call with a live deadline never reached the handler's attribution")
	}

	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	svc := usage.NewService(e.ledger, e.attributor, usage.Limits{})
	_, err = svc.Report(expired, usage.Report{ProviderID: acme.ID, RequestID: "late-2", ModelID: "m", Revenue: "1", Currency: "USD", ResponseText: anaText})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Report with an expired context: %v", err)
	}
	for _, rid := range []string{"late-1", "late-2", "late-3"} {
		_, err = e.provider.GetUsage(acme.ctx(), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_RequestId{RequestId: rid}})
		wantCode(t, err, codes.NotFound)
	}
	tb, err := e.audit.GetTrialBalance(admin.ctx(), &v1.GetTrialBalanceRequest{})
	if err != nil || tb.GetPostings() != 0 {
		t.Fatalf("trial balance after expired calls = %v, %v", tb, err)
	}
}

// TestOtherProvidersReportsDoNotLeak: asking for another provider's report gives the answer an
// id that does not exist gives, code and message alike, for GetUsage and ReverseUsage, by
// transaction id and by request id.
func TestOtherProvidersReportsDoNotLeak(t *testing.T) {
	e := newEnv(t)
	acme := e.principal("acme", auth.RoleProvider)
	beta := e.principal("beta", auth.RoleProvider)
	r, err := e.provider.ReportUsage(acme.ctx(), usageReq("shared-id", "1", novelText))
	if err != nil {
		t.Fatal(err)
	}
	theirs := r.GetUsage().GetTransactionId()
	const absent = "6f1c1f5e-1111-4111-8111-111111111111"
	answer := func(call func(target string) error, target string) (codes.Code, string) {
		err := call(target)
		st, _ := status.FromError(err)
		return st.Code(), strings.ReplaceAll(st.Message(), target, "ID")
	}
	calls := map[string]func(string) error{
		"GetUsage by transaction id": func(id string) error {
			_, err := e.provider.GetUsage(beta.ctx(), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_TransactionId{TransactionId: id}})
			return err
		},
		"GetUsage by request id": func(id string) error {
			_, err := e.provider.GetUsage(beta.ctx(), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_RequestId{RequestId: id}})
			return err
		},
		"ReverseUsage by transaction id": func(id string) error {
			_, err := e.provider.ReverseUsage(beta.ctx(), &v1.ReverseUsageRequest{Target: &v1.ReverseUsageRequest_TransactionId{TransactionId: id}, Reason: "refund"})
			return err
		},
		"ReverseUsage by request id": func(id string) error {
			_, err := e.provider.ReverseUsage(beta.ctx(), &v1.ReverseUsageRequest{Target: &v1.ReverseUsageRequest_RequestId{RequestId: id}, Reason: "refund"})
			return err
		},
	}
	for name, call := range calls {
		mine, none := theirs, absent
		if strings.Contains(name, "request id") {
			mine, none = "shared-id", "never-used-id"
		}
		code1, msg1 := answer(call, mine)
		code2, msg2 := answer(call, none)
		if code1 != codes.NotFound || code1 != code2 || msg1 != msg2 {
			t.Errorf("%s: another provider's report gives %v %q, an absent one %v %q", name, code1, msg1, code2, msg2)
		}
		field := "transaction_id"
		if strings.Contains(name, "request id") {
			field = "request_id"
		}
		if !strings.HasPrefix(msg1, field+":") {
			t.Errorf("%s: message %q does not name %s", name, msg1, field)
		}
	}
	if _, err := e.provider.GetUsage(acme.ctx(), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_TransactionId{TransactionId: theirs}}); err != nil {
		t.Fatalf("the owner cannot read its report: %v", err)
	}
}
