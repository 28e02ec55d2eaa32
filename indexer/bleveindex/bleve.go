// Package bleveindex keeps the search index of posts in Bleve (scorch) and implements
// indexer.Index for the ingest pipeline and attribution.Index for the scorer.
//
// One document per post, its id the post id, with these fields:
//
//	text      the author's own words: standard analyzer, stored, term vectors (search, snippets,
//	          and the text attribution aligns against)
//	title     standard analyzer, stored
//	quoted    what the author quoted: standard analyzer, searchable only
//	fp        the distinct winnowed fingerprints of the own words (text.Fingerprints), 8 bytes
//	          each, big-endian: stored only, never indexed (fingerprintValue)
//	author    identity key (absent for deleted authors): keyword, stored, doc values
//	site, platform  keyword filters
//	created, url, hash  stored only
//
// Fingerprints are stored, not indexed, because as terms nearly every one is new and the term
// dictionary dominates indexing (docs/design.md §4). Retrieval (Candidates, AuthorCounts) reads
// each segment's fingerprints once into a table sorted by hash (fptable.go) and binary-searches
// it; segments never change. Documents are built directly (Batch.IndexAdvanced); the text fields
// get the standard analyzer's tokens from a faster tokenizer (tokenizer.go), queries use the
// standard analyzer itself. Every document has every field, so segments merge by copying.
//
// Contract:
//   - The index records its Layout; Open refuses an index of another layout rather than misread
//     its fingerprints (rebuild it with royalty ingest --reconcile).
//   - Write returns once the batch is applied; its persisted callback runs when the batch is on
//     disk, and the pipeline records progress only then. Close waits for every outstanding
//     callback, so the last batch is never lost.
//   - An index belongs to one process: Open takes an exclusive lock on holder.pid in the index
//     directory and fails at once, naming the holder, when another process has it (Bleve's bolt
//     lock has a timeout as a second guard).
//   - An Index is safe for concurrent use; retrieval may run while batches are written and merged.
//
// Measurements are in docs/benchmarks.md.
package bleveindex

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"
	"github.com/gofrs/flock"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/indexer"
)

// Field names.
const (
	FieldText     = "text"
	FieldTitle    = "title"
	FieldQuoted   = "quoted"
	FieldFP       = "fp"
	FieldAuthor   = "author"
	FieldSite     = "site"
	FieldPlatform = "platform"
	FieldCreated  = "created"
	FieldURL      = "url"
	FieldHash     = "hash"
)

// TextOptions are the indexing options of the text field; the ingest benchmark's baseline
// index uses the same.
const TextOptions = index.IndexField | index.StoreField | index.IncludeTermVectors

const (
	titleOptions   = index.IndexField | index.StoreField
	keywordOptions = index.IndexField
	authorOptions  = index.IndexField | index.StoreField | index.DocValues
	storedOptions  = index.StoreField
)

// LockFile is the file in the index directory that holds the owner's pid and lock.
const LockFile = "holder.pid"

// Options configure Open.
type Options struct {
	Logger *slog.Logger
	// BoltTimeout bounds the wait for Bleve's own file lock; 2s when 0.
	BoltTimeout time.Duration

	// mergePlan, if set, replaces scorch's merge plan options (tests that need segments left
	// unmerged).
	mergePlan map[string]interface{}
}

// Index is a Bleve index of posts. It is safe for concurrent use.
type Index struct {
	dir     string
	idx     bleve.Index
	raw     index.Index
	std     analysis.Analyzer // the standard analyzer's tokens, by textAnalyzer
	lock    *flock.Flock
	log     *slog.Logger
	pending sync.WaitGroup // batches written but not yet persisted
	tables  fpTables       // the fingerprint table of each segment retrieval reads
	mark    atomic.Uint64  // the last high-water mark given to a batch (markKey)

	mu     sync.Mutex
	closed bool
}

var (
	_ indexer.Index          = (*Index)(nil)
	_ indexer.VersionedIndex = (*Index)(nil)
)

