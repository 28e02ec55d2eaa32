package services

import (
	"context"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/memindex"
	royaltyv1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// serveAttribution serves an AttributionService over loopback TCP and returns a real client.
func serveAttribution(t *testing.T, a Attributor) royaltyv1.AttributionServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	royaltyv1.RegisterAttributionServiceServer(srv, NewAttributionService(a))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return royaltyv1.NewAttributionServiceClient(conn)
}

func TestAttributeOverGRPC(t *testing.T) {
	idx := memindex.New()
	for _, p := range []memindex.Post{
		{ID: "stackexchange:bicycles/post/1", AuthorKey: "stackexchange:bicycles/10", CreatedAt: time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC),
			URL: "https://bicycles.stackexchange.com/q/1", Text: "Spin the wheel slowly and tighten the spokes opposite the spot where the rim rubs."},
		{ID: "hn:/item/2", AuthorKey: "hn:/pg", CreatedAt: time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC),
			URL: "https://news.ycombinator.com/item?id=2", Text: "Carry a spare tube, a pump and two tyre levers on every ride longer than an hour."},
	} {
		if err := idx.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	client := serveAttribution(t, attribution.New(idx, attribution.Config{}))
	// 15 + 17 copied words and 5 of the response's own: 37 words.
	response := "First: spin the wheel slowly and tighten the spokes opposite the spot where the rim rubs. " +
		"Also carry a spare tube, a pump and two tyre levers on every ride longer than an hour. That is all."
	got, err := client.Attribute(context.Background(), &royaltyv1.AttributeRequest{ResponseText: response})
	if err != nil {
		t.Fatal(err)
	}
	want := &royaltyv1.AttributeResponse{
		ResponseWords: 37,
		Shares: []*royaltyv1.AuthorShare{
			{Identity: &royaltyv1.Identity{Key: "hn:/pg", Platform: "hn", AuthorId: "pg"}, Share: "0.459459459459", CreditedWords: "17"},
			{Identity: &royaltyv1.Identity{Key: "stackexchange:bicycles/10", Platform: "stackexchange", Site: "bicycles", AuthorId: "10"},
				Share: "0.405405405405", CreditedWords: "15"},
		},
		UnattributedShare: "0.135135135135",
		Evidence: []*royaltyv1.EvidenceSpan{
			{IdentityKey: "stackexchange:bicycles/10", PostId: "stackexchange:bicycles/post/1", PostUrl: "https://bicycles.stackexchange.com/q/1",
				ResponseStart: 7, ResponseEnd: 88, ResponseWordStart: 1, ResponseWordEnd: 16, SourceStart: 0, SourceEnd: 81,
				Text: "spin the wheel slowly and tighten the spokes opposite the spot where the rim rubs"},
			{IdentityKey: "hn:/pg", PostId: "hn:/item/2", PostUrl: "https://news.ycombinator.com/item?id=2",
				ResponseStart: 95, ResponseEnd: 175, ResponseWordStart: 17, ResponseWordEnd: 34, SourceStart: 0, SourceEnd: 80,
				Text: "carry a spare tube, a pump and two tyre levers on every ride longer than an hour"},
		},
		Algorithm: attribution.DefaultConfig().Algorithm(),
	}
	if !proto.Equal(got, want) {
		t.Fatalf("Attribute =\n%v\nwant\n%v", got, want)
	}
}

type brokenIndex struct{}

func (brokenIndex) Candidates(context.Context, []uint64, int) ([]attribution.Source, error) {
	return nil, errors.New("disk on fire at /var/lib/royalty")
}

func (brokenIndex) AuthorCounts(context.Context, []uint64, int) ([]int, error) { return nil, nil }

func TestAttributeErrorsOverGRPC(t *testing.T) {
	valid := attribution.New(memindex.New(), attribution.Config{MaxResponseBytes: 64})
	tests := []struct {
		name     string
		a        Attributor
		text     string
		wantCode codes.Code
		wantMsg  string
	}{
		{"empty", valid, "", codes.InvalidArgument, "response_text: must not be empty"},
		{"invalid utf-8", valid, "caf\xe9", codes.InvalidArgument, "response_text: must be valid UTF-8"},
		{"too long", valid, string(make([]byte, 65)), codes.InvalidArgument, "response_text: is 65 bytes long, at most 64 are allowed"},
		{"index failure hides its details", attribution.New(brokenIndex{}, attribution.Config{}),
			"a response long enough to be fingerprinted at all", codes.Internal, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The client refuses to send invalid UTF-8 in a string field; the handler is called
			// directly for that case, which is what the server would do with such a message.
			var err error
			if tt.name == "invalid utf-8" {
				_, err = NewAttributionService(tt.a).Attribute(context.Background(), &royaltyv1.AttributeRequest{ResponseText: tt.text})
			} else {
				_, err = serveAttribution(t, tt.a).Attribute(context.Background(), &royaltyv1.AttributeRequest{ResponseText: tt.text})
			}
			st, _ := status.FromError(err)
			if st.Code() != tt.wantCode || st.Message() != tt.wantMsg {
				t.Fatalf("error %v, want %v %q", err, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestDisplayDecimal(t *testing.T) {
	tests := []struct {
		in   *big.Rat
		want string
	}{
		{big.NewRat(0, 1), "0"},
		{big.NewRat(1, 1), "1"},
		{big.NewRat(1, 4), "0.25"},
		{big.NewRat(1, 3), "0.333333333333"},
		{big.NewRat(2, 3), "0.666666666667"},
		{big.NewRat(35, 2), "17.5"},
		{big.NewRat(1, 3_000_000_000_000), "0"},
	}
	for _, tt := range tests {
		if got := displayDecimal(tt.in); got != tt.want {
			t.Errorf("displayDecimal(%s) = %q, want %q", tt.in.RatString(), got, tt.want)
		}
	}
}
