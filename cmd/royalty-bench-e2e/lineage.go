package main

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/openroyalty/royalty/ledger"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// lineageResult compares usage reports for a model version without training lineage with
// reports for one with lineage (two epochs) from a provider with a feedback rate, so that every
// report of the second also books feedback_rate x revenue into feedback pools in its
// transaction.
type lineageResult struct {
	clients       int
	slices        int
	without, with phaseResult
}

// trainedModel is the model version with training lineage.
const trainedModel = "bench-e2e-trained"

// lineageSlices is how many slices of each kind the comparison runs. The slices alternate in
// the order without, with, with, without (repeated), so that neither kind always runs later,
// on bigger tables and a longer journal, than the other.
const lineageSlices = 6

// lineagePhases declares the lineage and the feedback rate, then runs the two kinds of reports
// in alternating slices with the same clients, d of each kind in all.
func (b *bench) lineagePhases(ctx context.Context, clients int, d time.Duration) (*lineageResult, error) {
	conn, err := grpc.NewClient(b.addr, b.grpcCreds())
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
	if _, err := fb.DeclareTraining(pctx, &v1.DeclareTrainingRequest{ModelVersion: trainedModel, Epochs: []*v1.EpochWeight{
		{Epoch: ledger.EpochOf(now.AddDate(0, -1, 0)), Weight: "2"}, {Epoch: ledger.EpochOf(now), Weight: "1"}}}); err != nil {
		return nil, fmt.Errorf("DeclareTraining: %w", err)
	}
	if b.o.warmup > 0 {
		say("lineage warm-up: %s of %d gRPC clients (both model versions), not measured", b.o.warmup, clients)
		for i, model := range []string{benchModel, trainedModel} {
			if _, err := b.driveModel(ctx, fmt.Sprintf("lineage-warmup-%d", i), "grpc", clients, b.o.warmup/2, model); err != nil {
				return nil, err
			}
		}
	}
	slice := d / lineageSlices
	say("lineage: %d gRPC clients, %d slices of %s without training lineage (model %s) and %d with lineage over two epochs and a feedback rate of 0.05 (model %s), alternating",
		clients, lineageSlices, slice, benchModel, lineageSlices, trainedModel)
	res := &lineageResult{clients: clients, slices: lineageSlices}
	var cpuWithout, cpuWith cpuSample // summed over the slices of each kind
	for i := range 2 * lineageSlices {
		trained := i%4 == 1 || i%4 == 2
		model, into, name := benchModel, &res.without, fmt.Sprintf("nolineage-%d", i)
		if trained {
			model, into, name = trainedModel, &res.with, fmt.Sprintf("lineage-%d", i)
		}
		before := b.sampleCPU()
		r, err := b.driveModel(ctx, name, "grpc", clients, slice, model)
		if err != nil {
			return nil, err
		}
		after := b.sampleCPU()
		into.add(r)
		sum := &cpuWithout
		if trained {
			sum = &cpuWith
		}
		sum.addDelta(before, after)
	}
	say("  without lineage: %.0f reports/s, p50 %.1f ms, p99 %.1f ms; errors: %s", res.without.perS(), res.without.p(0.5), res.without.p(0.99), res.without.errorSummary())
	say("  with lineage:    %.0f reports/s, p50 %.1f ms, p99 %.1f ms; errors: %s", res.with.perS(), res.with.p(0.5), res.with.p(0.99), res.with.errorSummary())
	say("  without lineage: %s", cpuSplit(cpuSample{}, cpuWithout, res.without.ok))
	say("  with lineage:    %s", cpuSplit(cpuSample{}, cpuWith, res.with.ok))
	return res, nil
}

func (r *lineageResult) print() {
	fmt.Printf("RESULT e2e-lineage clients=%d slices=%d without_per_s=%.0f with_per_s=%.0f without_p50_ms=%.1f with_p50_ms=%.1f ratio=%.3f\n",
		r.clients, r.slices, r.without.perS(), r.with.perS(), r.without.p(0.5), r.with.p(0.5), r.with.perS()/r.without.perS())
}
