package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/indexer"
	royaltyv1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// IndexServer serves royalty.v1.IndexService on an indexer.Service: IngestPosts feeds the same
// pipeline as `royalty ingest`, SearchPosts and GetPost read the index and the store.
type IndexServer struct {
	royaltyv1.UnimplementedIndexServiceServer
	svc *indexer.Service
	log *slog.Logger
}

// NewIndexServer returns the IndexService handlers for svc.
func NewIndexServer(svc *indexer.Service, log *slog.Logger) *IndexServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &IndexServer{svc: svc, log: log}
}

// IngestPosts implements royaltyv1.IndexServiceServer. It answers once every post of the
// stream is durable in the store and the index, so a client that got the response may record
// its progress.
func (s *IndexServer) IngestPosts(stream royaltyv1.IndexService_IngestPostsServer) error {
	r := &streamReader{stream: stream}
	sum, err := s.svc.Ingest(stream.Context(), r, indexer.RunOptions{})
	if r.recvErr != nil {
		return toStatus(r.recvErr) // the client went away or broke the stream
	}
	if err != nil {
		s.log.ErrorContext(stream.Context(), "ingest stream failed", "err", err)
		return toStatus(err)
	}
	resp := SummaryToProto(sum)
	resp.Received = uint64(r.nPost) // posts rejected before the pipeline saw them were received too
	return stream.SendAndClose(resp)
}

// streamReader turns an IngestPosts stream into an indexer.Reader.
type streamReader struct {
	stream  royaltyv1.IndexService_IngestPostsServer
	posts   []*royaltyv1.Post
	idents  []*royaltyv1.Identity
	nPost   int64
	nIdent  int64
	recvErr error
}

func (r *streamReader) Read() (indexer.Record, error) {
	for len(r.posts) == 0 && len(r.idents) == 0 {
		req, err := r.stream.Recv()
		if errors.Is(err, io.EOF) {
			return indexer.Record{}, io.EOF
		}
		if err != nil {
			r.recvErr = err
			return indexer.Record{}, fmt.Errorf("receiving the stream: %w", err)
		}
		r.posts, r.idents = req.GetPosts(), req.GetIdentities()
	}
	if len(r.idents) > 0 {
		pb := r.idents[0]
		r.idents = r.idents[1:]
		pos := indexer.Position{File: "stream-identity", Line: r.nIdent}
		r.nIdent++
		id := IdentityFromProto(pb)
		return indexer.Record{Pos: pos, Next: pos, Identity: &id}, nil
	}
	pb := r.posts[0]
	r.posts = r.posts[1:]
	pos := indexer.Position{File: "stream", Line: r.nPost}
	r.nPost++
	p, err := PostFromProto(pb)
	if err != nil {
		re := &indexer.RecordError{Pos: pos, Next: pos, PostID: pb.GetId(), Message: royalty.ErrorMessage(err)}
		var e *royalty.Error
		if errors.As(err, &e) {
			re.Field = e.Field
		}
		return indexer.Record{}, re
	}
	return indexer.Record{Pos: pos, Next: pos, Post: p}, nil
}

func (r *streamReader) Close() error { return nil }

// SearchPosts implements royaltyv1.IndexServiceServer.
func (s *IndexServer) SearchPosts(ctx context.Context, req *royaltyv1.SearchPostsRequest) (*royaltyv1.SearchPostsResponse, error) {
	from := 0
	if t := req.GetPageToken(); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n <= 0 {
			return nil, toStatus(royalty.FieldErrorf(royalty.EINVALID, "page_token", "not a token from a previous response"))
		}
		from = n
	}
	q := indexer.Query{Text: req.GetQuery(), Author: req.GetAuthor(), Site: req.GetSite(), Platform: req.GetPlatform(),
		Size: int(req.GetPageSize()), From: from}
	res, err := s.svc.Search(ctx, q)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &royaltyv1.SearchPostsResponse{Total: res.Total}
	for _, h := range res.Hits {
		hit := &royaltyv1.PostHit{PostId: h.PostID, Title: h.Title, Url: h.URL, Score: h.Score, Snippet: h.Snippet}
		switch {
		case h.Author != nil:
			hit.Author = IdentityToProto(h.Author)
		case h.AuthorKey != "":
			// Indexed but not (or no longer) in the identities table: still say who it is.
			if platform, site, author, err := indexer.ParseKey(h.AuthorKey); err == nil {
				hit.Author = IdentityToProto(&indexer.Identity{Platform: platform, Site: site, AuthorID: author})
			}
		}
		out.Hits = append(out.Hits, hit)
	}
	if next := uint64(from + len(res.Hits)); len(res.Hits) > 0 && next < res.Total && next < indexer.MaxSearchDepth {
		out.NextPageToken = strconv.FormatUint(next, 10)
	}
	return out, nil
}

