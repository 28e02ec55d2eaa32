package indexer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/openroyalty/royalty"
)

// Store keeps posts and identities: the system of record (indexer/postgres). Implementations
// are safe for concurrent use.
type Store interface {
	// Write upserts identities by key and posts by id in one transaction and reports which posts
	// were new, changed or unchanged (by Digest). A post's author identity is written with it.
	// An empty display name or profile URL never overwrites a known one.
	Write(ctx context.Context, identities []Identity, posts []*Post) (WriteCounts, error)
	// Post returns one post with its author's identity as stored; ENOTFOUND if there is none.
	Post(ctx context.Context, id string) (*Post, error)
	// Identities returns the stored identities among keys; unknown keys are absent from the map.
	Identities(ctx context.Context, keys []string) (map[string]Identity, error)
}

// WriteCounts says what a Store.Write did to the posts it was given.
type WriteCounts struct {
	Inserted, Updated, Unchanged int
}

// Index is the search index (indexer/bleveindex). Implementations are safe for concurrent use.
type Index interface {
	// Write indexes the posts, replacing the documents with the same ids. When it returns nil the
	// posts are searchable, and persisted is called exactly once, from any goroutine, when they
	// are durable (nil) or cannot be made durable (the error). When it returns an error,
	// persisted is not called.
	Write(ctx context.Context, posts []*Prepared, persisted func(error)) error
	// Search runs a full-text query with filters.
	Search(ctx context.Context, q Query) (Result, error)
}

// DefaultBatchSize is the number of records written per batch. It bounds memory: Bleve's peak
// heap grows with the batch (docs/design.md §4).
const DefaultBatchSize = 500

// DefaultMaxErrors bounds the rejected records a Summary lists (IngestPostsResponse's cap).
const DefaultMaxErrors = 1000

// maxInflight bounds the batches written to the index but not yet durable.
const maxInflight = 32

// Options configure a Pipeline.
type Options struct {
	BatchSize int // records per batch; DefaultBatchSize when 0
	Workers   int // posts prepared concurrently; GOMAXPROCS when 0
	// IndexWriters bounds the batches written to the index at once, of batches that share no
	// post; min(2, GOMAXPROCS) when 0. Building a batch's segment is most of an index write
	// and runs on the writing goroutine, so a second writer puts a second core to work; it
	// also holds a second batch's segment in the making (100,000 bench-ingest posts with
	// PostgreSQL, paired runs: 10-30 % less time, peak RSS 380-470 MB instead of 240-290 MB).
	IndexWriters int
	MaxErrors    int // rejected records listed in a Summary; DefaultMaxErrors when 0
	Logger       *slog.Logger
	// Stored, when set, is told about each batch of posts once the store has committed it
	// (claims uses it to verify challenges published in posts). Its error fails the batch like
	// a store error: the run stops before the batch counts as done, so that the caller (a
	// resumed `royalty ingest`, an IngestPosts client's retry) writes the batch again and the
	// hook sees it again. Hooks must therefore be idempotent.
	Stored PostsHook
}

// PostsHook is told about posts after the store has committed them.
type PostsHook interface {
	PostsStored(ctx context.Context, posts []*Post) error
}

// Pipeline reads records, prepares posts and writes them in batches to a Store and an Index.
// Reading, preparing and writing overlap. The store sees every batch in one order, across
// concurrent runs too; the index sees them in the same order wherever two batches share a post
// (batches that share none may be written to it at once), and a batch counts as done only when
// it is committed in the store and persisted in the index, in order. Re-running from the resume
// position of the last durable batch converges to the same posts in both, because writes are
// idempotent upserts by post id. It is safe for concurrent use.
type Pipeline struct {
	store     Store
	index     Index
	opts      Options
	log       *slog.Logger
	writeMu   sync.Mutex
	storeTail chan struct{} // closed when the last store write started under writeMu ends
	indexing  indexGate
	known     identityCache
}

// identityCache remembers identities as they are in the store, so that a batch does not upsert
// again the authors of the batches before it: most posts are by authors already written. It only
// learns from committed writes, so skipping never loses an identity.
type identityCache struct {
	mu sync.Mutex
	m  map[string]Identity
}

