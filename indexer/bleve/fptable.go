package bleveindex

import (
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
// already at 4,096 buckets, where the goal is 10. A table costs 12 bytes per fingerprint.
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
	t := &fpTable{}
	var (
		pl   segment.PostingsList
		itr  segment.PostingsIterator
		pair []fpPair
	)
	for b := 0; b < 1<<BucketBits; b++ { // bucket by bucket, so that sorting each bucket sorts all
		term := buckets[b*termBytes : (b+1)*termBytes : (b+1)*termBytes]
		if pl, err = dict.PostingsList(term, nil, pl); err != nil {
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
			if a.hash != b.hash {
				if a.hash < b.hash {
					return -1
				}
				return 1
			}
			return int(a.doc) - int(b.doc)
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

// fpTables holds the table of every segment retrieval has read, until a sweep finds that no
// retrieval has read it for sweepAfter calls: merges replace segments, and every retrieval reads
// every segment of its snapshot, so a table unread that long belongs to a segment merged away.
type fpTables struct {
	mu     sync.Mutex
	calls  uint64
	tables map[segment.Segment]*fpEntry
}

type fpEntry struct {
	once     sync.Once
	table    *fpTable
	err      error
	lastCall uint64
}

const sweepAfter = 64

// get returns the table of seg, building it on first use; concurrent callers wait for one build.
func (c *fpTables) get(seg segment.Segment) (*fpTable, error) {
	c.mu.Lock()
	if c.tables == nil {
		c.tables = map[segment.Segment]*fpEntry{}
	}
	e := c.tables[seg]
	if e == nil {
		e = &fpEntry{}
		c.tables[seg] = e
	}
	e.lastCall = c.calls
	c.mu.Unlock()
	e.once.Do(func() { e.table, e.err = buildFPTable(seg) })
	if e.err != nil {
		c.mu.Lock()
		if c.tables[seg] == e {
			delete(c.tables, seg) // try again next time
		}
		c.mu.Unlock()
	}
	return e.table, e.err
}

// sweep ends one retrieval's use of the tables and drops those unread for sweepAfter calls.
func (c *fpTables) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	for seg, e := range c.tables {
		if c.calls-e.lastCall > sweepAfter {
			delete(c.tables, seg)
		}
	}
}
