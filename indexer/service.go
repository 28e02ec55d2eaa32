package indexer

import (
	"context"
	"strings"

	"github.com/openroyalty/royalty"
)

// Query is a full-text search with optional filters.
type Query struct {
	Text     string // words to look for in the text, title and quotations; may be empty with a filter
	Author   string // identity key
	Site     string
	Platform string
	Size     int // hits per page
	From     int // hits to skip
}

// Hit is one search result.
type Hit struct {
	PostID    string
	Title     string
	URL       string
	AuthorKey string    // "" for a deleted author
	Author    *Identity // filled in by Service.Search from the store
	Score     float64
	Snippet   string // a fragment of the text around the first match
}

// Result is one page of hits.
type Result struct {
	Hits  []Hit
	Total uint64
}

// Search limits.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	MaxSearchDepth  = 10000 // From+Size; deeper pages cost the index too much
)

// Service is what the gRPC IndexService and the CLI use: ingest through the pipeline, search
// the index, read posts from the store.
type Service struct {
	Store    Store
	Index    Index
	Pipeline *Pipeline
}

// Ingest runs the pipeline over r (see Pipeline.Run).
func (s *Service) Ingest(ctx context.Context, r Reader, ro RunOptions) (Summary, error) {
	return s.Pipeline.Run(ctx, r, ro)
}

// Search validates q, searches the index and fills in the authors' identities from the store.
func (s *Service) Search(ctx context.Context, q Query) (Result, error) {
	q.Text = strings.TrimSpace(q.Text)
	if q.Text == "" && q.Author == "" && q.Site == "" && q.Platform == "" {
		return Result{}, royalty.FieldErrorf(royalty.EINVALID, "query", "give words to look for or a filter (author, site, platform)")
	}
	if len(q.Text) > MaxFieldLen {
		return Result{}, royalty.FieldErrorf(royalty.EINVALID, "query", "longer than %d bytes", MaxFieldLen)
	}
	if q.Author != "" {
		if _, _, _, err := ParseKey(q.Author); err != nil {
			return Result{}, royalty.FieldErrorf(royalty.EINVALID, "author", "%v", err)
		}
	}
	switch {
	case q.Size < 0:
		return Result{}, royalty.FieldErrorf(royalty.EINVALID, "page_size", "must not be negative")
	case q.Size == 0:
		q.Size = DefaultPageSize
	case q.Size > MaxPageSize:
		q.Size = MaxPageSize
	}
	if q.From < 0 || q.From+q.Size > MaxSearchDepth {
		return Result{}, royalty.FieldErrorf(royalty.EINVALID, "page_token", "pages end at hit %d", MaxSearchDepth)
	}
	res, err := s.Index.Search(ctx, q)
	if err != nil {
		return Result{}, err
	}
	var keys []string
	for _, h := range res.Hits {
		if h.AuthorKey != "" {
			keys = append(keys, h.AuthorKey)
		}
	}
	if len(keys) > 0 {
		ids, err := s.Store.Identities(ctx, keys)
		if err != nil {
			return Result{}, err
		}
		for i := range res.Hits {
			if id, ok := ids[res.Hits[i].AuthorKey]; ok {
				res.Hits[i].Author = &id
			}
		}
	}
	return res, nil
}

// Post returns one post from the store; ENOTFOUND if there is none.
func (s *Service) Post(ctx context.Context, id string) (*Post, error) {
	if id == "" {
		return nil, royalty.FieldErrorf(royalty.EINVALID, "post_id", "must not be empty")
	}
	if err := checkLine(id); err != nil {
		return nil, royalty.FieldErrorf(royalty.EINVALID, "post_id", "%v", err)
	}
	return s.Store.Post(ctx, id)
}
