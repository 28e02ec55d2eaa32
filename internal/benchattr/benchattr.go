// Package benchattr holds what the attribution benchmarks share: writing a generated corpus to
// a Bleve index as ingest does, waiting for its background merges, and latency quantiles.
package benchattr

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/openroyalty/royalty/attribution/eval"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/bleveindex"
)

// Prepare returns the posts as ingest prepares them.
func Prepare(posts []*eval.Post) ([]*indexer.Prepared, error) {
	out := make([]*indexer.Prepared, 0, len(posts))
	for _, p := range posts {
		ip, err := p.IndexerPost()
		if err != nil {
			return nil, err
		}
		pp, err := indexer.Prepare(ip)
		if err != nil {
			return nil, fmt.Errorf("post %s: %w", p.ID, err)
		}
		out = append(out, pp)
	}
	return out, nil
}

// WriteBleve indexes posts in batches, with at most a few batches waiting for the persister,
// and returns when all are durable.
func WriteBleve(ctx context.Context, idx *bleveindex.Index, posts []*eval.Post, batch int) error {
	prepared, err := Prepare(posts)
	if err != nil {
		return err
	}
	return WriteBlevePrepared(ctx, idx, prepared, batch)
}

// WriteBlevePrepared is WriteBleve of posts already prepared.
func WriteBlevePrepared(ctx context.Context, idx *bleveindex.Index, posts []*indexer.Prepared, batch int) error {
	inflight := make(chan struct{}, 4)
	errc := make(chan error, 1)
	for lo := 0; lo < len(posts); lo += batch {
		prepared := posts[lo:min(lo+batch, len(posts))]
		inflight <- struct{}{}
		err := idx.Write(ctx, prepared, func(err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
			<-inflight
		})
		if err != nil {
			return err
		}
		select {
		case err := <-errc:
			return err
		default:
		}
	}
	if err := idx.Flush(ctx); err != nil {
		return err
	}
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// WaitQuiet waits until the process has used less than 5 % of one CPU for three seconds in a
// row (Bleve merges segments in the background after a batch is persisted), at most limit, and
// returns how long it waited.
func WaitQuiet(limit time.Duration) time.Duration {
	start := time.Now()
	quiet := 0
	prev := cpuTime()
	for quiet < 3 && time.Since(start) < limit {
		time.Sleep(time.Second)
		now := cpuTime()
		if now-prev < 50*time.Millisecond {
			quiet++
		} else {
			quiet = 0
		}
		prev = now
	}
	return time.Since(start)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// MS is d in milliseconds.
func MS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Quantile returns the q-quantile of xs (nearest rank).
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(float64(len(s))*q+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}
