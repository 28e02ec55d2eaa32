package indexer

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/openroyalty/royalty"
)

// Change is a post's row as a Follower reads it: when it last changed and its digest.
type Change struct {
	ID        string
	UpdatedAt time.Time
	Digest    []byte
}

// FollowStore is what a Follower reads of the posts table (indexer/postgres implements it).
type FollowStore interface {
	// Changes returns up to limit posts whose (updated_at, id) comes after (afterAt, afterID),
	// in that order.
	Changes(ctx context.Context, afterAt time.Time, afterID string, limit int) ([]Change, error)
	// Posts returns the posts with these ids, as stored.
	Posts(ctx context.Context, ids []string) ([]*Post, error)
}

// FollowIndex is a search index that records how far it has followed the posts table
// (indexer/bleveindex implements it).
type FollowIndex interface {
	Index
	// WriteFollowing is Index.Write that also records mark, in the same batch as the posts.
	WriteFollowing(ctx context.Context, posts []*Prepared, mark time.Time, persisted func(error)) error
	// FollowMark returns the last mark recorded; zero for an index that never followed.
	FollowMark() (time.Time, error)
}

// Defaults of FollowerConfig.
const (
	DefaultFollowWindow   = 30 * time.Second
	DefaultFollowPage     = 500
	DefaultFollowInterval = time.Second
	DefaultMaxFollowLag   = 30 * time.Second
)

// FollowerConfig configures a Follower.
type FollowerConfig struct {
	// Window is how far before its mark the follower reads again: a post's updated_at is the
	// time its transaction began (now()), and a transaction that began before the mark may
	// commit after the follower has passed it. It must exceed the longest ingest transaction;
	// DefaultFollowWindow when 0.
	Window time.Duration
	// PageSize is how many changed posts are read and indexed at a time; DefaultFollowPage
	// when 0.
	PageSize int
	Logger   *slog.Logger
}

// Follower keeps a replica's search index in step with the posts table, which every replica
// shares: it reads the posts changed since the index's stored high-water mark (FollowIndex) and
// indexes them, so that a post ingested through another replica becomes searchable here, and an
// index that was lost is rebuilt from the table (a new index has no mark, so the follower reads
// every post). Posts the replica has indexed itself since it started (through Index, as its
// ingest pipeline does) or already followed are skipped by their digest. It is safe for
// concurrent use; polls run one at a time.
type Follower struct {
	store FollowStore
	index FollowIndex
	cfg   FollowerConfig
	log   *slog.Logger

	polling sync.Mutex

	mu       sync.Mutex
	mark     time.Time // how far the index has followed; read from the index on the first poll
	loaded   bool
	seen     map[string]seenPost
	caughtUp time.Time // when the last poll that read to the end of the table began
	err      error     // the last poll's error
}

type seenPost struct {
	digest []byte
	at     time.Time
}

