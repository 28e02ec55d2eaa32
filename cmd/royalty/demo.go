package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtmp"
	"github.com/openroyalty/royalty/internal/repo"
	"github.com/openroyalty/royalty/internal/termtext"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/csv"
	"github.com/openroyalty/royalty/migrations"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

type demoOptions struct {
	data  string // Stack Exchange dumps; the in-repo sample corpus when empty and ../shared/data is absent
	out   string // where the audit CSV goes
	serve bool   // keep the server running after the story, for the web app
}

func demoCommand(cfg *config, stdout, stderr io.Writer) *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole story on a throwaway database and exit",
		Long: "Start a throwaway PostgreSQL (or use --database-url), migrate it, start the server on free\n" +
			"ports, and tell the whole story as its users would: ingest real Stack Exchange dumps\n" +
			"(../shared/data/stackexchange, --data or ROYALTY_SAMPLE_DATA; the in-repo sample corpus when\n" +
			"absent), register a contributor and verify a claim through its challenge, report usage for\n" +
			"responses that reuse ingested posts (and one that reuses nothing), retry a report, reverse\n" +
			"one, pay out, print balances, a statement with evidence and the trial balance, and write the\n" +
			"audit CSV (kept, under --out). Everything it started is stopped and removed on exit.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), cfg, o, stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&o.data, "data", "", "folder of Stack Exchange dumps, one subfolder per site, or \"sample\" for the in-repo sample corpus (default ../shared/data/stackexchange when present, else the sample)")
	setFlagEnv(cmd.Flags(), "data", "ROYALTY_SAMPLE_DATA")
	cmd.Flags().StringVar(&o.out, "out", "out", "folder for the audit CSV, which the demo keeps")
	cmd.Flags().BoolVar(&o.serve, "serve", false, "keep the server (and its web app) running after the story until interrupted")
	return cmd
}

// demo holds the state of one run of the story.
type demo struct {
	cfg    *config
	opts   *demoOptions
	stdout io.Writer
	stderr io.Writer
	step   int
	pool   *pgxpool.Pool
	conn   *grpc.ClientConn
	srv    *runningServer

	admin, provider, contributor, auditor string // API keys
	contributorID                         string
	providerID                            string
}

// say prints a line. Its arguments hold text from posts and from the server (post texts,
// evidence, identity keys, error messages), so control characters and escape sequences are
// removed (termtext.Clean) before it reaches the terminal.
func (d *demo) say(format string, args ...any) {
	fmt.Fprintln(d.stdout, termtext.Clean(fmt.Sprintf(format, args...)))
}

func (d *demo) head(format string, args ...any) {
	d.step++
	fmt.Fprint(d.stdout, "\n", termtext.Clean(fmt.Sprintf("%2d. "+format, append([]any{d.step}, args...)...)), "\n")
}

// as returns a context that calls with key, bounded so that a stuck call fails the demo.
func (d *demo) as(ctx context.Context, key string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key), cancel
}

