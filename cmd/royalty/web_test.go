package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/claims/profile"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/jsonl"
	"github.com/openroyalty/royalty/internal/pgtest"
	"github.com/openroyalty/royalty/internal/repo"
	"github.com/openroyalty/royalty/ledger/csv"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/services/web"
)

// chromium returns the headless browser's path: skipped when it is missing, except under
// CI=true (.ci/run installs Debian's chromium), where its absence fails the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is missing, and CI=true requires it (apt-get install chromium)")
	}
	t.Skip("chromium is missing")
	return ""
}

// axeVersion and axeSHA256 pin the vendored axe-core (testdata/axe-core, README there): the
// SRI hash of axe.min.js as the npm package's sri-history.json lists it.
const (
	axeVersion = "4.14.1"
	axeSHA256  = "sha256-KTSJmUUM3yhJqOcLeRL8LahahJ2jnA0NU5T1HUqe2Vw="
)

// axeSource returns the vendored axe.min.js after checking its hash.
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := "sha256-" + base64.StdEncoding.EncodeToString(sum[:]); got != axeSHA256 {
		t.Fatalf("testdata/axe-core/axe.min.js is %s, want axe-core %s's %s", got, axeVersion, axeSHA256)
	}
	if !bytes.Contains(b, []byte(`"`+axeVersion+`"`)) {
		t.Fatalf("testdata/axe-core/axe.min.js does not name version %s", axeVersion)
	}
	if _, err := os.Stat(filepath.Join("testdata", "axe-core", "LICENSE")); err != nil {
		t.Fatalf("axe-core's licence is not beside it: %v", err)
	}
	return string(b)
}

// TestAxeCoreVendored checks the vendored axe-core's integrity without a browser.
func TestAxeCoreVendored(t *testing.T) { axeSource(t) }

// axeViolation is one axe-core finding.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axeRun runs axe-core over the page and returns its violations.
const axeRun = `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
	.map(v => ({id: v.id, impact: v.impact, help: v.help,
		nodes: v.nodes.map(n => n.target.join(" ") + ": " + (n.failureSummary || "").replace(/\s+/g, " "))})))`

