package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/indexer"
	journalpg "github.com/openroyalty/royalty/ledger/journal/postgres"
	ledgerpg "github.com/openroyalty/royalty/ledger/postgres"
	"github.com/openroyalty/royalty/services"
)

func serveCommand(cfg *config, stderr io.Writer) *cobra.Command {
	var shutdownTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the API (gRPC, gRPC-Web, Connect, HTTP/JSON, REST), the web app, health, /metrics",
		Long: "Serve the API on --grpc-addr and Prometheus metrics, /healthz (liveness) and /readyz\n" +
			"(readiness) on --metrics-addr until SIGTERM or SIGINT; then in-flight calls finish (up to\n" +
			"--shutdown-timeout) and the process exits 0. The API port answers gRPC, gRPC-Web, Connect and\n" +
			"HTTP/JSON (POST /royalty.v1.<Service>/<Method>), the REST routes (/v1/...), /openapi.json and\n" +
			"/docs/api, and the web app on every other path; HTTP/2 needs no TLS there (prior knowledge).\n\n" +
			"The server is ready (gRPC health SERVING, /readyz 200) while the database answers and the\n" +
			"index holds the posts of the posts table, within --max-index-lag. Until then usage reports are\n" +
			"refused (FAILED_PRECONDITION naming the fix, or UNAVAILABLE while the index catches up), so\n" +
			"that nothing is booked as unattributed for want of an index; --allow-empty-index accepts an\n" +
			"empty index on a fresh deployment.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(cfg, stderr)
			if err != nil {
				return err
			}
			if err := checkAttributionFlags(cfg.Attribution); err != nil {
				return err
			}
			if err := checkIndexFlag(cfg.Index); err != nil {
				return err
			}
			srv, err := startServer(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			<-cmd.Context().Done()
			log.Info("shutting down", "reason", "signal")
			return srv.Shutdown(shutdownTimeout)
		},
	}
	cmd.Flags().DurationVar(&shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight calls may take to finish on shutdown")
	cmd.Flags().StringVar(&cfg.SigningKeyFile, "signing-key-file", "", "Ed25519 key that signs journal checkpoints: PEM PKCS #8 (openssl genpkey -algorithm ed25519) or base64 seed, mode 0600; without it, <data-dir>/signing-key.pem, created on first start")
	cmd.Flags().DurationVar(&cfg.SealInterval, "seal-interval", journalpg.DefaultInterval, "how often the journal sealer looks for committed transactions to seal")
	cmd.Flags().DurationVar(&cfg.SealLease, "seal-lease", journalpg.DefaultLeaseTTL, "with several replicas on one database, only the holder of the sealer lease seals; another takes over within this long after the holder dies (0: no lease, every replica seals)")
	cmd.Flags().BoolVar(&cfg.AllowEmptyIndex, "allow-empty-index", false, "serve and book usage reports even when the index holds no posts (a fresh deployment); reports then book the whole royalty as unattributed")
	cmd.Flags().Int64Var(&cfg.MaxIndexLag, "max-index-lag", indexer.DefaultMaxIndexLag, "how many posts the index may hold fewer than the posts table before usage reports are refused and health says NOT_SERVING")
	cmd.Flags().DurationVar(&cfg.IndexCheckInterval, "index-check-interval", indexer.DefaultCheckInterval, "how often the index is compared with the posts table (while it is not ready, usage reports and health checks compare it again every second)")
	cmd.Flags().DurationVar(&cfg.HealthInterval, "health-interval", defaultHealthInterval, "how often the database is pinged and the index's readiness read for gRPC health and /readyz")
	cmd.Flags().StringArrayVar(&cfg.TrustedKeys, "trusted-pubkey", nil, "a further public key (base64, or a file) whose checkpoints VerifyJournal accepts, e.g. the key before a rotation (repeatable)")
	cmd.Flags().Int32Var(&cfg.DBMaxConns, "db-max-conns", defaultDBMaxConns, "most connections the server opens to the database (a pool_max_conns in --database-url wins)")
	cmd.Flags().DurationVar(&cfg.GroupCommitWait, "group-commit-wait", ledgerpg.DefaultGroupCommitWait, "how long concurrent usage reports are collected to be booked in one database transaction (0: only those already waiting)")
	cmd.Flags().IntVar(&cfg.GroupCommitFlush, "group-commit-flushers", 0, "usage transactions in flight at once (0: the ledger's default)")
	cmd.Flags().DurationVar(&cfg.KeyCacheTTL, "key-cache-ttl", auth.DefaultCacheTTL, "how long a verified API key is trusted without asking the database; a key revoked elsewhere is refused within this time (0: always ask)")
	cmd.Flags().StringVar(&cfg.PprofAddr, "pprof-addr", "", "serve the Go profiler (net/http/pprof, /debug/pprof/) on this address; empty: off")
	addAttributionFlags(cmd.Flags(), &cfg.Attribution)
	addIndexFlag(cmd.Flags(), &cfg.Index)
	cmd.Flags().BoolVar(&cfg.Follow, "follow", false, "keep the search index in step with the posts table, which every replica shares: index the posts other replicas ingested, and rebuild a lost index from the table (required when more than one replica serves one database)")
	cmd.Flags().DurationVar(&cfg.FollowInterval, "follow-interval", indexer.DefaultFollowInterval, "with --follow: how often the posts table is read for changed posts")
	cmd.Flags().DurationVar(&cfg.MaxFollowLag, "max-follow-lag", indexer.DefaultMaxFollowLag, "with --follow: the server is ready only when its index caught up with the posts table at most this long ago")
	addLimitFlags(cmd.Flags(), &cfg.Limits)
	addServerTLSFlags(cmd.Flags(), &cfg.TLS)
	addProfileFlags(cmd.Flags(), &cfg.Profiles)
	addWebFlags(cmd.Flags(), &cfg.Web)
	addFeedbackFlags(cmd.Flags(), &cfg.Feedback)
	return cmd
}