// maxKnownIdentities bounds the cache; it is emptied when full.
const maxKnownIdentities = 200000

// fresh returns the identities whose upsert would change the store, as far as the cache knows.
func (c *identityCache) fresh(ids []Identity) []Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := ids[:0:0]
	for _, id := range ids {
		k, ok := c.m[id.Key()]
		if !ok || id.DisplayName != "" && id.DisplayName != k.DisplayName || id.ProfileURL != "" && id.ProfileURL != k.ProfileURL {
			out = append(out, id)
		}
	}
	return out
}

// remember records identities that were written, as the store keeps them.
func (c *identityCache) remember(ids []Identity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m)+len(ids) > maxKnownIdentities {
		c.m = make(map[string]Identity, len(ids))
	}
	for _, id := range ids {
		k, ok := c.m[id.Key()]
		if ok {
			if id.DisplayName == "" {
				id.DisplayName = k.DisplayName
			}
			if id.ProfileURL == "" {
				id.ProfileURL = k.ProfileURL
			}
		}
		c.m[id.Key()] = id
	}
}

// NewPipeline returns a Pipeline writing to store and index.
func NewPipeline(store Store, index Index, opts Options) *Pipeline {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.IndexWriters <= 0 {
		opts.IndexWriters = min(2, runtime.GOMAXPROCS(0))
	}
	if opts.MaxErrors <= 0 {
		opts.MaxErrors = DefaultMaxErrors
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pl := &Pipeline{store: store, index: index, opts: opts, log: log}
	pl.indexing.init(opts.IndexWriters)
	return pl
}

// Summary counts what a run did.
type Summary struct {
	Records   int // records read: posts, identities, skipped and rejected
	Received  int // posts read
	Inserted  int // posts new to the store
	Updated   int // posts whose id was known and whose content changed
	Unchanged int // posts whose id was known with identical content
	Rejected  int // malformed records, reported and skipped
	Skipped   int // records deliberately not ingested (e.g. tag wikis, deleted comments)
	// Identities counts the distinct identities read: identity records (Stack Exchange
	// Users.xml) and the authors named by posts (JSON lines formats), each once per run
	// (IdentitySet); a resumed run counts again those it meets that an earlier run had counted.
	Identities int
	// Errors lists the first rejected records (up to Options.MaxErrors).
	Errors []*RecordError
	// SkipReasons counts skipped records by reason.
	SkipReasons map[string]int
}

// IdentitySet counts the distinct identities of the records of a run. The zero value is
// empty; it is not safe for concurrent use.
type IdentitySet struct {
	seen map[uint64]struct{} // FNV-1a of the keys
}

// maxCountedIdentities bounds an IdentitySet's memory (about 40 MB); when full it is emptied,
// so that a run with more distinct identities counts some twice.
const maxCountedIdentities = 1 << 20

// Count returns how many identities of rec the set had not seen, 0 or 1: its identity record's,
// or else its post's author's, and remembers it.
func (s *IdentitySet) Count(rec Record) int {
	var key string
	switch {
	case rec.Identity != nil:
		key = rec.Identity.Key()
	case rec.Post != nil && rec.Post.Author != nil:
		key = rec.Post.Author.Key()
	default:
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	k := h.Sum64()
	if _, ok := s.seen[k]; ok {
		return 0
	}
	if s.seen == nil || len(s.seen) >= maxCountedIdentities {
		s.seen = map[uint64]struct{}{}
	}
	s.seen[k] = struct{}{}
	return 1
}

// Clone returns a copy of s that shares no list or map with it, so that adding to one does
// not change the other.
func (s Summary) Clone() Summary {
	s.Errors = append([]*RecordError(nil), s.Errors...)
	if s.SkipReasons != nil {
		m := make(map[string]int, len(s.SkipReasons))
		for r, n := range s.SkipReasons {
			m[r] = n
		}
		s.SkipReasons = m
	}
	return s
}

// Add adds the counts of d to s, listing up to maxErrors rejected records in total.
func (s *Summary) Add(d *Summary, maxErrors int) {
	s.Records += d.Records
	s.Received += d.Received
	s.Inserted += d.Inserted
	s.Updated += d.Updated
	s.Unchanged += d.Unchanged
	s.Rejected += d.Rejected
	s.Skipped += d.Skipped
	s.Identities += d.Identities
	for _, e := range d.Errors {
		if len(s.Errors) < maxErrors {
			s.Errors = append(s.Errors, e)
		}
	}
	for r, n := range d.SkipReasons {
		if s.SkipReasons == nil {
			s.SkipReasons = map[string]int{}
		}
		s.SkipReasons[r] += n
	}
}

// RunOptions configure one run.
type RunOptions struct {
	// Start holds the totals of earlier runs of the same job (when resuming); the summaries
	// passed to Durable and returned include them.
	Start Summary
	// Durable is called in order after each batch is durable in both the store and the index,
	// with the position after the batch's last record (where a later run resumes) and the totals
	// so far. It runs on the pipeline's own goroutine; an error stops the run.
	Durable func(resume Position, totals Summary) error
	// Progress, when set, is called after each batch is written (searchable, maybe not yet
	// durable) with the position reached and the counts so far (without the Errors list).
	Progress func(reached Position, totals Summary)
}

type batch struct {
	recs    []Record
	resume  Position
	delta   Summary
	prep    []*Prepared
	idents  []Identity
	indexed chan error // the index write's outcome
	persist chan error // the index's persisted callback
	stored  chan error // the store's commit
	counts  WriteCounts
	posts   []*Post // kept for Options.Stored until the store has committed them
}

// Run reads r to its end and writes everything to the store and the index. Malformed records
// are reported in the summary and skipped; the run stops early only on an error of the input
// (an unreadable file), the store or the index, or when ctx is done. It closes r. While it runs,
// the garbage collector's target is GCPercent.
func (p *Pipeline) Run(ctx context.Context, r Reader, ro RunOptions) (Summary, error) {
	defer r.Close()
	defer raiseGC()()
	// totals and the progress counts below each own their map of skip reasons: sharing
	// ro.Start's would count every skipped record twice when resuming, and change ro.Start.
	totals := ro.Start.Clone()
	g, ctx := errgroup.WithContext(ctx)
	read := make(chan *batch, 1)
	prepared := make(chan *batch, 1)
	written := make(chan *batch, maxInflight)

	g.Go(func() error {
		defer close(read)
		return p.read(ctx, r, read)
	})
	g.Go(func() error {
		defer close(prepared)
		for b := range read {
			p.prepare(b)
			select {
			case prepared <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	g.Go(func() error {
		defer close(written)
		for b := range prepared {
			p.write(ctx, g, b)
			select {
			case written <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	g.Go(func() error {
		soFar := ro.Start.Clone()
		soFar.Errors = nil
		for b := range written {
			select {
			case err := <-b.indexed:
				if err != nil {
					return fmt.Errorf("index: %w", err)
				}
			case <-ctx.Done():
				return ctx.Err()
			}
			if ro.Progress != nil {
				soFar.Add(&b.delta, 0)
				ro.Progress(b.resume, soFar)
			}
			select {
			case err := <-b.stored:
				if err != nil {
					return fmt.Errorf("store: %w", err)
				}
				b.delta.Inserted += b.counts.Inserted
				b.delta.Updated += b.counts.Updated
				b.delta.Unchanged += b.counts.Unchanged
			case <-ctx.Done():
				return ctx.Err()
			}
			if p.opts.Stored != nil {
				// Acknowledging the batch after a failed hook would leave, for instance, a
				// claim's proof stored and never looked at again.
				if err := p.opts.Stored.PostsStored(ctx, b.posts); err != nil {
					return fmt.Errorf("posts hook: %w", err)
				}
				b.posts = nil
			}
			select {
			case err := <-b.persist:
				if err != nil {
					return fmt.Errorf("index: persisting a batch: %w", err)
				}
			case <-ctx.Done():
				return ctx.Err()
			}
			totals.Add(&b.delta, p.opts.MaxErrors)
			if ro.Durable != nil {
				if err := ro.Durable(b.resume, totals); err != nil {
					return err
				}
			}
		}
		return nil
	})
	err := g.Wait()
	return totals, err
}

// read groups records into batches of up to BatchSize records.
func (p *Pipeline) read(ctx context.Context, r Reader, out chan<- *batch) error {
	b := &batch{}
	var identities IdentitySet
	send := func() error {
		select {
		case out <- b:
			b = &batch{}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := r.Read()
		var re *RecordError
		switch {
		case errors.Is(err, io.EOF):
			if b.delta.Records > 0 {
				return send()
			}
			return nil
		case errors.As(err, &re):
			b.delta.Records++
			b.reject(re, p.opts.MaxErrors)
			b.resume = re.Next
		case err != nil:
			return err
		default:
			b.delta.Records++
			b.resume = rec.Next
			b.delta.Identities += identities.Count(rec)
			switch {
			case rec.Post != nil, rec.Identity != nil:
				b.recs = append(b.recs, rec)
			default:
				b.delta.Skipped++
				if b.delta.SkipReasons == nil {
					b.delta.SkipReasons = map[string]int{}
				}
				b.delta.SkipReasons[rec.Skip]++
			}
		}
		if b.delta.Records >= p.opts.BatchSize {
			if err := send(); err != nil {
				return err
			}
		}
	}
}

func (b *batch) reject(re *RecordError, maxErrors int) {
	b.delta.Rejected++
	if len(b.delta.Errors) < maxErrors {
		b.delta.Errors = append(b.delta.Errors, re)
	}
}

// prepare normalises and fingerprints the batch's posts on Workers goroutines, rejects the
// malformed ones, keeps the last version of a post that occurs twice, and gathers identities.
func (p *Pipeline) prepare(b *batch) {
	prep := make([]*Prepared, len(b.recs))
	errs := make([]error, len(b.recs))
	var wg sync.WaitGroup
	next := make(chan int, len(b.recs))
	for i := range b.recs {
		next <- i
	}
	close(next)
	for w := 0; w < p.opts.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if post := b.recs[i].Post; post != nil {
					prep[i], errs[i] = Prepare(post)
				}
			}
		}()
	}
	wg.Wait()

	identities := map[string]int{} // key → index in b.idents
	addIdentity := func(id Identity) {
		k := id.Key()
		i, ok := identities[k]
		if !ok {
			identities[k] = len(b.idents)
			b.idents = append(b.idents, id)
			return
		}
		if id.DisplayName != "" {
			b.idents[i].DisplayName = id.DisplayName
		}
		if id.ProfileURL != "" {
			b.idents[i].ProfileURL = id.ProfileURL
		}
	}
	last := map[string]int{} // post id → index in b.prep
	for i, rec := range b.recs {
		if rec.Identity != nil {
			if err := rec.Identity.Validate(""); err != nil {
				b.reject(recordError(rec, err), p.opts.MaxErrors)
				continue
			}
			addIdentity(*rec.Identity)
			continue
		}
		b.delta.Received++
		if errs[i] != nil {
			b.reject(recordError(rec, errs[i]), p.opts.MaxErrors)
			continue
		}
		post := prep[i].Post
		if j, dup := last[post.ID]; dup {
			// The same id twice in one batch: the later version wins, as it would across batches.
			if bytes.Equal(b.prep[j].Post.Digest(), post.Digest()) {
				b.delta.Unchanged++
			} else {
				b.delta.Updated++
			}
			b.prep[j] = prep[i]
		} else {
			last[post.ID] = len(b.prep)
			b.prep = append(b.prep, prep[i])
		}
		if post.Author != nil {
			addIdentity(*post.Author)
		}
	}
	b.recs = nil
}

func recordError(rec Record, err error) *RecordError {
	re := &RecordError{Pos: rec.Pos, Next: rec.Next, Message: err.Error()}
	var e *royalty.Error
	if errors.As(err, &e) {
		re.Field, re.Message = e.Field, e.Message
	}
	if rec.Post != nil {
		re.PostID = rec.Post.ID
	}
	return re
}

// write starts writing the batch to the store and to the index. Store writes are chained in
// batch order across all runs (each waits for the one before), under writeMu; index writes are
// started in the same order under writeMu too, and the gate lets one begin only when no batch
// sharing a post with it is still being written, so for every post both see its versions in
// one order. While the store commits batch i the index can already build batch i+1, and the
// segments of batches that share no post are built at once. The batch's indexed and stored
// channels say when (and whether) its index write ended and its store write committed.
func (p *Pipeline) write(ctx context.Context, g *errgroup.Group, b *batch) {
	b.indexed = make(chan error, 1)
	b.persist = make(chan error, 1)
	b.stored = make(chan error, 1)
	posts := make([]*Post, len(b.prep))
	ids := make([]string, len(b.prep))
	for i, pp := range b.prep {
		posts[i], ids[i] = pp.Post, pp.Post.ID
	}
	idents := p.known.fresh(b.idents)
	prep := b.prep
	if p.opts.Stored != nil {
		b.posts = posts
	}
	b.prep, b.idents = nil, nil

	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	start := time.Now()
	prev, done := p.storeTail, make(chan struct{})
	p.storeTail = done
	go func() {
		defer close(done)
		if prev != nil {
			<-prev
		}
		counts, err := p.store.Write(ctx, idents, posts)
		if err == nil {
			p.known.remember(idents)
			b.counts = counts // read by Run after b.stored
			p.log.Debug("batch stored", "posts", len(posts), "identities", len(idents), "took", time.Since(start))
		}
		b.stored <- err
	}()
	p.indexing.acquire(ids)
	g.Go(func() error {
		defer p.indexing.release(ids)
		err := p.index.Write(ctx, prep, func(err error) { b.persist <- err })
		if err == nil {
			p.log.Debug("batch indexed", "posts", len(prep), "took", time.Since(start))
		}
		b.indexed <- err
		return nil // Run reports it in order
	})
}

// indexGate admits up to n index writes at once, of batches that share no post.
type indexGate struct {
	mu      sync.Mutex
	changed sync.Cond
	n       int
	writing int            // batches being written
	ids     map[string]int // their post ids
}

func (g *indexGate) init(n int) {
	g.n, g.ids = n, map[string]int{}
	g.changed.L = &g.mu
}

// acquire waits until a write of ids may begin and records it.
func (g *indexGate) acquire(ids []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.writing >= g.n || g.shares(ids) {
		g.changed.Wait()
	}
	g.writing++
	for _, id := range ids {
		g.ids[id]++
	}
}

func (g *indexGate) shares(ids []string) bool {
	if len(g.ids) == 0 {
		return false
	}
	for _, id := range ids {
		if g.ids[id] > 0 {
			return true
		}
	}
	return false
}

// release records that a write of ids ended.
func (g *indexGate) release(ids []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writing--
	for _, id := range ids {
		if g.ids[id]--; g.ids[id] <= 0 {
			delete(g.ids, id)
		}
	}
	g.changed.Broadcast()
}

// Digest is a SHA-256 over every stored field of the post: equal digests mean an upsert would
// change nothing.
func (p *Post) Digest() []byte {
	h := sha256.New()
	var n [8]byte
	field := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field(p.ID)
	field(p.Platform)
	field(p.Site)
	field(string(p.Kind))
	field(p.AuthorKey())
	field(p.CreatedAt.UTC().Format(time.RFC3339Nano))
	field(p.URL)
	field(p.Title)
	field(p.License)
	field(p.ParentID)
	field(p.Text)
	field(string(p.Format))
	field(fmt.Sprint(len(p.Quoted)))
	for _, q := range p.Quoted {
		field(q)
	}
	field(p.ContentHash)
	// Last, and only when known, so that the digests of posts stored before the editor was
	// recorded stay the same.
	if p.LastEditorKey != "" {
		field(p.LastEditorKey)
	}
	return h.Sum(nil)
}
