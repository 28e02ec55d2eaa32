package services_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/indexer"
	indexpg "github.com/openroyalty/royalty/indexer/postgres"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// flakyHook fails its first calls, as the claims service does while its database is away.
type flakyHook struct {
	inner    indexer.PostsHook
	failures atomic.Int32
}

func (h *flakyHook) PostsStored(ctx context.Context, posts []*indexer.Post) error {
	if h.failures.Add(-1) >= 0 {
		return errors.New("claims: connection reset by peer")
	}
	return h.inner.PostsStored(ctx, posts)
}

// TestProofPostWhileClaimsFail ingests a claim's proof post while the claims hook fails (found
// by make soak: a pg_terminate_backend between the posts table's commit and the hook). The
// ingest must not be acknowledged then, or nothing would ever look at the stored proof again
// and the claim would stay pending: the client retries, and the retry verifies the claim.
func TestProofPostWhileClaimsFail(t *testing.T) {
	e := newEnv(t)
	admin := e.principal("ops", auth.RoleAdmin)
	ana := e.principal("ana", auth.RoleContributor)
	hook := &flakyHook{inner: wire.ClaimsHook{Claims: e.claims}}
	hook.failures.Store(1)
	store := indexpg.New(e.pool)
	e.indexSvc.Pipeline = indexer.NewPipeline(store, e.bleve, indexer.Options{Stored: hook})

	sc, err := e.contributor.StartClaim(ana.ctx(), &v1.StartClaimRequest{IdentityKey: "forum:s/ana"})
	if err != nil {
		t.Fatal(err)
	}
	proof := post("proof", "ana", "Verifying my royalty account: "+sc.GetClaim().GetChallenge())
	proof.LastEditorId = "ana"
	stream, err := e.index.IngestPosts(admin.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&v1.IngestPostsRequest{Posts: []*v1.Post{proof}}); err != nil {
		t.Fatal(err)
	}
	sum, err := stream.CloseAndRecv()
	g, gerr := e.contributor.GetClaim(ana.ctx(), &v1.GetClaimRequest{ClaimId: sc.GetClaim().GetId()})
	if gerr != nil {
		t.Fatal(gerr)
	}
	if err == nil && g.GetClaim().GetStatus() != v1.ClaimStatus_CLAIM_STATUS_VERIFIED {
		t.Fatalf("IngestPosts acknowledged the proof post (%v) while the claim stayed %v", sum, g.GetClaim().GetStatus())
	}
	wantCode(t, err, codes.Internal)
	e.ingest(admin, proof) // the client's retry
	g, err = e.contributor.GetClaim(ana.ctx(), &v1.GetClaimRequest{ClaimId: sc.GetClaim().GetId()})
	if err != nil || g.GetClaim().GetStatus() != v1.ClaimStatus_CLAIM_STATUS_VERIFIED || !strings.HasPrefix(g.GetClaim().GetDecidedBy(), "post:") {
		t.Fatalf("claim after the retry = %v, %v", g, err)
	}
}