// defaultDBMaxConns is serve's pool size: the group commit's flushers, the key and replay
// reads, the sealer, health and the web app, with room to spare; PostgreSQL allows 100.
const defaultDBMaxConns = 24

// runningServer is a started royalty server: gRPC, metrics and the resources they use.
type runningServer struct {
	log      *slog.Logger
	grpc     *services.Server
	api      *http.Server
	grpcLis  net.Listener
	metrics  *http.Server
	metLis   net.Listener
	pprof    *http.Server // nil unless --pprof-addr
	pool     *pgxpool.Pool
	parts    *wire.Parts
	sealer   *journalpg.Sealer
	watcher  *healthWatcher
	stopBg   context.CancelFunc // stops the index checks
	served   chan error
	shutdown bool
}

// GRPCAddr is the address the API (gRPC and HTTP) listens on (useful when started on port 0).
// WebURL is the web app's address.
func (s *runningServer) WebURL() string { return "http://" + s.GRPCAddr() + "/" }

func (s *runningServer) GRPCAddr() string { return s.grpcLis.Addr().String() }

// MetricsAddr is the address of the /metrics endpoint.
func (s *runningServer) MetricsAddr() string { return s.metLis.Addr().String() }

// startServer connects to the database, checks that its schema is current and starts serving.
func startServer(ctx context.Context, cfg *config, log *slog.Logger) (_ *runningServer, err error) {
	pool, err := wire.OpenDatabase(ctx, cfg.DatabaseURL, true, cfg.DBMaxConns)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			pool.Close()
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ps, err := openParts(ctx, pool, cfg, 0, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			ps.Close()
		}
	}()
	signer, err := serverSigner(cfg, log)
	if err != nil {
		return nil, err
	}
	var trusted []ed25519.PublicKey
	if len(cfg.TrustedKeys) > 0 {
		keys, err := trustedKeys(cfg.TrustedKeys)
		if err != nil {
			return nil, fmt.Errorf("--trusted-pubkey: %w", err)
		}
		for _, k := range keys {
			trusted = append(trusted, k)
		}
	}
	registerLedgerMetrics(reg, ps.Ledger)
	srvOpts := ps.ServerOptions(reg, signer, trusted)
	cfg.Limits.apply(&srvOpts)
	tlsConfig, err := cfg.TLS.config(cfg.GRPCAddr, log)
	if err != nil {
		return nil, err
	}
	gs := services.NewServer(srvOpts)
	// Not ready until the health watcher has seen the database and the index.
	gs.Health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	httpOpts := services.HTTPOptions{MaxMessageBytes: srvOpts.MaxMessageBytes, MaxConcurrentStreams: int(srvOpts.MaxConcurrentStreams),
		Web: ps.Web(signer, trusted, cfg.Web)}
	apiHandler, err := services.NewHTTPHandler(gs, httpOpts)
	if err != nil {
		return nil, err
	}

	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("--grpc-addr: %w", err)
	}
	metLis, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		grpcLis.Close()
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	// The index is compared with the posts table now, then every --index-check-interval.
	if err := ps.Readiness.Check(ctx); err != nil && royalty.ErrorCode(err) != royalty.EPRECONDITION && royalty.ErrorCode(err) != royalty.EUNAVAILABLE {
		log.Warn("checking the index against the posts table", "err", err)
	}
	watcher := newHealthWatcher(pool, ps.Readiness, gs.Health, log, cfg.HealthInterval)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", healthz)
	mux.HandleFunc("/readyz", watcher.readyz)
	s := &runningServer{
		log:     log,
		grpc:    gs,
		api:     services.NewHTTPServer(apiHandler, httpOpts),
		grpcLis: grpcLis,
		metrics: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		metLis:  metLis,
		pool:    pool,
		parts:   ps,
		served:  make(chan error, 3),
		watcher: watcher,
	}
	// gRPC connections are served by gRPC's own transport, every other one by the HTTP server
	// (services.SplitGRPC); under TLS, the sorter reads connections decrypted.
	split := splitAPI(grpcLis, tlsConfig)
	go func() {
		if err := gs.GRPC.Serve(split.GRPC()); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.served <- err
		}
	}()
	go func() {
		if err := s.api.Serve(split.Other()); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.served <- err
		}
	}()
	go func() {
		if err := s.metrics.Serve(metLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.served <- err
		}
	}()
	if cfg.PprofAddr != "" {
		if err := s.startPprof(cfg.PprofAddr); err != nil {
			s.api.Close()
			s.metrics.Close()
			return nil, err
		}
	}
	s.sealer = startSealer(cfg, signer, ps, log)
	bg, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	s.stopBg = stopBg
	go ps.Readiness.Run(bg, cfg.IndexCheckInterval)
	go runSettler(bg, ps.Ledger, cfg.Feedback.SettleInterval, log)
	ps.StartFollowing(cfg.FollowInterval)
	watcher.start(ctx) // health SERVING only when the database answers and the index is ready
	log.Info("serving", "grpc", s.GRPCAddr(), "metrics", s.MetricsAddr())
	return s, nil
}

