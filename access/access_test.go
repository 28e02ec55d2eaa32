package access_test

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/access"
	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/ledger"
)

// The principals of every table: one of each role, a second contributor and provider whose
// data the first may not see, and the zero Principal of an anonymous call.
var (
	provider    = auth.Principal{ID: "prov-1", Role: auth.RoleProvider}
	provider2   = auth.Principal{ID: "prov-2", Role: auth.RoleProvider}
	contributor = auth.Principal{ID: "cont-1", Role: auth.RoleContributor}
	other       = auth.Principal{ID: "cont-2", Role: auth.RoleContributor}
	auditor     = auth.Principal{ID: "aud-1", Role: auth.RoleAuditor}
	admin       = auth.Principal{ID: "adm-1", Role: auth.RoleAdmin}
	anonymous   = auth.Principal{}
)

// want is the outcome of one rule: a value, or an error's code, field and exact message.
type want struct {
	value   string
	code    string
	field   string
	message string
}

func check(t *testing.T, got string, err error, w want) {
	t.Helper()
	if w.code == "" {
		if err != nil || got != w.value {
			t.Fatalf("got (%q, %v), want (%q, nil)", got, err, w.value)
		}
		return
	}
	var e *royalty.Error
	if !errors.As(err, &e) {
		t.Fatalf("got (%q, %v), want a %s error", got, err, w.code)
	}
	if e.Code != w.code || e.Field != w.field || (w.message != "" && e.Message != w.message) {
		t.Fatalf("got %s/%s %q, want %s/%s %q", e.Code, e.Field, e.Message, w.code, w.field, w.message)
	}
	if got != "" {
		t.Fatalf("got %q with an error", got)
	}
}

