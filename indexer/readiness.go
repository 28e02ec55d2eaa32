package indexer

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/openroyalty/royalty"
)

// IndexVersion says what the index held: the documents in it and its high-water mark, the
// number of batches written to it since it was created, which is stored in the index with the
// documents and so never runs ahead of them. A usage booking records the version it was
// attributed against.
type IndexVersion struct {
	Posts uint64 // documents (posts) in the index
	Mark  uint64 // batches written to the index since it was created
}

// VersionedIndex is an index that can say what it holds (indexer/bleveindex implements it).
type VersionedIndex interface {
	Version() (IndexVersion, error)
}

// PostCounter counts the posts of the system of record (indexer/postgres implements it).
type PostCounter interface {
	CountPosts(ctx context.Context) (int64, error)
}

// Defaults of ReadinessConfig.
const (
	DefaultMaxIndexLag     = 1000
	DefaultRecheckAfter    = time.Second
	DefaultCheckInterval   = 10 * time.Second
	readinessNotCheckedYet = "the index has not been checked against the posts table yet"
)

// ReadinessConfig configures a Readiness.
type ReadinessConfig struct {
	// MaxLag is how many posts the index may hold fewer than the posts table and still be
	// used; an ingest keeps the two apart by a few batches while it runs. Negative means 0.
	MaxLag int64
	// AllowEmpty lets an index without documents be used (a fresh deployment with nothing to
	// ingest yet): every report then books the whole royalty as unattributed.
	AllowEmpty bool
	// RecheckAfter is the least time between checks made on demand, while the index is not
	// ready (Ready checks again at most this often); DefaultRecheckAfter when 0.
	RecheckAfter time.Duration
	// Follower, when set, is the follower keeping the index in step with the posts table
	// (a replica's); the index is then ready only when the follower has read to the end of the
	// table within MaxFollowLag (DefaultMaxFollowLag when 0).
	Follower     FollowLag
	MaxFollowLag time.Duration
	// Logger receives a line when the state changes; nil means none.
	Logger *slog.Logger
}

// FollowLag says how long ago an index last caught up with the posts table (Follower).
type FollowLag interface {
	Lag() (time.Duration, error)
}

// Readiness decides whether the index is fit to attribute usage against, so that no report is
// booked against a missing, empty or stale index: money booked as unattributed can never reach
// its authors, since the journal is append-only. It compares the index's documents with the
// posts table, the system of record, at Check (at start and periodically, see Run) and, while
// the index is not ready, again on demand. It is safe for concurrent use.
type Readiness struct {
	store PostCounter
	index VersionedIndex
	cfg   ReadinessConfig
	log   *slog.Logger

	checking sync.Mutex // one check at a time

	mu      sync.Mutex
	err     error     // the state: nil when ready
	checked time.Time // when err was last computed or a check was last tried
	last    IndexVersion
	seen    bool // last is set
}

