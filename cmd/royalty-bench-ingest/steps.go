package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"

	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/bleveindex"
	"github.com/openroyalty/royalty/indexer/stackexchange"
)

// steps indexes the corpus in steps from the baseline towards the pipeline and logs the time
// and CPU time of each, all with the pipeline's scorch settings and garbage collector target
// and one batch at a time unless said otherwise:
//
//	step-text              the pipeline's text field alone (its analyzer), texts in memory
//	step-text+fp           and the fingerprint field
//	step-all-fields        bleveindex.Index.Write of the posts prepared in memory: every field
//	step-pipeline-no-db    the pipeline (parse, prepare, index with its writers), a store that
//	                       keeps nothing
//
// The full pipeline, with PostgreSQL, is the measured run itself.
func steps(ctx context.Context, work, dump string, batchSize int, log *slog.Logger) error {
	gc := debug.SetGCPercent(-1)
	debug.SetGCPercent(gc)
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(max(gc, indexer.GCPercent))
	}
	defer debug.SetGCPercent(gc)

	preps, err := preparedPosts(dump)
	if err != nil {
		return err
	}
	// An index opened only for its Document, which builds the fields as the pipeline does.
	docs, err := bleveindex.Open(filepath.Join(work, "documents"), bleveindex.Options{})
	if err != nil {
		return err
	}
	defer docs.Close()
	only := func(fields ...string) func(*indexer.Prepared) *document.Document {
		return func(p *indexer.Prepared) *document.Document {
			full := docs.Document(p)
			d := document.NewDocument(p.Post.ID)
			for _, f := range full.Fields {
				for _, name := range fields {
					if f.Name() == name {
						d.AddField(f)
					}
				}
			}
			return d
		}
	}
	posts := len(preps)
	measure := func(name string, fn func(path string) error) error {
		path := filepath.Join(work, name)
		runtime.GC()
		cpu0, start := cpuTime(), time.Now()
		if err := fn(path); err != nil {
			return err
		}
		d := time.Since(start)
		log.Info(name, "posts", posts, "took", d.Round(time.Millisecond), "cpu", (cpuTime() - cpu0).Round(time.Millisecond),
			"posts_per_s", int(float64(posts)/d.Seconds()))
		return os.RemoveAll(path)
	}
	if err := measure("step-text", func(path string) error {
		return indexDocuments(path, preps, batchSize, only(bleveindex.FieldText))
	}); err != nil {
		return err
	}
	if err := measure("step-text+fp", func(path string) error {
		return indexDocuments(path, preps, batchSize, only(bleveindex.FieldText, bleveindex.FieldFP))
	}); err != nil {
		return err
	}
	if err := measure("step-all-fields", func(path string) error {
		x, err := bleveindex.Open(path, bleveindex.Options{})
		if err != nil {
			return err
		}
		for i := 0; i < len(preps); i += batchSize {
			if err := x.Write(ctx, preps[i:min(i+batchSize, len(preps))], func(error) {}); err != nil {
				x.Close()
				return err
			}
		}
		return x.Close() // waits for every batch to persist
	}); err != nil {
		return err
	}
	preps = nil // the pipeline reads the dump itself
	return measure("step-pipeline-no-db", func(path string) error {
		x, err := bleveindex.Open(path, bleveindex.Options{})
		if err != nil {
			return err
		}
		srcs, err := stackexchange.Sources([]string{dump}, stackexchange.Options{})
		if err != nil {
			x.Close()
			return err
		}
		pipe := indexer.NewPipeline(noStore{}, x, indexer.Options{BatchSize: batchSize})
		if _, err := pipe.Run(ctx, indexer.Chain(srcs, indexer.Position{}), indexer.RunOptions{}); err != nil {
			x.Close()
			return err
		}
		return x.Close()
	})
}

// indexDocuments writes the documents doc makes of preps into a new index with the pipeline's
// mapping and scorch settings, in batches, and waits for the last batch to persist.
func indexDocuments(path string, preps []*indexer.Prepared, batchSize int, doc func(*indexer.Prepared) *document.Document) error {
	created, err := bleve.NewUsing(path, bleveindex.Mapping(), scorch.Name, scorch.Name, nil)
	if err != nil {
		return err
	}
	if err := created.Close(); err != nil {
		return err
	}
	idx, err := bleve.OpenUsing(path, bleveindex.Config())
	if err != nil {
		return err
	}
	persisted := make(chan error, len(preps)/batchSize+2)
	batches := 0
	for i := 0; i < len(preps); i += batchSize {
		b := idx.NewBatch()
		for _, p := range preps[i:min(i+batchSize, len(preps))] {
			if err := b.IndexAdvanced(doc(p)); err != nil {
				return err
			}
		}
		b.SetPersistedCallback(func(err error) { persisted <- err })
		batches++
		if err := idx.Batch(b); err != nil {
			return err
		}
	}
	for i := 0; i < batches; i++ {
		if err := <-persisted; err != nil {
			return err
		}
	}
	return idx.Close()
}

// preparedPosts returns every post of the dump, prepared.
func preparedPosts(dump string) ([]*indexer.Prepared, error) {
	var out []*indexer.Prepared
	err := eachPrepared(dump, func(p *indexer.Prepared) { out = append(out, p) })
	return out, err
}

// noStore is a store that keeps nothing.
type noStore struct{}

func (noStore) Write(_ context.Context, _ []indexer.Identity, posts []*indexer.Post) (indexer.WriteCounts, error) {
	return indexer.WriteCounts{Inserted: len(posts)}, nil
}

func (noStore) Post(context.Context, string) (*indexer.Post, error) { return nil, nil }

func (noStore) Identities(context.Context, []string) (map[string]indexer.Identity, error) {
	return nil, nil
}
