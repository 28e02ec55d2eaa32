package main

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/openroyalty/royalty/ledger"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// lineageResult compares a phase of usage reports for a model version without training lineage
// with one for the same version once it has lineage and the provider a feedback rate, so that
// every report also books feedback_rate x revenue into a feedback pool in its transaction.
type lineageResult struct {
	clients       int
	without, with phaseResult
}

// lineagePhases runs the two phases back to back with the same clients.
func (b *bench) lineagePhases(ctx context.Context, clients int, d time.Duration) (*lineageResult, error) {
	if b.o.warmup > 0 {
		say("lineage warm-up: %s of %d gRPC clients, not measured", b.o.warmup, clients)
		if _, err := b.drive(ctx, "lineage-warmup", "grpc", clients, b.o.warmup); err != nil {
			return nil, err
		}
	}
	say("lineage: %d gRPC clients for %s without training lineage", clients, d)
	without, err := b.drive(ctx, "nolineage", "grpc", clients, d)
	if err != nil {
		return nil, err
	}
	say("  %.0f reports/s, p50 %.1f ms, p99 %.1f ms; errors: %s", without.perS(), without.p(0.5), without.p(0.99), without.errorSummary())
	conn, err := grpc.NewClient(b.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	fb := v1.NewFeedbackServiceClient(conn)
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+b.adminKey)
	if _, err := fb.SetFeedbackRate(actx, &v1.SetFeedbackRateRequest{ProviderId: b.providerID, FeedbackRate: "0.05"}); err != nil {
		return nil, fmt.Errorf("SetFeedbackRate: %w", err)
	}
	pctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+b.providerKey)
	now := time.Now().UTC()
	if _, err := fb.DeclareTraining(pctx, &v1.DeclareTrainingRequest{ModelVersion: "bench-e2e", Epochs: []*v1.EpochWeight{
		{Epoch: ledger.EpochOf(now.AddDate(0, -1, 0)), Weight: "2"}, {Epoch: ledger.EpochOf(now), Weight: "1"}}}); err != nil {
		return nil, fmt.Errorf("DeclareTraining: %w", err)
	}
	say("lineage: %d gRPC clients for %s with lineage over two epochs and a feedback rate of 0.05", clients, d)
	with, err := b.drive(ctx, "lineage", "grpc", clients, d)
	if err != nil {
		return nil, err
	}
	say("  %.0f reports/s, p50 %.1f ms, p99 %.1f ms; errors: %s", with.perS(), with.p(0.5), with.p(0.99), with.errorSummary())
	return &lineageResult{clients: clients, without: without, with: with}, nil
}

func (r *lineageResult) print() {
	fmt.Printf("RESULT e2e-lineage clients=%d without_per_s=%.0f with_per_s=%.0f without_p50_ms=%.1f with_p50_ms=%.1f ratio=%.3f\n",
		r.clients, r.without.perS(), r.with.perS(), r.without.p(0.5), r.with.p(0.5), r.with.perS()/r.without.perS())
}
