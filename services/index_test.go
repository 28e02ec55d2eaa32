package services

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/bleveindex"
	"github.com/openroyalty/royalty/indexer/postgres"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
	royaltyv1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// startIndexServer serves IndexService over loopback on a fresh database and index and returns
// a client.
func startIndexServer(t *testing.T) royaltyv1.IndexServiceClient {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	x, err := bleveindex.Open(t.TempDir(), bleveindex.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	store := postgres.New(pool)
	svc := &indexer.Service{Store: store, Index: x, Pipeline: indexer.NewPipeline(store, x, indexer.Options{BatchSize: 2})}
	g := grpc.NewServer()
	royaltyv1.RegisterIndexServiceServer(g, NewIndexServer(svc, nil))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return royaltyv1.NewIndexServiceClient(conn)
}

func TestIndexServiceOverLoopback(t *testing.T) {
	client := startIndexServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	created := timestamppb.New(time.Date(2023, 4, 2, 9, 0, 0, 0, time.UTC))
	ana := &royaltyv1.Identity{Platform: "forum", Site: "s", AuthorId: "ana", Key: "ignored:/x"}
	stream, err := client.IngestPosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reqs := []*royaltyv1.IngestPostsRequest{
		{
			Identities: []*royaltyv1.Identity{{Platform: "forum", Site: "s", AuthorId: "ana", DisplayName: "Ana Ruiz", ProfileUrl: "https://s.example/u/ana"}},
			Posts: []*royaltyv1.Post{
				{Id: "forum:s/1", Platform: "forum", Site: "s", Kind: royaltyv1.PostKind_POST_KIND_ARTICLE, Author: ana, CreatedAt: created,
					Url: "https://s.example/1", Title: "Chain care", TextFormat: "html", ContentHash: "ignored",
					Text: "<blockquote>Someone said oil is bad.</blockquote><p>Wipe the chain with a rag while you pedal backwards, then oil every roller.</p>"},
				{Id: "forum:s/2", Platform: "forum", Site: "s", Kind: royaltyv1.PostKind_POST_KIND_ARTICLE, Author: ana, Text: "no creation time"},
			},
		},
		{Posts: []*royaltyv1.Post{
			{Id: "forum:s/3", Platform: "forum", Site: "s", Kind: royaltyv1.PostKind_POST_KIND_COMMENT, CreatedAt: created, Text: "A deleted author's words about saddles."},
			{Id: "forum:s/4", Platform: "forum", Site: "s", CreatedAt: created, Text: "no kind"},
		}},
	}
	for _, r := range reqs {
		if err := stream.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Received != 4 || resp.Inserted != 2 || resp.Rejected != 2 || len(resp.Errors) != 2 {
		t.Fatalf("response %v", resp)
	}
	if e := resp.Errors[0]; e.Position != "stream:1" || e.PostId != "forum:s/2" || e.Field != "created_at" {
		t.Errorf("first rejection %v", e)
	}
	if e := resp.Errors[1]; e.Position != "stream:3" || e.Field != "kind" {
		t.Errorf("second rejection %v", e)
	}

	got, err := client.GetPost(ctx, &royaltyv1.GetPostRequest{PostId: "forum:s/1"})
	if err != nil {
		t.Fatal(err)
	}
	p := got.Post
	if p.Text != "Wipe the chain with a rag while you pedal backwards, then oil every roller." ||
		len(p.QuotedText) != 1 || p.QuotedText[0] != "Someone said oil is bad." || p.ContentHash == "ignored" || len(p.ContentHash) != 64 ||
		p.Author.GetKey() != "forum:s/ana" || p.Author.GetDisplayName() != "Ana Ruiz" || !p.CreatedAt.AsTime().Equal(created.AsTime()) ||
		p.Kind != royaltyv1.PostKind_POST_KIND_ARTICLE || p.TextFormat != "text" {
		t.Errorf("GetPost = %v", p)
	}
	if _, err := client.GetPost(ctx, &royaltyv1.GetPostRequest{PostId: "forum:s/2"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetPost of a rejected post: %v", err)
	}
	if _, err := client.GetPost(ctx, &royaltyv1.GetPostRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("GetPost without an id: %v", err)
	}

	tests := []struct {
		name string
		req  *royaltyv1.SearchPostsRequest
		ids  []string
		code codes.Code
	}{
		{"words", &royaltyv1.SearchPostsRequest{Query: "pedal backwards"}, []string{"forum:s/1"}, codes.OK},
		{"author", &royaltyv1.SearchPostsRequest{Author: "forum:s/ana"}, []string{"forum:s/1"}, codes.OK},
		{"site", &royaltyv1.SearchPostsRequest{Site: "s", PageSize: 1}, []string{"forum:s/1"}, codes.OK},
		{"second page", &royaltyv1.SearchPostsRequest{Site: "s", PageSize: 1, PageToken: "1"}, []string{"forum:s/3"}, codes.OK},
		{"nothing to look for", &royaltyv1.SearchPostsRequest{}, nil, codes.InvalidArgument},
		{"bad author", &royaltyv1.SearchPostsRequest{Author: "ana"}, nil, codes.InvalidArgument},
		{"bad token", &royaltyv1.SearchPostsRequest{Site: "s", PageToken: "x"}, nil, codes.InvalidArgument},
	}
	for _, tt := range tests {
		res, err := client.SearchPosts(ctx, tt.req)
		if status.Code(err) != tt.code {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.code)
			continue
		}
		var ids []string
		for _, h := range res.GetHits() {
			ids = append(ids, h.PostId)
		}
		if strings.Join(ids, " ") != strings.Join(tt.ids, " ") {
			t.Errorf("%s: hits %q, want %q", tt.name, ids, tt.ids)
		}
	}
	res, err := client.SearchPosts(ctx, &royaltyv1.SearchPostsRequest{Query: "roller", Author: "forum:s/ana"})
	if err != nil {
		t.Fatal(err)
	}
	if h := res.Hits[0]; h.Author.GetDisplayName() != "Ana Ruiz" || h.Title != "Chain care" || h.Url != "https://s.example/1" || !strings.Contains(h.Snippet, "roller") || res.Total != 1 {
		t.Errorf("hit %v total %d", h, res.Total)
	}
	page, _ := client.SearchPosts(ctx, &royaltyv1.SearchPostsRequest{Site: "s", PageSize: 1})
	if page.NextPageToken != "1" || page.Total != 2 {
		t.Errorf("first page: token %q total %d", page.NextPageToken, page.Total)
	}
}