// Open opens the index in dir, creating it when dir holds none. It fails with EUNAVAILABLE,
// naming the holder, when another process has the index open.
func Open(dir string, opts Options) (_ *Index, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BoltTimeout == 0 {
		opts.BoltTimeout = 2 * time.Second
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lockPath := filepath.Join(dir, LockFile)
	lk := flock.New(lockPath)
	ok, err := lk.TryLock()
	if err != nil {
		return nil, fmt.Errorf("locking the index %s: %w", dir, err)
	}
	if !ok {
		return nil, royalty.Errorf(royalty.EUNAVAILABLE, "the index %s is held by %s; stop it, or ingest through it with --server", dir, holder(lockPath))
	}
	defer func() {
		if err != nil {
			_ = lk.Unlock()
		}
	}()
	host, _ := os.Hostname()
	info := fmt.Sprintf("pid %d (%s on %s, since %s)\n", os.Getpid(), strings.Join(os.Args, " "), host, time.Now().UTC().Format(time.RFC3339))
	if err := os.WriteFile(lockPath, []byte(info), 0o644); err != nil {
		return nil, err
	}

	path := filepath.Join(dir, "bleve")
	cfg := Config()
	cfg["bolt_timeout"] = opts.BoltTimeout.String()
	if opts.mergePlan != nil {
		cfg["scorchMergePlanOptions"] = opts.mergePlan
	}
	if _, statErr := os.Stat(filepath.Join(path, "index_meta.json")); statErr != nil {
		if err := create(path); err != nil {
			return nil, err
		}
	}
	idx, err := bleve.OpenUsing(path, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the index %s: %w", path, err)
	}
	if got, err := idx.GetInternal([]byte(layoutKey)); err != nil || string(got) != Layout {
		idx.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the index layout of %s: %w", path, err)
		}
		was := "the layout before it was recorded"
		if len(got) > 0 {
			was = fmt.Sprintf("layout %q", got)
		}
		return nil, royalty.Errorf(royalty.EPRECONDITION, "the index %s was built with %s, and this version reads %q: move the directory away and rebuild the index from the posts table with royalty ingest --reconcile", dir, was, Layout)
	}
	raw, err := idx.Advanced()
	if err != nil {
		idx.Close()
		return nil, err
	}
	im, ok := idx.Mapping().(*mapping.IndexMappingImpl)
	if !ok {
		idx.Close()
		return nil, errors.New("unexpected index mapping type")
	}
	std := im.AnalyzerNamed(standard.Name)
	if std == nil {
		idx.Close()
		return nil, errors.New("the standard analyzer is not registered")
	}
	x := &Index{dir: dir, idx: idx, raw: raw, std: textAnalyzer(std), lock: lk, log: opts.Logger}
	v, err := x.Version()
	if err != nil {
		idx.Close()
		return nil, fmt.Errorf("reading the high-water mark of %s: %w", path, err)
	}
	x.mark.Store(v.Mark)
	return x, nil
}

