package postgres

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

// accountNamespace is the UUID v5 namespace of account ids: an account's id is a function of its
// address, so postings can be built without reading the accounts table.
var accountNamespace = uuid.MustParse("6f1d2c1e-4b7a-5d43-9a51-8c0e2f7b3a90")

// accountID is the id of the account at address.
func accountID(address string) pgtype.UUID {
	return pgUUID(uuid.NewSHA1(accountNamespace, []byte(address)))
}

// pgUUID converts a UUID to the type pgx encodes without parsing or reflection.
func pgUUID(u uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: u, Valid: true} }

// maxKnownAccounts bounds the cache of known accounts (about 150 bytes each); past it the cache
// starts over, which costs one idempotent insert per account seen again.
const maxKnownAccounts = 1 << 20

// accountCache remembers accounts whose rows exist, with their ids. It is safe for concurrent
// use. A map under a read-write lock rather than a sync.Map: it is read a dozen times per report
// and written rarely, and sync.Map's lookups cost more.
type accountCache struct {
	mu sync.RWMutex
	m  map[string]pgtype.UUID
}

// id returns the id of the account at address and whether its row is known to exist.
func (c *accountCache) id(address string) (pgtype.UUID, bool) {
	c.mu.RLock()
	v, ok := c.m[address]
	c.mu.RUnlock()
	if ok {
		return v, true
	}
	return accountID(address), false
}

func (c *accountCache) add(address string, id pgtype.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxKnownAccounts {
		c.m = make(map[string]pgtype.UUID)
	}
	c.m[address] = id
}

// roleOf is the principal role an account type belongs to.
func roleOf(t ledger.AccountType) string {
	switch t {
	case ledger.AccountProvider, ledger.AccountProviderRetained:
		return "provider"
	case ledger.AccountContributor:
		return "contributor"
	}
	return ""
}

// ensureAccounts creates the account rows that are not known to exist yet, checking that
// per-principal accounts belong to a principal of the right role. It runs in its own short
// statements before the transaction that uses the accounts: an account row is not money, so one
// left behind by a transaction that then fails does no harm, and the usage path never upserts.
// (The group commit inserts the escrow accounts of a batch in its booking transaction instead,
// in the round trip that reads the rates: see groupCommitter.book.)
// field names the request field for errors about a principal (for example "provider_id").
func (s *Store) ensureAccounts(ctx context.Context, q querier, field string, addresses ...string) error {
	missing, err := s.unknownAccounts(addresses)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		return nil
	}
	if err := checkPrincipals(ctx, q, field, missing); err != nil {
		return err
	}
	rows := newAccountRows(missing)
	err = s.serializable(ctx, "creating ledger accounts", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, accountInsertSQL, rows.args()...)
		return err
	})
	if err != nil {
		return fmt.Errorf("creating ledger accounts: %w", err)
	}
	rows.remember(&s.known)
	return nil
}

// accountInsertSQL inserts account rows, skipping those that exist. ON CONFLICT has no target
// because the same account collides on both unique indexes (the id is derived from the
// address): with the address as the only arbiter, PostgreSQL reports the collision on the
// primary key as an error.
const accountInsertSQL = `
			INSERT INTO ledger_accounts (id, address, type, principal_id, identity_key)
			SELECT id, address, type, principal_id, identity_key
			FROM unnest($1::UUID[], $2::TEXT[], $3::TEXT[], $4::UUID[], $5::TEXT[])
			     AS a (id, address, type, principal_id, identity_key)
			ON CONFLICT DO NOTHING`

// accountRows are the arguments of accountInsertSQL.
type accountRows struct {
	accts      []ledger.Account
	ids        []pgtype.UUID
	addrs      []string
	types      []string
	principals []*string
	identities []*string
}

// newAccountRows sorts accts by address and returns their rows. Concurrent inserts of
// overlapping accounts lock rows in insertion order; one order for everybody means no deadlock.
func newAccountRows(accts []ledger.Account) *accountRows {
	sort.Slice(accts, func(i, j int) bool { return accts[i].Address < accts[j].Address })
	r := &accountRows{accts: accts, ids: make([]pgtype.UUID, len(accts)), addrs: make([]string, len(accts)),
		types: make([]string, len(accts)), principals: make([]*string, len(accts)), identities: make([]*string, len(accts))}
	for i, a := range accts {
		r.ids[i], r.addrs[i], r.types[i] = accountID(a.Address), a.Address, string(a.Type)
		if a.PrincipalID != "" {
			r.principals[i] = &accts[i].PrincipalID
		}
		if a.IdentityKey != "" {
			r.identities[i] = &accts[i].IdentityKey
		}
	}
	return r
}

func (r *accountRows) args() []any {
	return []any{r.ids, r.addrs, r.types, r.principals, r.identities}
}

// remember adds the accounts to the cache of known accounts: call it once their rows are
// committed.
func (r *accountRows) remember(c *accountCache) {
	for _, a := range r.accts {
		c.add(a.Address, accountID(a.Address))
	}
}

// unknownAccounts returns the accounts among addresses that are not known to exist, once each.
func (s *Store) unknownAccounts(addresses []string) ([]ledger.Account, error) {
	var missing []ledger.Account
	seen := map[string]bool{}
	for _, a := range addresses {
		if _, ok := s.known.id(a); ok || seen[a] {
			continue
		}
		seen[a] = true
		acct, err := ledger.ParseAccount("account", a)
		if err != nil {
			return nil, err
		}
		missing = append(missing, acct)
	}
	return missing, nil
}

// checkPrincipals checks that every per-principal account belongs to a principal with the
// role its type needs. Errors: ENOTFOUND naming field.
func checkPrincipals(ctx context.Context, q querier, field string, accts []ledger.Account) error {
	want := map[string]string{} // principal id → role
	var ids []string
	for _, a := range accts {
		if role := roleOf(a.Type); role != "" {
			if _, ok := want[a.PrincipalID]; !ok {
				ids = append(ids, a.PrincipalID)
			}
			want[a.PrincipalID] = role
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := q.Query(ctx, `SELECT id, role FROM principals WHERE id = ANY($1::UUID[])`, ids)
	if err != nil {
		return fmt.Errorf("reading principals: %w", err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var id, role string
		if err := rows.Scan(&id, &role); err != nil {
			return fmt.Errorf("reading principals: %w", err)
		}
		got[id] = role
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading principals: %w", err)
	}
	for _, id := range ids {
		if got[id] != want[id] {
			return royalty.FieldErrorf(royalty.ENOTFOUND, field, "no %s with id %s", want[id], id)
		}
	}
	return nil
}