func TestCanSeeAll(t *testing.T) {
	for _, tc := range []struct {
		p    auth.Principal
		want bool
	}{
		{provider, false}, {contributor, false}, {auditor, true}, {admin, true}, {anonymous, false},
		{auth.Principal{ID: "x", Role: "root"}, false},
	} {
		if got := access.CanSeeAll(tc.p); got != tc.want {
			t.Errorf("CanSeeAll(%+v) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestOwnContributor(t *testing.T) {
	for _, tc := range []struct {
		name      string
		p         auth.Principal
		requested string
		want      want
	}{
		{"contributor empty is itself", contributor, "", want{value: "cont-1"}},
		{"contributor names itself", contributor, "cont-1", want{value: "cont-1"}},
		{"contributor names another", contributor, "cont-2", want{code: royalty.EPERMISSION, field: "who", message: "who: a contributor may only name itself"}},
		{"auditor names one", auditor, "cont-2", want{value: "cont-2"}},
		{"admin names one", admin, "cont-1", want{value: "cont-1"}},
		{"auditor names none", auditor, "", want{code: royalty.EINVALID, field: "who", message: "who: required"}},
		{"admin names none", admin, "", want{code: royalty.EINVALID, field: "who", message: "who: required"}},
		{"provider", provider, "cont-1", want{code: royalty.EPERMISSION, field: "who"}},
		{"provider names none", provider, "", want{code: royalty.EPERMISSION, field: "who"}},
		{"anonymous", anonymous, "cont-1", want{code: royalty.EUNAUTHENTICATED, field: "who"}},
		{"contributor without id", auth.Principal{Role: auth.RoleContributor}, "", want{code: royalty.EUNAUTHENTICATED, field: "who"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := access.OwnContributor(tc.p, "who", tc.requested)
			check(t, got, err, tc.want)
		})
	}
}

func TestClaimsOf(t *testing.T) {
	for _, tc := range []struct {
		name      string
		p         auth.Principal
		requested string
		want      want
	}{
		{"contributor empty is itself", contributor, "", want{value: "cont-1"}},
		{"contributor names itself", contributor, "cont-1", want{value: "cont-1"}},
		{"contributor names another", contributor, "cont-2", want{code: royalty.EPERMISSION, field: "contributor_id", message: "contributor_id: a contributor may only name itself"}},
		{"auditor sees everyone's", auditor, "", want{value: ""}},
		{"admin sees everyone's", admin, "", want{value: ""}},
		{"auditor names one", auditor, "cont-2", want{value: "cont-2"}},
		{"admin names one", admin, "cont-1", want{value: "cont-1"}},
		{"provider", provider, "", want{code: royalty.EPERMISSION, field: "contributor_id"}},
		{"anonymous", anonymous, "", want{code: royalty.EUNAUTHENTICATED, field: "contributor_id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := access.ClaimsOf(tc.p, tc.requested)
			check(t, got, err, tc.want)
		})
	}
}

func TestClaim(t *testing.T) {
	for _, tc := range []struct {
		name  string
		p     auth.Principal
		owner string
		see   bool
	}{
		{"contributor's own", contributor, "cont-1", true},
		{"another contributor's", contributor, "cont-2", false},
		{"auditor", auditor, "cont-2", true},
		{"admin", admin, "cont-1", true},
		{"provider", provider, "cont-1", false},
		{"provider whose id is the owner's", provider, "prov-1", false},
		{"anonymous", anonymous, "cont-1", false},
		{"anonymous, unowned", anonymous, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := access.CanSeeClaim(tc.p, tc.owner); got != tc.see {
				t.Fatalf("CanSeeClaim = %v, want %v", got, tc.see)
			}
			w := want{}
			if !tc.see {
				w = want{code: royalty.ENOTFOUND, field: "claim_id", message: `claim_id: no claim "c-9"`}
			}
			check(t, "", access.CheckClaim(tc.p, "c-9", tc.owner), w)
		})
	}
}

func TestProof(t *testing.T) {
	mine := []string{ledger.ContributorAccount("cont-1"), "provider:prov-1"}
	theirs := []string{ledger.ContributorAccount("cont-2"), "provider:prov-1"}
	escrow := []string{ledger.EscrowAccount("hn:/cont-1"), "provider:prov-1"}
	for _, tc := range []struct {
		name     string
		p        auth.Principal
		accounts []string
		prove    bool
	}{
		{"contributor, own posting", contributor, mine, true},
		{"contributor, another's posting", contributor, theirs, false},
		{"contributor, escrow only", contributor, escrow, false},
		{"contributor, no postings (leaf data unreadable)", contributor, nil, false},
		{"auditor, any", auditor, theirs, true},
		{"admin, any", admin, nil, true},
		{"provider, its own report", provider, mine, true},
		{"provider, its retained share", provider, []string{ledger.ProviderRetainedAccount("prov-1")}, true},
		{"provider, another provider's report", provider, []string{ledger.ContributorAccount("cont-1"), ledger.ProviderAccount("prov-2")}, false},
		{"anonymous", anonymous, mine, false},
		{"anonymous, empty contributor account", anonymous, []string{ledger.ContributorAccount("")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := access.CanProve(tc.p, tc.accounts); got != tc.prove {
				t.Fatalf("CanProve = %v, want %v", got, tc.prove)
			}
			w := want{}
			if !tc.prove {
				w = want{code: royalty.ENOTFOUND, field: "transaction_id",
					message: "transaction_id: transaction t-9 is not in the journal (it does not exist or is not sealed yet; sealing takes a few seconds)"}
			}
			check(t, "", access.CheckProof(tc.p, "t-9", tc.accounts), w)
		})
	}
}

// principals is an in-memory access.Principals; a principal with id "down" fails to read.
type principals map[string]auth.Principal

func (m principals) GetPrincipal(_ context.Context, id string) (auth.Principal, error) {
	if id == "down" {
		return auth.Principal{}, royalty.Errorf(royalty.EUNAVAILABLE, "database down")
	}
	p, ok := m[id]
	if !ok {
		return auth.Principal{}, royalty.Errorf(royalty.ENOTFOUND, "no principal %q", id)
	}
	return p, nil
}

// owners is an in-memory access.Owners; it fails when err is set.
type owners struct {
	byKey map[string]string
	err   error
}

func (o owners) IdentityOwners(_ context.Context, keys []string) (map[string]string, error) {
	if o.err != nil {
		return nil, o.err
	}
	out := map[string]string{}
	for _, k := range keys {
		if c, ok := o.byKey[k]; ok {
			out[k] = c
		}
	}
	return out, nil
}

func testRules() access.Rules {
	ps := principals{}
	for _, p := range []auth.Principal{provider, provider2, contributor, other, auditor, admin} {
		ps[p.ID] = p
	}
	return access.Rules{
		Principals: ps,
		Owners:     owners{byKey: map[string]string{keyMine: "cont-1", keyTheirs: "cont-2"}},
		Usages:     usages{},
	}
}

const (
	keyMine      = "hn:/alice"
	keyTheirs    = "hn:/bob"
	keyUnclaimed = "hn:/carol"
)

// TestRulesProof: Rules.CheckProof also lets a contributor prove transactions on the escrow of
// an identity it owns (the credits a release moved to it), never another's or an unclaimed one;
// the Owners' error is returned, and the other callers get CheckProof's answer.
func TestRulesProof(t *testing.T) {
	r := testRules()
	esc := func(key string) []string {
		return []string{ledger.EscrowAccount(key), ledger.ProviderAccount("prov-1")}
	}
	denied := want{code: royalty.ENOTFOUND, field: "transaction_id"}
	for _, tc := range []struct {
		name     string
		p        auth.Principal
		accounts []string
		w        want
	}{
		{"contributor, escrow of its identity", contributor, esc(keyMine), want{}},
		{"contributor, escrow of another's identity", contributor, esc(keyTheirs), denied},
		{"contributor, escrow of an unclaimed identity", contributor, esc(keyUnclaimed), denied},
		{"contributor, malformed escrow address", contributor, []string{"escrow:nope"}, denied},
		{"contributor, own account", contributor, []string{ledger.ContributorAccount("cont-1")}, want{}},
		{"other contributor, escrow it owns", other, esc(keyTheirs), want{}},
		{"provider, escrow of an identity (its report)", provider2, esc(keyMine), denied},
		{"auditor, any escrow", auditor, esc(keyUnclaimed), want{}},
		{"anonymous", anonymous, esc(keyMine), denied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, "", r.CheckProof(context.Background(), tc.p, "t-9", tc.accounts), tc.w)
		})
	}
	down := errors.New("database down")
	r.Owners = owners{err: down}
	if err := r.CheckProof(context.Background(), contributor, "t-9", esc(keyMine)); !errors.Is(err, down) {
		t.Fatalf("owners failing: %v", err)
	}
}

