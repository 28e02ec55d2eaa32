package indexer

import (
	"context"
	"fmt"
	"log/slog"
)

// ReconcileStore is what Reconcile needs of the store (indexer/postgres implements it).
type ReconcileStore interface {
	// ForEachID calls fn with every post id, a page at a time.
	ForEachID(ctx context.Context, pageSize int, fn func(ids []string) error) error
	// Missing returns the ids that have no post.
	Missing(ctx context.Context, ids []string) ([]string, error)
	// Posts returns the posts with these ids, as stored.
	Posts(ctx context.Context, ids []string) ([]*Post, error)
}

// ReconcileIndex is what Reconcile needs of the index (indexer/bleveindex implements it).
type ReconcileIndex interface {
	Index
	// ForEachID calls fn with every document id.
	ForEachID(ctx context.Context, fn func(id string) error) error
	// Missing returns the ids that have no document.
	Missing(ctx context.Context, ids []string) ([]string, error)
	// Delete removes documents and returns once that is durable.
	Delete(ctx context.Context, ids []string) error
}

// ReconcileResult says what Reconcile changed.
type ReconcileResult struct {
	Checked   int // post ids in the store
	Reindexed int // posts of the store that the index lacked, indexed again
	Deleted   int // documents of the index without a post in the store, deleted
}

// Reconcile makes the index hold exactly the posts of the store, which is the system of record:
// posts missing from the index are indexed again from their stored rows, and documents without
// a post are deleted. Ingest never needs it to recover from a crash (a resumed run converges by
// itself); it repairs an index that was lost, restored from an older copy, or pointed at another
// database, in memory proportional to the differences only.
func Reconcile(ctx context.Context, store ReconcileStore, index ReconcileIndex, log *slog.Logger) (ReconcileResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	defer raiseGC()()
	var res ReconcileResult
	err := store.ForEachID(ctx, DefaultBatchSize, func(ids []string) error {
		res.Checked += len(ids)
		missing, err := index.Missing(ctx, ids)
		if err != nil || len(missing) == 0 {
			return err
		}
		posts, err := store.Posts(ctx, missing)
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
		if err := index.Write(ctx, prep, func(err error) { persisted <- err }); err != nil {
			return err
		}
		select {
		case err := <-persisted:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		res.Reindexed += len(prep)
		log.Info("reconcile: indexed posts the index lacked", "posts", len(prep), "total", res.Reindexed)
		return nil
	})
	if err != nil {
		return res, err
	}
	var orphans, page []string
	check := func() error {
		missing, err := store.Missing(ctx, page)
		orphans = append(orphans, missing...)
		page = page[:0]
		return err
	}
	err = index.ForEachID(ctx, func(id string) error {
		page = append(page, id)
		if len(page) == DefaultBatchSize {
			return check()
		}
		return nil
	})
	if err == nil && len(page) > 0 {
		err = check()
	}
	if err != nil {
		return res, err
	}
	for len(orphans) > 0 {
		n := min(len(orphans), DefaultBatchSize)
		if err := index.Delete(ctx, orphans[:n]); err != nil {
			return res, err
		}
		res.Deleted += n
		orphans = orphans[n:]
	}
	if res.Deleted > 0 {
		log.Info("reconcile: deleted documents without a post", "documents", res.Deleted)
	}
	return res, nil
}
