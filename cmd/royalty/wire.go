package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/pflag"

	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/indexer"
	ledgerpg "github.com/openroyalty/royalty/ledger/postgres"
)

// openParts builds the parts (cmd/wire) from the data directory and the attribution
// configuration of cfg. An attribution configuration that attribution.Config.Validate rejects,
// or whose k or window differ from those the index's fingerprints were computed with, is
// refused, naming its flag.
func openParts(ctx context.Context, pool *pgxpool.Pool, cfg *config, batchSize int, log *slog.Logger) (*wire.Parts, error) {
	if err := attributionFlagError(cfg.Attribution.Validate()); err != nil {
		return nil, err
	}
	if err := checkIndexFlag(cfg.Index); err != nil {
		return nil, err
	}
	ps, err := wire.Open(ctx, pool, wire.Config{IndexDir: indexDir(cfg.DataDir), Attribution: cfg.Attribution, BatchSize: batchSize, Logger: log,
		MaxIndexLag: cfg.MaxIndexLag, AllowEmptyIndex: cfg.AllowEmptyIndex, Profiles: cfg.Profiles, AttributionIndex: cfg.Index,
		Follow: cfg.Follow, MaxFollowLag: cfg.MaxFollowLag, KeyCacheTTL: cfg.KeyCacheTTL, Ledger: ledgerConfig(cfg)})
	var mismatch *wire.IndexMismatchError
	if errors.As(err, &mismatch) {
		return nil, fmt.Errorf("%w (royalty ingest builds every index with k=%d and w=%d)",
			attributionFlagError(mismatch.Err), indexer.FingerprintK, indexer.FingerprintW)
	}
	return ps, err
}

// ledgerConfig is the ledger's configuration from serve's group-commit flags. A wait of 0 on
// the command line means no waiting, which the ledger spells as a negative wait.
func ledgerConfig(cfg *config) ledgerpg.Config {
	gc := ledgerpg.GroupCommit{Wait: cfg.GroupCommitWait, Flushers: cfg.GroupCommitFlush}
	if gc.Wait == 0 {
		gc.Wait = -1
	}
	return ledgerpg.Config{GroupCommit: gc, FeedbackCap: cfg.Feedback.Cap, FeedbackWindow: cfg.Feedback.Window}
}

// addIndexFlag defines --index on fs, writing to index.
func addIndexFlag(fs *pflag.FlagSet, index *string) {
	fs.StringVar(index, "index", wire.IndexMemory, "where attribution reads fingerprints: memory (this process's index tables; one node) "+
		"or sql (the attribution_fingerprints table, shared by every replica; ingest then writes it with each post, "+
		"and `royalty ingest --reconcile --index=sql` fills it for posts ingested before)")
}

// checkIndexFlag validates --index.
func checkIndexFlag(index string) error {
	if err := wire.CheckAttributionIndex(index); err != nil {
		return fmt.Errorf("--index (env %s): %w", envOf("index"), err)
	}
	return nil
}