// splitAPI sorts the API port's connections between gRPC's transport and the HTTP server,
// terminating TLS first when tlsConfig is set.
func splitAPI(lis net.Listener, tlsConfig *tls.Config) *services.SplitGRPC {
	if tlsConfig != nil {
		lis = services.TLSListener(lis, tlsConfig)
	}
	return services.NewSplitGRPC(lis, 0)
}

// Shutdown stops accepting calls, lets in-flight calls finish for up to timeout, then closes
// everything.
func (s *runningServer) Shutdown(timeout time.Duration) error {
	if s.shutdown {
		return nil
	}
	s.shutdown = true
	s.watcher.close()
	s.stopBg()
	s.grpc.Health.Shutdown() // tell load balancers first
	// Both servers stop accepting, send HTTP/2 GOAWAY and wait for the calls in flight: the HTTP
	// server's Shutdown and, for the connections gRPC's transport serves, GracefulStop.
	drain, cancelDrain := context.WithTimeout(context.Background(), timeout)
	grpcDrained := make(chan struct{})
	go func() {
		s.grpc.GRPC.GracefulStop()
		close(grpcDrained)
	}()
	hard := s.api.Shutdown(drain) != nil
	select {
	case <-grpcDrained:
	case <-drain.Done():
		hard = true
	}
	if hard {
		s.log.Warn("in-flight calls did not finish in time; stopping hard", "timeout", timeout)
		s.api.Close()
	}
	cancelDrain()
	s.grpc.GRPC.Stop()
	<-grpcDrained
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.metrics.Shutdown(ctx)
	if s.pprof != nil {
		s.pprof.Close()
	}
	if s.sealer != nil {
		s.sealer.Stop()
	}
	s.parts.Close()
	s.pool.Close()
	s.log.Info("stopped")
	return err
}

// startPprof serves net/http/pprof on addr, its own listener: the profiler is for operators and
// benchmarks, never on the API or metrics port.
func (s *runningServer) startPprof(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.pprof = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.pprof.Serve(lis) }()
	s.log.Info("profiler", "addr", lis.Addr().String())
	return nil
}
