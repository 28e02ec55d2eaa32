package wire_test

import (
	"context"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/stackexchange"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
	"github.com/openroyalty/royalty/ledger"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// site is a Stack Exchange site assembled from the parts the server really runs on: the dump
// parser, the ingest pipeline with the claims hook, the claims service and the ledger.
type site struct {
	t      *testing.T
	parts  *wire.Parts
	dir    string
	users  string
	escrow string // the victim's identity key
}

const victimID, attackerID = "42", "99"

func newSite(t *testing.T) *site {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	ps, err := wire.Open(ctx, pool, wire.Config{IndexDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ps.Close)
	s := &site{t: t, parts: ps, dir: filepath.Join(t.TempDir(), "bicycles.stackexchange.com"),
		escrow: "stackexchange:bicycles/" + victimID}
	s.users = `<row Id="` + victimID + `" Reputation="500" CreationDate="2012-01-01T00:00:00.000" DisplayName="Victim" AccountId="1" />` + "\n" +
		`  <row Id="` + attackerID + `" Reputation="1" CreationDate="2024-01-01T00:00:00.000" DisplayName="Attacker" AccountId="2" />`
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return s
}

// crawl writes a dump holding the given Posts.xml and Comments.xml rows and ingests it, the way
// `royalty ingest` reads a new quarterly dump.
func (s *site) crawl(posts, comments string) {
	s.t.Helper()
	files := map[string]string{
		"Users.xml":    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<users>\n  " + s.users + "\n</users>\n",
		"Posts.xml":    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<posts>\n  " + posts + "\n</posts>\n",
		"Comments.xml": "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<comments>\n  " + comments + "\n</comments>\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(body), 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
	srcs, err := stackexchange.Sources([]string{s.dir}, stackexchange.Options{})
	if err != nil {
		s.t.Fatal(err)
	}
	sum, err := s.parts.Indexer.Pipeline.Run(context.Background(), indexer.Chain(srcs, indexer.Position{}), indexer.RunOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	if sum.Rejected != 0 {
		s.t.Fatalf("the dump had rejected rows: %+v", sum.Errors)
	}
}

// fund books royalties into the victim's escrow.
func (s *site) fund() {
	s.t.Helper()
	ctx := context.Background()
	provider, _, _, err := s.parts.Auth.CreatePrincipal(ctx, "acme", auth.RoleProvider)
	if err != nil {
		s.t.Fatal(err)
	}
	_, err = s.parts.Ledger.PostUsage(ctx, ledger.UsageRequest{
		ProviderID: provider.ID, RequestID: "r-1", ModelID: "m", Revenue: decimal.RequireFromString("100"), Currency: "USD",
		Shares: []ledger.Share{{IdentityKey: s.escrow, Share: big.NewRat(1, 2)}},
		Evidence: []ledger.Evidence{{IdentityKey: s.escrow, PostID: "stackexchange:bicycles/post/1", PostURL: "https://bicycles.stackexchange.com/q/1",
			ResponseStart: 0, ResponseEnd: 23, ResponseWordEnd: 4, SourceEnd: 23, Text: "wipe the chain with rag"}},
	})
	if err != nil {
		s.t.Fatal(err)
	}
}

func (s *site) balance(account string) string {
	s.t.Helper()
	bs, err := s.parts.Ledger.Balances(context.Background(), account, time.Time{})
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, b := range bs {
		out = append(out, b.Balance.String()+" "+b.Currency)
	}
	return strings.Join(out, ", ")
}

func (s *site) contributor(name string) string {
	s.t.Helper()
	p, _, _, err := s.parts.Auth.CreatePrincipal(context.Background(), name, auth.RoleContributor)
	if err != nil {
		s.t.Fatal(err)
	}
	return p.ID
}

// victimQuestion is post 1 by the victim, as the crawl finds it: never edited, then with an
// edit by lastEditor that put extra into the body.
func victimQuestion(extra, lastEditor string) string {
	edit := ""
	if lastEditor != "" {
		edit = ` LastEditorUserId="` + lastEditor + `" LastEditDate="2024-06-01T00:00:00.000"`
	}
	return `<row Id="1" PostTypeId="1" CreationDate="2012-02-01T00:00:00.000" Score="3" Body="&lt;p&gt;How do I clean a chain? Wipe the chain with a rag.` +
		extra + `&lt;/p&gt;" OwnerUserId="` + victimID + `"` + edit + ` Title="Cleaning a chain" ContentLicense="CC BY-SA 3.0" />`
}

// TestTakeoverBySomeoneElsesEdit reproduces issue 17 §1: an attacker claims the victim's
// identity, suggests an edit that puts the challenge into one of the victim's posts, and waits
// for the crawl. The edited version is the attacker's writing, not the victim's: the claim must
// stay pending and the victim's escrow must not move.
func TestTakeoverBySomeoneElsesEdit(t *testing.T) {
	ctx := context.Background()
	s := newSite(t)
	s.crawl(victimQuestion("", ""), "")
	s.fund()
	escrowBefore := s.balance(ledger.EscrowAccount(s.escrow))
	if escrowBefore == "" {
		t.Fatal("no escrow booked for the victim")
	}
	attacker := s.contributor("mallory")
	c, err := s.parts.Claims.Start(ctx, attacker, s.escrow)
	if err != nil {
		t.Fatal(err)
	}
	// The attacker's suggested edit is approved and the next dump carries it.
	s.crawl(victimQuestion(" Edit: "+c.Challenge, attackerID), "")
	post, err := s.parts.Indexer.Post(ctx, "stackexchange:bicycles/post/1")
	if err != nil || !strings.Contains(post.Text, c.Challenge) {
		t.Fatalf("the edited version was not ingested: %+v, %v", post, err)
	}
	got, err := s.parts.Claims.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != claims.StatusPending {
		t.Fatalf("the attacker's claim is %s (decided by %s) after someone else's edit of the victim's post; want pending", got.Status, got.DecidedBy)
	}
	if after := s.balance(ledger.EscrowAccount(s.escrow)); after != escrowBefore {
		t.Fatalf("the victim's escrow moved: %q, was %q", after, escrowBefore)
	}
	if b := s.balance(ledger.ContributorAccount(attacker)); b != "" {
		t.Fatalf("the attacker was paid: %s", b)
	}
}

// TestOwnWritingProves checks the proofs the rightful owner can give through the crawl: a
// comment it wrote, and a post version whose last editor is itself. Each records its kind.
func TestOwnWritingProves(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name        string
		posts       func(challenge string) string
		comments    func(challenge string) string
		wantKind    claims.ProofKind
		wantDecided string
	}{
		{"own edit", func(ch string) string { return victimQuestion(" Edit: "+ch, victimID) }, func(string) string { return "" },
			claims.ProofOwnEditPost, "post:stackexchange:bicycles/post/1"},
		{"comment", func(string) string { return victimQuestion("", "") }, func(ch string) string {
			return `<row Id="7" PostId="1" Score="0" Text="It is me: ` + ch + `" CreationDate="2024-06-01T00:00:00.000" UserId="` + victimID + `" ContentLicense="CC BY-SA 4.0" />`
		}, claims.ProofComment, "post:stackexchange:bicycles/comment/7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t)
			s.crawl(victimQuestion("", ""), "")
			s.fund()
			owner := s.contributor("victim")
			c, err := s.parts.Claims.Start(ctx, owner, s.escrow)
			if err != nil {
				t.Fatal(err)
			}
			s.crawl(tt.posts(c.Challenge), tt.comments(c.Challenge))
			got, err := s.parts.Claims.Get(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != claims.StatusVerified || got.ProofKind != tt.wantKind || got.DecidedBy != tt.wantDecided {
				t.Fatalf("claim = %s by %s (%s), want verified by %s (%s)", got.Status, got.DecidedBy, got.ProofKind, tt.wantDecided, tt.wantKind)
			}
			if b := s.balance(ledger.EscrowAccount(s.escrow)); b != "0 USD" && b != "" {
				t.Fatalf("escrow after the release: %s", b)
			}
			if b := s.balance(ledger.ContributorAccount(owner)); b == "" {
				t.Fatal("the owner received nothing")
			}
		})
	}
}

// TestUnknownEditorDoesNotProve: an edit recorded without a user id (an anonymous or deleted
// editor) may be anyone's.
func TestUnknownEditorDoesNotProve(t *testing.T) {
	ctx := context.Background()
	s := newSite(t)
	s.crawl(victimQuestion("", ""), "")
	owner := s.contributor("victim")
	c, err := s.parts.Claims.Start(ctx, owner, s.escrow)
	if err != nil {
		t.Fatal(err)
	}
	anonymous := strings.Replace(victimQuestion(" "+c.Challenge, ""), " Title=", ` LastEditorDisplayName="user313" LastEditDate="2024-06-01T00:00:00.000" Title=`, 1)
	s.crawl(anonymous, "")
	if got, err := s.parts.Claims.Get(ctx, c.ID); err != nil || got.Status != claims.StatusPending {
		t.Fatalf("claim = %+v, %v; want pending", got, err)
	}
}