// NewFollower returns a Follower indexing the posts of store into index.
func NewFollower(store FollowStore, index FollowIndex, cfg FollowerConfig) *Follower {
	if cfg.Window <= 0 {
		cfg.Window = DefaultFollowWindow
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultFollowPage
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Follower{store: store, index: index, cfg: cfg, log: log, seen: map[string]seenPost{}}
}

// Index returns the follower's index for the replica's own ingest pipeline: its writes are
// remembered, so that the follower does not index those posts a second time.
func (f *Follower) Index() Index { return followedIndex{FollowIndex: f.index, f: f} }

type followedIndex struct {
	FollowIndex
	f *Follower
}

func (x followedIndex) Write(ctx context.Context, posts []*Prepared, persisted func(error)) error {
	if err := x.FollowIndex.Write(ctx, posts, persisted); err != nil {
		return err
	}
	now := time.Now()
	x.f.mu.Lock()
	for _, p := range posts {
		x.f.seen[p.Post.ID] = seenPost{digest: p.Post.Digest(), at: now}
	}
	x.f.mu.Unlock()
	return nil
}

// Poll indexes every post changed since the mark, minus the window, up to the end of the table,
// and returns how many it indexed.
func (f *Follower) Poll(ctx context.Context) (int, error) {
	f.polling.Lock()
	defer f.polling.Unlock()
	n, err := f.poll(ctx)
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
	return n, err
}

func (f *Follower) poll(ctx context.Context) (int, error) {
	began := time.Now()
	f.mu.Lock()
	if !f.loaded {
		m, err := f.index.FollowMark()
		if err != nil {
			f.mu.Unlock()
			return 0, fmt.Errorf("reading the index's follow mark: %w", err)
		}
		f.mark, f.loaded = m, true
		if m.IsZero() {
			f.log.Info("the index follows the posts table from its start")
		}
	}
	mark := f.mark
	f.mu.Unlock()
	var at time.Time // the zero time: from the first post
	if !mark.IsZero() {
		at = mark.Add(-f.cfg.Window)
	}
	afterID, indexed := "", 0
	for {
		changes, err := f.store.Changes(ctx, at, afterID, f.cfg.PageSize)
		if err != nil {
			return indexed, err
		}
		if len(changes) == 0 {
			break
		}
		last := changes[len(changes)-1]
		at, afterID = last.UpdatedAt, last.ID
		if last.UpdatedAt.After(mark) {
			mark = last.UpdatedAt
		}
		var want []string
		f.mu.Lock()
		for _, c := range changes {
			if s, ok := f.seen[c.ID]; !ok || !bytes.Equal(s.digest, c.Digest) {
				want = append(want, c.ID)
			}
		}
		f.mu.Unlock()
		if len(want) > 0 {
			if err := f.write(ctx, want, mark); err != nil {
				return indexed, err
			}
			indexed += len(want)
		}
		now := time.Now()
		f.mu.Lock()
		for _, c := range changes {
			// Only rows the next polls read again (those within the window of the mark) need
			// remembering: a rebuild must not hold every post of the table.
			if !c.UpdatedAt.Before(mark.Add(-f.cfg.Window)) {
				f.seen[c.ID] = seenPost{digest: c.Digest, at: now}
			}
		}
		f.mark = mark
		f.mu.Unlock()
		if len(changes) < f.cfg.PageSize {
			break
		}
	}
	f.mu.Lock()
	f.caughtUp = began
	for id, s := range f.seen { // posts older than twice the window are not read again
		if began.Sub(s.at) > 2*f.cfg.Window {
			delete(f.seen, id)
		}
	}
	f.mu.Unlock()
	if indexed > 0 {
		f.log.Info("followed the posts table", "indexed", indexed, "mark", mark)
	}
	return indexed, nil
}

// write indexes the stored posts ids and records mark with them, and returns once they are
// durable.
func (f *Follower) write(ctx context.Context, ids []string, mark time.Time) error {
	posts, err := f.store.Posts(ctx, ids)
	if err != nil {
		return err
	}
	prep := make([]*Prepared, 0, len(posts))
	for _, p := range posts {
		pp, err := Prepare(p)
		if err != nil {
			return fmt.Errorf("stored post %s: %w", p.ID, err)
		}
		prep = append(prep, pp)
	}
	persisted := make(chan error, 1)
	if err := f.index.WriteFollowing(ctx, prep, mark, func(err error) { persisted <- err }); err != nil {
		return err
	}
	select {
	case err := <-persisted:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Lag returns how long ago the last poll that read to the end of the posts table began, or an
// EUNAVAILABLE error saying why the index is not following: no poll has finished yet, or the
// last one failed.
func (f *Follower) Lag() (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.caughtUp.IsZero() {
		if f.err != nil {
			return 0, royalty.Errorf(royalty.EUNAVAILABLE, "the index has not caught up with the posts table: %v", f.err)
		}
		return 0, royalty.Errorf(royalty.EUNAVAILABLE, "the index is catching up with the posts table")
	}
	return time.Since(f.caughtUp), nil
}

// Run polls every interval (DefaultFollowInterval when 0) until ctx is done; failed polls are
// logged and retried at the next interval.
func (f *Follower) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultFollowInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := f.Poll(ctx); err != nil && ctx.Err() == nil {
			f.log.Warn("following the posts table", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
