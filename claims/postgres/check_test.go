package postgres_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/claims/profile"
)

// TestCheckClaimByProfile proves a claim through the identity's "about me", read from a local
// server serving a recorded Stack Exchange profile page; the challenge in a post title shown on
// the same page does not count.
func TestCheckClaimByProfile(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	page, err := os.ReadFile("../profile/testdata/stackexchange_user.html")
	if err != nil {
		t.Fatal(err)
	}
	var about, title string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/bicycles.stackexchange.com/users/42" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(strings.NewReplacer("{{about}}", about, "{{post_title}}", title).Replace(string(page))))
	}))
	defer srv.Close()
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	fetch, err := profile.New(profile.Config{StackExchangeURL: srv.URL + "/{host}/users/{id}", Timeout: 5 * time.Second,
		AllowAddress: func(ap netip.AddrPort) bool { return ap == addr }})
	if err != nil {
		t.Fatal(err)
	}
	f.svc.WithProfiles(fetch)

	// The identity given as its profile URL is normalised.
	c, err := f.svc.Start(ctx, f.alice, "https://bicycles.stackexchange.com/users/42/ana-wheel")
	if err != nil || c.IdentityKey != f.identity {
		t.Fatalf("Start = %+v, %v; want a claim on %s", c, err, f.identity)
	}
	ins := f.svc.Instructions(c)
	if !strings.Contains(ins, c.Challenge) || !strings.Contains(ins, srv.URL+"/bicycles.stackexchange.com/users/42") || !strings.Contains(ins, "About me") {
		t.Fatalf("instructions do not say where to paste the challenge: %s", ins)
	}
	if _, err := f.svc.Check(ctx, f.bob, c.ID); royalty.ErrorCode(err) != royalty.ENOTFOUND {
		t.Fatalf("another contributor's check: %v", err)
	}
	title = "Cleaning a chain " + c.Challenge
	if _, err := f.svc.Check(ctx, f.alice, c.ID); royalty.ErrorCode(err) != royalty.EPRECONDITION || !strings.Contains(err.Error(), "About me") {
		t.Fatalf("check with the challenge only in a post title: %v", err)
	}
	if got, _ := f.svc.Get(ctx, c.ID); got.Status != claims.StatusPending {
		t.Fatalf("claim = %+v, want pending", got)
	}
	about = "It's me: " + c.Challenge
	v, err := f.svc.Check(ctx, f.alice, c.ID)
	if err != nil || v.Status != claims.StatusVerified || v.ProofKind != claims.ProofProfile || v.DecidedBy != "profile:"+srv.URL+"/bicycles.stackexchange.com/users/42" || v.ReleasePending() {
		t.Fatalf("check with the challenge in the about me = %+v, %v", v, err)
	}
	if n := f.rel.calls[f.identity+"→"+f.alice]; n != 1 {
		t.Fatalf("release called %d times", n)
	}
	if again, err := f.svc.Check(ctx, f.alice, c.ID); err != nil || again.ID != c.ID || again.Status != claims.StatusVerified {
		t.Fatalf("checking a verified claim = %+v, %v", again, err)
	}
	other, err := f.svc.Start(ctx, f.bob, "forum:s/bo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Check(ctx, f.bob, other.ID); royalty.ErrorCode(err) != royalty.EUNIMPLEMENTED {
		t.Fatalf("check on a platform without profiles: %v", err)
	}
}
