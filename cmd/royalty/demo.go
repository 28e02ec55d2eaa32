package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/openroyalty/royalty/internal/pgtmp"
	"github.com/openroyalty/royalty/migrations"
)

func demoCommand(cfg *config, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run the whole story on a throwaway database and exit",
		Long: "Start a throwaway PostgreSQL (or use --database-url), migrate it, start the server on free\n" +
			"ports, exercise it as a client, print what happened, and remove everything it started.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), cfg, stdout, stderr)
		},
	}
}

func runDemo(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	log, err := newLogger(&config{LogFormat: cfg.LogFormat, LogLevel: "warn"}, stderr)
	if err != nil {
		return err
	}
	say := func(format string, args ...any) { fmt.Fprintf(stdout, format+"\n", args...) }
	demoCfg := *cfg
	demoCfg.GRPCAddr, demoCfg.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0"
	dataDir, err := os.MkdirTemp("", "royalty-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	demoCfg.DataDir = dataDir

	if demoCfg.DatabaseURL == "" {
		say("1. starting a throwaway PostgreSQL")
		pg, err := pgtmp.Start(ctx, pgtmp.Options{Logger: log})
		if err != nil {
			return err
		}
		defer pg.Stop()
		if demoCfg.DatabaseURL, err = pg.CreateDatabase(ctx, "royalty", ""); err != nil {
			return err
		}
		say("   postgres on 127.0.0.1:%d in %s (removed on exit)", pg.Port(), pg.Dir())
	} else {
		say("1. using the database at --database-url")
	}

	res, err := migrations.Apply(ctx, demoCfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	say("2. schema migrated: version %d -> %d on %s", res.From, res.To, res.Engine)

	srv, err := startServer(ctx, &demoCfg, log)
	if err != nil {
		return err
	}
	defer srv.Shutdown(10 * time.Second)
	say("3. server started: gRPC %s, metrics http://%s/metrics", srv.GRPCAddr(), srv.MetricsAddr())

	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	hr, err := healthpb.NewHealthClient(conn).Check(callCtx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	say("4. health check: %s", hr.GetStatus())
	resp, err := http.Get("http://" + srv.MetricsAddr() + "/metrics")
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	resp.Body.Close()
	say("5. /metrics answers: %s", resp.Status)

	if err := srv.Shutdown(10 * time.Second); err != nil {
		return err
	}
	say("6. server stopped; throwaway database and data directory removed")
	return nil
}
