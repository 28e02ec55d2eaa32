package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/memindex"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/stackexchange"
)

// RealPosts reads the Stack Exchange dump folders under dir with the indexer's parser and
// prepares every post as the ingest pipeline does (plain own text, quotations apart).
func RealPosts(dir string) ([]memindex.Post, error) {
	folders, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range folders {
		if m, _ := filepath.Glob(filepath.Join(f, "Posts.xml")); len(m) > 0 {
			paths = append(paths, f)
		}
	}
	sources, err := stackexchange.Sources(paths, stackexchange.Options{})
	if err != nil {
		return nil, err
	}
	r := indexer.Chain(sources, indexer.Position{})
	defer r.Close()
	var out []memindex.Post
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		var re *indexer.RecordError
		if errors.As(err, &re) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if rec.Post == nil {
			continue
		}
		p, err := indexer.Prepare(rec.Post)
		if err != nil {
			continue
		}
		out = append(out, memindex.Post{ID: p.Post.ID, AuthorKey: p.Post.AuthorKey(), CreatedAt: p.Post.CreatedAt,
			URL: p.Post.URL, Text: p.Post.Text, Quoted: p.Post.Quoted})
	}
}

// withoutSelf hides one post from the candidates, so that a post can be attributed against
// every other post of the index.
type withoutSelf struct {
	*memindex.Index
	self string
}

func (w withoutSelf) Candidates(ctx context.Context, fps []uint64, limit int) ([]attribution.Source, error) {
	out, err := w.Index.Candidates(ctx, fps, limit+1)
	kept := out[:0]
	for _, s := range out {
		if s.PostID != w.self {
			kept = append(kept, s)
		}
	}
	return kept[:min(len(kept), limit)], err
}

// CrossReport is what attributing every real post against all the others found: real text
// reuse (quotations that lost their markup, duplicates, reposts) and the spans each filter
// removed.
type CrossReport struct {
	Posts, Words         int
	Spans, CreditedWords int
	// LowInformation and Boilerplate list the spans found with the filter off and not with it
	// on (response text of each).
	LowInformation, Boilerplate []string
}

// CrossAttribute attributes the text of every post against every other post of posts with cfg,
// and again with the low-information and boilerplate filters off, to show what each removes
// from real text.
func CrossAttribute(ctx context.Context, posts []memindex.Post, cfg attribution.Config) (*CrossReport, error) {
	idx := memindex.New()
	for _, p := range posts {
		if err := idx.Add(p); err != nil {
			return nil, err
		}
	}
	noLow, noBoiler := cfg, cfg
	noLow.MinContentWords = -1
	noBoiler.MaxAuthors = 1 << 30
	rep := &CrossReport{}
	for _, p := range posts {
		if strings.TrimSpace(p.Text) == "" {
			continue
		}
		x := withoutSelf{idx, p.ID}
		res, err := attribution.New(x, cfg).Attribute(ctx, p.Text)
		if err != nil {
			continue // a post with no words
		}
		rep.Posts++
		rep.Words += res.ResponseWords
		rep.Spans += len(res.Evidence)
		for _, e := range res.Evidence {
			rep.CreditedWords += e.ResponseWordEnd - e.ResponseWordStart
		}
		for _, v := range []struct {
			cfg  attribution.Config
			into *[]string
		}{{noLow, &rep.LowInformation}, {noBoiler, &rep.Boilerplate}} {
			off, err := attribution.New(x, v.cfg).Attribute(ctx, p.Text)
			if err != nil {
				return nil, err
			}
			for _, e := range off.Evidence {
				if !covered(res.Evidence, e) {
					*v.into = append(*v.into, e.Text)
				}
			}
		}
	}
	sort.Strings(rep.LowInformation)
	sort.Strings(rep.Boilerplate)
	return rep, nil
}

// covered reports whether the words of e are credited in spans.
func covered(spans []attribution.Span, e attribution.Span) bool {
	for _, s := range spans {
		if s.ResponseWordStart <= e.ResponseWordStart && e.ResponseWordEnd <= s.ResponseWordEnd {
			return true
		}
	}
	return false
}

// String prints the report with a few examples of each filter.
func (r *CrossReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "real posts attributed against the others: %d (%d words)\n", r.Posts, r.Words)
	fmt.Fprintf(&b, "credited spans: %d (%d words, %.2f %% of all words)\n", r.Spans, r.CreditedWords, 100*float64(r.CreditedWords)/float64(max(r.Words, 1)))
	for _, f := range []struct {
		name  string
		spans []string
	}{{"removed as low-information", r.LowInformation}, {"removed as boilerplate", r.Boilerplate}} {
		fmt.Fprintf(&b, "spans %s: %d\n", f.name, len(f.spans))
		for i, s := range f.spans {
			if i == 8 {
				fmt.Fprintf(&b, "  …\n")
				break
			}
			fmt.Fprintf(&b, "  %q\n", s)
		}
	}
	return b.String()
}
