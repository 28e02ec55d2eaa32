// Package services serves royalty over gRPC. Handlers translate between protobuf messages and
// domain types and map domain errors to status codes in one table (errors.go); they hold no
// business rules.
package services

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"runtime/debug"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/openroyalty/royalty/access"
	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/ledger"
	royaltyv1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/usage"
)

// DefaultMaxMessageBytes bounds every request and response message.
const DefaultMaxMessageBytes = 8 << 20

// Options configure a Server.
type Options struct {
	// Logger receives one line per call and every recovered panic; required.
	Logger *slog.Logger
	// Registerer receives the gRPC metrics; nil means none are exported.
	Registerer prometheus.Registerer
	// MaxMessageBytes bounds received and sent messages; DefaultMaxMessageBytes when zero.
	// Response texts have the tighter limits of Usage (usage.Limits) and Attributor
	// (attribution.Config), which cmd/royalty sets alike (--max-response-bytes).
	MaxMessageBytes int

	// Auth authenticates API keys and manages principals; required.
	Auth auth.Store
	// Claims runs contributor claims; required.
	Claims *claims.Service
	// Ledger books and reads money. Required.
	Ledger ledger.Ledger
	// Journal is the verifiable journal (ledger/journal/postgres.Store): ExportJournal streams
	// it with its chain fields, and the verification calls read it. Required.
	Journal JournalStore
	// JournalKey is the public key of the server's checkpoint signing key: GetPublicKey returns
	// it and VerifyJournal trusts it, with JournalTrusted (earlier keys after a rotation). Nil
	// when the server signs nothing: both calls answer FAILED_PRECONDITION.
	JournalKey     ed25519.PublicKey
	JournalTrusted []ed25519.PublicKey
	// Index serves IndexService; nil leaves it UNIMPLEMENTED.
	Index *indexer.Service
	// Attributor attributes responses for AttributionService and, through Usage, ReportUsage.
	Attributor Attributor
	// Usage books usage reports; required.
	Usage *usage.Service

	// MaxConcurrentStreams bounds the calls in flight on one connection;
	// DefaultMaxConcurrentStreams when zero.
	MaxConcurrentStreams uint32
	// SmallMessageBytes bounds the requests of every method but IngestPosts, Attribute and
	// ReportUsage(Batch), which take up to MaxMessageBytes; DefaultSmallMessageBytes when zero.
	SmallMessageBytes int
	// MaxAnonymousCallsPerAddress bounds the calls without an API key (health, reflection,
	// RegisterContributor) in flight from one client address;
	// DefaultMaxAnonymousCallsPerAddress when zero.
	MaxAnonymousCallsPerAddress int
	// RateLimits maps full method names to their rate limits; methods not in it are not rate
	// limited. serve limits RegisterContributor, which anyone may call, and Attribute, which
	// costs 100 to 270 ms of CPU per 64 KiB (its --rate-* flags).
	RateLimits map[string]RateLimit
}

// Server is royalty's gRPC server: the six royalty.v1 services, gRPC health checking and server
// reflection, with metrics, call logging and panic recovery around every handler.
type Server struct {
	GRPC   *grpc.Server
	Health *health.Server

	gate *gate // what NewHTTPHandler's front admits calls with
}

// NewServer builds a Server. Every royalty.v1 call passes the authenticator, which checks the
// caller's key against the policy table (policy.go) before the handler runs; health checking and
// reflection stay open.
func NewServer(opts Options) *Server {
	if opts.MaxMessageBytes == 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if opts.MaxConcurrentStreams == 0 {
		opts.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if opts.SmallMessageBytes == 0 {
		opts.SmallMessageBytes = DefaultSmallMessageBytes
	}
	if opts.MaxAnonymousCallsPerAddress == 0 {
		opts.MaxAnonymousCallsPerAddress = DefaultMaxAnonymousCallsPerAddress
	}
	gt := &gate{authn: authenticator{store: opts.Auth}, anon: newInflight(opts.MaxAnonymousCallsPerAddress),
		small: opts.SmallMessageBytes}
	if len(opts.RateLimits) > 0 {
		gt.limiter = newRateLimiter(opts.RateLimits)
	}
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(metrics)
	}
	logOpts := []logging.Option{logging.WithLogOnEvents(logging.FinishCall)}
	recoverOpts := []recovery.Option{recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		opts.Logger.ErrorContext(ctx, "panic in handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})}
	// Unary calls are authenticated by their gated handlers (limits.go), before their message is
	// read and so before these interceptors run; streams by the gate's stream interceptor.
	g := grpc.NewServer(append(serverOptions(opts),
		grpc.ChainUnaryInterceptor(
			metrics.UnaryServerInterceptor(),
			logging.UnaryServerInterceptor(interceptorLogger(opts.Logger), logOpts...),
			recovery.UnaryServerInterceptor(recoverOpts...),
		),
		grpc.ChainStreamInterceptor(
			metrics.StreamServerInterceptor(),
			logging.StreamServerInterceptor(interceptorLogger(opts.Logger), logOpts...),
			recovery.StreamServerInterceptor(recoverOpts...),
			gt.stream(),
		),
	)...)
	reg := gatedRegistrar{server: g, gate: gt}
	if opts.Index != nil {
		royaltyv1.RegisterIndexServiceServer(reg, NewIndexServer(opts.Index, opts.Logger))
	} else {
		royaltyv1.RegisterIndexServiceServer(reg, royaltyv1.UnimplementedIndexServiceServer{})
	}
	if opts.Attributor != nil {
		royaltyv1.RegisterAttributionServiceServer(reg, NewAttributionService(opts.Attributor))
	} else {
		royaltyv1.RegisterAttributionServiceServer(reg, royaltyv1.UnimplementedAttributionServiceServer{})
	}
	rules := access.Rules{Principals: opts.Auth, Owners: opts.Ledger, Usages: opts.Ledger}
	royaltyv1.RegisterProviderServiceServer(reg, &providerServer{usage: opts.Usage, ledger: opts.Ledger, access: rules})
	royaltyv1.RegisterContributorServiceServer(reg, &contributorServer{auth: opts.Auth, claims: opts.Claims, ledger: opts.Ledger, access: rules})
	royaltyv1.RegisterAuditServiceServer(reg, &auditServer{ledger: opts.Ledger, verifiable: opts.Journal,
		publicKey: opts.JournalKey, trusted: trustedKeys(opts.JournalKey, opts.JournalTrusted)})
	royaltyv1.RegisterAdminServiceServer(reg, &adminServer{auth: opts.Auth, claims: opts.Claims, ledger: opts.Ledger})
	if fl, ok := opts.Ledger.(ledger.FeedbackLedger); ok {
		royaltyv1.RegisterFeedbackServiceServer(reg, &feedbackServer{ledger: fl, claims: opts.Claims})
	} else {
		royaltyv1.RegisterFeedbackServiceServer(reg, royaltyv1.UnimplementedFeedbackServiceServer{})
	}

	hs := health.NewServer()
	healthpb.RegisterHealthServer(reg, hs)
	reflection.Register(g) // streams only: the gate's stream interceptor covers them
	metrics.InitializeMetrics(g)
	return &Server{GRPC: g, Health: hs, gate: gt}
}

// interceptorLogger adapts slog to the logging middleware.
func interceptorLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}
