// Package wire is royalty's composition root: the one place that decides which store, which
// index and which signer the domain runs on. The server, the demo, the local ingest, the soak's
// checker, the benchmarks and the transport tests build their parts here, so that they all run
// the same assembly.
//
// Today every part is PostgreSQL-backed (ledger/postgres, auth/postgres, claims/postgres,
// indexer/postgres, ledger/journal/postgres) with a Bleve index in a local directory
// (indexer/bleveindex). The adapters between domain packages that must not import each other
// (claims releasing escrow through the ledger, the indexer's pipeline verifying claims) live here
// too.
package wire

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/auth"
	authpg "github.com/openroyalty/royalty/auth/postgres"
	"github.com/openroyalty/royalty/claims"
	claimspg "github.com/openroyalty/royalty/claims/postgres"
	"github.com/openroyalty/royalty/claims/profile"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/bleveindex"
	indexpg "github.com/openroyalty/royalty/indexer/postgres"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/journal"
	journalpg "github.com/openroyalty/royalty/ledger/journal/postgres"
	ledgerpg "github.com/openroyalty/royalty/ledger/postgres"
	"github.com/openroyalty/royalty/migrations"
	"github.com/openroyalty/royalty/services"
	"github.com/openroyalty/royalty/services/web"
	"github.com/openroyalty/royalty/services/web/sessionpg"
	"github.com/openroyalty/royalty/usage"
)

// ErrNoDatabase is returned by OpenDatabase when no database URL is configured.
var ErrNoDatabase = errors.New("no database configured: set --database-url or ROYALTY_DATABASE_URL")

// ErrNotMigrated is returned by CheckSchema for a database that has no schema yet.
var ErrNotMigrated = errors.New("schema not migrated; run royalty migrate")

