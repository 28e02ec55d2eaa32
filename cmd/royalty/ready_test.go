package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openroyalty/royalty/auth"
	authpg "github.com/openroyalty/royalty/auth/postgres"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
	"github.com/openroyalty/royalty/internal/pgtmp"
	"github.com/openroyalty/royalty/migrations"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

const (
	readyChain = "Shift to the smallest cog, then wipe the chain with a rag while you pedal backwards for a full minute. " +
		"Brush the cassette with an old toothbrush and a little degreaser, rinse with warm soapy water and let it dry in the sun."
	readyLube = "Wet lube is what you want for rainy commutes. Dry lube is thinner and rinses away in the first puddle, " +
		"which is exactly the squeak you describe. Reapply after every long wet ride and wipe off the excess."
)

// readyEnv is `royalty serve` started in-process, with an admin and a provider key.
type readyEnv struct {
	t        *testing.T
	srv      *runningServer
	conn     *grpc.ClientConn
	admin    string
	provider string
	dsn      string
}

// startReadyEnv starts a server on dsn with cfg's readiness settings and short intervals.
func startReadyEnv(t *testing.T, dsn string, allowEmpty bool, opts ...func(*config)) *readyEnv {
	t.Helper()
	ctx := context.Background()
	cfg := &config{DatabaseURL: dsn, GRPCAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", DataDir: t.TempDir(),
		AllowEmptyIndex: allowEmpty, IndexCheckInterval: 200 * time.Millisecond, HealthInterval: 100 * time.Millisecond}
	for _, o := range opts {
		o(cfg)
	}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("ROYALTY_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	srv, err := startServer(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(0) })
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	e := &readyEnv{t: t, srv: srv, conn: conn, dsn: dsn}
	keys := authpg.New(pool)
	if _, _, e.admin, err = keys.CreatePrincipal(ctx, "ops", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	p, _, key, err := keys.CreatePrincipal(ctx, "acme", auth.RoleProvider)
	if err != nil {
		t.Fatal(err)
	}
	e.provider = key
	if _, err := v1.NewAdminServiceClient(conn).SetProviderAgreement(e.as(e.admin), &v1.SetProviderAgreementRequest{ProviderId: p.ID, RoyaltyRate: "0.2"}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *readyEnv) as(key string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+key)
}

func (e *readyEnv) health() healthpb.HealthCheckResponse_ServingStatus {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := healthpb.NewHealthClient(e.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		e.t.Fatalf("health check: %v", err)
	}
	return r.GetStatus()
}

// awaitHealth waits up to within for the health status want and returns how long it took.
func (e *readyEnv) awaitHealth(want healthpb.HealthCheckResponse_ServingStatus, within time.Duration) time.Duration {
	e.t.Helper()
	start := time.Now()
	for {
		got := e.health()
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			e.t.Fatalf("health still %v after %v, want %v (/readyz: %s)", got, within, want, e.get("/readyz"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get returns the status code and body of a GET on the metrics listener.
func (e *readyEnv) get(path string) string {
	e.t.Helper()
	resp, err := http.Get("http://" + e.srv.MetricsAddr() + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Status + " " + strings.TrimSpace(string(b))
}

func (e *readyEnv) report(id string) (*v1.ReportUsageResponse, error) {
	return v1.NewProviderServiceClient(e.conn).ReportUsage(e.as(e.provider), &v1.ReportUsageRequest{
		RequestId: id, ModelId: "acme-chat", InputTokens: 10, OutputTokens: 60,
		Pricing: &v1.ReportUsageRequest_Revenue{Revenue: "2.50"}, Currency: "USD", ResponseText: "Here is how. " + readyChain + " Also: " + readyLube,
	})
}

func (e *readyEnv) ingest(posts ...*v1.Post) {
	e.t.Helper()
	stream, err := v1.NewIndexServiceClient(e.conn).IngestPosts(e.as(e.admin))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := stream.Send(&v1.IngestPostsRequest{Posts: posts}); err != nil {
		e.t.Fatal(err)
	}
	if sum, err := stream.CloseAndRecv(); err != nil || sum.GetRejected() != 0 {
		e.t.Fatalf("ingest = %v, %v", sum, err)
	}
}

func readyPost(id, author, text string) *v1.Post {
	return &v1.Post{
		Id: "forum:s/" + id, Platform: "forum", Site: "s", Kind: v1.PostKind_POST_KIND_ARTICLE,
		Author:    &v1.Identity{Platform: "forum", Site: "s", AuthorId: author},
		CreatedAt: timestamppb.New(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)), Url: "https://s.example/" + id, Text: text,
	}
}

func countTransactions(t *testing.T, dsn string) int {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ledger_transactions`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestServeEmptyIndex: `royalty serve` on an empty index is not ready — health NOT_SERVING,
// /readyz 503 naming the fix, a usage report FAILED_PRECONDITION naming `royalty ingest` with
// nothing written — and becomes ready by itself once posts are ingested; each booking then
// records the index version it was attributed against.
func TestServeEmptyIndex(t *testing.T) {
	e := startReadyEnv(t, pgtest.NewDatabase(t), false)
	if got := e.health(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health on an empty index = %v, want NOT_SERVING", got)
	}
	if got := e.get("/healthz"); got != "200 OK ok" {
		t.Errorf("/healthz = %q", got)
	}
	if got := e.get("/readyz"); !strings.HasPrefix(got, "503 ") || !strings.Contains(got, "index holds 0 of 0 posts; run royalty ingest") {
		t.Errorf("/readyz = %q, want 503 naming royalty ingest", got)
	}
	_, err := e.report("r-1")
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "run royalty ingest") {
		t.Fatalf("ReportUsage on an empty index = %v, want FAILED_PRECONDITION naming royalty ingest", err)
	}
	if n := countTransactions(t, e.dsn); n != 0 {
		t.Fatalf("%d transactions written while the index was empty", n)
	}

	e.ingest(readyPost("1", "ana", readyChain), readyPost("2", "bo", readyLube))
	took := e.awaitHealth(healthpb.HealthCheckResponse_SERVING, 5*time.Second)
	t.Logf("ready %v after the ingest", took)
	if got := e.get("/readyz"); got != "200 OK ready" {
		t.Errorf("/readyz = %q", got)
	}
	r, err := e.report("r-1")
	if err != nil {
		t.Fatal(err)
	}
	iv := r.GetUsage().GetIndexVersion()
	if iv.GetPosts() != 2 || iv.GetMark() < 1 || len(r.GetUsage().GetCredits()) != 2 {
		t.Fatalf("usage = %v, want two credits and index version 2 posts", r.GetUsage())
	}
	g, err := v1.NewProviderServiceClient(e.conn).GetUsage(e.as(e.provider), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_TransactionId{TransactionId: r.GetUsage().GetTransactionId()}})
	if err != nil || g.GetUsage().GetIndexVersion().GetPosts() != 2 || g.GetUsage().GetIndexVersion().GetMark() != iv.GetMark() {
		t.Fatalf("GetUsage = %v, %v; want the recorded index version %v", g.GetUsage().GetIndexVersion(), err, iv)
	}
	st, err := v1.NewContributorServiceClient(e.conn).ListStatement(e.as(e.admin), &v1.ListStatementRequest{IdentityKey: "forum:s/ana"})
	if err != nil || len(st.GetEntries()) != 1 || st.GetEntries()[0].GetIndexVersion().GetPosts() != 2 {
		t.Fatalf("statement of the escrow = %v, %v; want its entry with the index version", st, err)
	}
}

// TestServeAllowEmptyIndex: with --allow-empty-index a fresh deployment serves and books.
func TestServeAllowEmptyIndex(t *testing.T) {
	e := startReadyEnv(t, pgtest.NewDatabase(t), true)
	if got := e.health(); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health with --allow-empty-index = %v (/readyz: %s)", got, e.get("/readyz"))
	}
	r, err := e.report("r-1")
	if err != nil {
		t.Fatal(err)
	}
	if iv := r.GetUsage().GetIndexVersion(); iv == nil || iv.GetPosts() != 0 {
		t.Fatalf("index version = %v, want 0 posts recorded", iv)
	}
}

// TestServeDatabaseDown stops the database under a running server: health goes NOT_SERVING
// within seconds, calls get UNAVAILABLE (never INTERNAL), and once the database is back the
// same server serves again.
func TestServeDatabaseDown(t *testing.T) {
	ctx := context.Background()
	// Durable: the test kills the server (SIGQUIT), and the tests' usual synchronous_commit=off
	// would lose the last commits (the test's own principals) with it.
	pg, err := pgtmp.Start(ctx, pgtmp.Options{Durable: true})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("no PostgreSQL to start: %v", err)
	}
	t.Cleanup(func() { pg.Stop() })
	dsn, err := pg.CreateDatabase(ctx, "royalty", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrations.Up(ctx, dsn, nil); err != nil {
		t.Fatal(err)
	}
	e := startReadyEnv(t, dsn, true)
	if _, err := e.report("before"); err != nil {
		t.Fatal(err)
	}
	e.awaitHealth(healthpb.HealthCheckResponse_SERVING, 5*time.Second)

	if err := pg.Halt(true); err != nil {
		t.Fatal(err)
	}
	took := e.awaitHealth(healthpb.HealthCheckResponse_NOT_SERVING, 5*time.Second)
	t.Logf("NOT_SERVING %v after the database stopped", took)
	if got := e.get("/readyz"); !strings.HasPrefix(got, "503 ") || !strings.Contains(got, "database unreachable") {
		t.Errorf("/readyz = %q", got)
	}
	if _, err := e.report("during"); status.Code(err) != codes.Unavailable {
		t.Errorf("ReportUsage with the database down = %v, want UNAVAILABLE", err)
	}
	provider := v1.NewProviderServiceClient(e.conn)
	if _, err := provider.GetUsage(e.as(e.provider), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_RequestId{RequestId: "before"}}); status.Code(err) != codes.Unavailable {
		t.Errorf("GetUsage with the database down = %v, want UNAVAILABLE", err)
	}
	if _, err := v1.NewAuditServiceClient(e.conn).GetTrialBalance(e.as(e.admin), &v1.GetTrialBalanceRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("GetTrialBalance with the database down = %v, want UNAVAILABLE", err)
	}

	if err := pg.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	took = e.awaitHealth(healthpb.HealthCheckResponse_SERVING, 10*time.Second)
	t.Logf("SERVING %v after the database restarted", took)
	if _, err := e.report("after"); err != nil {
		t.Fatalf("ReportUsage after the database restarted: %v", err)
	}
}
