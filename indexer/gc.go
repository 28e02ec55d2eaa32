package indexer

import (
	"os"
	"runtime/debug"
	"sync"
)

// GCPercent is the garbage collector's target (debug.SetGCPercent) while a pipeline run is
// under way, unless the GOGC environment variable is set. Ingest allocates about 120 KB per
// post (Bleve's analysis and segment building, markup stripping, the database rows) while its
// live heap stays small (tens of MB: Bleve's segments are memory-mapped), so with Go's default
// of 100 the collector runs every few tens of MB, some 500 times per 100,000 posts, and takes
// a fifth of the CPU. At 200 it runs less than half as often: measured on the bench-ingest
// corpus (100,000 posts, PostgreSQL, one index writer), about 20 % less CPU for 40-70 MB more
// memory at the peak.
const GCPercent = 200

// gcRaise holds the raised target while any run is under way; the last run to end restores
// what was there before the first began.
var gcRaise struct {
	sync.Mutex
	runs int
	prev int
}

// raiseGC applies GCPercent for the duration of a run and returns the function that ends it.
func raiseGC() (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	gcRaise.Lock()
	defer gcRaise.Unlock()
	if gcRaise.runs == 0 {
		gcRaise.prev = debug.SetGCPercent(GCPercent)
		if gcRaise.prev < 0 || gcRaise.prev > GCPercent {
			debug.SetGCPercent(gcRaise.prev) // already off or higher: leave it
		}
	}
	gcRaise.runs++
	return func() {
		gcRaise.Lock()
		defer gcRaise.Unlock()
		if gcRaise.runs--; gcRaise.runs == 0 {
			debug.SetGCPercent(gcRaise.prev)
		}
	}
}