// OpenDatabase opens a pool on url. With checkSchema, a database whose schema is older than this
// binary is refused with the command that migrates it. maxConns, when given and positive,
// bounds the pool's connections (pgdb.Open).
func OpenDatabase(ctx context.Context, url string, checkSchema bool, maxConns ...int32) (*pgxpool.Pool, error) {
	if url == "" {
		return nil, ErrNoDatabase
	}
	pool, err := pgdb.Open(ctx, url, maxConns...)
	if err != nil {
		return nil, err
	}
	if checkSchema {
		if err := CheckSchema(ctx, pool); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return pool, nil
}

// CheckSchema refuses a database whose schema is older than this binary.
func CheckSchema(ctx context.Context, pool *pgxpool.Pool) error {
	var version int64
	var dirty bool
	err := pool.QueryRow(ctx, "SELECT version, dirty FROM schema_migrations LIMIT 1").Scan(&version, &dirty)
	if pgdb.IsUndefinedTable(err) {
		return fmt.Errorf("%w (reading the schema version: %w)", ErrNotMigrated, err)
	}
	if err != nil {
		return fmt.Errorf("reading schema version (has `royalty migrate` run?): %w", err)
	}
	if dirty {
		return fmt.Errorf("schema migration %d is dirty; fix it before serving", version)
	}
	if latest := migrations.Latest(); uint(version) < latest {
		return fmt.Errorf("database schema is at version %d, this binary needs %d: run `royalty migrate`", version, latest)
	}
	return nil
}

// Config says how to build Parts.
type Config struct {
	// IndexDir is the Bleve index's directory; required.
	IndexDir string
	// Attribution configures the attributor; it must match the index's fingerprint parameters.
	Attribution attribution.Config
	// BatchSize is the ingest pipeline's batch size; 0 means the pipeline's default.
	BatchSize int
	// Ledger configures the ledger store (group commit).
	Ledger ledgerpg.Config
	// KeyCacheTTL is how long the server trusts a verified API key without reading it again
	// (auth.Cache); 0 means every call reads it.
	KeyCacheTTL time.Duration
	// MaxIndexLag is how many posts the index may hold fewer than the posts table before usage
	// reports are refused (0: none); AllowEmptyIndex lets an index without documents be used
	// (a fresh deployment). See indexer.Readiness.
	MaxIndexLag     int64
	AllowEmptyIndex bool
	// Profiles configures the fetchers that read identities' public profiles for CheckClaim;
	// zero fields take the defaults (the real sites).
	Profiles profile.Config
	// Follow makes the search index follow the posts table (indexer.Follower), as every replica
	// of a deployment with more than one must: started by Parts.StartFollowing, and the index is
	// ready only when it has caught up within MaxFollowLag (indexer.DefaultMaxFollowLag when 0).
	Follow       bool
	MaxFollowLag time.Duration
	// AttributionIndex is where attribution reads fingerprints: IndexMemory (the default when
	// empty: the Bleve index's per-process tables, one node) or IndexSQL (the
	// attribution_fingerprints table, shared by every replica; ingest then writes it with the
	// posts).
	AttributionIndex string
	// Logger receives the parts' logs; required.
	Logger *slog.Logger
}

// The attribution indexes Config.AttributionIndex names.
const (
	IndexMemory = "memory"
	IndexSQL    = "sql"
)

// CheckAttributionIndex accepts the names of Config.AttributionIndex.
func CheckAttributionIndex(name string) error {
	switch name {
	case "", IndexMemory, IndexSQL:
		return nil
	}
	return fmt.Errorf("want %s or %s, got %q", IndexMemory, IndexSQL, name)
}

// IndexMismatchError is returned by Open when the attribution configuration does not match the
// parameters the index's fingerprints were computed with. Err is the attribution.Config error,
// naming the field.
type IndexMismatchError struct{ Err error }

func (e *IndexMismatchError) Error() string {
	return fmt.Sprintf("%v (royalty ingest builds every index with k=%d and w=%d)", e.Err, indexer.FingerprintK, indexer.FingerprintW)
}

func (e *IndexMismatchError) Unwrap() error { return e.Err }

// Parts are the domain services and the adapters they run on, built from one pool and one
// index directory.
type Parts struct {
	Pool *pgxpool.Pool
	Auth *authpg.Store
	// Keys is Auth with verified keys cached for Config.KeyCacheTTL: the server and the web
	// app authenticate through it.
	Keys    *auth.Cache
	Ledger  *ledgerpg.Store
	Journal *journalpg.Store
	Claims  *claims.Service
	Index   *bleveindex.Index
	// SQLIndex is the attribution index in the database when Config.AttributionIndex is
	// IndexSQL; nil otherwise.
	SQLIndex   *indexpg.FingerprintIndex
	Indexer    *indexer.Service
	Attributor *attribution.Attributor
	Usage      *usage.Service
	// Readiness says whether the index is fit to book usage against; Usage asks it before
	// every report. Nothing checks it periodically until Readiness.Run is started.
	Readiness *indexer.Readiness
	// Follower keeps the index in step with the posts table when Config.Follow is set; nil
	// otherwise. StartFollowing runs it until Close.
	Follower *indexer.Follower

	followStop context.CancelFunc
	followDone chan struct{}

	log *slog.Logger
}

// Open builds the parts. The Bleve index in cfg.IndexDir is held by this process until Close.
// An attribution configuration that attribution.Config.Validate rejects is returned as that
// error; one that differs from the index's fingerprint parameters as *IndexMismatchError.
// Escrow releases that a crash interrupted are finished before Open returns.
func Open(ctx context.Context, pool *pgxpool.Pool, cfg Config) (_ *Parts, err error) {
	if err := cfg.Attribution.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	p := &Parts{Pool: pool, Auth: authpg.New(pool), Journal: journalpg.New(pool), log: log}
	p.Keys = auth.NewCache(p.Auth, cfg.KeyCacheTTL, nil)
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if p.Ledger, err = ledgerpg.New(pool, log, cfg.Ledger); err != nil {
		return nil, err
	}
	profiles, err := profile.New(cfg.Profiles)
	if err != nil {
		return nil, err
	}
	p.Claims = claims.NewService(claimspg.New(pool), LedgerReleaser{Ledger: p.Ledger}, log).WithProfiles(profiles)
	if p.Index, err = OpenIndex(cfg.IndexDir, log); err != nil {
		return nil, err
	}
	if err := CheckAttributionIndex(cfg.AttributionIndex); err != nil {
		return nil, fmt.Errorf("attribution index: %w", err)
	}
	var attrIndex attribution.Index = p.Index
	store := indexpg.New(pool)
	if cfg.AttributionIndex == IndexSQL {
		if p.SQLIndex, err = OpenSQLIndex(ctx, pool); err != nil {
			return nil, err
		}
		attrIndex, store = p.SQLIndex, store.WithFingerprints()
	}
	if err := cfg.Attribution.CheckIndex(attrIndex); err != nil {
		return nil, &IndexMismatchError{Err: err}
	}
	var pipeIndex indexer.Index = p.Index
	rcfg := indexer.ReadinessConfig{MaxLag: cfg.MaxIndexLag, AllowEmpty: cfg.AllowEmptyIndex, Logger: log}
	if cfg.Follow {
		p.Follower = indexer.NewFollower(store, p.Index, indexer.FollowerConfig{Logger: log})
		pipeIndex = p.Follower.Index() // what this replica ingests is not followed again
		rcfg.Follower, rcfg.MaxFollowLag = p.Follower, cfg.MaxFollowLag
	}
	pipe := indexer.NewPipeline(store, pipeIndex, indexer.Options{BatchSize: cfg.BatchSize, Logger: log, Stored: ClaimsHook{Claims: p.Claims}})
	p.Indexer = &indexer.Service{Store: store, Index: p.Index, Pipeline: pipe}
	p.Attributor = attribution.New(attrIndex, cfg.Attribution)
	// A usage report's response text has the attributor's limit.
	p.Readiness = indexer.NewReadiness(store, p.Index, rcfg)
	p.Usage = usage.NewService(p.Ledger, p.Attributor, usage.Limits{MaxResponseTextBytes: p.Attributor.Config().MaxResponseBytes}).
		WithIndexGate(IndexGate{Readiness: p.Readiness})
	if n, err := p.Claims.Resume(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		log.Info("finished interrupted escrow releases", "claims", n)
	}
	return p, nil
}

// StartFollowing runs the follower (Config.Follow) every interval until Close; it does nothing
// without one.
func (p *Parts) StartFollowing(interval time.Duration) {
	if p.Follower == nil || p.followStop != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.followStop, p.followDone = cancel, make(chan struct{})
	go func() {
		defer close(p.followDone)
		p.Follower.Run(ctx, interval)
	}()
}

// Close stops the follower and the ledger's group commit and closes the index. It does not
// close the pool.
func (p *Parts) Close() {
	if p.followStop != nil {
		p.followStop()
		<-p.followDone // before the index closes under it
	}
	if p.Ledger != nil {
		p.Ledger.Close()
	}
	if p.Index != nil {
		if err := p.Index.Close(); err != nil {
			p.log.Error("closing the index", "err", err)
		}
	}
}

// ServerOptions are the gRPC server's options over these parts. signer may be nil (the server
// then signs nothing); trusted are further keys whose checkpoints VerifyJournal accepts.
func (p *Parts) ServerOptions(reg prometheus.Registerer, signer *journal.Signer, trusted []ed25519.PublicKey) services.Options {
	opts := services.Options{
		Logger: p.log, Registerer: reg, Auth: p.Keys, Claims: p.Claims, Ledger: p.Ledger, Journal: p.Journal,
		Index: p.Indexer, Attributor: p.Attributor, Usage: p.Usage, JournalTrusted: trusted,
	}
	if signer != nil {
		opts.JournalKey = signer.PublicKey()
	}
	return opts
}

// Sealer returns the journal sealer of a server that signs with signer, not yet started.
func (p *Parts) Sealer(signer *journal.Signer, cfg journalpg.SealerConfig) *journalpg.Sealer {
	return journalpg.NewSealer(p.Pool, signer, p.log, cfg)
}

// OpenIndex opens (or creates) the Bleve index in dir.
func OpenIndex(dir string, log *slog.Logger) (*bleveindex.Index, error) {
	return bleveindex.Open(dir, bleveindex.Options{Logger: log})
}

// OpenSQLIndex returns the attribution index in the database on pool: on CockroachDB it reads
// at follower_read_timestamp() (docs/design.md §3), on PostgreSQL the latest data.
func OpenSQLIndex(ctx context.Context, pool *pgxpool.Pool) (*indexpg.FingerprintIndex, error) {
	var version string
	if err := pool.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		return nil, fmt.Errorf("asking the database for its version: %w", err)
	}
	follower := strings.Contains(version, "CockroachDB")
	return indexpg.NewFingerprintIndex(pool, indexpg.FingerprintOptions{FollowerReads: follower}), nil
}