// NewReadiness returns a Readiness of index against store. Until the first Check it is not
// ready (EUNAVAILABLE).
func NewReadiness(store PostCounter, index VersionedIndex, cfg ReadinessConfig) *Readiness {
	if cfg.MaxLag < 0 {
		cfg.MaxLag = 0
	}
	if cfg.RecheckAfter <= 0 {
		cfg.RecheckAfter = DefaultRecheckAfter
	}
	if cfg.MaxFollowLag <= 0 {
		cfg.MaxFollowLag = DefaultMaxFollowLag
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Readiness{store: store, index: index, cfg: cfg, log: log,
		err: royalty.Errorf(royalty.EUNAVAILABLE, readinessNotCheckedYet)}
}

// Err returns the state found by the last check: nil when the index is ready; EPRECONDITION
// when it is empty or behind the posts table and nothing is catching up (the message names the
// counts and the command that fixes it); EUNAVAILABLE while it is catching up or before the
// first check.
func (r *Readiness) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Check compares the index with the posts table now and returns the new state (see Err). When
// the posts cannot be counted (the database is down), it returns that error and keeps the
// state it had.
func (r *Readiness) Check(ctx context.Context) error {
	r.checking.Lock()
	defer r.checking.Unlock()
	return r.check(ctx)
}

func (r *Readiness) check(ctx context.Context) error {
	// The table is counted before the index is read: an ingest that commits posts in between
	// makes the index look ahead, never behind.
	posts, err := r.store.CountPosts(ctx)
	if err != nil {
		r.mu.Lock()
		r.checked = time.Now()
		r.mu.Unlock()
		return fmt.Errorf("counting the posts to check the index: %w", err)
	}
	v, err := r.index.Version()
	if err != nil {
		return fmt.Errorf("reading the index version: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	grew := r.seen && v.Posts > r.last.Posts
	state := r.judge(v, posts, grew)
	if state == nil && r.cfg.Follower != nil {
		state = r.judgeFollower()
	}
	if royalty.ErrorMessage(state) != royalty.ErrorMessage(r.err) || (state == nil) != (r.err == nil) {
		if state == nil {
			r.log.Info("the index is ready", "index_posts", v.Posts, "posts", posts, "mark", v.Mark)
		} else {
			r.log.Warn("the index is not ready: usage reports are refused", "reason", royalty.ErrorMessage(state), "index_posts", v.Posts, "posts", posts)
		}
	}
	r.err, r.checked, r.last, r.seen = state, time.Now(), v, true
	return state
}

// judge decides the state of an index at version v against a table of posts posts.
func (r *Readiness) judge(v IndexVersion, posts int64, grew bool) error {
	behind := posts - int64(v.Posts)
	switch {
	case v.Posts == 0 && !r.cfg.AllowEmpty:
		return royalty.Errorf(royalty.EPRECONDITION,
			"index holds 0 of %s posts; run royalty ingest (or start royalty serve with --allow-empty-index on a fresh deployment)", group(posts))
	case behind > r.cfg.MaxLag && grew:
		return royalty.Errorf(royalty.EUNAVAILABLE,
			"index is catching up: it holds %s of %s posts; retry later", group(int64(v.Posts)), group(posts))
	case behind > r.cfg.MaxLag:
		return royalty.Errorf(royalty.EPRECONDITION,
			"index holds %s of %s posts, %s behind (at most %s allowed by --max-index-lag); run royalty ingest --reconcile",
			group(int64(v.Posts)), group(posts), group(behind), group(r.cfg.MaxLag))
	}
	return nil
}

// judgeFollower decides the state of an index whose counts are fine by its follower's lag.
func (r *Readiness) judgeFollower() error {
	lag, err := r.cfg.Follower.Lag()
	if err != nil {
		return err
	}
	if lag > r.cfg.MaxFollowLag {
		return royalty.Errorf(royalty.EUNAVAILABLE,
			"index last caught up with the posts table %s ago, more than --max-follow-lag %s; retry later",
			lag.Round(time.Second), r.cfg.MaxFollowLag)
	}
	return nil
}

// Ready returns the index's version when the index is ready, and otherwise its state (see Err).
// While the index is not ready it checks again, at most every RecheckAfter, so that the first
// report after an ingest finds it ready without waiting for Run's next round.
func (r *Readiness) Ready(ctx context.Context) (IndexVersion, error) {
	due, err := r.state()
	if err != nil && due {
		// Calls that find a check due wait for one check and share its outcome.
		r.checking.Lock()
		if due, err = r.state(); err != nil && due {
			err = r.check(ctx)
		}
		r.checking.Unlock()
	}
	if err != nil {
		return IndexVersion{}, err
	}
	return r.index.Version()
}

// state returns whether a check on demand is due, and the state.
func (r *Readiness) state() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Since(r.checked) >= r.cfg.RecheckAfter, r.err
}

// Run checks the index every interval (DefaultCheckInterval when 0) until ctx is done. Failed
// checks are logged.
func (r *Readiness) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultCheckInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.Check(ctx); err != nil && ctx.Err() == nil && royalty.ErrorCode(err) == royalty.EINTERNAL {
			r.log.Warn("checking the index against the posts table", "err", err)
		}
	}
}

// group writes n with thousands separators: 3,460.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := ""
	if n < 0 {
		neg, s = "-", s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return neg + s
}
