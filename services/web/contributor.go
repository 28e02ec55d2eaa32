package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/mail"
	"strings"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/access"
	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/journal"
)

func me(r *http.Request) auth.Principal {
	p, _ := auth.FromContext(r.Context())
	return p
}

func (a *app) rules() access.Rules {
	return access.Rules{Principals: a.Auth, Owners: a.Ledger, Usages: a.Ledger}
}

// escrowWaiting is the escrow of an identity a contributor has a pending claim on.
type escrowWaiting struct {
	Claim    claims.Claim
	Balances []ledger.Balance
}

func (a *app) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := a.rules().Contributor(ctx, me(r), "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	bs, err := a.Ledger.Balances(ctx, ledger.ContributorAccount(id), a.Now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cs, _, err := a.Claims.List(ctx, claims.Filter{ContributorID: id, Status: claims.StatusPending, PageSize: 100})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// The escrow an identity holds is public in effect (anyone may start a claim on it); a
	// pending claim shows what verifying it would release.
	var waiting []escrowWaiting
	for _, c := range cs {
		eb, err := a.Ledger.Balances(ctx, ledger.EscrowAccount(c.IdentityKey), a.Now())
		if err != nil {
			a.fail(w, r, err)
			return
		}
		waiting = append(waiting, escrowWaiting{Claim: c, Balances: eb})
	}
	page, err := a.Ledger.Statement(ctx, ledger.StatementQuery{Account: ledger.ContributorAccount(id), PageSize: ledger.MaxPageSize, ExpandReleases: true})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	daily := map[string]map[string]decimal.Decimal{}
	var first string
	for _, e := range page.Entries {
		if e.Kind == ledger.KindPayout {
			continue
		}
		if daily[e.Currency] == nil {
			daily[e.Currency] = map[string]decimal.Decimal{}
		}
		if first == "" {
			first = e.Currency
		}
		d := e.CreatedAt.UTC().Format("2006-01-02")
		daily[e.Currency][d] = daily[e.Currency][d].Add(e.Amount)
	}
	var charts []*chart
	for _, b := range bs {
		if c := earningsChart(b.Currency, daily[b.Currency]); c != nil {
			charts = append(charts, c)
		}
	}
	fb, fbTotals := feedbackEarnings(page.Entries)
	a.render(w, r, http.StatusOK, "dashboard", map[string]any{"Balances": bs, "Waiting": waiting, "Charts": charts,
		"Feedback": fb, "FeedbackTotals": fbTotals})
}

// feedbackEarnings picks the feedback settlement credits out of a statement: those booked to
// the contributor and those an escrow release moved from a rater identity of theirs (earned
// before the claim). Totals are per currency, in the order first seen.
func feedbackEarnings(entries []ledger.StatementEntry) ([]ledger.StatementEntry, []ledger.Money) {
	var out []ledger.StatementEntry
	var totals []ledger.Money
	add := func(e ledger.StatementEntry) {
		out = append(out, e)
		for i := range totals {
			if totals[i].Currency == e.Currency {
				totals[i].Amount = totals[i].Amount.Add(e.Amount)
				return
			}
		}
		totals = append(totals, ledger.Money{Amount: e.Amount, Currency: e.Currency})
	}
	for _, e := range entries {
		if e.Kind == ledger.KindFeedbackSettlement && e.Feedback != nil {
			add(e)
		}
		for _, x := range e.Released {
			if x.Kind == ledger.KindFeedbackSettlement && x.Feedback != nil {
				add(x)
			}
		}
	}
	return out, totals
}

// credit is a statement entry with its evidence laid out side by side; an escrow release with
// the credits it moved, laid out the same way.
type credit struct {
	ledger.StatementEntry
	Provider     string
	ModelVersion string
	Sources      []sourceView
	// Released are the credits a release moved. They are on the escrow account of the caller's
	// identity, and their inclusion proofs are the caller's to download too.
	Released []credit
}

// sourceView is one source post of a credit: the model response (or, for reports booked before
// responses were stored, its credited words) and the post's text, the matched words highlighted
// in both.
type sourceView struct {
	PostID, PostURL string
	Response        any
	Source          any
	// Whole is set when Response is the whole model response.
	Whole   bool
	Missing bool
}

