package web

import (
	"crypto/ed25519"
	"net/http"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/access"
	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/csv"
	"github.com/openroyalty/royalty/ledger/journal"
)

// audit shows the trial balance and the journal's verification status.
func (a *app) audit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !access.CanSeeAll(me(r)) {
		a.fail(w, r, royalty.Errorf(royalty.EPERMISSION, "auditors and admins only"))
		return
	}
	tb, err := a.Ledger.TrialBalance(ctx, a.Now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	data := map[string]any{"TrialBalance": tb}
	balanced := true
	for _, t := range tb.Totals {
		balanced = balanced && t.Amount.IsZero()
	}
	data["Balanced"] = balanced
	if cp, ok, err := a.Journal.Latest(ctx); err != nil {
		a.fail(w, r, err)
		return
	} else if ok {
		data["Checkpoint"] = cp
	}
	if r.FormValue("verify") != "" {
		keys := journal.NewKeys(append([]ed25519.PublicKey{a.JournalKey}, a.JournalTrusted...)...)
		if a.JournalKey == nil {
			data["VerifyError"] = "This server signs no checkpoints (serve --signing-key-file), so there is nothing to verify against."
		} else {
			sum, err := a.Journal.Verify(ctx, keys)
			data["Verified"] = sum
			if err != nil {
				if re, ok := journal.IsRowError(err); ok {
					data["VerifyError"] = re.Error()
				} else {
					a.fail(w, r, err)
					return
				}
			}
		}
	}
	a.render(w, r, http.StatusOK, "audit", data)
}

// journalCSV streams the journal as CSV with its chain fields, as `royalty export journal`
// writes it; `royalty verify` checks it offline.
func (a *app) journalCSV(w http.ResponseWriter, r *http.Request) {
	if !access.CanSeeAll(me(r)) {
		a.fail(w, r, royalty.Errorf(royalty.EPERMISSION, "auditors and admins only"))
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="journal-`+a.Now().UTC().Format("20060102T150405Z")+`.csv"`)
	if err := csv.WriteJournal(r.Context(), a.Journal, time.Time{}, time.Time{}, w); err != nil {
		// Headers are gone: the truncated file fails `royalty verify`; log why.
		a.Logger.ErrorContext(r.Context(), "journal CSV export failed", "err", err)
	}
}

// usage lists the provider's own usage reports (its account's statement) with reversal.
func (a *app) usage(w http.ResponseWriter, r *http.Request) { a.renderUsage(w, r, http.StatusOK, nil) }

func (a *app) renderUsage(w http.ResponseWriter, r *http.Request, status int, data map[string]any) {
	p := me(r)
	page, err := a.Ledger.Statement(r.Context(), ledger.StatementQuery{Account: ledger.ProviderAccount(p.ID), PageSize: 100, PageToken: r.FormValue("page")})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Entries"], data["Next"] = page.Entries, page.NextPageToken
	a.render(w, r, status, "usage", data)
}

func (a *app) reverse(w http.ResponseWriter, r *http.Request) {
	p := me(r)
	tx := r.PathValue("tx")
	// access.Rules.Usage reads another provider's report as absent.
	if _, err := a.rules().Usage(r.Context(), p, access.UsageQuery{TransactionID: tx}); err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.Ledger.ReverseUsage(r.Context(), ledger.ReversalRequest{ProviderID: p.ID, TransactionID: tx, Reason: r.PostFormValue("reason")})
	if c := royalty.ErrorCode(err); c == royalty.EINVALID || c == royalty.EPRECONDITION {
		a.renderUsage(w, r, statusOf(err), map[string]any{"Error": royalty.ErrorMessage(err)})
		return
	} else if err != nil {
		a.fail(w, r, err)
		return
	}
	a.renderUsage(w, r, http.StatusOK, map[string]any{"Notice": "Usage report " + res.Usage.RequestID + " reversed."})
}

// adminClaims is the queue of pending claims.
func (a *app) adminClaims(w http.ResponseWriter, r *http.Request) {
	a.renderQueue(w, r, http.StatusOK, nil)
}

func (a *app) renderQueue(w http.ResponseWriter, r *http.Request, status int, data map[string]any) {
	cs, _, err := a.Claims.List(r.Context(), claims.Filter{Status: claims.StatusPending, PageSize: 100})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Claims"] = cs
	a.render(w, r, status, "admin", data)
}

func (a *app) decideClaim(w http.ResponseWriter, r *http.Request) {
	p := me(r)
	if p.Role != auth.RoleAdmin {
		a.fail(w, r, royalty.Errorf(royalty.EPERMISSION, "admins only"))
		return
	}
	id, note := r.PathValue("id"), r.PostFormValue("reason")
	var err error
	switch r.PostFormValue("decision") {
	case "approve":
		_, err = a.Claims.Approve(r.Context(), id, p.ID, note)
	case "reject":
		_, err = a.Claims.Reject(r.Context(), id, p.ID, note)
	default:
		err = royalty.FieldErrorf(royalty.EINVALID, "decision", "approve or reject")
	}
	if c := royalty.ErrorCode(err); c == royalty.EINVALID || c == royalty.EPRECONDITION || c == royalty.ENOTFOUND || c == royalty.ECONFLICT {
		a.renderQueue(w, r, statusOf(err), map[string]any{"Error": royalty.ErrorMessage(err)})
		return
	} else if err != nil {
		a.fail(w, r, err)
		return
	}
	a.renderQueue(w, r, http.StatusOK, map[string]any{"Notice": "Claim " + id + " decided: " + r.PostFormValue("decision") + "."})
}