func runDemo(ctx context.Context, cfg *config, o *demoOptions, stdout, stderr io.Writer) error {
	// Refused calls are part of the story; only real failures should reach the log.
	log, err := newLogger(&config{LogFormat: cfg.LogFormat, LogLevel: "error"}, stderr)
	if err != nil {
		return err
	}
	d := &demo{cfg: cfg, opts: o, stdout: stdout, stderr: stderr}
	demoCfg := *cfg
	demoCfg.GRPCAddr, demoCfg.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0"
	dataDir, err := os.MkdirTemp("", "royalty-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	demoCfg.DataDir = dataDir
	// The server refuses usage reports until the demo has ingested the corpus.
	demoCfg.MaxIndexLag = indexer.DefaultMaxIndexLag
	d.cfg = &demoCfg
	d.say("royalty demo: providers pay for model responses, contributors are paid for their words, auditors check the books.")

	if demoCfg.DatabaseURL == "" {
		d.head("starting a throwaway PostgreSQL")
		pg, err := pgtmp.Start(ctx, pgtmp.Options{Logger: log})
		if err != nil {
			return err
		}
		defer pg.Stop()
		if demoCfg.DatabaseURL, err = pg.CreateDatabase(ctx, "royalty", ""); err != nil {
			return err
		}
		d.say("    postgres on 127.0.0.1:%d in %s (removed on exit)", pg.Port(), pg.Dir())
	} else {
		d.head("using the database at --database-url")
	}
	res, err := migrations.Apply(ctx, demoCfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	d.say("    schema migrated: version %d -> %d on %s", res.From, res.To, res.Engine)
	if d.pool, err = pgdb.Open(ctx, demoCfg.DatabaseURL); err != nil {
		return err
	}
	defer d.pool.Close()

	d.head("starting the server")
	if err := d.demoSigningKey(dataDir); err != nil {
		return err
	}
	d.srv, err = startServer(ctx, &demoCfg, log)
	if err != nil {
		return err
	}
	defer d.srv.Shutdown(10 * time.Second)
	d.say("    gRPC %s, metrics http://%s/metrics, index in %s (removed on exit)", d.srv.GRPCAddr(), d.srv.MetricsAddr(), dataDir)
	if d.conn, err = grpc.NewClient(d.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		return err
	}
	defer d.conn.Close()
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	hr, err := healthpb.NewHealthClient(d.conn).Check(hctx, &healthpb.HealthCheckRequest{})
	cancel()
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	d.say("    health check: %s (open without a key)", hr.GetStatus())
	resp, err := http.Get("http://" + d.srv.MetricsAddr() + "/metrics")
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	resp.Body.Close()
	d.say("    /metrics answers: %s", resp.Status)
	status, body, err := httpGet("http://" + d.srv.MetricsAddr() + "/readyz")
	if err != nil {
		return fmt.Errorf("readyz: %w", err)
	}
	d.say("    /readyz answers: %s, %s (no usage report is booked against an empty index)", status, body)

	steps := []func(context.Context) error{
		d.bootstrapKeys, d.ingest, d.awaitReady, d.story,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}

	d.head("the web app: %s", d.srv.WebURL())
	d.say("    log in as the demo contributor with the key %s", d.contributor)
	if o.serve {
		d.say("    serving until interrupted (Ctrl-C)")
		<-ctx.Done()
	} else {
		d.say("    (run with --serve to keep it running and look around)")
	}
	if err := d.srv.Shutdown(10 * time.Second); err != nil {
		return err
	}
	d.head("server stopped; throwaway database and data directory removed; the audit CSV stays in %s", o.out)
	return nil
}

// bootstrapKeys creates the first admin key the way an operator does, then the other
// principals through the API.
func (d *demo) bootstrapKeys(ctx context.Context) error {
	d.head("operator bootstraps an admin key: royalty keys create --role admin --name operator")
	var out bytes.Buffer
	if err := run(ctx, []string{"keys", "create", "--role", "admin", "--name", "operator", "--database-url", d.cfg.DatabaseURL, "--log-level", "error"}, &out, d.stderr); err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if k, ok := strings.CutPrefix(line, "api key   "); ok {
			d.admin = k
			line = "api key   " + k[:12] + "… (shown once; stored as SHA-256)"
		}
		d.say("    %s", line)
	}
	if d.admin == "" {
		return errors.New("keys create printed no key")
	}
	admin := v1.NewAdminServiceClient(d.conn)
	actx, cancel := d.as(ctx, d.admin)
	defer cancel()
	p, err := admin.CreatePrincipal(actx, &v1.CreatePrincipalRequest{Name: "acme-ai", Role: v1.Role_ROLE_PROVIDER})
	if err != nil {
		return fmt.Errorf("creating the provider: %w", err)
	}
	d.provider, d.providerID = p.GetApiKey(), p.GetPrincipal().GetId()
	if _, err := admin.SetProviderAgreement(actx, &v1.SetProviderAgreementRequest{ProviderId: p.GetPrincipal().GetId(), RoyaltyRate: "0.2"}); err != nil {
		return fmt.Errorf("setting the agreement: %w", err)
	}
	a, err := admin.CreatePrincipal(actx, &v1.CreatePrincipalRequest{Name: "kpmg-audit", Role: v1.Role_ROLE_AUDITOR})
	if err != nil {
		return err
	}
	d.auditor = a.GetApiKey()
	d.say("    admin creates provider %q (royalty rate 0.2 of revenue) and auditor %q over AdminService", "acme-ai", "kpmg-audit")
	_, err = v1.NewAuditServiceClient(d.conn).GetTrialBalance(ctx, &v1.GetTrialBalanceRequest{})
	d.say("    a call without a key is refused: %v", err)
	pctx, cancel := d.as(ctx, d.provider)
	defer cancel()
	_, err = admin.ListPrincipals(pctx, &v1.ListPrincipalsRequest{})
	d.say("    the provider calling AdminService is refused: %v", err)
	return nil
}

// ingest feeds the crawl through `royalty ingest --server`, as an operator would.
func (d *demo) ingest(ctx context.Context) error {
	format, paths, label, err := d.corpus()
	if err != nil {
		return err
	}
	d.head("admin ingests %s", label)
	var out bytes.Buffer
	args := append([]string{"ingest", "--server", d.srv.GRPCAddr(), "--api-key", d.admin, "--format", format,
		"--progress", "none", "--data-dir", d.cfg.DataDir, "--log-level", "error"}, paths...)
	if err := run(ctx, args, &out, d.stderr); err != nil {
		return fmt.Errorf("ingest: %w\n%s", err, out.String())
	}
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		d.say("    %s", line)
	}
	return nil
}

