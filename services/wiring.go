package services

import (
	"context"

	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/ledger"
)

// LedgerReleaser adapts the ledger's escrow release to claims.Releaser.
type LedgerReleaser struct{ Ledger ledger.Ledger }

// ReleaseEscrow implements claims.Releaser.
func (r LedgerReleaser) ReleaseEscrow(ctx context.Context, identityKey, contributorID string) (claims.Release, error) {
	rel, err := r.Ledger.ReleaseEscrow(ctx, ledger.EscrowReleaseRequest{IdentityKey: identityKey, ContributorID: contributorID})
	if err != nil {
		return claims.Release{}, err
	}
	out := claims.Release{TransactionID: rel.TransactionID, Amounts: []claims.Money{}}
	for _, m := range rel.Released {
		out.Amounts = append(out.Amounts, claims.Money{Amount: m.Amount, Currency: m.Currency})
	}
	return out, nil
}

// ClaimsHook lets the indexer's pipeline verify claims: give it to indexer.Options.Stored.
type ClaimsHook struct{ Claims *claims.Service }

// PostsStored implements indexer.PostsHook.
func (h ClaimsHook) PostsStored(ctx context.Context, posts []*indexer.Post) error {
	in := make([]claims.Post, 0, len(posts))
	for _, p := range posts {
		in = append(in, claims.Post{ID: p.ID, AuthorKey: p.AuthorKey(), Text: p.Text})
	}
	_, err := h.Claims.PostsIngested(ctx, in)
	return err
}
