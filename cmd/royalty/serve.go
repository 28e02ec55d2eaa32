package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/ledger/journal"
	journalpg "github.com/openroyalty/royalty/ledger/journal/postgres"
	"github.com/openroyalty/royalty/services"
)

func serveCommand(cfg *config, stderr io.Writer) *cobra.Command {
	var shutdownTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the gRPC API, the web app, health checking, reflection and /metrics",
		Long: "Serve the gRPC API and the web app on --grpc-addr and Prometheus metrics on --metrics-addr until SIGTERM or\n" +
			"SIGINT; then in-flight calls finish (up to --shutdown-timeout) and the process exits 0.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(cfg, stderr)
			if err != nil {
				return err
			}
			if err := checkAttributionFlags(cfg.Attribution); err != nil {
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
	cmd.Flags().StringVar(&cfg.SigningKeyFile, "signing-key-file", "", "Ed25519 key that signs journal checkpoints: PEM PKCS #8 (openssl genpkey -algorithm ed25519) or base64 seed; without it nothing is sealed")
	cmd.Flags().DurationVar(&cfg.SealInterval, "seal-interval", journalpg.DefaultInterval, "how often the journal sealer looks for committed transactions to seal")
	cmd.Flags().StringArrayVar(&cfg.TrustedKeys, "trusted-pubkey", nil, "a further public key (base64, or a file) whose checkpoints VerifyJournal accepts, e.g. the key before a rotation (repeatable)")
	addAttributionFlags(cmd.Flags(), &cfg.Attribution)
	return cmd
}

// runningServer is a started royalty server: gRPC, metrics and the resources they use.
type runningServer struct {
	log      *slog.Logger
	grpc     *services.Server
	grpcLis  net.Listener
	front    *http.Server // gRPC and the web app on grpcLis
	metrics  *http.Server
	metLis   net.Listener
	pool     *pgxpool.Pool
	parts    *wire.Parts
	sealer   *journalpg.Sealer
	served   chan error
	shutdown bool
}

// WebURL is the web app's address.
func (s *runningServer) WebURL() string { return "http://" + s.GRPCAddr() + "/" }

// GRPCAddr is the address the gRPC server listens on (useful when started on port 0).
func (s *runningServer) GRPCAddr() string { return s.grpcLis.Addr().String() }

// MetricsAddr is the address of the /metrics endpoint.
func (s *runningServer) MetricsAddr() string { return s.metLis.Addr().String() }

// startServer connects to the database, checks that its schema is current and starts serving.
func startServer(ctx context.Context, cfg *config, log *slog.Logger) (_ *runningServer, err error) {
	pool, err := wire.OpenDatabase(ctx, cfg.DatabaseURL, true)
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
	var signer *journal.Signer
	if cfg.SigningKeyFile != "" {
		if signer, err = loadSigner(cfg.SigningKeyFile, log); err != nil {
			return nil, err
		}
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
	gs := services.NewServer(ps.ServerOptions(reg, signer, trusted))

	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("--grpc-addr: %w", err)
	}
	metLis, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		grpcLis.Close()
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s := &runningServer{
		log:     log,
		grpc:    gs,
		grpcLis: grpcLis,
		front:   grpcAndWeb(gs, ps.Web(signer, trusted)),
		metrics: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		metLis:  metLis,
		pool:    pool,
		parts:   ps,
		served:  make(chan error, 2),
	}
	go func() { s.served <- s.front.Serve(grpcLis) }()
	go func() {
		if err := s.metrics.Serve(metLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.served <- err
		}
	}()
	s.sealer = startSealer(cfg, signer, ps, log)
	gs.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	log.Info("serving", "grpc", s.GRPCAddr(), "metrics", s.MetricsAddr())
	return s, nil
}

// Shutdown stops accepting calls, lets in-flight calls finish for up to timeout, then closes
// everything.
func (s *runningServer) Shutdown(timeout time.Duration) error {
	if s.shutdown {
		return nil
	}
	s.shutdown = true
	s.grpc.Health.Shutdown() // tell load balancers first
	// The front server waits for in-flight calls and pages (HTTP/2 GOAWAY, then idle).
	fctx, fcancel := context.WithTimeout(context.Background(), timeout)
	if err := s.front.Shutdown(fctx); err != nil {
		s.log.Warn("in-flight calls did not finish in time; stopping hard", "timeout", timeout)
		_ = s.front.Close()
	}
	fcancel()
	s.grpc.GRPC.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.metrics.Shutdown(ctx)
	if s.sealer != nil {
		s.sealer.Stop()
	}
	s.parts.Close()
	s.pool.Close()
	s.log.Info("stopped")
	return err
}

// grpcAndWeb serves gRPC and the web app on one listener: HTTP/2 requests with a gRPC content
// type go to the gRPC server (cleartext HTTP/2, as gRPC clients speak it), everything else to
// the web app.
func grpcAndWeb(gs *services.Server, web http.Handler) *http.Server {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			gs.GRPC.ServeHTTP(w, r)
			return
		}
		web.ServeHTTP(w, r)
	})
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &http.Server{Handler: h, Protocols: &p, ReadHeaderTimeout: 10 * time.Second}
}
