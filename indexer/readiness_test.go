package indexer_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/indexer"
)

// fakeCounts is a posts table and an index whose sizes the test sets.
type fakeCounts struct {
	mu    sync.Mutex
	posts int64
	index indexer.IndexVersion
	err   error // of CountPosts
	calls int
}

func (f *fakeCounts) CountPosts(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.posts, f.err
}

func (f *fakeCounts) Version() (indexer.IndexVersion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.index, nil
}

func (f *fakeCounts) set(posts int64, indexed uint64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts, f.err = posts, err
	if indexed != f.index.Posts {
		f.index.Mark++
	}
	f.index.Posts = indexed
}

func wantState(t *testing.T, err error, code, msg string) {
	t.Helper()
	if royalty.ErrorCode(err) != code || !strings.Contains(royalty.ErrorMessage(err), msg) {
		t.Fatalf("state = %v (code %q), want %q containing %q", err, royalty.ErrorCode(err), code, msg)
	}
}

func TestReadiness(t *testing.T) {
	ctx := context.Background()
	f := &fakeCounts{}
	r := indexer.NewReadiness(f, f, indexer.ReadinessConfig{MaxLag: 10, RecheckAfter: time.Hour})
	wantState(t, r.Err(), royalty.EUNAVAILABLE, "not been checked")

	f.set(3460, 0, nil)
	wantState(t, r.Check(ctx), royalty.EPRECONDITION, "index holds 0 of 3,460 posts; run royalty ingest")

	// Growing but still behind: an ingest is catching up.
	f.set(3460, 1000, nil)
	wantState(t, r.Check(ctx), royalty.EUNAVAILABLE, "catching up: it holds 1,000 of 3,460 posts")
	// Behind and not growing: stale.
	wantState(t, r.Check(ctx), royalty.EPRECONDITION, "index holds 1,000 of 3,460 posts, 2,460 behind (at most 10 allowed by --max-index-lag); run royalty ingest --reconcile")

	// Within the lag: ready, and Ready gives the index's version.
	f.set(3460, 3455, nil)
	if err := r.Check(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := r.Ready(ctx)
	if err != nil || v.Posts != 3455 || v.Mark != 2 {
		t.Fatalf("Ready = %+v, %v", v, err)
	}

	// The database is down: the check fails and the state stays.
	down := errors.New("connection refused")
	f.set(3460, 3455, down)
	if err := r.Check(ctx); !errors.Is(err, down) {
		t.Fatalf("Check with the database down = %v", err)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("state after a failed check = %v, want the last one (ready)", err)
	}
}

func TestReadinessAllowEmpty(t *testing.T) {
	ctx := context.Background()
	f := &fakeCounts{}
	r := indexer.NewReadiness(f, f, indexer.ReadinessConfig{AllowEmpty: true})
	if err := r.Check(ctx); err != nil {
		t.Fatalf("empty index and table with AllowEmpty: %v", err)
	}
	// AllowEmpty accepts an empty index, not one that lacks the table's posts.
	f.set(5, 0, nil)
	wantState(t, r.Check(ctx), royalty.EPRECONDITION, "index holds 0 of 5 posts, 5 behind")
}

// TestReadinessRechecksOnDemand: while not ready, Ready checks again (at most every
// RecheckAfter), so the first report after an ingest finds the index ready.
func TestReadinessRechecksOnDemand(t *testing.T) {
	ctx := context.Background()
	f := &fakeCounts{}
	r := indexer.NewReadiness(f, f, indexer.ReadinessConfig{RecheckAfter: 50 * time.Millisecond})
	f.set(2, 0, nil)
	if _, err := r.Ready(ctx); royalty.ErrorCode(err) != royalty.EPRECONDITION {
		t.Fatalf("Ready on an empty index = %v", err)
	}
	f.set(2, 2, nil)
	if _, err := r.Ready(ctx); royalty.ErrorCode(err) != royalty.EPRECONDITION {
		t.Fatalf("Ready right after a check = %v, want the state of that check", err)
	}
	time.Sleep(60 * time.Millisecond)
	if v, err := r.Ready(ctx); err != nil || v.Posts != 2 {
		t.Fatalf("Ready after RecheckAfter = %+v, %v", v, err)
	}
	calls := f.calls
	for range 10 {
		if _, err := r.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if f.calls != calls {
		t.Fatalf("a ready index was checked again %d times on demand", f.calls-calls)
	}
}

// fakeLag is a follower whose lag the test sets.
type fakeLag struct {
	lag time.Duration
	err error
}

func (f *fakeLag) Lag() (time.Duration, error) { return f.lag, f.err }

// TestReadinessFollowerLag: with a follower, an index whose counts are fine is ready only when
// the follower caught up with the posts table within MaxFollowLag.
func TestReadinessFollowerLag(t *testing.T) {
	ctx := context.Background()
	counts := &fakeCounts{}
	counts.set(10, 10, nil)
	lag := &fakeLag{err: royalty.Errorf(royalty.EUNAVAILABLE, "the index is catching up with the posts table")}
	r := indexer.NewReadiness(counts, counts, indexer.ReadinessConfig{Follower: lag, MaxFollowLag: time.Minute})
	wantState(t, r.Check(ctx), royalty.EUNAVAILABLE, "catching up with the posts table")
	lag.lag, lag.err = 2*time.Minute, nil
	wantState(t, r.Check(ctx), royalty.EUNAVAILABLE, "more than --max-follow-lag 1m0s")
	lag.lag = 5 * time.Second
	if err := r.Check(ctx); err != nil {
		t.Fatalf("caught up 5s ago: %v", err)
	}
	// The counts still decide first.
	counts.set(5000, 10, nil)
	wantState(t, r.Check(ctx), royalty.EPRECONDITION, "run royalty ingest --reconcile")
}
