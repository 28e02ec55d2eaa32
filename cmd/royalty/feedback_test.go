package main

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger"
	ledgerpg "github.com/openroyalty/royalty/ledger/postgres"
)

// feedbackRoyalties adds feedback royalties to the audit books (newAuditEnv), so that the
// journal CSV, the hledger export, the trial balance and `royalty verify` are checked with them:
// a usage of a model version trained on last month's feedback, booked two days before this
// month began (a ledger with that clock), and the settlement of its pool now, which credits two
// raters' escrows. Two transactions.
func feedbackRoyalties(t *testing.T, ctx context.Context, pool *pgxpool.Pool, l *ledgerpg.Store, provider string) {
	t.Helper()
	now := time.Now().UTC()
	past := time.Date(now.Year(), now.Month(), 1, 12, 0, 0, 0, time.UTC).AddDate(0, 0, -2)
	lp, err := ledgerpg.New(pool, nil, ledgerpg.Config{Now: func() time.Time { return past }, GroupCommit: ledgerpg.GroupCommit{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer lp.Close()
	if _, err := l.SetFeedbackRate(ctx, provider, decimal.RequireFromString("0.05")); err != nil {
		t.Fatal(err)
	}
	for i, r := range []string{"rater-a", "rater-a", "rater-b"} {
		if _, err := lp.ReportFeedback(ctx, ledger.FeedbackRequest{ProviderID: provider, RequestID: "fb-" + string(rune('0'+i)),
			RaterID: r, Kind: ledger.FeedbackThumbsUp, ModelVersion: "m"}); err != nil {
			t.Fatal(err)
		}
	}
	epoch := ledger.EpochOf(past)
	if _, err := l.DeclareTraining(ctx, ledger.TrainingDeclaration{ProviderID: provider, ModelVersion: "m-next",
		Epochs: []ledger.EpochWeight{{Epoch: epoch, Weight: decimal.NewFromInt(1)}}}); err != nil {
		t.Fatal(err)
	}
	u, err := lp.PostUsage(ctx, ledger.UsageRequest{ProviderID: provider, RequestID: "fb-usage", ModelID: "m-next",
		Revenue: decimal.RequireFromString("2.000000000001"), Currency: "USD",
		Shares: []ledger.Share{{IdentityKey: "stackexchange:bicycles/7", Share: big.NewRat(1, 2)}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Usage.Feedback) != 1 {
		t.Fatalf("the usage booked no feedback pool: %+v", u.Usage)
	}
	st, err := l.SettlePool(ctx, u.Usage.Feedback[0].Account)
	if err != nil {
		t.Fatal(err)
	}
	if st.TransactionID == "" || st.CountedTotal != 3 || !st.Settled[0].Amount.Equal(u.Usage.Feedback[0].Amount) {
		t.Fatalf("settlement = %+v", st)
	}
}
