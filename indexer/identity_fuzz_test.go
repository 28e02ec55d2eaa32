package indexer_test

import (
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/ledger"
)

// FuzzIdentityKey checks that the three places that judge identity keys agree: an identity
// the indexer accepts from a crawl has a key the ledger can keep an escrow for and a contributor
// can claim. Were it otherwise, one crawled post by an oddly named author would make every
// usage report that reuses its words fail to book. Run longer with
// `go test -fuzz FuzzIdentityKey ./indexer/`.
func FuzzIdentityKey(f *testing.F) {
	f.Add("stackexchange", "bicycles.meta", "123", "Ana")
	f.Add("hn", "", "pg", "")
	f.Add("reddit", "", "\u200bspez", "")
	f.Add("forum", "spokeandcrumb", strings.Repeat("a", 400), "")
	f.Add("forum", "a\u00adb", "c", "")
	f.Add("=cmd", "x", "y", "'; DROP TABLE ledger_postings; --")
	f.Fuzz(func(t *testing.T, platform, site, author, name string) {
		id := indexer.Identity{Platform: platform, Site: site, AuthorID: author, DisplayName: name}
		if err := id.Validate("author."); err != nil {
			if royalty.ErrorCode(err) != royalty.EINVALID || !strings.HasPrefix(royalty.ErrorMessage(err), "author.") {
				t.Fatalf("%+v: %v, want EINVALID naming an author field", id, err)
			}
			return
		}
		if err := ledger.CheckIdentityKey("identity_key", id.Key()); err != nil {
			t.Fatalf("the indexer accepts %+v, the ledger refuses its key: %v", id, err)
		}
		if err := claims.ValidateIdentityKey("identity_key", id.Key()); err != nil {
			t.Fatalf("the indexer accepts %+v, claims refuses its key: %v", id, err)
		}
	})
}

// FuzzPostEvidence checks that a post the indexer accepts can be cited as evidence: a usage
// report whose response reuses the post's words names the post's id and URL and credits its
// author, and the ledger must accept all three.
func FuzzPostEvidence(f *testing.F) {
	f.Add("forum:spokeandcrumb/2", "https://example.com/2", "ana")
	f.Add("forum:spokeandcrumb/\u00ad2", "https://example.com/\u200b2", "ana")
	f.Add("forum:spokeandcrumb/2", "https://example.com/"+strings.Repeat("x", 2100), "ana")
	f.Add("forum:spokeandcrumb/"+strings.Repeat("9", 2500), "", "ana")
	f.Fuzz(func(t *testing.T, id, url, author string) {
		platform, site, _, err := indexer.ParseKey(id)
		if err != nil {
			return
		}
		p := &indexer.Post{ID: id, Platform: platform, Site: site, Kind: indexer.KindAnswer, URL: url, Text: "words",
			CreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
			Author:    &indexer.Identity{Platform: platform, Site: site, AuthorID: author}}
		if err := p.Validate(); err != nil {
			if royalty.ErrorCode(err) != royalty.EINVALID {
				t.Fatalf("%v, want EINVALID", err)
			}
			return
		}
		req := ledger.UsageRequest{ProviderID: "00000000-0000-4000-8000-000000000001", RequestID: "r", ModelID: "m",
			Revenue: decimal.RequireFromString("0.0006"), Currency: "USD",
			Shares:   []ledger.Share{{IdentityKey: p.AuthorKey(), Share: big.NewRat(1, 2)}},
			Evidence: []ledger.Evidence{{IdentityKey: p.AuthorKey(), PostID: p.ID, PostURL: p.URL, ResponseEnd: 5, ResponseWordEnd: 1, SourceEnd: 5, Text: "words"}}}
		if err := ledger.ValidateUsage("", req, ledger.DefaultScale); err != nil {
			t.Fatalf("the indexer accepts post %q (url %q, author %q), the ledger refuses it as evidence: %v", id, url, author, err)
		}
	})
}
