package services_test

import (
	"bytes"
	"context"
	stdcsv "encoding/csv"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openroyalty/royalty/auth"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// TestHostileUsage sends malformed, absurd and hostile values to the money paths: usage reports
// (single and batched), reversals, payouts and agreements. Each must fail with the exact code
// and the field named, and leave every table as it was.
func TestHostileUsage(t *testing.T) {
	e := newEnv(t)
	admin := e.principal("ops", auth.RoleAdmin)
	acme := e.principal("acme", auth.RoleProvider)
	ana := e.principal("ana", auth.RoleContributor)
	e.ingest(admin, post("1", "ana", anaText))
	booked, err := e.provider.ReportUsage(acme.ctx(), usageReq("booked-1", "1", anaText))
	if err != nil {
		t.Fatal(err)
	}
	bookedTx := booked.GetUsage().GetTransactionId()

	report := func(change func(*v1.ReportUsageRequest)) func(context.Context) error {
		return func(ctx context.Context) error {
			r := usageReq("r-hostile", "1", anaText)
			change(r)
			_, err := e.provider.ReportUsage(withKey(ctx, acme), r)
			return err
		}
	}
	revenue := func(s string) func(context.Context) error {
		return report(func(r *v1.ReportUsageRequest) { r.Pricing = &v1.ReportUsageRequest_Revenue{Revenue: s} })
	}
	price := func(s string, tokens uint64) func(context.Context) error {
		return report(func(r *v1.ReportUsageRequest) {
			r.Pricing, r.OutputTokens = &v1.ReportUsageRequest_PricePerOutputToken{PricePerOutputToken: s}, tokens
		})
	}
	currency := func(s string) func(context.Context) error {
		return report(func(r *v1.ReportUsageRequest) { r.Currency = s })
	}
	batch := func(n int, change func(i int, r *v1.ReportUsageRequest)) func(context.Context) error {
		return func(ctx context.Context) error {
			req := &v1.ReportUsageBatchRequest{}
			for i := range n {
				r := usageReq("b-"+strconv.Itoa(i), "1", anaText)
				change(i, r)
				req.Reports = append(req.Reports, r)
			}
			_, err := e.provider.ReportUsageBatch(withKey(ctx, acme), req)
			return err
		}
	}
	reverse := func(tx, reason string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.provider.ReverseUsage(withKey(ctx, acme), &v1.ReverseUsageRequest{
				Target: &v1.ReverseUsageRequest_TransactionId{TransactionId: tx}, Reason: reason})
			return err
		}
	}
	payout := func(requestID, cur, amount string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.contributor.RequestPayout(withKey(ctx, ana), &v1.RequestPayoutRequest{RequestId: requestID, Currency: cur, Amount: amount})
			return err
		}
	}
	agreement := func(provider, rate string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.admin.SetProviderAgreement(withKey(ctx, admin), &v1.SetProviderAgreementRequest{ProviderId: provider, RoyaltyRate: rate})
			return err
		}
	}

	search := func(q *v1.SearchPostsRequest) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := e.index.SearchPosts(withKey(ctx, ana), q)
			return err
		}
	}

	var cases []hostileCase
	for _, s := range []string{"-1", "0", "0.000", "-0", "NaN", "Infinity", "-Inf", "1e3", "1E-3", ".5", "5.", "007", "+1", " 1", "1 ",
		"1,5", "0x10", "١", "0.0000000000001", "1000000000000001", "99999999999999999999999999999999999999", sqlDrop, formula} {
		cases = append(cases, hostileCase{"revenue " + quoteName(s), revenue(s), codes.InvalidArgument, "revenue"})
	}
	for _, s := range []string{"-0.01", "NaN", "1e-6", "0.0000000000001"} {
		cases = append(cases, hostileCase{"price " + quoteName(s), price(s, 100), codes.InvalidArgument, "price_per_output_token"})
	}
	cases = append(cases,
		hostileCase{"price × tokens absurd", price("999999999", math.MaxUint64), codes.InvalidArgument, "price_per_output_token"},
		hostileCase{"price with no output tokens", price("0.000002", 0), codes.InvalidArgument, "revenue"},
		hostileCase{"no pricing", report(func(r *v1.ReportUsageRequest) { r.Pricing = nil }), codes.InvalidArgument, "revenue"},
	)
	for _, s := range []string{"", "usd", "US", "USDT", "ZZZ", "XXX", "XAU", "XTS", "DEM", "€", "US\x00", sqlDrop, "=1+"} {
		cases = append(cases, hostileCase{"currency " + quoteName(s), currency(s), codes.InvalidArgument, "currency"})
	}
	for _, tt := range []struct {
		field string
		set   func(*v1.ReportUsageRequest, string)
	}{
		{"request_id", func(r *v1.ReportUsageRequest, s string) { r.RequestId = s }},
		{"model_id", func(r *v1.ReportUsageRequest, s string) { r.ModelId = s }},
		{"model_version_hash", func(r *v1.ReportUsageRequest, s string) { r.ModelVersionHash = s }},
	} {
		for _, s := range []string{strings.Repeat("é", 201), "a\x00b", "a\nb", "\u200bzero-width", "bidi\u202e"} {
			cases = append(cases, hostileCase{tt.field + " " + quoteName(s), report(func(r *v1.ReportUsageRequest) { tt.set(r, s) }), codes.InvalidArgument, tt.field})
		}
	}
	cases = append(cases,
		hostileCase{"request_id empty", report(func(r *v1.ReportUsageRequest) { r.RequestId = "" }), codes.InvalidArgument, "request_id"},
		hostileCase{"model_id empty", report(func(r *v1.ReportUsageRequest) { r.ModelId = "" }), codes.InvalidArgument, "model_id"},
		hostileCase{"response_text empty", report(func(r *v1.ReportUsageRequest) { r.ResponseText = "" }), codes.InvalidArgument, "response_text"},
		hostileCase{"response_text blank", report(func(r *v1.ReportUsageRequest) { r.ResponseText = " \n\t " }), codes.InvalidArgument, "response_text"},
		hostileCase{"response_text over 64 KiB", report(func(r *v1.ReportUsageRequest) { r.ResponseText = strings.Repeat("word ", 13108) }), codes.InvalidArgument, "response_text"},
		hostileCase{"input_tokens absurd", report(func(r *v1.ReportUsageRequest) { r.InputTokens = math.MaxUint64 }), codes.InvalidArgument, "input_tokens"},
		hostileCase{"output_tokens absurd", report(func(r *v1.ReportUsageRequest) { r.OutputTokens = math.MaxUint64 }), codes.InvalidArgument, "output_tokens"},
		hostileCase{"same request id, other payload", report(func(r *v1.ReportUsageRequest) {
			r.RequestId, r.Pricing = "booked-1", &v1.ReportUsageRequest_Revenue{Revenue: "2"}
		}), codes.AlreadyExists, "request_id"},
		hostileCase{"ReportUsage over the 8 MiB limit", report(func(r *v1.ReportUsageRequest) { r.ResponseText = strings.Repeat("x", 9<<20) }), codes.ResourceExhausted, ""},

		hostileCase{"batch: empty", batch(0, nil), codes.InvalidArgument, "reports"},
		hostileCase{"batch: 1001 reports", batch(1001, func(int, *v1.ReportUsageRequest) {}), codes.InvalidArgument, "reports"},
		hostileCase{"batch: one bad revenue among good reports", batch(5, func(i int, r *v1.ReportUsageRequest) {
			if i == 3 {
				r.Pricing = &v1.ReportUsageRequest_Revenue{Revenue: "-1"}
			}
		}), codes.InvalidArgument, "reports[3].revenue"},
		hostileCase{"batch: one unknown currency", batch(5, func(i int, r *v1.ReportUsageRequest) {
			if i == 4 {
				r.Currency = "ZZZ"
			}
		}), codes.InvalidArgument, "reports[4].currency"},
		hostileCase{"batch: a key booked before with another payload", batch(3, func(i int, r *v1.ReportUsageRequest) {
			if i == 1 {
				r.RequestId, r.Pricing = "booked-1", &v1.ReportUsageRequest_Revenue{Revenue: "2"}
			}
		}), codes.AlreadyExists, "reports[1].request_id"},
		hostileCase{"batch: two reports share a key with different payloads", batch(3, func(i int, r *v1.ReportUsageRequest) {
			r.RequestId = "dup"
			r.Pricing = &v1.ReportUsageRequest_Revenue{Revenue: strconv.Itoa(i + 1)}
		}), codes.AlreadyExists, "reports[1].request_id"},

		hostileCase{"reverse: no target", func(ctx context.Context) error {
			_, err := e.provider.ReverseUsage(withKey(ctx, acme), &v1.ReverseUsageRequest{Reason: "refund"})
			return err
		}, codes.InvalidArgument, "transaction_id"},
		hostileCase{"reverse: transaction id is SQL", reverse(sqlDrop, "refund"), codes.InvalidArgument, "transaction_id"},
		hostileCase{"reverse: no reason", reverse(bookedTx, ""), codes.InvalidArgument, "reason"},
		hostileCase{"reverse: reason of 501 characters", reverse(bookedTx, strings.Repeat("r", 501)), codes.InvalidArgument, "reason"},
		hostileCase{"reverse: NUL in reason", reverse(bookedTx, "refund\x00"), codes.InvalidArgument, "reason"},

		hostileCase{"payout: no request id", payout("", "USD", ""), codes.InvalidArgument, "request_id"},
		hostileCase{"payout: unknown currency", payout("p1", "ZZZ", ""), codes.InvalidArgument, "currency"},
		hostileCase{"payout: negative amount", payout("p1", "USD", "-1"), codes.InvalidArgument, "amount"},
		hostileCase{"payout: zero", payout("p1", "USD", "0"), codes.InvalidArgument, "amount"},
		hostileCase{"payout: below the minor unit", payout("p1", "USD", "0.001"), codes.InvalidArgument, "amount"},
		hostileCase{"payout: exponent", payout("p1", "USD", "1e2"), codes.InvalidArgument, "amount"},
		hostileCase{"payout: NaN", payout("p1", "USD", "NaN"), codes.InvalidArgument, "amount"},
		hostileCase{"payout: absurd", payout("p1", "USD", strings.Repeat("9", 40)), codes.InvalidArgument, "amount"},

		hostileCase{"agreement: rate above 1", agreement(acme.ID, "1.5"), codes.InvalidArgument, "royalty_rate"},
		hostileCase{"agreement: negative rate", agreement(acme.ID, "-0.1"), codes.InvalidArgument, "royalty_rate"},
		hostileCase{"agreement: exponent", agreement(acme.ID, "1e-1"), codes.InvalidArgument, "royalty_rate"},
		hostileCase{"agreement: NaN", agreement(acme.ID, "NaN"), codes.InvalidArgument, "royalty_rate"},
		hostileCase{"agreement: provider id is SQL", agreement(sqlDrop, "0.1"), codes.NotFound, "provider_id"},
		hostileCase{"agreement: a contributor", agreement(ana.ID, "0.1"), codes.NotFound, "provider_id"},
		hostileCase{"search: over 4096 bytes", search(&v1.SearchPostsRequest{Query: strings.Repeat("w ", 2049)}), codes.InvalidArgument, "query"},
		hostileCase{"search: author is SQL", search(&v1.SearchPostsRequest{Author: sqlDrop}), codes.InvalidArgument, "author"},
		hostileCase{"search: negative page size", search(&v1.SearchPostsRequest{Query: "saddle", PageSize: -1}), codes.InvalidArgument, "page_size"},
		hostileCase{"search: page token is a formula", search(&v1.SearchPostsRequest{Query: "saddle", PageToken: formula}), codes.InvalidArgument, "page_token"},
	)
	// Query syntax is not interpreted: words are matched, so none of these is an error.
	for _, q := range []string{sqlDrop, formula, `text:"x" AND /.*.*.*/ OR +-~^2 *?`, `\\\`, "((((", "a\x00b"} {
		cases = append(cases, hostileCase{"search: " + quoteName(q), search(&v1.SearchPostsRequest{Query: q}), codes.OK, ""})
	}
	runHostile(t, e, cases)
}

// TestHostileIngest streams hostile posts: each is rejected in the summary with its field
// named, the stream goes on, and nothing of it is written.
func TestHostileIngest(t *testing.T) {
	e := newEnv(t)
	admin := e.principal("ops", auth.RoleAdmin)
	tests := []struct {
		name  string
		post  *v1.Post
		field string
	}{
		{"NUL in text", func() *v1.Post { p := post("h1", "ana", "a\x00b"); return p }(), "text"},
		{"NUL in a quotation", func() *v1.Post { p := post("h2", "ana", "own words"); p.QuotedText = []string{"q\x00"}; return p }(), "quoted_text"},
		{"text over 1 MiB", post("h3", "ana", strings.Repeat("word ", 1<<20/5+1)), "text"},
		{"id is SQL", func() *v1.Post { p := post("h4", "ana", "words"); p.Id = sqlDrop; return p }(), "id"},
		{"id is a formula", func() *v1.Post { p := post("h5", "ana", "words"); p.Id = formula; return p }(), "id"},
		{"author with a zero-width space", post("h6", "a\u200bna", "words"), "author.author_id"},
		{"author id of 400 bytes", post("h7", strings.Repeat("a", 400), "words"), "author.author_id"},
		{"author id is SQL", post("h8", sqlDrop, "words"), "author.author_id"},
		{"URL of 2001 characters", func() *v1.Post {
			p := post("h9", "ana", "words")
			p.Url = "https://x/" + strings.Repeat("u", 1991)
			return p
		}(), "url"},
		{"unknown kind", func() *v1.Post { p := post("h10", "ana", "words"); p.Kind = v1.PostKind(99); return p }(), "kind"},
		{"created in year 10000", func() *v1.Post {
			p := post("h11", "ana", "words")
			p.CreatedAt = &timestamppb.Timestamp{Seconds: 253402300800}
			return p
		}(), "created_at"},
		{"unknown text format", func() *v1.Post { p := post("h12", "ana", "words"); p.TextFormat = "rtf"; return p }(), "text_format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, e.pool)
			stream, err := e.index.IngestPosts(admin.ctx())
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(&v1.IngestPostsRequest{Posts: []*v1.Post{tt.post}}); err != nil {
				t.Fatal(err)
			}
			sum, err := stream.CloseAndRecv()
			if err != nil {
				t.Fatalf("the stream failed: %v", err)
			}
			if sum.GetRejected() != 1 || len(sum.GetErrors()) != 1 || sum.GetErrors()[0].GetField() != tt.field {
				t.Fatalf("summary = %v, want one rejection of %s", sum, tt.field)
			}
			before.unchanged(t, snapshot(t, e.pool))
		})
	}
}

// TestHostileUsageIsData books reports whose identifiers look like SQL or spreadsheet formulas:
// printable identifiers are valid by contract, so they are booked and returned verbatim, and
// the journal export neutralises every text cell a spreadsheet would evaluate.
func TestHostileUsageIsData(t *testing.T) {
	e := newEnv(t)
	admin := e.principal("ops", auth.RoleAdmin)
	acme := e.principal("acme", auth.RoleProvider)
	e.ingest(admin, post("1", "ana", anaText))
	for i, id := range []string{sqlDrop, formula, "@SUM(1+1)*cmd|' /C calc'!A0", "-2+3", "+cmd", "\"quoted,\"\"comma\""} {
		r := usageReq(id, "1", anaText)
		r.ModelId = []string{formula, sqlDrop}[i%2]
		got, err := e.provider.ReportUsage(acme.ctx(), r)
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if got.GetUsage().GetRequestId() != id || got.GetUsage().GetModelId() != r.ModelId {
			t.Fatalf("booked %q / %q, want %q / %q", got.GetUsage().GetRequestId(), got.GetUsage().GetModelId(), id, r.ModelId)
		}
	}
	stream, err := e.audit.ExportJournal(admin.ctx(), &v1.ExportJournalRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		buf.Write(m.GetChunk())
	}
	records, err := stdcsv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	amount := -1
	for i, c := range records[0] {
		if c == "amount" {
			amount = i
		}
	}
	for _, rec := range records[1:] {
		for i, cell := range rec {
			if i != amount && cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("column %s: %q would be evaluated by a spreadsheet", records[0][i], cell)
			}
		}
	}
	e.checkExport(t, admin)
}

// quoteName shortens a hostile value for a subtest name.
func quoteName(s string) string {
	if len(s) > 24 {
		s = s[:24] + "…"
	}
	return "\"" + strings.ToValidUTF8(s, "?") + "\""
}
