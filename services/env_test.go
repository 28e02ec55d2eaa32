package services_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/auth"
	authpg "github.com/openroyalty/royalty/auth/postgres"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/bleveindex"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
	"github.com/openroyalty/royalty/ledger/journal"
	journalpg "github.com/openroyalty/royalty/ledger/journal/postgres"
	ledgerpg "github.com/openroyalty/royalty/ledger/postgres"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/services"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// env is one real server on loopback over a fresh database, with clients for every service.
type env struct {
	t          testing.TB
	pool       *pgxpool.Pool
	auth       *authpg.Store
	claims     *claims.Service
	ledger     *ledgerpg.Store
	bleve      *bleveindex.Index
	indexSvc   *indexer.Service
	attributor *attribution.Attributor
	srv        *services.Server
	journal    *journalpg.Store
	signer     *journal.Signer
	sealer     *journalpg.Sealer
	conn       *grpc.ClientConn

	admin       v1.AdminServiceClient
	contributor v1.ContributorServiceClient
	provider    v1.ProviderServiceClient
	audit       v1.AuditServiceClient
	feedback    v1.FeedbackServiceClient
	index       v1.IndexServiceClient
	attribution v1.AttributionServiceClient
}

func newEnv(t testing.TB) *env { t.Helper(); return newEnvWith(t, nil) }

// newEnvWith is newEnv with a chance to change the server's options.
func newEnvWith(t testing.TB, configure func(*services.Options)) *env {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	log := slog.New(slog.NewTextHandler(testLogOutput(), nil))
	// Most tests report against an empty index on purpose; TestServeEmptyIndex (cmd/royalty/ready_test.go) checks the gate.
	ps, err := wire.Open(ctx, pool, wire.Config{IndexDir: t.TempDir(), Logger: log, AllowEmptyIndex: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ps.Close)
	e := &env{t: t, pool: pool, auth: ps.Auth, ledger: ps.Ledger, claims: ps.Claims, bleve: ps.Index,
		indexSvc: ps.Indexer, attributor: ps.Attributor, journal: ps.Journal}
	priv, err := journal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	e.signer = journal.NewSigner(priv)
	e.sealer = ps.Sealer(e.signer, journalpg.SealerConfig{Margin: -1})
	opts := ps.ServerOptions(nil, e.signer, nil)
	if configure != nil {
		configure(&opts)
	}
	e.srv = services.NewServer(opts)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.GRPC.Serve(lis)
	t.Cleanup(e.srv.GRPC.Stop)
	e.conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.conn.Close() })
	e.admin = v1.NewAdminServiceClient(e.conn)
	e.contributor = v1.NewContributorServiceClient(e.conn)
	e.provider = v1.NewProviderServiceClient(e.conn)
	e.audit = v1.NewAuditServiceClient(e.conn)
	e.feedback = v1.NewFeedbackServiceClient(e.conn)
	e.index = v1.NewIndexServiceClient(e.conn)
	e.attribution = v1.NewAttributionServiceClient(e.conn)
	return e
}

// seal seals every committed transaction, as the server's sealer does in the background.
func (e *env) seal() {
	e.t.Helper()
	if _, err := e.sealer.SealPending(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// principal is a principal with a key, and a context that sends the key.
type principal struct {
	auth.Principal
	key string
}

func (p principal) ctx() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+p.key)
}

func (e *env) principal(name string, role auth.Role) principal {
	e.t.Helper()
	p, _, key, err := e.auth.CreatePrincipal(context.Background(), name, role)
	if err != nil {
		e.t.Fatal(err)
	}
	return principal{Principal: p, key: key}
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code = %v (%v), want %v", got, err, want)
	}
}

// testLogOutput is where the server's log goes: discarded unless ROYALTY_TEST_LOG is set.
func testLogOutput() io.Writer {
	if os.Getenv("ROYALTY_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}
