package bleveindex

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"sync"

	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// fpTable is the fingerprint field of one segment, decoded: every (hash, document) pair of the
// segment, sorted by hash and then document, deleted documents included (deletions belong to a
// snapshot, not to the segment). Segments never change, so a table is built once per segment,
// at the first retrieval that reads the segment, and then serves every retrieval: a lookup
// reads the range of its hash's top bits, about two entries long. The fingerprints are a
// stored field (see the package doc), so building a table reads every document's stored
// fields twice: once to count the fingerprints of each range of hashes, once to put them in
// place (and to read every document's author), after which each range is sorted on its own. A
// table costs about 14 bytes per fingerprint and the authors' strings. A segment's table is
// built by the first retrieval that reads the segment, which waits for it:
// BenchmarkBuildFPTable measures the time per fingerprint, from which docs/benchmarks.md gives
// the pause after a merge into a segment of 1,000,000 posts. Building tables in the background
// would remove that pause; it is not done.
type fpTable struct {
	hashes []uint64
	docs   []uint32 // the segment's own document numbers
	// starts[r] is the index of the first hash whose top bits are r (starts[len-1] is the
	// total), shift the bits below them: a lookup searches one range, not the whole table.
	starts []uint32
	shift  uint

	// docAuthors is the author of each of the segment's documents ("" for none), read with the
	// fingerprints when the table is built: AuthorCounts looks up the authors of every document
	// sharing a fingerprint, and reading one from doc values decompresses a chunk each time.
	docAuthors []string
}

// author returns the author of the segment's document doc ("" for none).
func (t *fpTable) author(doc uint32) string { return t.docAuthors[doc] }

// find returns the range [lo, hi) of the entries whose hash is h. A range of the table holds
// about two hashes, so a lookup reads starts and one or two cache lines of hashes.
func (t *fpTable) find(h uint64) (lo, hi int) {
	r := h >> t.shift
	lo, hi = int(t.starts[r]), int(t.starts[r+1])
	for lo < hi && t.hashes[lo] < h {
		lo++
	}
	j := lo
	for j < hi && t.hashes[j] == h {
		j++
	}
	return lo, j
}

// buildFPTable decodes the fingerprint field of seg.
func buildFPTable(seg segment.Segment) (*fpTable, error) {
	n := seg.Count()
	if n > 1<<32 {
		return nil, fmt.Errorf("a segment of %d documents: beyond 32 bits", n)
	}
	// Ranges of hashes by their top bits, about as many as the segment has documents.
	rangeBits := uint(min(16, max(4, bits.Len64(n))))
	shift := 64 - rangeBits
	starts := make([]int, 1<<rangeBits+1)
	if err := visitFingerprints(seg, func(_ uint32, h uint64) { starts[h>>shift+1]++ }, nil); err != nil {
		return nil, err
	}
	for i := 1; i < len(starts); i++ {
		starts[i] += starts[i-1]
	}
	total := starts[len(starts)-1]
	if total >= 1<<32 {
		return nil, fmt.Errorf("a segment of %d fingerprints: beyond 32 bits", total)
	}
	t := &fpTable{hashes: make([]uint64, total), docs: make([]uint32, total), starts: make([]uint32, len(starts)), shift: shift,
		docAuthors: make([]string, n)}
	for i, v := range starts {
		t.starts[i] = uint32(v)
	}
	next := slices.Clone(starts[:len(starts)-1])
	err := visitFingerprints(seg, func(doc uint32, h uint64) {
		r := h >> shift
		i := next[r]
		if i >= starts[r+1] { // the segment changed between the passes, which segments never do
			return
		}
		t.hashes[i], t.docs[i] = h, doc
		next[r]++
	}, func(doc uint32, author string) { t.docAuthors[doc] = author })
	if err != nil {
		return nil, err
	}
	for r := range next {
		if next[r] != starts[r+1] {
			return nil, fmt.Errorf("the fingerprints of the segment changed while its table was built")
		}
	}

	// Documents were visited in order, so a range is in document order; sort it by hash, keeping
	// that order among equal hashes.
	var pairs []fpPair
	for r := 0; r+1 < len(starts); r++ {
		lo, hi := starts[r], starts[r+1]
		if hi-lo < 2 {
			continue
		}
		pairs = pairs[:0]
		for i := lo; i < hi; i++ {
			pairs = append(pairs, fpPair{t.hashes[i], t.docs[i]})
		}
		slices.SortFunc(pairs, func(a, b fpPair) int {
			if c := cmp.Compare(a.hash, b.hash); c != 0 {
				return c
			}
			return cmp.Compare(a.doc, b.doc)
		})
		for k, p := range pairs {
			t.hashes[lo+k], t.docs[lo+k] = p.hash, p.doc
		}
	}
	t.index(total)
	return t, nil
}

