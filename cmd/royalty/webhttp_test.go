package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/internal/pgtest"
	"github.com/openroyalty/royalty/internal/repo"
	"github.com/openroyalty/royalty/ledger/journal"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// lockedBuffer collects the server's log lines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// webServer is a server as `royalty serve` runs it, on a fresh database, logging at info.
type webServer struct {
	*runningServer
	base   string
	logs   *lockedBuffer
	signer *journal.Signer
}

func startWebServer(t *testing.T, ctx context.Context) *webServer {
	t.Helper()
	return startWebServerOn(t, ctx, pgtest.NewDatabase(t), nil)
}

// startWebServerOn starts a server on the database at dbURL (another replica when one runs on
// it already), with its config changed by set when not nil.
func startWebServerOn(t *testing.T, ctx context.Context, dbURL string, set func(*config)) *webServer {
	t.Helper()
	dataDir := t.TempDir()
	cfg := &config{DatabaseURL: dbURL, GRPCAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", DataDir: dataDir,
		LogFormat: "text", LogLevel: "info", SealInterval: 100 * time.Millisecond, SigningKeyFile: filepath.Join(dataDir, "key.pem")}
	if set != nil {
		set(cfg)
	}
	signer, err := writeSigningKey(cfg.SigningKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	logger, err := newLogger(cfg, logs)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := startServer(ctx, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(10 * time.Second) })
	return &webServer{runningServer: srv, base: strings.TrimSuffix(srv.WebURL(), "/"), logs: logs, signer: signer}
}

// browser is one person's cookie jar against the web app.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (s *webServer) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: s.base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (b *browser) do(req *http.Request) (int, string, http.Header) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	code, body, _ := b.do(req)
	return code, body
}

// post submits a form as the app's own pages do (same origin).
func (b *browser) post(path string, form url.Values) (int, string, http.Header) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	return b.do(req)
}