// create makes a new index at path durably. Bleve stores the mapping with an internal write,
// which unsafe_batch would leave unpersisted, so the index is created with safe batches in a
// temporary directory, closed, and renamed into place: a process killed at any moment leaves
// either no index or a complete one.
func create(path string) error {
	tmp := path + ".creating"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	idx, err := bleve.NewUsing(tmp, Mapping(), scorch.Name, scorch.Name, nil)
	if err != nil {
		return fmt.Errorf("creating the index %s: %w", path, err)
	}
	if err := idx.SetInternal([]byte(layoutKey), []byte(Layout)); err != nil {
		idx.Close()
		return err
	}
	if err := idx.Close(); err != nil {
		return err
	}
	if err := os.RemoveAll(path); err != nil { // a directory without index_meta.json holds nothing
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Layout names how documents are laid out in the index (the fingerprint field's encoding above
// all); Open refuses an index whose recorded layout is another, since it would read its
// fingerprints wrong.
const Layout = "royalty/fp-stored/v3"

// layoutKey is the internal key under which the index records its Layout.
const layoutKey = "royalty_layout"

// markKey is the internal key of the index's high-water mark: the number of batches written to
// it since it was created, 8 bytes big-endian, set in each batch itself (Bleve applies a batch's
// internal values with its documents), so that it never runs ahead of the documents.
const markKey = "royalty_mark"

// Version returns what the index holds now, from one snapshot: its documents and its
// high-water mark.
func (x *Index) Version() (indexer.IndexVersion, error) {
	r, err := x.raw.Reader()
	if err != nil {
		return indexer.IndexVersion{}, err
	}
	defer r.Close()
	n, err := r.DocCount()
	if err != nil {
		return indexer.IndexVersion{}, err
	}
	b, err := r.GetInternal([]byte(markKey))
	if err != nil {
		return indexer.IndexVersion{}, err
	}
	v := indexer.IndexVersion{Posts: n}
	if len(b) == 8 {
		v.Mark = binary.BigEndian.Uint64(b)
	}
	return v, nil
}

// stamp sets the next high-water mark in b. Batches written at once may be applied in another
// order than they were stamped, so the stored mark can trail the last stamp by the batches in
// flight; it never runs ahead of the documents.
func (x *Index) stamp(b *bleve.Batch) {
	b.SetInternal([]byte(markKey), binary.BigEndian.AppendUint64(nil, x.mark.Add(1)))
}

// PersisterNap is the longest the persister waits to gather batches into one segment file.
const PersisterNap = 200 * time.Millisecond

// Config is the scorch configuration the index is opened with (see the package doc).
func Config() map[string]interface{} {
	return map[string]interface{}{
		"unsafe_batch": true,
		"scorchPersisterOptions": map[string]interface{}{
			"persisterNapTimeMSec":      int(PersisterNap / time.Millisecond),
			"persisterNapUnderNumFiles": 1000,
		},
	}
}

// holder describes the process recorded in a lock file.
func holder(lockPath string) string {
	b, err := os.ReadFile(lockPath)
	s := strings.TrimSpace(string(b))
	if err != nil || s == "" {
		return "another process"
	}
	return s
}

// Mapping is the index mapping: it declares every field with the analyzer its queries use.
func Mapping() *mapping.IndexMappingImpl {
	text := func(store, vectors bool) *mapping.FieldMapping {
		f := mapping.NewTextFieldMapping()
		f.Analyzer = standard.Name
		f.Store, f.IncludeTermVectors, f.IncludeInAll, f.DocValues = store, vectors, false, false
		return f
	}
	kw := func(store, docValues bool) *mapping.FieldMapping {
		f := mapping.NewKeywordFieldMapping()
		f.Store, f.DocValues, f.IncludeInAll, f.IncludeTermVectors = store, docValues, false, false
		return f
	}
	stored := func() *mapping.FieldMapping {
		f := mapping.NewTextFieldMapping()
		f.Index, f.Store, f.IncludeInAll, f.IncludeTermVectors, f.DocValues = false, true, false, false, false
		return f
	}
	doc := mapping.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt(FieldText, text(true, true))
	doc.AddFieldMappingsAt(FieldTitle, text(true, false))
	doc.AddFieldMappingsAt(FieldQuoted, text(false, false))
	doc.AddFieldMappingsAt(FieldFP, stored())
	doc.AddFieldMappingsAt(FieldAuthor, kw(true, true))
	doc.AddFieldMappingsAt(FieldSite, kw(false, false))
	doc.AddFieldMappingsAt(FieldPlatform, kw(false, false))
	doc.AddFieldMappingsAt(FieldCreated, stored())
	doc.AddFieldMappingsAt(FieldURL, stored())
	doc.AddFieldMappingsAt(FieldHash, stored())
	im := bleve.NewIndexMapping()
	im.DefaultMapping = doc
	im.DefaultAnalyzer = standard.Name
	im.IndexDynamic, im.StoreDynamic, im.DocValuesDynamic = false, false, false
	_ = keyword.Name // the keyword fields' analyzer, registered by that package's init
	return im
}

// Document builds the Bleve document of a prepared post. Every document has every field, an
// absent value as a field without tokens: zapx merges segments that hold the same fields by
// copying their postings and stored data, and decodes and re-encodes them otherwise
// (a segment of comments only would lack titles, one of Reddit posts sites).
func (x *Index) Document(p *indexer.Prepared) *document.Document {
	post := p.Post
	d := document.NewDocument(post.ID)
	d.AddField(document.NewTextFieldCustom(FieldText, nil, []byte(post.Text), TextOptions, x.std))
	d.AddField(document.NewTextFieldCustom(FieldTitle, nil, []byte(post.Title), titleOptions, x.std))
	for i, q := range post.Quoted {
		d.AddField(document.NewTextFieldCustom(FieldQuoted, []uint64{uint64(i)}, []byte(q), index.IndexField, x.std))
	}
	if len(post.Quoted) == 0 {
		d.AddField(document.NewTextFieldCustom(FieldQuoted, nil, nil, index.IndexField, noTokens{}))
	}
	d.AddField(document.NewTextFieldCustom(FieldFP, nil, fingerprintValue(p.Fingerprints), storedOptions, nil))
	d.AddField(keywordField(FieldAuthor, post.AuthorKey(), authorOptions))
	d.AddField(keywordField(FieldSite, post.Site, keywordOptions))
	d.AddField(keywordField(FieldPlatform, post.Platform, keywordOptions))
	d.AddField(document.NewTextFieldCustom(FieldCreated, nil, []byte(post.CreatedAt.UTC().Format(time.RFC3339Nano)), storedOptions, nil))
	d.AddField(document.NewTextFieldCustom(FieldURL, nil, []byte(post.URL), storedOptions, nil))
	d.AddField(document.NewTextFieldCustom(FieldHash, nil, []byte(post.ContentHash), storedOptions, nil))
	return d
}

// keywordField is a field whose whole value is one term, or that has no term when the value
// is empty (a deleted author, a platform without sites).
func keywordField(name, value string, options index.FieldIndexingOptions) *document.TextField {
	if value == "" {
		return document.NewTextFieldCustom(name, nil, nil, options, noTokens{})
	}
	// A nil analyzer makes the whole value one term: a keyword.
	return document.NewTextFieldCustom(name, nil, []byte(value), options, nil)
}

// noTokens analyzes any value to no tokens.
type noTokens struct{}

func (noTokens) Analyze([]byte) analysis.TokenStream { return nil }

// fingerprintValue encodes the fingerprint field's stored value: the hashes, 8 bytes each,
// big-endian, in order.
func fingerprintValue(hashes []uint64) []byte {
	v := make([]byte, 0, 8*len(hashes))
	for _, h := range hashes {
		v = binary.BigEndian.AppendUint64(v, h)
	}
	return v
}

// Write implements indexer.Index.
func (x *Index) Write(ctx context.Context, posts []*indexer.Prepared, persisted func(error)) error {
	return x.write(ctx, posts, time.Time{}, persisted)
}

// followKey is the internal key of the time up to which the index has followed the posts table
// (indexer.Follower): Unix microseconds, 8 bytes big-endian, set in the batch whose posts take it
// there, so that it never runs ahead of the documents.
const followKey = "royalty_follow"

// WriteFollowing implements indexer.FollowIndex: Write, recording mark as the time up to which
// the index has followed the posts table in the same batch.
func (x *Index) WriteFollowing(ctx context.Context, posts []*indexer.Prepared, mark time.Time, persisted func(error)) error {
	return x.write(ctx, posts, mark, persisted)
}

// FollowMark implements indexer.FollowIndex: the mark of the last WriteFollowing, zero for an
// index that has never followed the posts table (a new or rebuilt one).
func (x *Index) FollowMark() (time.Time, error) {
	r, err := x.raw.Reader()
	if err != nil {
		return time.Time{}, err
	}
	defer r.Close()
	b, err := r.GetInternal([]byte(followKey))
	if err != nil || len(b) != 8 {
		return time.Time{}, err
	}
	return time.UnixMicro(int64(binary.BigEndian.Uint64(b))).UTC(), nil
}

func (x *Index) write(ctx context.Context, posts []*indexer.Prepared, mark time.Time, persisted func(error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(posts) == 0 && mark.IsZero() {
		persisted(nil)
		return nil
	}
	b := x.idx.NewBatch()
	for _, p := range posts {
		if err := b.IndexAdvanced(x.Document(p)); err != nil {
			return fmt.Errorf("indexing %s: %w", p.Post.ID, err)
		}
	}
	if !mark.IsZero() {
		b.SetInternal([]byte(followKey), binary.BigEndian.AppendUint64(nil, uint64(mark.UnixMicro())))
	}
	x.stamp(b)
	var once sync.Once
	x.pending.Add(1)
	b.SetPersistedCallback(func(err error) {
		once.Do(func() {
			persisted(err)
			x.pending.Done()
		})
	})
	if err := x.idx.Batch(b); err != nil {
		once.Do(x.pending.Done)
		return err
	}
	return nil
}

// Flush waits until every batch written so far is durable, or ctx is done.
func (x *Index) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		x.pending.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close waits for every written batch to be durable, closes the index and releases the lock.
func (x *Index) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil
	}
	x.closed = true
	x.pending.Wait()
	err := x.idx.Close()
	if uerr := x.lock.Unlock(); err == nil {
		err = uerr
	}
	return err
}

// DocCount returns the number of documents.
func (x *Index) DocCount() (uint64, error) { return x.idx.DocCount() }

// Dir is the index directory.
func (x *Index) Dir() string { return x.dir }

// ForEachID calls fn with the id of every document, in no particular order.
func (x *Index) ForEachID(ctx context.Context, fn func(id string) error) error {
	r, err := x.raw.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	ids, err := r.DocIDReaderAll()
	if err != nil {
		return err
	}
	defer ids.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		id, err := ids.Next()
		if err != nil {
			return err
		}
		if id == nil {
			return nil
		}
		ext, err := r.ExternalID(id)
		if err != nil {
			return err
		}
		if err := fn(ext); err != nil {
			return err
		}
	}
}

// Missing returns the ids among ids that the index has no document for.
func (x *Index) Missing(ctx context.Context, ids []string) ([]string, error) {
	r, err := x.raw.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []string
	for _, id := range ids {
		in, err := r.InternalID(id)
		if err != nil {
			return nil, err
		}
		if len(in) == 0 {
			out = append(out, id)
		}
	}
	return out, nil
}

// Delete removes documents by id.
func (x *Index) Delete(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	b := x.idx.NewBatch()
	for _, id := range ids {
		b.Delete(id)
	}
	x.stamp(b)
	done := make(chan error, 1)
	x.pending.Add(1)
	var once sync.Once
	b.SetPersistedCallback(func(err error) { once.Do(func() { done <- err; x.pending.Done() }) })
	if err := x.idx.Batch(b); err != nil {
		once.Do(x.pending.Done)
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