// OpenLedger opens the ledger store alone, for tools that book or read money without the rest
// (the audit exports, the soak's checker, the ledger benchmark).
func OpenLedger(pool *pgxpool.Pool, log *slog.Logger, cfg ledgerpg.Config) (*ledgerpg.Store, error) {
	return ledgerpg.New(pool, log, cfg)
}

// LedgerReleaser adapts the ledger's escrow release to claims.Releaser.
type LedgerReleaser struct{ Ledger ledger.Ledger }

// ReleaseEscrow implements claims.Releaser.
func (r LedgerReleaser) ReleaseEscrow(ctx context.Context, identityKey, contributorID string) (claims.Release, error) {
	rel, err := r.Ledger.ReleaseEscrow(ctx, ledger.EscrowReleaseRequest{IdentityKey: identityKey, ContributorID: contributorID})
	if err != nil {
		return claims.Release{}, err
	}
	out := claims.Release{TransactionID: rel.TransactionID, Amounts: []claims.Money{}}
	for _, m := range rel.Released {
		out.Amounts = append(out.Amounts, claims.Money{Amount: m.Amount, Currency: m.Currency})
	}
	return out, nil
}

// IndexGate adapts the index's readiness to usage.IndexGate.
type IndexGate struct{ Readiness *indexer.Readiness }

