package bleveindex

import (
	"cmp"
	"fmt"
	"slices"
	"sync"

	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// fpTable is the fingerprint field of one segment, decoded: every (hash, document) pair of the
// segment, sorted by hash, deleted documents included (deletions belong to a snapshot, not to the
// segment). Segments never change, so a table is built once per segment, at the first retrieval
// that reads the segment, and then serves every retrieval by binary search: the bucket terms keep
// Bleve's dictionaries small, which is what makes the field cheap to index and merge, but a
// bucket's postings are mostly other hashes, and walking them on every retrieval (about
// N·27/1,024 postings per fingerprint for N posts) cost 23 ms per response over 200,000 posts
// already at 4,096 buckets, where the goal is 10. A table costs 12 bytes per fingerprint. With
// the tables, make bench-attribution (161-word posts, 63 fingerprints each) measured attribution
// at p50 1.1 ms and p99 3.3 ms over 200,000 posts, and 2.2 and 8.0 ms over 1,000,000 with a heap
// of 1.3 GB, some 760 MB of it tables. A segment's table is built by the first retrieval that
// reads the segment, which waits for it: BenchmarkBuildFPTable measures about 115 ns per
// fingerprint, so a merge into a segment of 1,000,000 posts of the real dumps' length (27
// million fingerprints) makes the next retrieval wait about 3 s. Building tables in the
// background while retrieval walks the postings of a segment without one would remove that
// pause; it is not done.
type fpTable struct {
	hashes []uint64
	docs   []uint32 // the segment's own document numbers
}

// buildFPTable decodes the fingerprint field of seg.
func buildFPTable(seg segment.Segment) (*fpTable, error) {
	dict, err := seg.Dictionary(FieldFP)
	if err != nil {
		return nil, err
	}
	var (
		pl   segment.PostingsList
		itr  segment.PostingsIterator
		pair []fpPair
		n    uint64
	)
	for b := 0; b < 1<<BucketBits; b++ { // the postings, a lower bound of the fingerprints
		if pl, err = dict.PostingsList(bucketTerm(b), nil, pl); err != nil {
			return nil, err
		}
		n += pl.Count()
	}
	n += n / 16 // a posting with several fingerprints is rare: 1 % more at 27 per post, 3 % at 63
	t := &fpTable{hashes: make([]uint64, 0, n), docs: make([]uint32, 0, n)}
	for b := 0; b < 1<<BucketBits; b++ { // bucket by bucket, so that sorting each bucket sorts all
		if pl, err = dict.PostingsList(bucketTerm(b), nil, pl); err != nil {
			return nil, err
		}
		itr = pl.Iterator(true, false, true, itr)
		pair = pair[:0]
		top := uint64(b) << lowBits
		for {
			p, err := itr.Next()
			if err != nil {
				return nil, err
			}
			if p == nil {
				break
			}
			doc := p.Number()
			if doc > 1<<32-1 {
				return nil, fmt.Errorf("fingerprint posting of document %d: beyond 32 bits", doc)
			}
			locs := p.Locations()
			if len(locs) == 0 {
				pair = append(pair, fpPair{top | (p.Frequency()-1)&lowMask, uint32(doc)})
			}
			for _, l := range locs {
				pair = append(pair, fpPair{top | l.Start()<<halfBits | l.End(), uint32(doc)})
			}
		}
		slices.SortFunc(pair, func(a, b fpPair) int {
			if c := cmp.Compare(a.hash, b.hash); c != 0 {
				return c
			}
			return cmp.Compare(a.doc, b.doc)
		})
		for _, p := range pair {
			t.hashes = append(t.hashes, p.hash)
			t.docs = append(t.docs, p.doc)
		}
	}
	t.hashes, t.docs = slices.Clip(t.hashes), slices.Clip(t.docs)
	return t, nil
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
