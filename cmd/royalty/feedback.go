package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/openroyalty/royalty/ledger"
	ledgerpg "github.com/openroyalty/royalty/ledger/postgres"
)

// feedbackConfig configures feedback royalties (docs/design.md §9).
type feedbackConfig struct {
	// Cap bounds the events counted per rater and epoch; Window is the reversal window before a
	// pool may be settled; SettleInterval is how often serve settles due pools (0: never, only
	// on SettleFeedback calls).
	Cap            int64
	Window         time.Duration
	SettleInterval time.Duration
}

func addFeedbackFlags(fs *pflag.FlagSet, c *feedbackConfig) {
	fs.Int64Var(&c.Cap, "feedback-cap", ledger.DefaultFeedbackCap, "feedback events counted per rater and epoch when a feedback pool is settled")
	fs.DurationVar(&c.Window, "feedback-window", ledgerpg.DefaultFeedbackWindow, "reversal window: a feedback pool is settled only this long after its day and its epoch have ended")
	fs.DurationVar(&c.SettleInterval, "feedback-settle-interval", time.Hour, "how often the server settles the feedback pools that are due (0: only on SettleFeedback calls)")
}

// runSettler settles due feedback pools every interval until ctx ends. Each pool is settled
// once however many servers run this (the settlement's idempotency key is the pool).
func runSettler(ctx context.Context, l ledger.FeedbackLedger, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sts, err := l.SettleFeedback(ctx, "")
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("settling feedback pools", "err", err)
			}
			continue
		}
		for _, st := range sts {
			log.Info("settled a feedback pool", "pool", st.Account, "transaction", st.TransactionID, "raters", len(st.Raters), "counted", st.CountedTotal)
		}
	}
}