// login logs in with key and checks that it landed on the role's first page.
func (b *browser) login(key, landing string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+"/login", strings.NewReader(url.Values{"key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != landing {
		b.t.Fatalf("login: %s at %s, want 200 at %s", resp.Status, resp.Request.URL.Path, landing)
	}
}

func (s *webServer) principal(t *testing.T, ctx context.Context, name string, role auth.Role) (auth.Principal, string) {
	t.Helper()
	p, _, key, err := s.parts.Auth.CreatePrincipal(ctx, name, role)
	if err != nil {
		t.Fatal(err)
	}
	return p, key
}

// TestWebReauth: a session proves the key at login; within ReauthWithin the payout destination
// changes without it; once that is older the change is refused with a re-auth form until the
// key is entered again (a wrong or someone else's key does not do); every change is recorded
// with its session, and the key appears in no log line.
func TestWebReauth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startWebServer(t, ctx)
	ana, anaKey := s.principal(t, ctx, "Ana", auth.RoleContributor)
	_, bobKey := s.principal(t, ctx, "Bob", auth.RoleContributor)
	b := s.browser(t)
	b.login(anaKey, "/me")
	destinations := func() []string {
		t.Helper()
		rows, err := s.pool.Query(ctx, `SELECT destination FROM payout_destinations WHERE contributor_id = $1 ORDER BY created_at`, ana.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				t.Fatal(err)
			}
			out = append(out, d)
		}
		return out
	}
	age := func() {
		t.Helper()
		if _, err := s.pool.Exec(ctx, `UPDATE web_sessions SET auth_at = now() - interval '11 minutes' WHERE principal_id = $1`, ana.ID); err != nil {
			t.Fatal(err)
		}
	}

	// Just logged in: no key asked.
	if code, body := b.get("/payouts"); code != 200 || strings.Contains(body, `id="dkey"`) {
		t.Fatalf("fresh session's payouts page: %d, asks for the key: %t", code, strings.Contains(body, `id="dkey"`))
	}
	if code, body, _ := b.post("/payouts/destination", url.Values{"destination": {"ana@example.org"}}); code != 200 || !strings.Contains(body, "Payout destination changed") {
		t.Fatalf("change in a fresh session: %d\n%s", code, body)
	}

	// Eleven minutes later (past the default 10): the re-auth form, and no change.
	age()
	if code, body := b.get("/payouts"); code != 200 || !strings.Contains(body, `id="dkey"`) {
		t.Fatalf("stale session's payouts page: %d, asks for the key: %t", code, strings.Contains(body, `id="dkey"`))
	}
	code, body, _ := b.post("/payouts/destination", url.Values{"destination": {"DE89370400440532013000"}})
	if code != http.StatusUnauthorized || !strings.Contains(body, `id="reauth"`) || !strings.Contains(body, `id="dkey"`) || !strings.Contains(body, "DE89370400440532013000") {
		t.Fatalf("change in a stale session: %d\n%s", code, body)
	}
	for _, k := range []string{bobKey, "rk_live_not-a-key", anaKey + "x"} {
		if code, _, _ := b.post("/payouts/destination", url.Values{"destination": {"DE89370400440532013000"}, "key": {k}}); code != http.StatusUnauthorized {
			t.Errorf("change with a wrong key: %d, want 401", code)
		}
	}
	if got := destinations(); len(got) != 1 {
		t.Fatalf("refused changes were recorded: %v", got)
	}

	// The key entered again: the change goes through, and the session is fresh again.
	if code, body, _ := b.post("/payouts/destination", url.Values{"destination": {"DE89370400440532013000"}, "key": {anaKey}}); code != 200 || !strings.Contains(body, "Payout destination changed") || strings.Contains(body, `id="dkey"`) {
		t.Fatalf("change with the key: %d\n%s", code, body)
	}
	if code, _, _ := b.post("/payouts/destination", url.Values{"destination": {"ana@example.net"}}); code != 200 {
		t.Fatalf("change right after re-entering the key: %d", code)
	}
	if got := destinations(); strings.Join(got, ",") != "ana@example.org,DE89370400440532013000,ana@example.net" {
		t.Fatalf("recorded destinations %v", got)
	}
	var unattributed int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM payout_destinations d WHERE NOT EXISTS (SELECT 1 FROM web_sessions w WHERE w.id_hash = d.session_hash AND w.principal_id = d.contributor_id)`).Scan(&unattributed); err != nil || unattributed != 0 {
		t.Fatalf("%d changes name no session of theirs (%v)", unattributed, err)
	}

	// A logged-out browser is sent to the login page, not allowed to change anything.
	if code, body, _ := s.browser(t).post("/payouts/destination", url.Values{"destination": {"eve@example.org"}, "key": {anaKey}}); code != 200 || !strings.Contains(body, `action="/login"`) {
		t.Fatalf("logged out: %d", code)
	}
	if got := destinations(); len(got) != 3 {
		t.Fatalf("a logged-out post changed the destination: %v", got)
	}
	logs := s.logs.String()
	for _, k := range []string{anaKey, bobKey} {
		if strings.Contains(logs, k) || strings.Contains(logs, k[len(k)-12:]) {
			t.Errorf("an API key is in the log:\n%s", logs)
		}
	}
	if !strings.Contains(logs, "payout destination changed") {
		t.Errorf("the changes were not logged:\n%s", logs)
	}
}

// TestWebLoginRateLimit: after the allowed attempts from one address, logins are refused with
// 429 and a page saying why, even with a valid key.
func TestWebLoginRateLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startWebServer(t, ctx)
	_, key := s.principal(t, ctx, "Ana", auth.RoleContributor)
	b := s.browser(t)
	for i := range 10 { // web.Deps.LoginsPerMinute's default
		if code, body, _ := b.post("/login", url.Values{"key": {"rk_live_wrong"}}); code != http.StatusUnauthorized || !strings.Contains(body, "not valid") {
			t.Fatalf("attempt %d: %d, want 401\n%s", i+1, code, body)
		}
	}
	code, body, h := b.post("/login", url.Values{"key": {key}})
	if code != http.StatusTooManyRequests || !strings.Contains(body, "Too many login attempts") || h.Get("Retry-After") == "" {
		t.Fatalf("11th attempt: %d, Retry-After %q\n%s", code, h.Get("Retry-After"), body)
	}
	if code, body := b.get("/me"); code != 200 || !strings.Contains(body, `action="/login"`) {
		t.Fatalf("the refused login started a session: /me %d", code)
	}
}

// TestWebLoginRateLimitReplicas: two serve processes on one database share the login limit
// (--web-logins-per-minute, here from ROYALTY_WEB_LOGINS_PER_MINUTE): attempts alternate
// between them, and past the third each refuses.
func TestWebLoginRateLimitReplicas(t *testing.T) {
	t.Setenv("ROYALTY_WEB_LOGINS_PER_MINUTE", "3")
	parsed := &config{}
	cmd := serveCommand(parsed, io.Discard)
	if err := cmd.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(cmd); err != nil {
		t.Fatal(err)
	}
	web := parsed.Web
	if web.LoginsPerMinute != 3 || web.SessionTTL != 12*time.Hour || web.IdleTimeout != 30*time.Minute || web.ReauthWithin != 10*time.Minute {
		t.Fatalf("serve's web settings from the environment: %+v", web)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := pgtest.NewDatabase(t)
	set := func(c *config) { c.Web = web }
	a := startWebServerOn(t, ctx, db, set)
	b := startWebServerOn(t, ctx, db, set)
	_, key := a.principal(t, ctx, "Ana", auth.RoleContributor)
	ba, bb := a.browser(t), b.browser(t)
	for i, br := range []*browser{ba, bb, ba} {
		if code, _, _ := br.post("/login", url.Values{"key": {"rk_live_wrong"}}); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d, want 401", i+1, code)
		}
	}
	for _, br := range []*browser{bb, ba} {
		if code, body, _ := br.post("/login", url.Values{"key": {key}}); code != http.StatusTooManyRequests || !strings.Contains(body, "Too many login attempts") {
			t.Fatalf("attempt past the shared limit on %s: %d, want 429", br.base, code)
		}
	}
}

// reportUsage reports a response reusing a sample post's words, as provider key.
func reportUsage(t *testing.T, ctx context.Context, s *webServer, key, requestID string) *v1.Usage {
	t.Helper()
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
	const copied = "Every time I ride through rain my chain starts squeaking the next morning, even though I oiled it last month."
	u, err := v1.NewProviderServiceClient(conn).ReportUsage(pctx, &v1.ReportUsageRequest{
		RequestId: requestID, ModelId: "chat", ModelVersionHash: "sha256:0123456789abcdef", InputTokens: 10, OutputTokens: 40,
		Pricing: &v1.ReportUsageRequest_Revenue{Revenue: "10.00"}, Currency: "USD",
		ResponseText: "Good question. " + copied + " Use a wet lube.",
	})
	if err != nil {
		t.Fatal(err)
	}
	return u.GetUsage()
}

func indexSample(t *testing.T, ctx context.Context, s *webServer) {
	t.Helper()
	root, _ := repo.Root()
	ingestJSONL(t, ctx, s.runningServer, filepath.Join(root, "indexer", "testdata", "sample", "posts.jsonl"))
	if err := s.parts.Readiness.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWebStaffAndProof covers the provider's /usage, the admin's /admin/claims and the
// contributor's /proof/{tx} on one server, in the order the money moves: two providers report
// usage crediting an unclaimed identity; a provider sees and reverses only its own report; a
// contributor claims the identity and an admin approves it (another claim is rejected), which
// releases the escrow; the contributor downloads the release's proof, which verifies against
// the server's key, and another contributor cannot.
func TestWebStaffAndProof(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startWebServer(t, ctx)
	indexSample(t, ctx, s)
	_, acmeKey := s.principal(t, ctx, "acme", auth.RoleProvider)
	_, otherKey := s.principal(t, ctx, "other-ai", auth.RoleProvider)
	mine := reportUsage(t, ctx, s, acmeKey, "acme-1")
	mine2 := reportUsage(t, ctx, s, acmeKey, "acme-2")
	theirs := reportUsage(t, ctx, s, otherKey, "other-1")
	identity := mine.GetCredits()[0].GetIdentityKey()

	t.Run("ProviderUsage", func(t *testing.T) {
		b := s.browser(t)
		b.login(acmeKey, "/usage")
		code, body := b.get("/usage")
		if code != 200 || !strings.Contains(body, mine.GetTransactionId()) || !strings.Contains(body, mine2.GetTransactionId()) {
			t.Fatalf("/usage: %d, lists own reports: %t\n%s", code, strings.Contains(body, mine.GetTransactionId()), body)
		}
		if strings.Contains(body, theirs.GetTransactionId()) {
			t.Fatal("/usage lists another provider's report")
		}
		code, body, _ = b.post("/usage/"+theirs.GetTransactionId()+"/reverse", url.Values{"reason": {"not ours"}})
		if code != http.StatusNotFound || strings.Contains(body, "reversed") {
			t.Fatalf("reversing another provider's report: %d, want 404\n%s", code, body)
		}
		code, body, _ = b.post("/usage/"+mine.GetTransactionId()+"/reverse", url.Values{"reason": {"duplicate request"}})
		if code != 200 || !strings.Contains(body, "Usage report acme-1 reversed") || !strings.Contains(body, "reversal: duplicate request") {
			t.Fatalf("reversing its own report: %d\n%s", code, body)
		}
		if code, _, _ := b.post("/usage/"+mine.GetTransactionId()+"/reverse", url.Values{"reason": {"again"}}); code == 200 {
			t.Fatal("a report was reversed twice")
		}
		// The other provider's report is untouched.
		o := s.browser(t)
		o.login(otherKey, "/usage")
		if _, body := o.get("/usage"); !strings.Contains(body, theirs.GetTransactionId()) || strings.Contains(body, "reversal") {
			t.Fatalf("the other provider's page:\n%s", body)
		}
		// A contributor has no /usage page.
		_, ck := s.principal(t, ctx, "Cy", auth.RoleContributor)
		c := s.browser(t)
		c.login(ck, "/me")
		if code, _ := c.get("/usage"); code != http.StatusForbidden {
			t.Fatalf("contributor /usage: %d, want 403", code)
		}
	})

	ana, anaKey := s.principal(t, ctx, "Ana", auth.RoleContributor)
	bob, bobKey := s.principal(t, ctx, "Bob", auth.RoleContributor)
	anaClaim, err := s.parts.Claims.Start(ctx, ana.ID, identity)
	if err != nil {
		t.Fatal(err)
	}
	bobClaim, err := s.parts.Claims.Start(ctx, bob.ID, "forum:elsewhere.example/bob")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("AdminClaims", func(t *testing.T) {
		c := s.browser(t)
		c.login(anaKey, "/me")
		if code, _ := c.get("/admin/claims"); code != http.StatusForbidden {
			t.Errorf("contributor GET /admin/claims: %d, want 403", code)
		}
		if code, _, _ := c.post("/admin/claims/"+anaClaim.ID, url.Values{"decision": {"approve"}, "reason": {"me"}}); code != http.StatusForbidden {
			t.Errorf("contributor approving its own claim: %d, want 403", code)
		}
		_, auditorKey := s.principal(t, ctx, "audit", auth.RoleAuditor)
		au := s.browser(t)
		au.login(auditorKey, "/audit")
		if code, _, _ := au.post("/admin/claims/"+anaClaim.ID, url.Values{"decision": {"approve"}, "reason": {"x"}}); code != http.StatusForbidden {
			t.Errorf("auditor approving a claim: %d, want 403", code)
		}
		if got, _ := s.parts.Claims.Get(ctx, anaClaim.ID); got.Status != "pending" {
			t.Fatalf("a non-admin decided the claim: %s", got.Status)
		}

		_, adminKey := s.principal(t, ctx, "root", auth.RoleAdmin)
		a := s.browser(t)
		a.login(adminKey, "/admin/claims")
		code, body := a.get("/admin/claims")
		if code != 200 || !strings.Contains(body, anaClaim.ID) || !strings.Contains(body, bobClaim.ID) {
			t.Fatalf("queue: %d\n%s", code, body)
		}
		if code, body, _ := a.post("/admin/claims/"+bobClaim.ID, url.Values{"decision": {"maybe"}, "reason": {"x"}}); code != http.StatusBadRequest {
			t.Errorf("decision maybe: %d, want 400\n%s", code, body)
		}
		code, body, _ = a.post("/admin/claims/"+bobClaim.ID, url.Values{"decision": {"reject"}, "reason": {"no such account"}})
		if code != 200 || !strings.Contains(body, "decided: reject") || strings.Contains(body, bobClaim.ID+`"`) {
			t.Fatalf("reject: %d\n%s", code, body)
		}
		code, body, _ = a.post("/admin/claims/"+anaClaim.ID, url.Values{"decision": {"approve"}, "reason": {"checked by video call"}})
		if code != 200 || !strings.Contains(body, "decided: approve") || !strings.Contains(body, "No pending claims") {
			t.Fatalf("approve: %d\n%s", code, body)
		}
		if code, _, _ := a.post("/admin/claims/"+anaClaim.ID, url.Values{"decision": {"reject"}, "reason": {"changed my mind"}}); code != http.StatusConflict {
			t.Errorf("deciding a decided claim: %d, want 409", code)
		}
		got, err := s.parts.Claims.Get(ctx, anaClaim.ID)
		if err != nil || got.Status != "verified" || got.ReleaseTransactionID == "" {
			t.Fatalf("approved claim: %+v, %v", got, err)
		}
		if got, _ := s.parts.Claims.Get(ctx, bobClaim.ID); got.Status != "rejected" {
			t.Fatalf("rejected claim: %s", got.Status)
		}
	})

	// The statement shows each credit the release moved with the whole model response, the
	// matched words marked; a report booked before responses were stored (no row) shows its
	// credited words, as before.
	t.Run("Statement", func(t *testing.T) {
		if _, err := s.pool.Exec(ctx, `DELETE FROM ledger_usage_responses WHERE transaction_id = $1`, mine2.GetTransactionId()); err != nil {
			t.Fatal(err)
		}
		c := s.browser(t)
		c.login(anaKey, "/me")
		code, body := c.get("/statement")
		if code != 200 || !strings.Contains(body, "escrow_release") || !strings.Contains(body, mine.GetTransactionId()) || !strings.Contains(body, mine2.GetTransactionId()) {
			t.Fatalf("/statement: %d\n%s", code, body)
		}
		whole := regexp.MustCompile(`<h3>Model response</h3><p>Good question\. [^<]*<mark>[^<]+</mark>.* Use a wet lube\.</p>`)
		if !whole.MatchString(body) {
			t.Errorf("the statement does not show the whole response with the evidence marked:\n%s", body)
		}
		if !strings.Contains(body, "<h3>Model response (the credited words)</h3>") {
			t.Errorf("the report without a stored response is not shown by its credited words:\n%s", body)
		}
		for _, tx := range []string{mine.GetTransactionId(), mine2.GetTransactionId()} {
			if !strings.Contains(body, `href="/proof/`+tx+`"`) {
				t.Errorf("no proof link for the moved credit %s", tx)
			}
		}
	})

	t.Run("Proof", func(t *testing.T) {
		got, err := s.parts.Claims.Get(ctx, anaClaim.ID)
		if err != nil || got.ReleaseTransactionID == "" {
			t.Fatalf("the claim was not approved: %+v, %v", got, err)
		}
		tx := got.ReleaseTransactionID
		c := s.browser(t)
		c.login(anaKey, "/me")
		var code int
		var body string
		var h http.Header
		for deadline := time.Now().Add(30 * time.Second); ; { // until the sealer covers it
			req, _ := http.NewRequest(http.MethodGet, c.base+"/proof/"+tx, nil)
			code, body, h = c.do(req)
			if code != http.StatusNotFound || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if code != 200 || !strings.Contains(h.Get("Content-Disposition"), "attachment") {
			t.Fatalf("proof download: %d %v\n%s", code, h, body)
		}
		// As `royalty verify proof FILE --pubkey KEY` checks it.
		var p journal.InclusionProof
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		e, err := p.Verify(journal.NewKeys(s.signer.PublicKey()))
		if err != nil || e.TransactionID != tx {
			t.Fatalf("the downloaded proof: %v (transaction %q, want %q)", err, e.TransactionID, tx)
		}
		other, err := journal.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Verify(journal.NewKeys(other.Public().(ed25519.PublicKey))); err == nil {
			t.Fatal("the proof verifies against a key the server does not hold")
		}

		b := s.browser(t)
		b.login(bobKey, "/me")
		if code, body := b.get("/proof/" + tx); code != http.StatusNotFound || strings.Contains(body, `"leaf`) {
			t.Fatalf("another contributor's proof: %d, want 404\n%.300s", code, body)
		}
		// The credits the release moved were booked to the identity's escrow; its owner now
		// downloads their proofs too, another contributor cannot.
		moved := mine2.GetTransactionId()
		req, _ := http.NewRequest(http.MethodGet, c.base+"/proof/"+moved, nil)
		if code, body, _ := c.do(req); code != 200 {
			t.Fatalf("proof of a moved credit: %d\n%s", code, body)
		} else if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		} else if e, err := p.Verify(journal.NewKeys(s.signer.PublicKey())); err != nil || e.TransactionID != moved {
			t.Fatalf("the moved credit's proof: %v (transaction %q)", err, e.TransactionID)
		}
		if code, _ := b.get("/proof/" + moved); code != http.StatusNotFound {
			t.Fatalf("another contributor's moved credit's proof: %d, want 404", code)
		}
		// The provider whose report fed the escrow is not a party to the release.
		pb := s.browser(t)
		pb.login(acmeKey, "/usage")
		if code, _ := pb.get("/proof/" + tx); code != http.StatusForbidden {
			t.Fatalf("provider GET /proof: %d, want 403", code)
		}
	})
}