// index replaces the ranges the table was built with (about one per document) by ranges of
// about two hashes each, so that find reads one or two cache lines instead of searching a
// range of a document's worth of hashes. The table is sorted by hash, so one pass does it.
func (t *fpTable) index(total int) {
	fine := uint(min(28, max(4, bits.Len64(uint64(total))-1)))
	shift := 64 - fine
	starts := make([]uint32, 1<<fine+1)
	i := 0
	for r := range 1 << fine {
		starts[r] = uint32(i)
		for i < total && int(t.hashes[i]>>shift) == r {
			i++
		}
	}
	starts[1<<fine] = uint32(total)
	t.starts, t.shift = starts, shift
}

// visitFingerprints calls fn with every fingerprint of every document of seg, in document order,
// and authorFn, when not nil, with every document's author ("" for none).
func visitFingerprints(seg segment.Segment, fn func(doc uint32, h uint64), authorFn func(doc uint32, author string)) error {
	var bad error
	for doc := uint64(0); doc < seg.Count(); doc++ {
		fp, author := false, authorFn == nil
		err := seg.VisitStoredFields(doc, func(field string, _ byte, v []byte, _ []uint64) bool {
			switch field {
			case FieldFP:
				if len(v)%8 != 0 {
					bad = fmt.Errorf("document %d: a fingerprint field of %d bytes, not a multiple of 8", doc, len(v))
					return false
				}
				for ; len(v) > 0; v = v[8:] {
					fn(uint32(doc), binary.BigEndian.Uint64(v))
				}
				fp = true
			case FieldAuthor:
				if authorFn != nil {
					authorFn(uint32(doc), string(v))
					author = true
				}
			}
			return !fp || !author // the rest of the document is not needed
		})
		if err != nil {
			return err
		}
		if bad != nil {
			return bad
		}
	}
	return nil
}

type fpPair struct {
	hash uint64
	doc  uint32
}

// fpTables holds the table of every segment retrieval has read, by segment id: scorch gives
// every new segment (a batch, or the result of a merge) a new id, and a persisted segment keeps
// the id and the documents of the in-memory one it was written from. A retrieval on the newest
// snapshot so far drops the tables of segments that snapshot no longer has, which merges
// replaced; one on an older snapshot leaves them, since a newer one may still be building its
// own. Snapshots are ordered by their highest segment id, which every introduction of a new
// segment raises. Keys are ids, not segments, so that a table never keeps a merged-away
// segment in memory.
type fpTables struct {
	mu     sync.Mutex
	newest uint64 // the highest segment id of the newest snapshot swept
	tables map[uint64]*fpEntry
}

type fpEntry struct {
	once  sync.Once
	table *fpTable
	err   error
}

// get returns the table of the segment with this id, building it on first use; concurrent
// callers wait for one build.
func (c *fpTables) get(id uint64, seg segment.Segment) (*fpTable, error) {
	c.mu.Lock()
	if c.tables == nil {
		c.tables = map[uint64]*fpEntry{}
	}
	e := c.tables[id]
	if e == nil {
		e = &fpEntry{}
		c.tables[id] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.table, e.err = buildFPTable(seg) })
	if e.err != nil {
		c.mu.Lock()
		if c.tables[id] == e {
			delete(c.tables, id) // try again next time
		}
		c.mu.Unlock()
	}
	return e.table, e.err
}

// sweep drops the tables of segments not among live (the ids of a snapshot's segments) when
// that snapshot is the newest seen so far.
func (c *fpTables) sweep(live map[uint64]struct{}) {
	var top uint64
	for id := range live {
		top = max(top, id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if top < c.newest {
		return
	}
	c.newest = top
	for id := range c.tables {
		if _, ok := live[id]; !ok {
			delete(c.tables, id)
		}
	}
}

// len returns the number of tables held.
func (c *fpTables) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.tables)
}
