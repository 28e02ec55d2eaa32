package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/journal"
)

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	data := map[string]any{}
	if a.PostCount != nil {
		if n, err := a.PostCount(); err == nil {
			data["Posts"] = n
		}
	}
	tb, err := a.Ledger.TrialBalance(ctx, a.Now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// What contributors and escrows were credited, net of reversals, payouts included: minus
	// the sum of the contributor, escrow and payout clearing balances (credits are negative).
	credited := map[string]decimal.Decimal{}
	var currencies []string
	contributors := 0
	for _, l := range tb.Lines {
		switch l.Type {
		case ledger.AccountContributor, ledger.AccountIdentityEscrow, ledger.AccountPayoutClearing:
			if _, ok := credited[l.Currency]; !ok {
				currencies = append(currencies, l.Currency)
			}
			credited[l.Currency] = credited[l.Currency].Sub(l.Balance)
		}
		if l.Type == ledger.AccountContributor {
			contributors = max(contributors, l.Accounts)
		}
	}
	var totals []ledger.Money
	for _, c := range currencies {
		totals = append(totals, ledger.Money{Amount: credited[c], Currency: c})
	}
	data["Credited"], data["Contributors"] = totals, contributors
	if cp, ok, err := a.Journal.Latest(ctx); err != nil {
		a.fail(w, r, err)
		return
	} else if ok {
		data["Checkpoint"] = cp
	}
	a.render(w, r, http.StatusOK, "home", data)
}

// searchPage is one page of search hits.
const searchPage = 20

func (a *app) search(w http.ResponseWriter, r *http.Request) {
	q := indexer.Query{
		Text: r.FormValue("q"), Author: strings.TrimSpace(r.FormValue("author")),
		Site: strings.TrimSpace(r.FormValue("site")), Platform: strings.TrimSpace(r.FormValue("platform")), Size: searchPage,
	}
	page, _ := strconv.Atoi(r.FormValue("page"))
	page = max(page, 1)
	q.From = (page - 1) * searchPage
	data := map[string]any{"Q": q}
	if q.Text == "" && q.Author == "" && q.Site == "" && q.Platform == "" {
		a.render(w, r, http.StatusOK, "search", data)
		return
	}
	res, err := a.Index.Search(r.Context(), q)
	if royalty.ErrorCode(err) == royalty.EINVALID {
		data["Error"] = royalty.ErrorMessage(err)
		a.render(w, r, http.StatusBadRequest, "search", data)
		return
	} else if err != nil {
		a.fail(w, r, err)
		return
	}
	type hit struct {
		indexer.Hit
		Snippet any
	}
	hits := make([]hit, len(res.Hits))
	for i, h := range res.Hits {
		hits[i] = hit{Hit: h, Snippet: marked(h.Snippet, matches(h.Snippet, q.Text))}
	}
	data["Hits"], data["Total"], data["Page"] = hits, res.Total, page
	if uint64(page*searchPage) < res.Total && page*searchPage < indexer.MaxSearchDepth {
		data["Next"] = page + 1
	}
	if page > 1 {
		data["Prev"] = page - 1
	}
	a.render(w, r, http.StatusOK, "search", data)
}

func (a *app) post(w http.ResponseWriter, r *http.Request) {
	p, err := a.Index.Post(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "post", map[string]any{"Post": p})
}

// identity is the public page of an identity: who it is, its posts, and whether it is claimed.
func (a *app) identity(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	key := r.PathValue("key")
	if err := claims.ValidateIdentityKey("identity_key", key); err != nil {
		a.fail(w, r, err)
		return
	}
	ids, err := a.Index.Store.Identities(ctx, []string{key})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id, ok := ids[key]
	if !ok {
		a.fail(w, r, royalty.FieldErrorf(royalty.ENOTFOUND, "identity_key", "no identity %q has been indexed", key))
		return
	}
	posts, err := a.Index.Search(ctx, indexer.Query{Author: key, Size: 20})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	owners, err := a.Ledger.IdentityOwners(ctx, []string{key})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	_, claimed := owners[key]
	me, _ := auth.FromContext(ctx)
	a.render(w, r, http.StatusOK, "identity", map[string]any{
		"Key": key, "Identity": id, "Posts": posts.Hits, "Total": posts.Total, "Claimed": claimed,
		"Mine": claimed && owners[key] == me.ID,
	})
}

func (a *app) transparency(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	data := map[string]any{}
	if a.JournalKey != nil {
		data["PublicKey"], data["KeyID"] = journal.EncodePublicKey(a.JournalKey), journal.KeyID(a.JournalKey)
	}
	cps, _, err := a.Journal.Checkpoints(ctx, 0, 50)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	data["Checkpoints"] = cps
	if len(cps) > 0 {
		data["Latest"] = cps[0]
	}
	a.render(w, r, http.StatusOK, "transparency", data)
}

func (a *app) registerForm(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "register", nil)
}

// register creates a contributor and shows its key, this once.
func (a *app) register(w http.ResponseWriter, r *http.Request) {
	ok, err := a.allowLogin(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !ok {
		w.Header().Set("Retry-After", "60")
		a.render(w, r, http.StatusTooManyRequests, "register", map[string]any{"Error": "Too many attempts from your address; wait a minute."})
		return
	}
	name := r.PostFormValue("name")
	if err := auth.ValidateName("name", name); err != nil {
		a.render(w, r, http.StatusBadRequest, "register", map[string]any{"Error": royalty.ErrorMessage(err), "Name": name})
		return
	}
	p, _, secret, err := a.Auth.CreatePrincipal(r.Context(), name, auth.RoleContributor)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	a.render(w, r, http.StatusOK, "key", map[string]any{"Principal": p, "Key": secret, "New": true})
}
