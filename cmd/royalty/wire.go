package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openroyalty/royalty/attribution"
	authpg "github.com/openroyalty/royalty/auth/postgres"
	"github.com/openroyalty/royalty/claims"
	claimspg "github.com/openroyalty/royalty/claims/postgres"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/bleveindex"
	indexpg "github.com/openroyalty/royalty/indexer/postgres"
	ledgerpg "github.com/openroyalty/royalty/ledger/postgres"
	"github.com/openroyalty/royalty/services"
	"github.com/openroyalty/royalty/usage"
)

// parts are the domain services and adapters a server (or a local ingest) runs on, built from
// one pool and one data directory.
type parts struct {
	auth    *authpg.Store
	ledger  *ledgerpg.Store
	claims  *claims.Service
	index   *bleveindex.Index
	indexer *indexer.Service
	attr    *attribution.Attributor
	usage   *usage.Service
}

// openParts builds the parts from the data directory and the attribution configuration of cfg.
// The Bleve index under the data directory is held by this process until close. An attribution
// configuration that attribution.Config.Validate rejects, or whose k or window differ from those
// the index's fingerprints were computed with, is refused, naming its flag.
func openParts(ctx context.Context, pool *pgxpool.Pool, cfg *config, batchSize int, log *slog.Logger) (_ *parts, err error) {
	if err := attributionFlagError(cfg.Attribution.Validate()); err != nil {
		return nil, err
	}
	p := &parts{auth: authpg.New(pool)}
	defer func() {
		if err != nil {
			p.close(log)
		}
	}()
	if p.ledger, err = ledgerpg.New(pool, log, ledgerpg.Config{}); err != nil {
		return nil, err
	}
	p.claims = claims.NewService(claimspg.New(pool), services.LedgerReleaser{Ledger: p.ledger}, log)
	if p.index, err = bleveindex.Open(indexDir(cfg.DataDir), bleveindex.Options{Logger: log}); err != nil {
		return nil, err
	}
	if err := attributionFlagError(cfg.Attribution.CheckIndex(p.index)); err != nil {
		return nil, fmt.Errorf("%w (royalty ingest builds every index with k=%d and w=%d)",
			err, indexer.FingerprintK, indexer.FingerprintW)
	}
	store := indexpg.New(pool)
	pipe := indexer.NewPipeline(store, p.index, indexer.Options{BatchSize: batchSize, Logger: log, Stored: services.ClaimsHook{Claims: p.claims}})
	p.indexer = &indexer.Service{Store: store, Index: p.index, Pipeline: pipe}
	p.attr = attribution.New(p.index, cfg.Attribution)
	// A usage report's response text has the attributor's limit.
	p.usage = usage.NewService(p.ledger, p.attr, usage.Limits{MaxResponseTextBytes: p.attr.Config().MaxResponseBytes})
	// Finish escrow releases that a crash interrupted between verifying a claim and recording
	// its release.
	if n, err := p.claims.Resume(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		log.Info("finished interrupted escrow releases", "claims", n)
	}
	return p, nil
}

func (p *parts) close(log *slog.Logger) {
	if p.ledger != nil {
		p.ledger.Close()
	}
	if p.index != nil {
		if err := p.index.Close(); err != nil {
			log.Error("closing the index", "err", err)
		}
	}
}
