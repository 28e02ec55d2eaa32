package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/auth"
	authpg "github.com/openroyalty/royalty/auth/postgres"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/claims/postgres"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// releaser records releases by idempotency key, like the ledger: a repeated key moves nothing.
type releaser struct {
	mu    sync.Mutex
	calls map[string]int
	fail  bool
}

func (r *releaser) ReleaseEscrow(ctx context.Context, identityKey, contributorID string) (claims.Release, error) {
	key := identityKey + "→" + contributorID
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return claims.Release{}, errors.New("ledger down")
	}
	if r.calls == nil {
		r.calls = map[string]int{}
	}
	r.calls[key]++
	return claims.Release{TransactionID: "tx-" + key, Amounts: []claims.Money{{Amount: decimal.RequireFromString("1.25"), Currency: "USD"}}}, nil
}

type fixture struct {
	svc      *claims.Service
	rel      *releaser
	alice    string
	bob      string
	identity string
}

func setup(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	as := authpg.New(pool)
	a, _, _, err := as.CreatePrincipal(ctx, "alice", auth.RoleContributor)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _, err := as.CreatePrincipal(ctx, "bob", auth.RoleContributor)
	if err != nil {
		t.Fatal(err)
	}
	rel := &releaser{}
	return fixture{svc: claims.NewService(postgres.New(pool), rel, nil), rel: rel, alice: a.ID, bob: b.ID, identity: "stackexchange:bicycles/42"}
}

func TestClaimVerifiedByPost(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	c, err := f.svc.Start(ctx, f.alice, f.identity)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.Start(ctx, f.alice, f.identity)
	if err != nil || again.ID != c.ID || again.Challenge != c.Challenge {
		t.Fatalf("second Start = %+v, %v; want the same pending claim %s", again, err, c.ID)
	}
	rival, err := f.svc.Start(ctx, f.bob, f.identity)
	if err != nil {
		t.Fatal(err)
	}
	// A post by another identity with the token, and a post by the identity without it, verify nothing.
	got, err := f.svc.PostsIngested(ctx, []claims.Post{
		{ID: "p1", AuthorKey: "stackexchange:bicycles/7", Text: "proof " + c.Challenge},
		{ID: "p2", AuthorKey: f.identity, Text: "no token here, only " + claims.ChallengePrefix},
	})
	if err != nil || len(got) != 0 {
		t.Fatalf("PostsIngested without a proof = %+v, %v", got, err)
	}
	got, err = f.svc.PostsIngested(ctx, []claims.Post{{ID: "p3", AuthorKey: f.identity, LastEditorKey: f.identity, Text: "It's me: " + c.Challenge + "."}})
	if err != nil || len(got) != 1 || got[0].ID != c.ID {
		t.Fatalf("PostsIngested with the proof = %+v, %v", got, err)
	}
	v := got[0]
	if v.Status != claims.StatusVerified || v.DecidedBy != "post:p3" || v.ProofKind != claims.ProofOwnEditPost || v.ReleaseTransactionID != "tx-"+f.identity+"→"+f.alice || len(v.Released) != 1 || !v.Released[0].Amount.Equal(decimal.RequireFromString("1.25")) {
		t.Fatalf("verified claim = %+v", v)
	}
	// Re-ingesting the proof changes nothing and releases nothing twice.
	if got, err := f.svc.PostsIngested(ctx, []claims.Post{{ID: "p3", AuthorKey: f.identity, LastEditorKey: f.identity, Text: c.Challenge}}); err != nil || len(got) != 0 {
		t.Fatalf("re-ingest = %+v, %v", got, err)
	}
	if n := f.rel.calls[f.identity+"→"+f.alice]; n != 1 {
		t.Fatalf("release called %d times", n)
	}
	r, err := f.svc.Get(ctx, rival.ID)
	if err != nil || r.Status != claims.StatusRejected {
		t.Fatalf("rival claim = %+v, %v; want rejected as superseded", r, err)
	}
	if _, err := f.svc.Start(ctx, f.bob, f.identity); royalty.ErrorCode(err) != royalty.EPRECONDITION {
		t.Fatalf("claiming an owned identity: %v", err)
	}
	if o, err := f.svc.Start(ctx, f.alice, f.identity); err != nil || o.ID != c.ID {
		t.Fatalf("owner claiming again = %+v, %v", o, err)
	}
}

func TestConcurrentApprovalsOneOwner(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	ca, err := f.svc.Start(ctx, f.alice, f.identity)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := f.svc.Start(ctx, f.bob, f.identity)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := ca.ID
			if i%2 == 1 {
				id = cb.ID
			}
			_, errs[i] = f.svc.Approve(ctx, id, "admin-1", "looks right")
		}()
	}
	wg.Wait()
	a, _ := f.svc.Get(ctx, ca.ID)
	b, _ := f.svc.Get(ctx, cb.ID)
	if (a.Status == claims.StatusVerified) == (b.Status == claims.StatusVerified) {
		t.Fatalf("want exactly one verified claim: %s %s (errors %v)", a.Status, b.Status, errs)
	}
	winner := a
	if b.Status == claims.StatusVerified {
		winner = b
	}
	for i, err := range errs {
		if err != nil && royalty.ErrorCode(err) != royalty.EPRECONDITION {
			t.Errorf("approval %d: %v", i, err)
		}
	}
	if len(f.rel.calls) != 1 || f.rel.calls[f.identity+"→"+winner.ContributorID] < 1 {
		t.Fatalf("releases = %v, want only to %s", f.rel.calls, winner.ContributorID)
	}
}