// screenshots is where the journey saves a screenshot of each page: docs/screenshots when
// ROYALTY_TEST_SCREENSHOTS=docs (make screenshots), else a temporary directory.
func screenshots(t *testing.T) string {
	if os.Getenv("ROYALTY_TEST_SCREENSHOTS") == "docs" {
		root, err := repo.Root()
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// TestWebJourney drives the web app in headless Chromium against a real server (startServer,
// as `royalty serve` runs it) and PostgreSQL: a phrase search finds the verbatim post first; a
// contributor registers, logs in with the key, claims the identity whose words a provider's
// response reused; the proof post is ingested through the indexer's pipeline, as the crawler
// brings it in, which verifies the claim and turns the escrow into balance; the statement
// highlights the evidence; the contributor sets a payout destination, requests a payout and
// logs out. A cross-origin POST is refused, an auditor downloads the journal CSV and it
// balances, and no page logs a console error.
func TestWebJourney(t *testing.T) {
	browser := chromium(t)
	shots := screenshots(t)
	dsn := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	cfg := &config{DatabaseURL: dsn, GRPCAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", DataDir: dataDir,
		LogFormat: "text", LogLevel: "error", SealInterval: 100 * time.Millisecond, SigningKeyFile: filepath.Join(dataDir, "key.pem")}
	if _, err := writeSigningKey(cfg.SigningKeyFile); err != nil {
		t.Fatal(err)
	}
	// A local server plays Reddit: the about.json of u/ana_rides, whose description the test
	// sets to hold a claim's token.
	var about atomic.Value
	about.Store("Bike commuter.")
	reddit := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/user/ana_rides/about.json" {
			http.NotFound(w, r)
			return
		}
		desc, _ := json.Marshal(about.Load().(string))
		fmt.Fprintf(w, `{"kind": "t2", "data": {"name": "ana_rides", "subreddit": {"display_name": "u_ana_rides", "public_description": %s, "subreddit_type": "user"}}}`, desc)
	}))
	defer reddit.Close()
	cfg.Profiles = profile.Config{RedditURL: reddit.URL + "/user/{id}/about.json",
		AllowAddress: func(a netip.AddrPort) bool { return a.Addr().IsLoopback() }}
	logger, err := newLogger(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := startServer(ctx, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(10 * time.Second)
	base := strings.TrimSuffix(srv.WebURL(), "/")
	root, _ := repo.Root()
	ingestJSONL(t, ctx, srv, filepath.Join(root, "indexer", "testdata", "sample", "posts.jsonl"))
	// The server refuses reports until its index holds the posts; compare now rather than wait
	// for the next round.
	if err := srv.parts.Readiness.Check(ctx); err != nil {
		t.Fatal(err)
	}

	// A provider's response reuses Ana's words before anyone has claimed her identity.
	provider, _, providerKey, err := srv.parts.Auth.CreatePrincipal(ctx, "acme-ai", auth.RoleProvider)
	if err != nil {
		t.Fatal(err)
	}
	_ = provider
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+providerKey)
	const copied = "Every time I ride through rain my chain starts squeaking the next morning, even though I oiled it last month."
	u, err := v1.NewProviderServiceClient(conn).ReportUsage(pctx, &v1.ReportUsageRequest{
		RequestId: "r-1", ModelId: "acme-chat", ModelVersionHash: "sha256:0123456789abcdef", InputTokens: 10, OutputTokens: 40,
		Pricing: &v1.ReportUsageRequest_Revenue{Revenue: "10.00"}, Currency: "USD",
		ResponseText: "Good question. " + copied + " Use a wet lube and wipe the chain after the ride.",
	})
	if err != nil {
		t.Fatalf("ReportUsage over the shared listener: %v", err)
	}
	if len(u.GetUsage().GetCredits()) == 0 {
		t.Fatalf("the response credited nobody: %v", u.GetUsage())
	}
	identity := u.GetUsage().GetCredits()[0].GetIdentityKey()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.Headless, chromedp.DisableGPU, chromedp.WindowSize(1100, 900))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	var mu sync.Mutex
	var consoleErrors []string
	if err := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				consoleErrors = append(consoleErrors, fmt.Sprintf("console.error: %v", ev.Args))
			}
		case *runtime.EventExceptionThrown:
			consoleErrors = append(consoleErrors, "exception: "+ev.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError && !expectedError(ev.Entry) {
				consoleErrors = append(consoleErrors, fmt.Sprintf("log %s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	get := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		v, err := chromedp.Run(sctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	text := func(sel string) string { t.Helper(); return get(sel, chromedp.Text(sel)) }
	axeJS := axeSource(t)
	audited := 0
	// violations runs axe-core on the page shown (injecting it first when the page lacks it).
	// The script is injected through the DevTools protocol: the app's CSP allows no script of
	// its own, and this is no exception to it.
	violations := func(name string) []axeViolation {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Evaluate[chromedp.Void](`typeof axe === "undefined" && (0, eval)(`+strconv.Quote(axeJS)+`)`)); err != nil {
			t.Fatalf("injecting axe-core into %s: %v", name, err)
		}
		sctx, cancel := context.WithTimeout(bctx, 60*time.Second)
		defer cancel()
		vs, err := chromedp.Run(sctx, chromedp.Evaluate[[]axeViolation](axeRun, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("axe-core on %s: %v", name, err)
		}
		return vs
	}
	// audit fails the test on serious or critical violations of the page shown, and logs the
	// others.
	audit := func(name string) {
		t.Helper()
		for _, v := range violations(name) {
			report := t.Logf
			if v.Impact == "serious" || v.Impact == "critical" {
				report = t.Errorf
			}
			report("accessibility (axe-core %s) on %s: %s %s: %s\n\t%s", axeVersion, name, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, "\n\t"))
		}
		audited++
	}
	shot := func(name string) {
		t.Helper()
		audit(name)
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		}
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
	}
	do("start", chromedp.Navigate("about:blank"))
	if _, err := chromedp.Call(bctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	do("home", chromedp.Navigate(base+"/"), chromedp.WaitVisible(".stats"))
	shot("01-home")
	if s := text("main"); !strings.Contains(s, "Posts indexed") {
		t.Fatalf("home: %q", s)
	}

	// A phrase search finds the verbatim post first, its words highlighted.
	do("search", chromedp.SendKeys("#q", `"chain starts squeaking the next morning"`), chromedp.Submit("#q"), chromedp.WaitVisible("ol.hits"))
	shot("02-search")
	if first, marks := text("ol.hits li:first-child h2"), text("ol.hits li:first-child mark"); first != "Why does my chain squeak after rain?" || marks == "" {
		t.Fatalf("first hit %q, marks %q", first, marks)
	}
	do("post", chromedp.Click("ol.hits li:first-child h2 a"), chromedp.WaitVisible("article .text"))
	shot("03-post")
	if s := text("article"); !strings.Contains(s, copied) || !strings.Contains(s, "Licence") {
		t.Fatalf("post page: %q", s)
	}

	// Register: the key is shown once.
	do("register", chromedp.Navigate(base+"/register"), chromedp.SendKeys("#name", "Ana Ruiz"), chromedp.Submit("#name"), chromedp.WaitVisible("textarea#key"))
	key := strings.TrimSpace(get("key", chromedp.Value("textarea#key")))
	// The Copy button (static/copy.js, the app's one script, allowed by the CSP) shows and
	// answers; clipboard access may be denied to a headless browser, which it says.
	do("copy the key", chromedp.WaitVisible("#copy"), chromedp.Click("#copy"))
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.getElementById("copied").textContent !== ""`)); err != nil {
		t.Fatalf("the Copy button did not answer: %v", err)
	}
	shot("04-key")
	if !auth.WellFormedKey(key) {
		t.Fatalf("registration showed %q, not a key", key)
	}
	do("login form", chromedp.Navigate(base+"/login"), chromedp.WaitVisible("#key"))
	shot("05-login")
	do("login", chromedp.SendKeys("#key", key), chromedp.Submit("#key"), chromedp.WaitVisible("#bal"))
	if loc := get("location", chromedp.Location()); strings.Contains(loc, key) || !strings.HasSuffix(loc, "/me") {
		t.Fatalf("after login at %q", loc)
	}

	// Claim the identity from its public page.
	do("identity", chromedp.Navigate(base+"/identity/"+identity), chromedp.WaitVisible("#isthisyou"))
	shot("06-identity")
	do("start claim", chromedp.Click(".claim button"), chromedp.WaitVisible("#identity"), chromedp.Submit("#identity"), chromedp.WaitVisible("code.token"))
	token := text("code.token")
	shot("07-claims")
	do("check now while pending", chromedp.Click("form[action$='/check'] button"), chromedp.WaitVisible("p.notice"))
	if s := text("p.notice"); !strings.Contains(s, "pending") {
		t.Fatalf("check now: %q", s)
	}
	audit("claims after check now")
	do("dashboard with escrow", chromedp.Navigate(base+"/me"), chromedp.WaitVisible("#esc"))
	if s := text("main"); !strings.Contains(s, identity) || !strings.Contains(s, "USD") {
		t.Fatalf("dashboard shows no escrow waiting: %q", s)
	}
	audit("dashboard with escrow")

	// The crawler brings in Ana's proof post; the pipeline verifies the claim.
	proof := filepath.Join(t.TempDir(), "proof.jsonl")
	if err := os.WriteFile(proof, []byte(`{"id": "proof-1", "platform": "forum", "site": "spokeandcrumb", "author_id": "ana", "last_editor_id": "ana", "author_name": "Ana Ruiz", "created": "2024-01-02T09:00:00Z", "url": "https://spokeandcrumb.example/p/proof-1", "text": "Claiming my royalty account: `+token+`", "kind": "comment", "format": "text"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ingestJSONL(t, ctx, srv, proof)
	do("claims", chromedp.Navigate(base+"/claims"), chromedp.WaitVisible(".claim .status"))
	if s := text(".claim .status"); s != "verified" {
		t.Fatalf("after the proof post the claim is %q", s)
	}
	do("dashboard", chromedp.Navigate(base+"/me"), chromedp.WaitVisible("#bal"))
	shot("08-dashboard")
	if s := text("table tbody"); !strings.Contains(s, "USD") || strings.Contains(s, "Nothing") {
		t.Fatalf("escrow did not become balance: %q", s)
	}

	// Now that the identity is Ana's, royalties for her words go to her account directly.
	if _, err := v1.NewProviderServiceClient(conn).ReportUsage(pctx, &v1.ReportUsageRequest{
		RequestId: "r-2", ModelId: "acme-chat", ModelVersionHash: "sha256:0123456789abcdef", InputTokens: 10, OutputTokens: 40,
		Pricing: &v1.ReportUsageRequest_Revenue{Revenue: "4.00"}, Currency: "USD",
		ResponseText: "As one rider put it: " + copied + " Dry the chain and oil it again.",
	}); err != nil {
		t.Fatal(err)
	}

	// The statement shows the evidence highlighted in the response and in the source post.
	do("statement", chromedp.Navigate(base+"/statement"), chromedp.WaitVisible(".evidence"))
	shot("09-statement")
	if r, src := text(".evidence section:first-child mark"), text(".evidence section:last-child mark"); !strings.Contains(r, "chain starts squeaking") || !strings.Contains(src, "chain starts squeaking") {
		t.Fatalf("statement marks: response %q, source %q", r, src)
	}

	// A second identity of Ana's, on Reddit: "check now" reads its profile from the local
	// server playing Reddit, finds the token there and verifies the claim at once.
	const rideText = "Waxing the chain with paraffin every three hundred kilometres keeps the whole drivetrain quiet and clean through a wet winter of commuting to work."
	redditPosts := filepath.Join(t.TempDir(), "reddit.jsonl")
	if err := os.WriteFile(redditPosts, []byte(`{"id": "t1_ride1", "platform": "reddit", "author_id": "ana_rides", "author_name": "ana_rides", "created": "2024-02-03T10:00:00Z", "url": "https://www.reddit.com/r/bikecommuting/comments/abc/x/ride1", "text": "`+rideText+`", "license": "CC BY 4.0", "kind": "comment", "format": "text"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ingestJSONL(t, ctx, srv, redditPosts)
	if err := srv.parts.Readiness.Check(ctx); err != nil {
		t.Fatal(err)
	}
	r3, err := v1.NewProviderServiceClient(conn).ReportUsage(pctx, &v1.ReportUsageRequest{
		RequestId: "r-3", ModelId: "acme-chat", ModelVersionHash: "sha256:0123456789abcdef", InputTokens: 10, OutputTokens: 40,
		Pricing: &v1.ReportUsageRequest_Revenue{Revenue: "6.00"}, Currency: "USD",
		ResponseText: "A tip from a commuter: " + rideText,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r3.GetUsage().GetCredits()) == 0 || r3.GetUsage().GetCredits()[0].GetIdentityKey() != "reddit:/ana_rides" {
		t.Fatalf("the Reddit words were not credited to reddit:/ana_rides: %v", r3.GetUsage())
	}
	do("reddit identity", chromedp.Navigate(base+"/identity/reddit:/ana_rides"), chromedp.WaitVisible("#isthisyou"))
	do("start reddit claim", chromedp.Click(".claim button"), chromedp.WaitVisible("#identity"), chromedp.Submit("#identity"), chromedp.WaitVisible("code.token"))
	about.Store("Bike commuter. " + text("code.token"))
	do("check reddit claim", chromedp.Click("form[action$='/check'] button"), chromedp.WaitVisible("p.notice"))
	if s := text("p.notice"); !strings.Contains(s, "reddit:/ana_rides: verified") {
		t.Fatalf("check now with the token on the profile: %q", s)
	}
	audit("claims after a verified check")

	// Payouts: a destination (the key was proved at login, minutes ago, so it is not asked
	// again; TestWebReauth covers the older session), then a payout.
	do("destination", chromedp.Navigate(base+"/payouts"), chromedp.SendKeys("#destination", "ana@example.org"),
		chromedp.Submit("#destination"), chromedp.WaitVisible("p.notice"))
	if s := text("p.notice"); !strings.Contains(s, "destination changed") {
		t.Fatalf("destination: %q", s)
	}
	do("payout", chromedp.Submit("#amount"), chromedp.WaitVisible("#hist"))
	shot("10-payouts")
	if s := text("main"); !strings.Contains(s, "Payout of") {
		t.Fatalf("payout: %q", s)
	}
	do("keys", chromedp.Navigate(base+"/keys"), chromedp.WaitVisible("table"))
	shot("11-keys")

	// A cross-origin form posting to the app is refused.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/unlabelled" { // a page the audit must fault: an input without a label
			fmt.Fprint(w, `<!doctype html><html lang="en"><title>elsewhere</title><main><input id="x" name="x"></main></html>`)
			return
		}
		fmt.Fprintf(w, `<!doctype html><title>elsewhere</title><form method="post" action="%s/logout"><button id="go">win a prize</button></form>`, base)
	}))
	defer evil.Close()
	do("a page without labels", chromedp.Navigate(evil.URL+"/unlabelled"), chromedp.WaitVisible("#x"))
	if vs := violations("a page without labels"); !slices.ContainsFunc(vs, func(v axeViolation) bool { return v.ID == "label" && v.Impact == "critical" }) {
		t.Fatalf("axe-core found no unlabelled input where there is one: %+v", vs)
	}
	do("cross-origin", chromedp.Navigate(evil.URL), chromedp.WaitVisible("#go"), chromedp.Click("#go"), chromedp.WaitVisible("p.error"))
	if s := text("p.error"); !strings.Contains(s, "cross-origin") {
		t.Fatalf("cross-origin POST: %q", s)
	}
	audit("the cross-origin refusal page")
	do("still logged in", chromedp.Navigate(base+"/me"), chromedp.WaitVisible("#bal"))
	do("logout", chromedp.Click("header form button"), chromedp.WaitVisible(".lead"), chromedp.Navigate(base+"/me"), chromedp.WaitVisible("form[action='/login']"))
	if loc := get("location", chromedp.Location()); !strings.HasSuffix(loc, "/login") {
		t.Fatalf("after logout /me went to %q", loc)
	}

	// An auditor logs in, sees the trial balance and downloads the journal, which balances.
	_, _, auditorKey, err := srv.parts.Auth.CreatePrincipal(ctx, "kpmg-audit", auth.RoleAuditor)
	if err != nil {
		t.Fatal(err)
	}
	do("auditor", chromedp.Navigate(base+"/login"), chromedp.WaitVisible("#key"), chromedp.SendKeys("#key", auditorKey), chromedp.Submit("#key"),
		chromedp.WaitVisible("#tb"), chromedp.Click("form[action='/audit'] button"), chromedp.WaitVisible("#jr"))
	shot("12-audit")
	cookies, err := chromedp.Call(bctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	bu, _ := url.Parse(base)
	for _, c := range cookies.Cookies {
		jar.SetCookies(bu, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: c.Path}})
	}
	resp, err := (&http.Client{Jar: jar}).Get(base + "/audit/journal.csv")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	totals, err := csv.CheckJournal(bytes.NewReader(body))
	if resp.StatusCode != 200 || err != nil || totals.Transactions < 3 {
		t.Fatalf("journal CSV: %s, %v, %+v\n%.300s", resp.Status, err, totals, body)
	}
	do("transparency", chromedp.Navigate(base+"/transparency"), chromedp.WaitVisible("#pk"))
	shot("13-transparency")

	mu.Lock()
	defer mu.Unlock()
	if len(consoleErrors) > 0 {
		t.Fatalf("the pages logged console errors:\n%s", strings.Join(consoleErrors, "\n"))
	}
	t.Logf("screenshots in %s; axe-core audited %d pages", shots, audited)
}

// expectedError reports whether a browser log entry is an error the journey provokes on
// purpose: the refused cross-origin POST answers 403, and the error pages their status.
func expectedError(e *log.Entry) bool {
	return e.Source == log.EntrySourceNetwork && strings.Contains(e.Text, "403")
}

// ingestJSONL ingests a JSON Lines file through the server's pipeline, as `royalty ingest` does.
func ingestJSONL(t *testing.T, ctx context.Context, srv *runningServer, path string) {
	t.Helper()
	srcs, err := jsonl.Sources([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := srv.parts.Indexer.Ingest(ctx, indexer.Chain(srcs, indexer.Position{}), indexer.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Errors) > 0 {
		t.Fatalf("ingesting %s: %v", path, sum.Errors)
	}
}

var _ = web.CSP
