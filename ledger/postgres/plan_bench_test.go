package postgres

import (
	"math/big"
	"strconv"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger"
)

// BenchmarkBookingCPU measures the Go side of booking one usage report of ten identities with
// evidence, as PostUsageBatch does it, without the database: validation, payload hash, split,
// metadata and evidence encoding, and the rows of the multi-row inserts.
func BenchmarkBookingCPU(b *testing.B) {
	provider := uuid.NewString()
	owners := map[string]string{}
	req := ledger.UsageRequest{ProviderID: provider, RequestID: "bench-1", ModelID: "bench-model", ModelVersionHash: "sha256:bench",
		InputTokens: 200, OutputTokens: 300, Revenue: decimal.New(777, -6), Currency: "USD", AttributionRef: "bench", Algorithm: "winnow-k5-w4"}
	for i := 0; i < 10; i++ {
		key := "stackexchange:bench/" + strconv.Itoa(1000+i*37)
		if i%4 == 0 {
			owners[key] = uuid.NewString()
		}
		req.Shares = append(req.Shares, ledger.Share{IdentityKey: key, Share: big.NewRat(1, 20), Words: big.NewRat(15, 1)})
		req.Evidence = append(req.Evidence, ledger.Evidence{IdentityKey: key, PostID: "stackexchange:bench/post/" + strconv.Itoa(i),
			PostURL: "https://bench.stackexchange.com/a/" + strconv.Itoa(i), ResponseStart: 10, ResponseEnd: 90, ResponseWordStart: 2,
			ResponseWordEnd: 17, SourceStart: 100, SourceEnd: 180, Text: "fifteen words of the response that came from this post and nowhere else"})
	}
	terms := ledger.Terms{RoyaltyRate: decimal.RequireFromString("0.2"), PlatformFee: decimal.Zero}
	var cache accountCache
	b.ReportAllocs()
	for b.Loop() {
		if err := ledger.ValidateUsage("reports[7].", req, ledger.DefaultScale); err != nil {
			b.Fatal(err)
		}
		hash := ledger.PayloadHash(req)
		u, err := ledger.PlanUsage(req, terms, owners, ledger.DefaultScale)
		if err != nil {
			b.Fatal(err)
		}
		var ins txInsert
		id := pgUUID(uuid.New())
		ins.add(id, ledger.KindUsage, provider, req.RequestID, hash, "", usageMeta(u))
		posts := postingInsert{cache: &cache}
		posts.add(id, u.Postings)
	}
}