// TestWebSessionCookie: the cookie holds 32 random bytes, the database only their SHA-256; the
// cookie is HttpOnly and SameSite=Lax; logout revokes the session server-side, so a copy of the
// cookie kept from before is refused afterwards.
func TestWebSessionCookie(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startWebServer(t, ctx)
	ana, key := s.principal(t, ctx, "Ana", auth.RoleContributor)
	b := s.browser(t)
	req, _ := http.NewRequest(http.MethodPost, s.base+"/login", strings.NewReader(url.Values{"key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == "royalty_session" {
			c = k
		}
	}
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Fatalf("session cookie %+v", c)
	}
	id, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(id) != 32 {
		t.Fatalf("cookie value %q: %v", c.Value, err)
	}
	sum := sha256.Sum256(id)
	var n, raw int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE id_hash = $1), count(*) FILTER (WHERE position($2 in id_hash) > 0 OR (w.*)::TEXT LIKE '%' || $3 || '%')
		FROM web_sessions w WHERE principal_id = $4`, sum[:], id, c.Value, ana.ID).Scan(&n, &raw); err != nil {
		t.Fatal(err)
	}
	if n != 1 || raw != 0 {
		t.Fatalf("%d rows hold the id's hash (want 1), %d the id itself (want 0)", n, raw)
	}

	u, _ := url.Parse(s.base)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
	if code, body := b.get("/me"); code != 200 || !strings.Contains(body, `id="bal"`) {
		t.Fatalf("/me with the cookie: %d", code)
	}
	if code, _, _ := b.post("/logout", nil); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	var revoked bool
	if err := s.pool.QueryRow(ctx, `SELECT revoked_at IS NOT NULL FROM web_sessions WHERE id_hash = $1`, sum[:]).Scan(&revoked); err != nil || !revoked {
		t.Fatalf("after logout the session is revoked: %t (%v)", revoked, err)
	}
	old := s.browser(t)
	old.c.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
	if code, body := old.get("/me"); code != 200 || !strings.Contains(body, `action="/login"`) {
		t.Fatalf("/me with the cookie kept from before logout: %d, not the login page", code)
	}
}
