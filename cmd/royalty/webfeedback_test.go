package main

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/ledger"
	ledgerpg "github.com/openroyalty/royalty/ledger/postgres"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// TestWebFeedbackEarnings: raters of a provider earn from a settled feedback pool; a
// contributor starts a claim on one rater identity in the web app (the page says the provider
// confirms it or gives a link code), enters the provider's one-time link code, and the escrow
// is released; the dashboard and the statement then show the feedback credit with its
// evidence: model version, epoch, counted events of the total, the cap and the pool.
func TestWebFeedbackEarnings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startWebServer(t, ctx)
	_, adminKey := s.principal(t, ctx, "ops", auth.RoleAdmin)
	acme, acmeKey := s.principal(t, ctx, "acme", auth.RoleProvider)
	_, anaKey := s.principal(t, ctx, "ana", auth.RoleContributor)
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	as := func(key string) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
	}
	fb := v1.NewFeedbackServiceClient(conn)

	// Feedback and usage in a past epoch, so that its pool is due for settlement now.
	past := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	epoch := ledger.EpochOf(past)
	back, err := ledgerpg.New(s.pool, nil, ledgerpg.Config{Now: func() time.Time { return past }, GroupCommit: ledgerpg.GroupCommit{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if _, err := fb.SetFeedbackRate(as(adminKey), &v1.SetFeedbackRateRequest{ProviderId: acme.ID, FeedbackRate: "0.05"}); err != nil {
		t.Fatal(err)
	}
	for rater, n := range map[string]int{"u-1": 3, "u-2": 1} {
		for i := range n {
			if _, err := back.ReportFeedback(ctx, ledger.FeedbackRequest{ProviderID: acme.ID, RequestID: fmt.Sprintf("%s-%d", rater, i),
				RaterID: rater, Kind: ledger.FeedbackThumbsUp, ModelVersion: "chat"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := fb.DeclareTraining(as(acmeKey), &v1.DeclareTrainingRequest{ModelVersion: "chat-v2", Epochs: []*v1.EpochWeight{{Epoch: epoch, Weight: "1"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := back.PostUsage(ctx, ledger.UsageRequest{ProviderID: acme.ID, RequestID: "v2-1", ModelID: "chat-v2",
		Revenue: decimal.RequireFromString("10"), Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	st, err := fb.SettleFeedback(as(adminKey), &v1.SettleFeedbackRequest{ProviderId: acme.ID})
	if err != nil || len(st.GetSettlements()) != 1 {
		t.Fatalf("SettleFeedback = %v, %v", st, err)
	}
	lc, err := fb.CreateLinkCode(as(acmeKey), &v1.CreateLinkCodeRequest{RaterId: "u-1"})
	if err != nil {
		t.Fatal(err)
	}
	rater := ledger.RaterIdentityKey(acme.ID, "u-1")

	b := s.browser(t)
	b.login(anaKey, "/me")
	if code, body, _ := b.post("/claims", url.Values{"identity": {rater}}); code != http.StatusOK ||
		!strings.Contains(body, "the provider confirms") || !strings.Contains(body, "one-time link code") || !strings.Contains(body, `action="/claims/link"`) {
		t.Fatalf("claim on a rater identity: %d\n%s", code, body)
	}
	// Checking a rater claim says how it is proved instead of looking for a profile.
	_, page := b.get("/claims")
	id := regexp.MustCompile(`action="/claims/([0-9a-f-]+)/check"`).FindStringSubmatch(page)
	if id == nil {
		t.Fatal("no pending claim to check on /claims")
	}
	if code, body, _ := b.post("/claims/"+id[1]+"/check", nil); code != http.StatusOK || !strings.Contains(body, "a rater identity has no public profile") {
		t.Fatalf("checking a rater claim: %d\n%s", code, body)
	}
	if code, body, _ := b.post("/claims/link", url.Values{"identity": {ledger.RaterIdentityKey(acme.ID, "u-2")}, "code": {lc.GetCode()}}); code != http.StatusNotFound ||
		!strings.Contains(body, "no link code for") {
		t.Fatalf("code entered for another rater: %d\n%s", code, body)
	}
	code, body, _ := b.post("/claims/link", url.Values{"identity": {rater}, "code": {lc.GetCode()}})
	if code != http.StatusOK || !strings.Contains(body, "verified by the provider&#39;s link code") || !strings.Contains(body, "Released 0.375 USD") {
		t.Fatalf("entering the link code: %d\n%s", code, body)
	}
	if code, body, _ := b.post("/claims/link", url.Values{"identity": {rater}, "code": {lc.GetCode()}}); code != http.StatusOK || strings.Contains(body, "Released 0.375 USD from escrow. Released") {
		t.Fatalf("entering the code again: %d\n%s", code, body)
	}

	code, body = b.get("/me")
	section := body[strings.Index(body, `id="fb"`):]
	section = section[:strings.Index(section, "</section>")]
	for _, want := range []string{epoch, "<code>chat-v2</code>", "3 of 4", "Total 0.375 USD", "0.5 USD", html.EscapeString("feedback_pool:")} {
		if code != http.StatusOK || !strings.Contains(section, want) {
			t.Errorf("dashboard feedback section lacks %q:\n%s", want, section)
		}
	}
	code, body = b.get("/statement")
	for _, want := range []string{"Feedback pool", "Epoch</dt><dd>" + epoch, "<code>chat-v2</code>", "3 of 4 counted in the pool (3 reported; cap", "Rater</dt><dd>u-1"} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("statement lacks %q:\n%s", want, body)
		}
	}
}