func (a *app) statement(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	account, err := a.rules().StatementAccount(ctx, me(r), "", "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// Each escrow release comes with the credits it moved: they were earned by an identity of
	// the caller's, before its claim was verified.
	page, err := a.Ledger.Statement(ctx, ledger.StatementQuery{Account: account, PageToken: r.FormValue("page"), PageSize: 25, ExpandReleases: true})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	responses, err := a.responses(ctx, page.Entries)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	posts := map[string]*indexer.Post{}
	var out []credit
	for _, e := range page.Entries {
		out = append(out, a.credit(r, e, posts, responses))
	}
	a.render(w, r, http.StatusOK, "statement", map[string]any{"Entries": out, "Next": page.NextPageToken})
}

// responses reads the stored model responses of the usage credits among entries and the
// credits their releases moved, in one query.
func (a *app) responses(ctx context.Context, entries []ledger.StatementEntry) (map[string]string, error) {
	if a.Responses == nil {
		return nil, nil
	}
	var ids []string
	var walk func([]ledger.StatementEntry)
	walk = func(es []ledger.StatementEntry) {
		for _, e := range es {
			if e.Kind == ledger.KindUsage {
				ids = append(ids, e.TransactionID)
			}
			walk(e.Released)
		}
	}
	walk(entries)
	return a.Responses.UsageResponses(ctx, ids)
}

// credit lays out an entry of the caller's own statement, or one an escrow release of it moved.
func (a *app) credit(r *http.Request, e ledger.StatementEntry, posts map[string]*indexer.Post, responses map[string]string) credit {
	ctx := r.Context()
	c := credit{StatementEntry: e}
	if e.Kind == ledger.KindUsage {
		// The entry is on the caller's own statement, or moved to it by a release: its
		// provider and model version are the caller's to see.
		if u, err := a.Ledger.GetUsage(ctx, e.TransactionID); err == nil {
			c.Provider, c.ModelVersion = u.ProviderID, u.ModelVersionHash
			if p, err := a.Auth.GetPrincipal(ctx, u.ProviderID); err == nil {
				c.Provider = p.Name
			}
		}
	}
	response, whole := responses[e.TransactionID]
	c.Sources = a.sources(r, e.Evidence, posts, response, whole)
	for _, x := range e.Released {
		c.Released = append(c.Released, a.credit(r, x, posts, responses))
	}
	return c
}

// sources groups evidence by source post and highlights it in the response and the post's
// text. With the whole response (whole), the response is shown with the evidence's spans
// marked; without it (reports booked before responses were stored), the credited words alone.
func (a *app) sources(r *http.Request, ev []ledger.Evidence, cache map[string]*indexer.Post, response string, whole bool) []sourceView {
	var out []sourceView
	by := map[string]int{}
	var spans, inResponse [][]span
	var resp [][]string
	for _, e := range ev {
		i, ok := by[e.PostID]
		if !ok {
			i = len(out)
			by[e.PostID] = i
			out = append(out, sourceView{PostID: e.PostID, PostURL: e.PostURL})
			spans, inResponse, resp = append(spans, nil), append(inResponse, nil), append(resp, nil)
		}
		spans[i] = append(spans[i], span{e.SourceStart, e.SourceEnd})
		inResponse[i] = append(inResponse[i], span{e.ResponseStart, e.ResponseEnd})
		resp[i] = append(resp[i], e.Text)
	}
	for i := range out {
		if whole {
			out[i].Response, out[i].Whole = marked(response, inResponse[i]), true
		} else {
			words := strings.Join(resp[i], " … ")
			out[i].Response = marked(words, []span{{0, len(words)}})
		}
		p, ok := cache[out[i].PostID]
		if !ok {
			p, _ = a.Index.Post(r.Context(), out[i].PostID)
			cache[out[i].PostID] = p
		}
		if p == nil {
			out[i].Missing = true
			continue
		}
		out[i].Source = marked(p.Text, spans[i])
	}
	return out
}

// proof downloads the inclusion proof of a transaction, for `royalty verify proof`.
func (a *app) proof(w http.ResponseWriter, r *http.Request) {
	tx := r.PathValue("tx")
	p, err := a.Journal.InclusionProof(r.Context(), tx, 0)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	entry, _ := journal.ParseLeafData(p.LeafData)
	accounts := make([]string, len(entry.Postings))
	for i, posting := range entry.Postings {
		accounts[i] = posting.Account
	}
	if err := a.rules().CheckProof(r.Context(), me(r), tx, accounts); err != nil {
		a.fail(w, r, err)
		return
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="proof-`+tx+`.json"`)
	_, _ = w.Write(b)
}

// instructions say where to publish a claim's token, per platform.
func instructions(c claims.Claim) []string {
	tok := c.Challenge
	if provider, rater, ok := ledger.ParseRaterIdentity(c.IdentityKey); ok {
		return []string{
			"This is rater " + rater + " at the model provider " + provider + ": only the provider knows who its rater is, so the provider confirms it.",
			"Either sign in at the provider as that user and give it the token " + tok + ": the provider confirms that you are its rater (an attestation), and the claim is verified here at once.",
			"Or ask the provider for a one-time link code for your rater id and enter it below: the code works once, for this identity only, and expires.",
		}
	}
	platform, site, author, _ := indexer.ParseKey(c.IdentityKey)
	switch platform {
	case "stackexchange":
		return []string{
			"Log in to " + site + " on Stack Exchange as user " + author + ".",
			"Post a comment or an answer (or edit one of your posts) containing the token " + tok + " — the token alone is enough, anywhere in the text.",
			"When royalty next ingests the site's posts, the post is found and the claim is verified; the token can then be removed.",
		}
	case "reddit":
		return []string{
			"Log in to Reddit as u/" + author + ".",
			"Post a comment anywhere containing the token " + tok + ".",
			"When royalty next ingests Reddit comments, the comment is found and the claim is verified.",
		}
	case "hn":
		return []string{
			"Log in to Hacker News as " + author + ".",
			"Post a comment containing the token " + tok + ".",
			"When royalty next ingests Hacker News, the comment is found and the claim is verified.",
		}
	}
	return []string{
		"Publish a post as " + author + " on " + site + " containing the token " + tok + ".",
		"When royalty next ingests the site, the post is found and the claim is verified.",
	}
}

type claimView struct {
	claims.Claim
	Steps []string
	// LinkCode is set for a rater identity, which a link code from its provider proves.
	LinkCode bool
}

func (a *app) claimsPage(w http.ResponseWriter, r *http.Request) {
	a.renderClaims(w, r, http.StatusOK, nil)
}

func (a *app) renderClaims(w http.ResponseWriter, r *http.Request, status int, data map[string]any) {
	ctx := r.Context()
	id, err := access.ClaimsOf(me(r), "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cs, _, err := a.Claims.List(ctx, claims.Filter{ContributorID: id, PageSize: 100})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	var views []claimView
	for _, c := range cs {
		_, _, rater := ledger.ParseRaterIdentity(c.IdentityKey)
		views = append(views, claimView{Claim: c, Steps: instructions(c), LinkCode: rater})
	}
	data["Claims"] = views
	if data["Identity"] == nil {
		data["Identity"] = r.FormValue("identity")
	}
	a.render(w, r, status, "claims", data)
}

func (a *app) startClaim(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimSpace(r.PostFormValue("identity"))
	_, err := a.Claims.Start(r.Context(), me(r).ID, key)
	if royalty.ErrorCode(err) == royalty.EINVALID || royalty.ErrorCode(err) == royalty.ECONFLICT || royalty.ErrorCode(err) == royalty.EPRECONDITION {
		a.renderClaims(w, r, statusOf(err), map[string]any{"Error": royalty.ErrorMessage(err), "Identity": key})
		return
	} else if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/claims", http.StatusSeeOther)
}

// redeemLinkCode links a rater identity to the caller with the one-time link code its provider
// handed them (claims.Service.RedeemLinkCode): the claim is verified and the escrow released.
func (a *app) redeemLinkCode(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimSpace(r.PostFormValue("identity"))
	c, err := a.Claims.RedeemLinkCode(r.Context(), me(r).ID, key, r.PostFormValue("code"))
	switch royalty.ErrorCode(err) {
	case "":
	case royalty.EINVALID, royalty.ENOTFOUND, royalty.EPRECONDITION:
		a.renderClaims(w, r, statusOf(err), map[string]any{"Error": royalty.ErrorMessage(err), "LinkIdentity": key})
		return
	default:
		a.fail(w, r, err)
		return
	}
	msg := "Claim on " + c.IdentityKey + ": verified by the provider's link code."
	for _, m := range c.Released {
		msg += " Released " + m.Amount.String() + " " + m.Currency + " from escrow."
	}
	a.renderClaims(w, r, http.StatusOK, map[string]any{"Notice": msg})
}

// checkClaim asks claims to check the caller's claim now (claims.Service.Check reads the
// identity's public profile where the platform has one), then shows where the claim stands:
// verified, or still pending with what the check found (the token not on the profile yet, no
// profile proofs on this platform, the profile unreachable or checked too often).
func (a *app) checkClaim(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, err := a.Claims.Get(r.Context(), id)
	if err == nil {
		err = access.CheckClaim(me(r), id, c.ContributorID)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var why string
	if c.Status == claims.StatusPending {
		checked, cerr := a.Claims.Check(r.Context(), me(r).ID, id)
		switch royalty.ErrorCode(cerr) {
		case "":
			c = checked
		case royalty.EPRECONDITION, royalty.EUNIMPLEMENTED, royalty.EUNAVAILABLE, royalty.ERESOURCE:
			why = " " + royalty.ErrorMessage(cerr)
		default:
			a.fail(w, r, cerr)
			return
		}
	}
	msg := "Claim on " + c.IdentityKey + ": " + string(c.Status) + "." + why
	if c.Status == claims.StatusPending && why == "" {
		msg += " The token has not been seen in what only this identity writes yet."
	}
	a.renderClaims(w, r, http.StatusOK, map[string]any{"Notice": msg})
}

// validDestination checks a payout destination: an email address (a payment account) or an
// IBAN with a valid check sum.
func validDestination(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "@") {
		a, err := mail.ParseAddress(s)
		if err != nil || a.Name != "" || a.Address != s || len(s) > 254 {
			return "", royalty.FieldErrorf(royalty.EINVALID, "destination", "not a valid email address")
		}
		return s, nil
	}
	iban := strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	if len(iban) < 15 || len(iban) > 34 {
		return "", royalty.FieldErrorf(royalty.EINVALID, "destination", "give an email address or an IBAN")
	}
	// ISO 13616: move the first four characters to the end, letters to 10..35, mod 97 == 1.
	rem := 0
	for _, c := range iban[4:] + iban[:4] {
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A'+10)) % 97
		default:
			return "", royalty.FieldErrorf(royalty.EINVALID, "destination", "an IBAN has only letters and digits")
		}
	}
	if rem != 1 || iban[0] < 'A' || iban[1] < 'A' {
		return "", royalty.FieldErrorf(royalty.EINVALID, "destination", "not a valid IBAN (the check digits do not match)")
	}
	return iban, nil
}

func (a *app) payouts(w http.ResponseWriter, r *http.Request) {
	a.renderPayouts(w, r, http.StatusOK, nil)
}

func (a *app) renderPayouts(w http.ResponseWriter, r *http.Request, status int, data map[string]any) {
	ctx := r.Context()
	id, err := a.rules().Contributor(ctx, me(r), "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	bs, err := a.Ledger.Balances(ctx, ledger.ContributorAccount(id), a.Now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ds, err := a.Sessions.Destinations(ctx, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page, err := a.Ledger.Statement(ctx, ledger.StatementQuery{Account: ledger.ContributorAccount(id), PageSize: ledger.MaxPageSize})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var history []ledger.StatementEntry
	for _, e := range page.Entries {
		if e.Kind == ledger.KindPayout {
			history = append(history, e)
		}
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Balances"], data["Destinations"], data["History"], data["RequestID"] = bs, ds, history, uuid.NewString()
	if len(ds) > 0 {
		data["Current"] = ds[0]
	}
	if s, _ := ctx.Value(sessionKey{}).(Session); !a.recentlyAuthenticated(s) {
		data["Reauth"] = true
	}
	a.render(w, r, status, "payouts", data)
}

// setDestination changes the payout destination. The session alone is not enough: the key
// must have been proved in it (at login, or entered again) within ReauthWithin; otherwise the
// page asks for the key again and the change waits for it. A key sent with the form is always
// checked, and a valid one renews the session's proof. Every change is recorded (append-only
// payout_destinations, with the session that made it).
func (a *app) setDestination(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := me(r)
	hash := sessionHash(r)
	s, _ := ctx.Value(sessionKey{}).(Session)
	dest := r.PostFormValue("destination")
	if key := r.PostFormValue("key"); key != "" {
		again, err := a.Auth.Authenticate(ctx, key)
		if err != nil || again.ID != p.ID {
			if err != nil && royalty.ErrorCode(err) != royalty.EUNAUTHENTICATED {
				a.fail(w, r, err)
				return
			}
			a.Logger.InfoContext(ctx, "web re-authentication failed", "principal", p.ID)
			a.renderPayouts(w, r, http.StatusUnauthorized, map[string]any{"Reauth": true, "Destination": dest,
				"DestError": "That key is not yours or not valid; enter your API key to change where payouts go."})
			return
		}
		if err := a.Sessions.Reauthenticated(ctx, hash); err != nil {
			a.fail(w, r, err)
			return
		}
		s.AuthAt = a.Now()
	} else if !a.recentlyAuthenticated(s) {
		a.renderPayouts(w, r, http.StatusUnauthorized, map[string]any{"Reauth": true, "Destination": dest,
			"DestError": "You entered your key more than " + a.ReauthWithin.String() + " ago; enter it again to change where payouts go."})
		return
	}
	valid, err := validDestination(dest)
	if err != nil {
		a.renderPayouts(w, r, http.StatusBadRequest, map[string]any{"DestError": royalty.ErrorMessage(err), "Destination": dest})
		return
	}
	if err := a.Sessions.SetDestination(ctx, p.ID, valid, hash); err != nil {
		a.fail(w, r, err)
		return
	}
	a.Logger.InfoContext(ctx, "payout destination changed", "contributor", p.ID)
	// The page is rendered for the session as it is now, after any key just entered.
	r = r.WithContext(context.WithValue(ctx, sessionKey{}, s))
	a.renderPayouts(w, r, http.StatusOK, map[string]any{"Notice": "Payout destination changed."})
}

// recentlyAuthenticated reports whether the key was proved in session s within ReauthWithin.
func (a *app) recentlyAuthenticated(s Session) bool {
	return !s.AuthAt.IsZero() && a.Now().Sub(s.AuthAt) <= a.ReauthWithin
}

func (a *app) requestPayout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := a.rules().Contributor(ctx, me(r), "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ds, err := a.Sessions.Destinations(ctx, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(ds) == 0 {
		a.renderPayouts(w, r, http.StatusConflict, map[string]any{"PayError": "Set a payout destination first."})
		return
	}
	pr := ledger.PayoutRequest{ContributorID: id, RequestID: r.PostFormValue("request_id"), Currency: r.PostFormValue("currency")}
	if s := strings.TrimSpace(r.PostFormValue("amount")); s != "" {
		amount, err := ledger.ParseAmount("amount", s, ledger.MaxScale)
		if err != nil {
			a.renderPayouts(w, r, http.StatusBadRequest, map[string]any{"PayError": royalty.ErrorMessage(err)})
			return
		}
		pr.Amount = &amount
	}
	res, err := a.Ledger.Payout(ctx, pr)
	if c := royalty.ErrorCode(err); c == royalty.EINVALID || c == royalty.EPRECONDITION || c == royalty.ECONFLICT {
		a.renderPayouts(w, r, statusOf(err), map[string]any{"PayError": royalty.ErrorMessage(err)})
		return
	} else if err != nil {
		a.fail(w, r, err)
		return
	}
	a.renderPayouts(w, r, http.StatusOK, map[string]any{"Notice": "Payout of " + res.Payout.Amount.String() + " " + res.Payout.Currency + " requested, to " + ds[0].Destination + "."})
}

func (a *app) keys(w http.ResponseWriter, r *http.Request) { a.renderKeys(w, r, nil) }

func (a *app) renderKeys(w http.ResponseWriter, r *http.Request, data map[string]any) {
	ks, err := a.Auth.ListKeys(r.Context(), me(r).ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Keys"] = ks
	a.render(w, r, http.StatusOK, "keys", data)
}

func (a *app) createKey(w http.ResponseWriter, r *http.Request) {
	p := me(r)
	_, secret, err := a.Auth.CreateKey(r.Context(), p.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	a.render(w, r, http.StatusOK, "key", map[string]any{"Principal": p, "Key": secret})
}

// revokeKey revokes one of the caller's own keys; another principal's key reads as absent.
func (a *app) revokeKey(w http.ResponseWriter, r *http.Request) {
	ks, err := a.Auth.ListKeys(r.Context(), me(r).ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	for _, k := range ks {
		if k.ID == id {
			if _, err := a.Auth.RevokeKey(r.Context(), id); err != nil {
				a.fail(w, r, err)
				return
			}
			a.renderKeys(w, r, map[string]any{"Notice": "Key " + k.Prefix + "… revoked."})
			return
		}
	}
	a.fail(w, r, royalty.FieldErrorf(royalty.ENOTFOUND, "key_id", "no key %q", id))
}
