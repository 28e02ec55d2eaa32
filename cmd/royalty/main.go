// Command royalty runs the royalty service and its tools: serve, migrate, ingest, keys, export,
// verify and demo. Configuration comes from flags, which default to ROYALTY_* environment
// variables.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/claims/profile"
	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/internal/termtext"
	"github.com/openroyalty/royalty/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	verbose, err := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if code := reportError(err, verbose, os.Stderr); code != 0 {
		os.Exit(code)
	}
}

// reportError prints err for people (userMessage) and returns the process's exit code.
func reportError(err error, verbose bool, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	// Error messages may quote input files and servers: no escape sequences on the terminal.
	fmt.Fprintln(stderr, "royalty:", termtext.Clean(userMessage(err, verbose)))
	return 1
}

// exitCode is returned by commands that have already reported their failure and only need the
// process to exit with a code.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// config holds what every command may need. Flags default to the environment.
type config struct {
	DatabaseURL string
	GRPCAddr    string
	MetricsAddr string
	DataDir     string
	LogFormat   string
	LogLevel    string
	// Journal sealing (serve): the checkpoint signing key and the sealer's period.
	SigningKeyFile string
	SealInterval   time.Duration
	// SealLease is how long a replica's sealer lease lasts (one sealer among replicas); 0
	// turns the lease off (every replica seals, racing harmlessly).
	SealLease time.Duration
	// TrustedKeys are further public keys VerifyJournal accepts (checkpoints signed before a
	// key rotation).
	TrustedKeys []string
	// Index readiness (serve): an empty index is refused unless AllowEmptyIndex; one that
	// holds more than MaxIndexLag posts fewer than the posts table too. The index is compared
	// with the table every IndexCheckInterval, and health is updated every HealthInterval.
	AllowEmptyIndex    bool
	MaxIndexLag        int64
	IndexCheckInterval time.Duration
	HealthInterval     time.Duration
	// Attribution configures the attributor (serve's --attribution-* and --max-response-*
	// flags); zero fields take the library's defaults.
	Attribution attribution.Config
	// Limits are serve's limits on calls (limits.go).
	Limits limitsConfig
	// TLS is serve's transport security (tls.go).
	TLS serverTLS
	// Profiles configures the profile fetchers of CheckClaim (serve's --profile-* flags).
	Profiles profile.Config
	// Web are the web app's session settings (serve's --web-* flags).
	Web wire.WebConfig
	// Performance (serve): the pool's connections, the group commit of usage reports, how
	// long a verified API key is trusted, and where the Go profiler listens ("" : nowhere).
	DBMaxConns       int32
	GroupCommitWait  time.Duration
	GroupCommitFlush int
	KeyCacheTTL      time.Duration
	PprofAddr        string
	// Feedback configures feedback royalties (serve's --feedback-* flags, feedback.go).
	Feedback feedbackConfig
	// Index is where attribution reads fingerprints (serve's and ingest's --index): memory or
	// sql (wire.Config.AttributionIndex).
	Index string
	// Following the posts table (serve's --follow, --follow-interval, --max-follow-lag): every
	// replica of a deployment with several keeps its search index in step with the table.
	Follow         bool
	FollowInterval time.Duration
	MaxFollowLag   time.Duration
}

// run executes the command line args; tests call it to run the real program in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	_, err := execute(ctx, args, stdout, stderr)
	return err
}

// execute is run, also saying whether --verbose was given.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) (verbose bool, err error) {
	cfg := &config{}
	root := &cobra.Command{
		Use:           "royalty",
		Short:         "royalty pays the people whose writing feeds AI models",
		Long:          "royalty measures how much of each model response came from whose posts and books that share\nof the response's revenue to them, exactly and verifiably.",
		Version:       version.String("royalty"),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnv(cmd)
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL or CockroachDB URL")
	pf.StringVar(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:7070", "gRPC listen or target address")
	pf.StringVar(&cfg.MetricsAddr, "metrics-addr", "127.0.0.1:9090", "Prometheus /metrics listen address")
	pf.StringVar(&cfg.DataDir, "data-dir", "royalty-data", "directory for the search index and local state")
	pf.StringVar(&cfg.LogFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.BoolVar(&verbose, "verbose", false, "print errors with all their details (the wrapped causes, SQLSTATEs)")

	root.AddCommand(
		serveCommand(cfg, stderr),
		migrateCommand(cfg, stdout, stderr),
		demoCommand(cfg, stdout, stderr),
		ingestCommand(cfg, stdout, stderr),
		keysCommand(cfg, stdout),
		exportCommand(cfg, stdout, stderr),
		verifyCommand(cfg, stdout, stderr),
	)
	documentEnv(root)
	err = root.ExecuteContext(ctx)
	return verbose, err
}

func newLogger(cfg *config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch cfg.LogFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format: want text or json, got %q", cfg.LogFormat)
	}
}