func TestContributor(t *testing.T) {
	r := testRules()
	for _, tc := range []struct {
		name      string
		p         auth.Principal
		requested string
		want      want
	}{
		{"contributor is itself", contributor, "", want{value: "cont-1"}},
		{"contributor names itself", contributor, "cont-1", want{value: "cont-1"}},
		{"contributor names another", contributor, "cont-2", want{code: royalty.EPERMISSION, field: "contributor_id", message: "contributor_id: a contributor may only name itself"}},
		{"auditor names a contributor", auditor, "cont-2", want{value: "cont-2"}},
		{"admin names a contributor", admin, "cont-1", want{value: "cont-1"}},
		{"auditor names none", auditor, "", want{code: royalty.EINVALID, field: "contributor_id", message: "contributor_id: required"}},
		{"admin names a provider", admin, "prov-1", want{code: royalty.ENOTFOUND, field: "contributor_id", message: `contributor_id: no contributor "prov-1"`}},
		{"auditor names nobody", auditor, "ghost", want{code: royalty.ENOTFOUND, field: "contributor_id", message: `contributor_id: no contributor "ghost"`}},
		// A failed read answers as an absent contributor, as the handlers always did.
		{"principals unreadable", auditor, "down", want{code: royalty.ENOTFOUND, field: "contributor_id", message: `contributor_id: no contributor "down"`}},
		{"provider", provider, "cont-1", want{code: royalty.EPERMISSION, field: "contributor_id"}},
		{"anonymous", anonymous, "cont-1", want{code: royalty.EUNAUTHENTICATED, field: "contributor_id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Contributor(context.Background(), tc.p, tc.requested)
			check(t, got, err, tc.want)
		})
	}
}