// awaitReady waits until the server, now that the index holds the posts, says SERVING.
func (d *demo) awaitReady(ctx context.Context) error {
	health := healthpb.NewHealthClient(d.conn)
	deadline := time.Now().Add(30 * time.Second)
	for {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		hr, err := health.Check(hctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && hr.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			status, body, err := httpGet("http://" + d.srv.MetricsAddr() + "/readyz")
			if err != nil {
				return fmt.Errorf("readyz: %w", err)
			}
			d.say("    health check: %s, /readyz: %s, %s (the index holds the posts table's posts)", hr.GetStatus(), status, body)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server is not ready 30 s after the ingest: %v %v", hr.GetStatus(), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// httpGet returns the status and the trimmed body of a GET.
func httpGet(url string) (string, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.Status, strings.TrimSpace(string(b)), err
}

// corpus finds the crawl to ingest: --data, then ../shared/data/stackexchange, then the sample.
func (d *demo) corpus() (format string, paths []string, label string, err error) {
	dir := d.opts.data
	if dir == "sample" {
		dir = ""
	} else if dir == "" {
		dir = repo.SharedData("stackexchange")
	}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return "", nil, "", fmt.Errorf("--data: %w", err)
		}
		var sites []string
		for _, e := range entries {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), "Posts.xml")); e.IsDir() && err == nil {
				paths = append(paths, filepath.Join(dir, e.Name()))
				sites = append(sites, e.Name())
			}
		}
		if len(paths) == 0 {
			return "", nil, "", fmt.Errorf("--data %s: no site folder with a Posts.xml", dir)
		}
		return "stackexchange", paths, fmt.Sprintf("the Stack Exchange dumps in %s (%s)", dir, strings.Join(sites, ", ")), nil
	}
	root, err := repo.Root()
	if err != nil {
		return "", nil, "", fmt.Errorf("finding the sample corpus: %w", err)
	}
	sample := filepath.Join(root, "indexer", "testdata", "sample", "posts.jsonl")
	return "jsonl", []string{sample}, "the in-repo sample corpus " + sample, nil
}

// source is an ingested post the demo quotes in model responses.
type source struct {
	id, author, url string
	words           []string
}

// excerpt returns words [from, from+n) of the post (fewer if it is shorter).
func (s source) excerpt(from, n int) string {
	from = min(from, len(s.words))
	return strings.Join(s.words[from:min(from+n, len(s.words))], " ")
}