// GetPost implements royaltyv1.IndexServiceServer.
func (s *IndexServer) GetPost(ctx context.Context, req *royaltyv1.GetPostRequest) (*royaltyv1.GetPostResponse, error) {
	p, err := s.svc.Post(ctx, req.GetPostId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &royaltyv1.GetPostResponse{Post: PostToProto(p)}, nil
}

var kindToProto = map[indexer.Kind]royaltyv1.PostKind{
	indexer.KindQuestion:   royaltyv1.PostKind_POST_KIND_QUESTION,
	indexer.KindAnswer:     royaltyv1.PostKind_POST_KIND_ANSWER,
	indexer.KindComment:    royaltyv1.PostKind_POST_KIND_COMMENT,
	indexer.KindSubmission: royaltyv1.PostKind_POST_KIND_SUBMISSION,
	indexer.KindArticle:    royaltyv1.PostKind_POST_KIND_ARTICLE,
}

// IdentityToProto translates an identity, with its key.
func IdentityToProto(id *indexer.Identity) *royaltyv1.Identity {
	if id == nil {
		return nil
	}
	return &royaltyv1.Identity{Key: id.Key(), Platform: id.Platform, Site: id.Site, AuthorId: id.AuthorID,
		DisplayName: id.DisplayName, ProfileUrl: id.ProfileURL}
}

// IdentityFromProto translates an identity; its key is derived, never taken from the input.
func IdentityFromProto(pb *royaltyv1.Identity) indexer.Identity {
	return indexer.Identity{Platform: pb.GetPlatform(), Site: pb.GetSite(), AuthorID: pb.GetAuthorId(),
		DisplayName: pb.GetDisplayName(), ProfileURL: pb.GetProfileUrl()}
}

// PostToProto translates a post.
func PostToProto(p *indexer.Post) *royaltyv1.Post {
	pb := &royaltyv1.Post{
		Id: p.ID, Platform: p.Platform, Site: p.Site, Kind: kindToProto[p.Kind], Author: IdentityToProto(p.Author),
		Url: p.URL, Title: p.Title, License: p.License, Text: p.Text, QuotedText: p.Quoted,
		ContentHash: p.ContentHash, ParentId: p.ParentID, TextFormat: string(p.Format),
	}
	if p.Author != nil && p.LastEditorKey != "" {
		if _, _, editor, err := indexer.ParseKey(p.LastEditorKey); err == nil {
			pb.LastEditorId = editor
		}
	}
	if !p.CreatedAt.IsZero() {
		pb.CreatedAt = timestamppb.New(p.CreatedAt)
	}
	return pb
}

// PostFromProto translates a post sent for ingest. The content hash and the author's key are
// the server's to compute and are ignored. Errors are EINVALID and name the field.
func PostFromProto(pb *royaltyv1.Post) (*indexer.Post, error) {
	p := &indexer.Post{
		ID: pb.GetId(), Platform: pb.GetPlatform(), Site: pb.GetSite(), URL: pb.GetUrl(), Title: pb.GetTitle(),
		License: pb.GetLicense(), Text: pb.GetText(), Quoted: pb.GetQuotedText(), ParentID: pb.GetParentId(),
		Format: indexer.Format(pb.GetTextFormat()),
	}
	for k, v := range kindToProto {
		if v == pb.GetKind() {
			p.Kind = k
		}
	}
	if p.Kind == "" {
		return nil, royalty.FieldErrorf(royalty.EINVALID, "kind", "must be one of question, answer, comment, submission, article")
	}
	if pb.GetAuthor() != nil {
		id := IdentityFromProto(pb.GetAuthor())
		p.Author = &id
		// The editor is an identity on the author's platform and site; without an author it
		// does not matter (nobody can claim a deleted author).
		if e := pb.GetLastEditorId(); e != "" {
			p.LastEditorKey = indexer.IdentityKey(id.Platform, id.Site, e)
		}
	}
	ts := pb.GetCreatedAt()
	if ts == nil {
		return nil, royalty.FieldErrorf(royalty.EINVALID, "created_at", "must be set")
	}
	if err := ts.CheckValid(); err != nil {
		return nil, royalty.FieldErrorf(royalty.EINVALID, "created_at", "%v", err)
	}
	p.CreatedAt = ts.AsTime()
	if p.Format == "" {
		p.Format = indexer.FormatText
	}
	return p, p.Validate()
}

// SummaryToProto translates an ingest summary.
func SummaryToProto(s indexer.Summary) *royaltyv1.IngestPostsResponse {
	out := &royaltyv1.IngestPostsResponse{
		Received: uint64(s.Received), Inserted: uint64(s.Inserted), Updated: uint64(s.Updated),
		Unchanged: uint64(s.Unchanged), Rejected: uint64(s.Rejected),
	}
	for _, e := range s.Errors {
		out.Errors = append(out.Errors, &royaltyv1.RecordError{Position: e.Pos.File + ":" + strconv.FormatInt(e.Pos.Line, 10),
			PostId: e.PostID, Field: e.Field, Message: e.Message})
	}
	return out
}