func TestStatementAccount(t *testing.T) {
	r := testRules()
	notYours := func(key string) want {
		return want{code: royalty.ENOTFOUND, field: "identity_key", message: "identity_key: no identity \"" + key + "\" of yours"}
	}
	for _, tc := range []struct {
		name          string
		p             auth.Principal
		contributorID string
		key           string
		want          want
	}{
		{"contributor's account", contributor, "", "", want{value: ledger.ContributorAccount("cont-1")}},
		{"contributor names another", contributor, "cont-2", "", want{code: royalty.EPERMISSION, field: "contributor_id"}},
		{"auditor, a contributor's account", auditor, "cont-2", "", want{value: ledger.ContributorAccount("cont-2")}},
		{"admin, not a contributor", admin, "aud-1", "", want{code: royalty.ENOTFOUND, field: "contributor_id"}},
		{"auditor names none", auditor, "", "", want{code: royalty.EINVALID, field: "contributor_id"}},
		{"contributor, own identity", contributor, "", keyMine, want{value: ledger.EscrowAccount(keyMine)}},
		{"contributor, another's identity", contributor, "", keyTheirs, notYours(keyTheirs)},
		{"contributor, unclaimed identity", contributor, "", keyUnclaimed, notYours(keyUnclaimed)},
		{"other contributor, its identity", other, "", keyTheirs, want{value: ledger.EscrowAccount(keyTheirs)}},
		{"auditor, any identity", auditor, "", keyTheirs, want{value: ledger.EscrowAccount(keyTheirs)}},
		{"admin, unclaimed identity", admin, "", keyUnclaimed, want{value: ledger.EscrowAccount(keyUnclaimed)}},
		{"both fields", auditor, "cont-1", keyMine, want{code: royalty.EINVALID, field: "identity_key", message: "identity_key: give contributor_id or identity_key, not both"}},
		{"both fields, contributor", contributor, "cont-1", keyMine, want{code: royalty.EINVALID, field: "identity_key"}},
		{"malformed key", contributor, "", "not a key", want{code: royalty.EINVALID, field: "identity_key"}},
		{"provider, identity", provider, "", keyMine, want{code: royalty.EPERMISSION, field: "identity_key"}},
		{"provider, account", provider, "cont-1", "", want{code: royalty.EPERMISSION, field: "contributor_id"}},
		{"anonymous, identity", anonymous, "", keyMine, want{code: royalty.EUNAUTHENTICATED, field: "identity_key"}},
		{"anonymous, account", anonymous, "", "", want{code: royalty.EUNAUTHENTICATED, field: "contributor_id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.StatementAccount(context.Background(), tc.p, tc.contributorID, tc.key)
			check(t, got, err, tc.want)
		})
	}

	t.Run("owners unreadable", func(t *testing.T) {
		r := testRules()
		down := royalty.Errorf(royalty.EUNAVAILABLE, "database down")
		r.Owners = owners{err: down}
		if _, err := r.StatementAccount(context.Background(), contributor, "", keyMine); !errors.Is(err, down) {
			t.Fatalf("got %v, want the read's error", err)
		}
		// Readers do not need the owners to read an escrow.
		if got, err := r.StatementAccount(context.Background(), auditor, "", keyMine); err != nil || got != ledger.EscrowAccount(keyMine) {
			t.Fatalf("auditor: got (%q, %v)", got, err)
		}
	})
}

// usages is an in-memory access.Usages holding one report of each provider; "bad" is not a
// UUID, "down" fails to read.
type usages struct{}

var reports = []ledger.Usage{
	{TransactionID: "tx-1", ProviderID: "prov-1", RequestID: "req-a"},
	{TransactionID: "tx-2", ProviderID: "prov-2", RequestID: "req-a"},
}

func (usages) GetUsage(_ context.Context, id string) (ledger.Usage, error) {
	switch id {
	case "bad":
		return ledger.Usage{}, royalty.FieldErrorf(royalty.EINVALID, "transaction_id", "not a UUID")
	case "down":
		return ledger.Usage{}, royalty.Errorf(royalty.EUNAVAILABLE, "database down")
	}
	for _, u := range reports {
		if u.TransactionID == id {
			return u, nil
		}
	}
	return ledger.Usage{}, royalty.Errorf(royalty.ENOTFOUND, "no usage %s", id)
}

func (usages) UsageByRequest(_ context.Context, providerID, requestID string) (ledger.Usage, error) {
	for _, u := range reports {
		if u.ProviderID == providerID && u.RequestID == requestID {
			return u, nil
		}
	}
	return ledger.Usage{}, royalty.Errorf(royalty.ENOTFOUND, "nothing booked")
}