// pickSources chooses posts to quote: two by one identity (the one that will be claimed) and
// one each by two others, all with text of their own that no other post repeats.
func (d *demo) pickSources(ctx context.Context) (claimed []source, others []source, err error) {
	rows, err := d.pool.Query(ctx, `
		SELECT id, author_key, url, text FROM posts
		WHERE author_key IS NOT NULL AND kind IN ('answer', 'question', 'article') AND length(text) BETWEEN 150 AND 6000
		  AND content_hash NOT IN (SELECT content_hash FROM posts GROUP BY content_hash HAVING count(*) > 1)
		ORDER BY created_at, id LIMIT 2000`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	byAuthor := map[string][]source{}
	var order []string
	for rows.Next() {
		var s source
		var text string
		if err := rows.Scan(&s.id, &s.author, &s.url, &text); err != nil {
			return nil, nil, err
		}
		s.words = strings.Fields(text)
		if len(s.words) < 25 {
			continue
		}
		if _, ok := byAuthor[s.author]; !ok {
			order = append(order, s.author)
		}
		byAuthor[s.author] = append(byAuthor[s.author], s)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	for _, a := range order {
		if len(byAuthor[a]) >= 2 && claimed == nil {
			claimed = byAuthor[a][:2]
		} else if len(others) < 2 {
			others = append(others, byAuthor[a][0])
		}
	}
	if claimed == nil || len(others) < 2 {
		return nil, nil, errors.New("the corpus has too few long posts to build the demo's responses")
	}
	return claimed, others, nil
}

type report struct {
	id, text string
}

func (d *demo) story(ctx context.Context) error {
	claimedPosts, others, err := d.pickSources(ctx)
	if err != nil {
		return err
	}
	x, b, c := claimedPosts[0], others[0], others[1]
	identity := x.author
	provider := v1.NewProviderServiceClient(d.conn)
	contrib := v1.NewContributorServiceClient(d.conn)
	pctx, cancel := d.as(ctx, d.provider)
	defer cancel()

	reports := []report{
		{"acme-0001", "Good question. " + x.excerpt(0, 45) + ". In addition, " + b.excerpt(0, 40) + ". Hope this helps!"},
		{"acme-0002", "Here is a summary. " + claimedPosts[1].excerpt(0, 50) + " Another point: " + c.excerpt(0, 35) + "."},
		{"acme-0003", "Two views. " + b.excerpt(10, 40) + ". On the other hand, " + c.excerpt(5, 40) + "."},
		{"acme-0004", "Photosynthesis converts light energy into chemical energy stored in glucose, using water and carbon dioxide and releasing oxygen as a by-product of the light-dependent reactions."},
	}
	book := func(r report) (*v1.ReportUsageResponse, error) {
		return provider.ReportUsage(pctx, &v1.ReportUsageRequest{
			RequestId: r.id, ModelId: "acme-chat", ModelVersionHash: "sha256:5e1f…demo", InputTokens: 220,
			OutputTokens: uint64(len(strings.Fields(r.text)) * 4 / 3), Pricing: &v1.ReportUsageRequest_Revenue{Revenue: "2.50"},
			Currency: "USD", ResponseText: r.text,
		})
	}

	d.head("provider reports a response stitched from posts by %s and %s (nobody has claimed them yet)", identity, b.author)
	d.say("    response: %q", clip(reports[0].text, 160))
	u1, err := book(reports[0])
	if err != nil {
		return fmt.Errorf("ReportUsage: %w", err)
	}
	d.printUsage(u1.GetUsage())

	d.head("a contributor registers (no key needed) and claims %s", identity)
	reg, err := contrib.RegisterContributor(ctx, &v1.RegisterContributorRequest{DisplayName: "Demo Contributor"})
	if err != nil {
		return err
	}
	d.contributor, d.contributorID = reg.GetApiKey(), reg.GetContributor().GetId()
	cctx, cancel := d.as(ctx, d.contributor)
	defer cancel()
	sc, err := contrib.StartClaim(cctx, &v1.StartClaimRequest{IdentityKey: identity})
	if err != nil {
		return fmt.Errorf("StartClaim: %w", err)
	}
	d.say("    contributor %s, claim %s: %s, challenge %s", d.contributorID, sc.GetClaim().GetId(), claimStatus(sc.GetClaim()), sc.GetClaim().GetChallenge())
	d.say("    → publish the challenge in a comment written as %s (a post counts only if its last edit is the identity's own); the claim is verified when it is ingested", identity)

	d.head("the crawler picks up a new comment by %s containing the challenge", identity)
	if err := d.ingestProof(ctx, identity, sc.GetClaim().GetChallenge()); err != nil {
		return err
	}
	gc, err := contrib.GetClaim(cctx, &v1.GetClaimRequest{ClaimId: sc.GetClaim().GetId()})
	if err != nil {
		return err
	}
	cl := gc.GetClaim()
	if cl.GetStatus() != v1.ClaimStatus_CLAIM_STATUS_VERIFIED {
		return fmt.Errorf("the claim was not verified by the proof post: %v", cl)
	}
	d.say("    claim %s by %s (proof: %s); escrow released to the contributor: %s in transaction %s", claimStatus(cl), cl.GetDecidedBy(),
		strings.ToLower(strings.TrimPrefix(cl.GetProofKind().String(), "PROOF_KIND_")), moneys(cl.GetReleased()), cl.GetReleaseTransactionId())

	d.head("provider reports two more responses reusing posts, and one that reuses nothing")
	for _, r := range reports[1:] {
		d.say("    %s: %q", r.id, clip(r.text, 120))
		u, err := book(r)
		if err != nil {
			return fmt.Errorf("ReportUsage %s: %w", r.id, err)
		}
		d.printUsage(u.GetUsage())
	}

	d.head("the provider's network drops a reply; it retries %s with the same request id", reports[1].id)
	again, err := book(reports[1])
	if err != nil {
		return err
	}
	d.say("    replayed=%t, same transaction %s: nothing booked twice", again.GetReplayed(), again.GetUsage().GetTransactionId())
	changed := reports[1]
	changed.text += " (edited)"
	_, err = book(changed)
	d.say("    the same request id with a different response is refused: %v", err)

	d.head("the provider refunds its customer and reverses %s", reports[2].id)
	rv, err := provider.ReverseUsage(pctx, &v1.ReverseUsageRequest{Target: &v1.ReverseUsageRequest_RequestId{RequestId: reports[2].id}, Reason: "customer refund, ticket 4711"})
	if err != nil {
		return fmt.Errorf("ReverseUsage: %w", err)
	}
	d.say("    reversal transaction %s (reason %q): every posting of %s booked in the opposite direction", rv.GetUsage().GetReversalTransactionId(), rv.GetUsage().GetReversalReason(), rv.GetUsage().GetTransactionId())
	_, err = provider.ReverseUsage(pctx, &v1.ReverseUsageRequest{Target: &v1.ReverseUsageRequest_RequestId{RequestId: reports[2].id}, Reason: "again"})
	d.say("    reversing it again with another reason is refused: %v", err)

	d.head("the contributor requests a payout of everything available")
	bal, err := contrib.GetBalance(cctx, &v1.GetBalanceRequest{})
	if err != nil {
		return err
	}
	for _, b := range bal.GetBalances() {
		d.say("    balance %s %s, available %s", b.GetBalance().GetAmount(), b.GetBalance().GetCurrency(), b.GetAvailable().GetAmount())
	}
	po, err := contrib.RequestPayout(cctx, &v1.RequestPayoutRequest{RequestId: "payout-1", Currency: "USD"})
	if err != nil {
		return fmt.Errorf("RequestPayout: %w", err)
	}
	d.say("    paid out %s %s in transaction %s; %s %s remains (below one cent)", po.GetPayout().GetAmount().GetAmount(), po.GetPayout().GetAmount().GetCurrency(),
		po.GetPayout().GetTransactionId(), po.GetPayout().GetRemaining().GetAmount(), po.GetPayout().GetRemaining().GetCurrency())

	if err := d.printBalances(ctx, identity, b.author, c.author); err != nil {
		return err
	}
	if err := d.printStatement(ctx); err != nil {
		return err
	}
	if err := d.feedbackStory(ctx); err != nil {
		return err
	}
	return d.audit(ctx)
}

// ingestProof ingests a comment by identity that carries the challenge, the way the crawler
// would bring in the claimant's proof post.
func (d *demo) ingestProof(ctx context.Context, identity, challenge string) error {
	platform, site, author, err := indexer.ParseKey(identity)
	if err != nil {
		return err
	}
	id := indexer.PostID(platform, site, "comment/royalty-proof-1")
	actx, cancel := d.as(ctx, d.admin)
	defer cancel()
	stream, err := v1.NewIndexServiceClient(d.conn).IngestPosts(actx)
	if err != nil {
		return err
	}
	p := &v1.Post{
		Id: id, Platform: platform, Site: site, Kind: v1.PostKind_POST_KIND_COMMENT,
		Author: &v1.Identity{Platform: platform, Site: site, AuthorId: author},
		// The identity wrote this comment itself: only such a version proves a claim.
		LastEditorId: author,
		CreatedAt:    timestamppb.Now(), Url: "https://example.invalid/" + id, License: "CC BY-SA 4.0",
		Text: "I am claiming my royalty account: " + challenge,
	}
	if err := stream.Send(&v1.IngestPostsRequest{Posts: []*v1.Post{p}}); err != nil {
		return err
	}
	sum, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	if sum.GetRejected() != 0 {
		return fmt.Errorf("the proof post was rejected: %v", sum.GetErrors())
	}
	d.say("    post %s: %q", id, p.Text)
	return nil
}

func (d *demo) printUsage(u *v1.Usage) {
	d.say("    booked transaction %s: revenue %s %s, royalty %s (rate %s), provider keeps %s, unattributed %s",
		u.GetTransactionId(), u.GetRevenue().GetAmount(), u.GetRevenue().GetCurrency(), u.GetRoyalty().GetAmount(),
		u.GetRoyaltyRate(), u.GetRetained().GetAmount(), u.GetUnattributed().GetAmount())
	for _, c := range u.GetCredits() {
		to := c.GetAccount()
		if c.GetContributorId() != "" {
			to = "contributor " + c.GetContributorId() + " (owner of " + c.GetIdentityKey() + ")"
		}
		d.say("      credit %-14s share %-14s → %s", c.GetAmount(), c.GetShare(), to)
	}
	if len(u.GetCredits()) == 0 {
		d.say("      no author's words found: the whole royalty is booked as unattributed")
	}
	d.say("      %d postings, %d evidence spans", len(u.GetPostings()), len(u.GetEvidence()))
}

func (d *demo) printBalances(ctx context.Context, identities ...string) error {
	d.head("balances")
	actx, cancel := d.as(ctx, d.auditor)
	defer cancel()
	b, err := v1.NewContributorServiceClient(d.conn).GetBalance(actx, &v1.GetBalanceRequest{ContributorId: d.contributorID})
	if err != nil {
		return err
	}
	for _, x := range b.GetBalances() {
		d.say("    contributor %s: %s %s owed (%s available)", d.contributorID, x.GetBalance().GetAmount(), x.GetBalance().GetCurrency(), x.GetAvailable().GetAmount())
	}
	// Escrows are no principal's account: read them straight from the ledger.
	for i, id := range identities {
		bs, err := d.srv.parts.Ledger.Balances(ctx, ledger.EscrowAccount(id), time.Time{})
		if err != nil {
			return err
		}
		state := "unclaimed"
		if i == 0 {
			state = "claimed, released"
		}
		for _, x := range bs {
			d.say("    escrow of %s (%s): %s %s", id, state, x.Balance, x.Currency)
		}
	}
	return nil
}

func (d *demo) printStatement(ctx context.Context) error {
	d.head("the contributor's statement, newest first, with the evidence behind each credit")
	cctx, cancel := d.as(ctx, d.contributor)
	defer cancel()
	st, err := v1.NewContributorServiceClient(d.conn).ListStatement(cctx, &v1.ListStatementRequest{PageSize: 5})
	if err != nil {
		return err
	}
	for _, e := range st.GetEntries() {
		d.say("    %s  %-14s %12s %s  tx %s", e.GetCreatedAt().AsTime().Format(time.TimeOnly), e.GetKind(), e.GetAmount().GetAmount(), e.GetAmount().GetCurrency(), e.GetTransactionId())
		for _, ev := range e.GetEvidence() {
			d.say("        words %d–%d of the response: %q", ev.GetResponseWordStart(), ev.GetResponseWordEnd(), clip(ev.GetText(), 90))
			d.say("        come from post %s %s (bytes %d–%d)", ev.GetPostId(), ev.GetPostUrl(), ev.GetSourceStart(), ev.GetSourceEnd())
		}
	}
	return nil
}

// audit prints the trial balance, exports the journal as the auditor over the API, writes it
// under --out, and checks it against the trial balance.
func (d *demo) audit(ctx context.Context) error {
	d.head("trial balance (auditor)")
	actx, cancel := d.as(ctx, d.auditor)
	defer cancel()
	audit := v1.NewAuditServiceClient(d.conn)
	tb, err := audit.GetTrialBalance(actx, &v1.GetTrialBalanceRequest{})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(d.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "    account type\tcurrency\taccounts\tdebits\tcredits\tbalance\t")
	want := map[string]string{}
	for _, l := range tb.GetLines() {
		typ := strings.ToLower(strings.TrimPrefix(l.GetAccountType().String(), "ACCOUNT_TYPE_"))
		fmt.Fprintf(tw, "    %s\t%s\t%d\t%s\t%s\t%s\t\n", typ, termtext.Clean(l.GetCurrency()), l.GetAccounts(), l.GetDebits(), l.GetCredits(), l.GetBalance())
		want[typ+"/"+l.GetCurrency()] = l.GetBalance()
	}
	tw.Flush()
	for _, t := range tb.GetTotals() {
		d.say("    total %s: %s over %d postings", t.GetCurrency(), t.GetAmount(), tb.GetPostings())
	}

	d.head("the auditor exports the journal (AuditService.ExportJournal, streamed CSV)")
	if err := d.waitSealed(ctx); err != nil {
		return err
	}
	if err := os.MkdirAll(d.opts.out, 0o755); err != nil {
		return err
	}
	path, err := filepath.Abs(filepath.Join(d.opts.out, "demo-journal.csv"))
	if err != nil {
		return err
	}
	stream, err := audit.ExportJournal(actx, &v1.ExportJournalRequest{})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	chunks := 0
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("ExportJournal: %w", err)
		}
		buf.Write(m.GetChunk())
		chunks++
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return err
	}
	tot, err := csv.CheckJournal(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return fmt.Errorf("the exported journal does not balance: %w", err)
	}
	for _, k := range tot.TypeKeys() {
		if w, ok := want[k]; !ok || !decimal.RequireFromString(w).Equal(tot.ByType[k]) {
			return fmt.Errorf("the export sums to %s for %s, the trial balance says %q", tot.ByType[k], k, w)
		}
	}
	if len(tot.ByType) != len(want) {
		return fmt.Errorf("the export has %d account types, the trial balance %d", len(tot.ByType), len(want))
	}
	d.say("    wrote %s (%d bytes in %d chunks; kept after the demo)", path, buf.Len(), chunks)
	d.say("    checked: %d postings in %d transactions; every transaction and every currency sums to 0;", tot.Rows, tot.Transactions)
	d.say("    the sums per account type equal the trial balance to the last digit")
	var out bytes.Buffer
	cli := strings.TrimSuffix(path, ".csv") + "-cli.csv"
	if err := run(ctx, []string{"export", "journal", "--out", cli, "--database-url", d.cfg.DatabaseURL, "--log-level", "error"}, &out, d.stderr); err != nil {
		return err
	}
	same, err := os.ReadFile(cli)
	if err != nil {
		return err
	}
	if !bytes.Equal(same, buf.Bytes()) {
		return fmt.Errorf("royalty export journal wrote a different file than ExportJournal")
	}
	d.say("    `royalty export journal --out %s` writes the identical file", cli)
	return d.verifyJournal(ctx, path)
}

func claimStatus(c *v1.Claim) string {
	return strings.ToLower(strings.TrimPrefix(c.GetStatus().String(), "CLAIM_STATUS_"))
}

func moneys(ms []*v1.Money) string {
	if len(ms) == 0 {
		return "nothing (no royalties were waiting)"
	}
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.GetAmount() + " " + m.GetCurrency()
	}
	return strings.Join(parts, ", ")
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