func TestResumeFinishesInterruptedRelease(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	c, err := f.svc.Start(ctx, f.alice, f.identity)
	if err != nil {
		t.Fatal(err)
	}
	f.rel.fail = true
	if _, err := f.svc.Approve(ctx, c.ID, "admin-1", ""); err == nil {
		t.Fatal("approval with the ledger down succeeded")
	}
	got, _ := f.svc.Get(ctx, c.ID)
	if !got.ReleasePending() {
		t.Fatalf("claim after failed release = %+v, want verified with the release pending", got)
	}
	f.rel.fail = false
	if n, err := f.svc.Resume(ctx); err != nil || n != 1 {
		t.Fatalf("Resume = %d, %v", n, err)
	}
	got, _ = f.svc.Get(ctx, c.ID)
	if got.ReleasePending() || got.ReleaseTransactionID == "" {
		t.Fatalf("claim after Resume = %+v", got)
	}
	if n, err := f.svc.Resume(ctx); err != nil || n != 0 {
		t.Fatalf("Resume = %d, %v", n, err)
	}
}

func TestReingestedProofFinishesInterruptedRelease(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	c, err := f.svc.Start(ctx, f.alice, f.identity)
	if err != nil {
		t.Fatal(err)
	}
	proof := []claims.Post{{ID: "p1", AuthorKey: f.identity, Kind: "comment", LastEditorKey: f.identity, Text: c.Challenge}}
	f.rel.fail = true
	if _, err := f.svc.PostsIngested(ctx, proof); err == nil {
		t.Fatal("verification with the ledger down reported no error")
	}
	f.rel.fail = false
	if _, err := f.svc.PostsIngested(ctx, proof); err != nil {
		t.Fatal(err)
	}
	got, _ := f.svc.Get(ctx, c.ID)
	if got.Status != claims.StatusVerified || got.ReleasePending() || got.DecidedBy != "post:p1" || got.ProofKind != claims.ProofComment {
		t.Fatalf("claim after re-ingest = %+v", got)
	}
}

func TestRejectAndValidation(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	c, err := f.svc.Start(ctx, f.alice, f.identity)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := f.svc.Reject(ctx, c.ID, "admin-1", "not you"); err != nil || r.Status != claims.StatusRejected || r.Note != "not you" {
		t.Fatalf("Reject = %+v, %v", r, err)
	}
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"reject twice", func() error { _, err := f.svc.Reject(ctx, c.ID, "a", ""); return err }, royalty.EPRECONDITION},
		{"approve rejected", func() error { _, err := f.svc.Approve(ctx, c.ID, "a", ""); return err }, royalty.EPRECONDITION},
		{"unknown claim", func() error {
			_, err := f.svc.Approve(ctx, "6f1c1f5e-1111-4111-8111-111111111111", "a", "")
			return err
		}, royalty.ENOTFOUND},
		{"malformed claim id", func() error { _, err := f.svc.Get(ctx, "x"); return err }, royalty.ENOTFOUND},
		{"bad identity", func() error { _, err := f.svc.Start(ctx, f.alice, "nocolon"); return err }, royalty.EINVALID},
		{"identity without author", func() error { _, err := f.svc.Start(ctx, f.alice, "hn:/"); return err }, royalty.EINVALID},
		{"unknown contributor", func() error {
			_, err := f.svc.Start(ctx, "6f1c1f5e-1111-4111-8111-111111111111", f.identity)
			return err
		}, royalty.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); royalty.ErrorCode(err) != tt.code {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
		})
	}
	// A rejected claim does not block a new one.
	if n, err := f.svc.Start(ctx, f.alice, f.identity); err != nil || n.ID == c.ID || n.Status != claims.StatusPending {
		t.Fatalf("new claim after rejection = %+v, %v", n, err)
	}
	list, next, err := f.svc.List(ctx, claims.Filter{ContributorID: f.alice, PageSize: 1})
	if err != nil || len(list) != 1 || next == "" || list[0].Status != claims.StatusPending {
		t.Fatalf("List page 1 = %+v %q %v", list, next, err)
	}
	list, next, err = f.svc.List(ctx, claims.Filter{ContributorID: f.alice, PageSize: 1, PageToken: next})
	if err != nil || len(list) != 1 || next != "" || list[0].ID != c.ID {
		t.Fatalf("List page 2 = %+v %q %v", list, next, err)
	}
}