// Ready implements usage.IndexGate.
func (g IndexGate) Ready(ctx context.Context) (ledger.IndexVersion, error) {
	v, err := g.Readiness.Ready(ctx)
	return ledger.IndexVersion{Posts: v.Posts, Mark: v.Mark}, err
}

// ClaimsHook lets the indexer's pipeline verify claims: give it to indexer.Options.Stored. It
// passes each post's kind and last editor, so that claims accept only versions the claimed
// identity wrote itself (claims.PostProof).
type ClaimsHook struct{ Claims *claims.Service }

// PostsStored implements indexer.PostsHook.
func (h ClaimsHook) PostsStored(ctx context.Context, posts []*indexer.Post) error {
	in := make([]claims.Post, 0, len(posts))
	for _, p := range posts {
		in = append(in, claims.Post{ID: p.ID, AuthorKey: p.AuthorKey(), Kind: string(p.Kind), LastEditorKey: p.LastEditorKey, Text: p.Text})
	}
	_, err := h.Claims.PostsIngested(ctx, in)
	return err
}

// WebConfig are the web app's session settings (serve's --web-* flags); zero fields take the
// web package's defaults.
type WebConfig struct {
	SessionTTL, IdleTimeout, ReauthWithin time.Duration
	LoginsPerMinute                       int
}

// Web returns the web app (services/web) over these parts. signer may be nil (the app then
// shows no public key); trusted are further keys whose checkpoints verify.
func (p *Parts) Web(signer *journal.Signer, trusted []ed25519.PublicKey, cfg WebConfig) http.Handler {
	d := web.Deps{
		Auth: p.Keys, Sessions: sessionpg.New(p.Pool), Ledger: p.Ledger, Claims: p.Claims, Index: p.Indexer,
		PostCount: p.Index.DocCount, Journal: p.Journal, Responses: p.Ledger, JournalTrusted: trusted, Logger: p.log,
		SessionTTL: cfg.SessionTTL, IdleTimeout: cfg.IdleTimeout, ReauthWithin: cfg.ReauthWithin,
		LoginsPerMinute: cfg.LoginsPerMinute,
	}
	if signer != nil {
		d.JournalKey = signer.PublicKey()
	}
	return web.New(d)
}
