package postgres

import (
	"context"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"
)

// account is what the journal needs of a ledger account.
type account struct{ id, address, typ string }

// accountCache maps account ids to addresses and back. Accounts are never changed or deleted,
// so an entry never goes stale: the sealer reads postings without joining ledger_accounts and
// asks the table only for accounts it has not seen (in bench-e2e that join was most of the
// index reads of reading a block). A nil cache reads every account it is asked for.
type accountCache struct {
	byID   *lru.Cache[string, account]
	byAddr *lru.Cache[string, account]
}

func newAccountCache(size int) *accountCache {
	byID, err := lru.New[string, account](size)
	if err != nil {
		panic(err) // only for size <= 0
	}
	byAddr, err := lru.New[string, account](size)
	if err != nil {
		panic(err)
	}
	return &accountCache{byID: byID, byAddr: byAddr}
}

func (c *accountCache) add(a account) {
	if c != nil {
		c.byID.Add(a.id, a)
		c.byAddr.Add(a.address, a)
	}
}

// byIDs returns the accounts with the given ids, from the cache or else from ledger_accounts.
func (c *accountCache) byIDs(ctx context.Context, q querier, ids []string) (map[string]account, error) {
	return c.lookup(ctx, q, ids, false)
}

// byAddresses returns the accounts with the given addresses, from the cache or else from
// ledger_accounts.
func (c *accountCache) byAddresses(ctx context.Context, q querier, addrs []string) (map[string]account, error) {
	return c.lookup(ctx, q, addrs, true)
}

// lookup returns the accounts with the given ids, or addresses when byAddr, keyed by them.
func (c *accountCache) lookup(ctx context.Context, q querier, keys []string, byAddr bool) (map[string]account, error) {
	out := make(map[string]account, len(keys))
	var missing []string
	asked := make(map[string]bool, len(keys))
	for _, k := range keys {
		if asked[k] {
			continue
		}
		asked[k] = true
		var a account
		ok := false
		switch {
		case c == nil:
		case byAddr:
			a, ok = c.byAddr.Get(k)
		default:
			a, ok = c.byID.Get(k)
		}
		if ok {
			out[k] = a
		} else {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	query := `SELECT id, address, type FROM ledger_accounts WHERE id = ANY($1::UUID[])`
	if byAddr {
		query = `SELECT id, address, type FROM ledger_accounts WHERE address = ANY($1::TEXT[])`
	}
	rows, err := q.Query(ctx, query, missing)
	if err != nil {
		return nil, fmt.Errorf("reading accounts: %w", err)
	}
	var a account
	if _, err := pgx.ForEachRow(rows, []any{&a.id, &a.address, &a.typ}, func() error {
		if byAddr {
			out[a.address] = a
		} else {
			out[a.id] = a
		}
		c.add(a)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading accounts: %w", err)
	}
	return out, nil
}
