package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/openroyalty/royalty/internal/pgtest"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// TestServeTwoReplicas: two `royalty serve --index=sql --follow` on one database, each with its
// own data directory. Posts ingested through A make B ready (its index follows the posts table),
// searchable on B, and a usage report sent to B credits their authors.
func TestServeTwoReplicas(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	replica := func(c *config) {
		c.Index, c.Follow, c.FollowInterval, c.MaxFollowLag = "sql", true, 100*time.Millisecond, 5*time.Second
	}
	a := startReadyEnv(t, dsn, false, replica)

	cfg := &config{DatabaseURL: dsn, GRPCAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", DataDir: t.TempDir(),
		IndexCheckInterval: 200 * time.Millisecond, HealthInterval: 100 * time.Millisecond}
	replica(cfg)
	srv, err := startServer(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(0) })
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	b := &readyEnv{t: t, srv: srv, conn: conn, admin: a.admin, provider: a.provider, dsn: dsn}
	if got := b.health(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("B on an empty posts table = %v, want NOT_SERVING", got)
	}

	a.ingest(readyPost("1", "ana", readyChain), readyPost("2", "bo", readyLube))
	took := b.awaitHealth(healthpb.HealthCheckResponse_SERVING, 10*time.Second)
	t.Logf("B ready %v after the ingest through A", took)
	found, err := v1.NewIndexServiceClient(b.conn).SearchPosts(b.as(b.admin), &v1.SearchPostsRequest{Query: "cassette toothbrush degreaser"})
	if err != nil || len(found.GetHits()) != 1 || found.GetHits()[0].GetPostId() != "forum:s/1" {
		t.Fatalf("search on B = %v, %v; want forum:s/1", found, err)
	}
	r, err := b.report("r-b")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(r.GetUsage().GetCredits()); got != 2 {
		t.Fatalf("the report to B credits %d authors, want 2: %v", got, r.GetUsage())
	}
}