func TestUsage(t *testing.T) {
	r := testRules()
	noTx := func(id string) want {
		return want{code: royalty.ENOTFOUND, field: "transaction_id", message: "transaction_id: no usage report \"" + id + "\""}
	}
	for _, tc := range []struct {
		name string
		p    auth.Principal
		q    access.UsageQuery
		want want // value: the transaction id of the report returned
	}{
		{"provider, own by transaction", provider, access.UsageQuery{TransactionID: "tx-1"}, want{value: "tx-1"}},
		{"provider, another's by transaction", provider, access.UsageQuery{TransactionID: "tx-2"}, noTx("tx-2")},
		{"provider, absent transaction", provider, access.UsageQuery{TransactionID: "tx-9"}, noTx("tx-9")},
		{"provider, malformed transaction", provider, access.UsageQuery{TransactionID: "bad"}, want{code: royalty.EINVALID, field: "transaction_id"}},
		{"provider, read fails", provider, access.UsageQuery{TransactionID: "down"}, want{code: royalty.EUNAVAILABLE}},
		{"provider, own by request", provider, access.UsageQuery{RequestID: "req-a"}, want{value: "tx-1"}},
		{"provider, names itself", provider2, access.UsageQuery{RequestID: "req-a", ProviderID: "prov-2"}, want{value: "tx-2"}},
		{"provider, names another", provider, access.UsageQuery{RequestID: "req-a", ProviderID: "prov-2"}, want{code: royalty.EPERMISSION, field: "provider_id", message: "provider_id: a provider may only name itself"}},
		{"provider, absent request", provider, access.UsageQuery{RequestID: "req-z"}, want{code: royalty.ENOTFOUND, field: "request_id", message: `request_id: no usage report "req-z" of provider prov-1`}},
		{"provider, neither id", provider, access.UsageQuery{ProviderID: "prov-1"}, want{code: royalty.EINVALID, field: "transaction_id", message: "transaction_id: give transaction_id or request_id"}},
		{"auditor, any transaction", auditor, access.UsageQuery{TransactionID: "tx-2"}, want{value: "tx-2"}},
		{"admin, any transaction", admin, access.UsageQuery{TransactionID: "tx-1"}, want{value: "tx-1"}},
		{"auditor, absent transaction", auditor, access.UsageQuery{TransactionID: "tx-9"}, noTx("tx-9")},
		{"auditor, by request of a provider", auditor, access.UsageQuery{RequestID: "req-a", ProviderID: "prov-2"}, want{value: "tx-2"}},
		{"admin, request without provider", admin, access.UsageQuery{RequestID: "req-a"}, want{code: royalty.EINVALID, field: "provider_id", message: "provider_id: required with request_id"}},
		{"auditor, neither id", auditor, access.UsageQuery{}, want{code: royalty.EINVALID, field: "transaction_id"}},
		{"contributor", contributor, access.UsageQuery{TransactionID: "tx-1"}, want{code: royalty.EPERMISSION, field: "transaction_id"}},
		{"contributor by request", contributor, access.UsageQuery{RequestID: "req-a", ProviderID: "prov-1"}, want{code: royalty.EPERMISSION, field: "transaction_id"}},
		{"anonymous", anonymous, access.UsageQuery{TransactionID: "tx-1"}, want{code: royalty.EUNAUTHENTICATED, field: "transaction_id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := r.Usage(context.Background(), tc.p, tc.q)
			got := u.TransactionID
			if tc.want.code == royalty.EUNAVAILABLE {
				if royalty.ErrorCode(err) != royalty.EUNAVAILABLE {
					t.Fatalf("got (%q, %v), want the read's error", got, err)
				}
				return
			}
			check(t, got, err, tc.want)
		})
	}
}

// TestImports keeps access a domain package: the standard library, royalty, auth and ledger.
func TestImports(t *testing.T) {
	allowed := map[string]bool{
		"github.com/openroyalty/royalty":        true,
		"github.com/openroyalty/royalty/auth":   true,
		"github.com/openroyalty/royalty/ledger": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.Contains(path, ".") && !allowed[path] {
				t.Errorf("%s imports %s: package access may import only the standard library, royalty, auth and ledger", f, path)
			}
		}
	}
}

func TestLineageOf(t *testing.T) {
	const uuid = "7a3c5e0e-1b2d-4c5f-9a8b-0123456789ab"
	for _, tc := range []struct {
		name      string
		p         auth.Principal
		requested string
		want      want
	}{
		{"provider empty is itself", provider, "", want{value: "prov-1"}},
		{"provider names itself", provider, "prov-1", want{value: "prov-1"}},
		{"provider names another", provider, "prov-2", want{code: royalty.ENOTFOUND, field: "model_version"}},
		{"auditor names one", auditor, uuid, want{value: uuid}},
		{"admin names one", admin, uuid, want{value: uuid}},
		{"auditor names none", auditor, "", want{code: royalty.EINVALID, field: "who", message: "who: required"}},
		{"auditor names a bad id", auditor, "x", want{code: royalty.EINVALID, field: "who"}},
		{"contributor", contributor, uuid, want{code: royalty.EPERMISSION, field: "who"}},
		{"anonymous", anonymous, uuid, want{code: royalty.EUNAUTHENTICATED, field: "who"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := access.LineageOf(tc.p, "who", tc.requested)
			check(t, got, err, tc.want)
		})
	}
}
