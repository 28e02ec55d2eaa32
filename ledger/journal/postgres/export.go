package postgres

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openroyalty/royalty/ledger/journal"
)

// ExportOptions tune Export; the zero value is the default.
type ExportOptions struct {
	// Chunk is the number of journal positions read per query; DefaultExportChunk when zero.
	Chunk int
	// Readers is the number of chunks read ahead at once, each on its own connection;
	// DefaultExportReaders when zero.
	Readers int
	// FromTables reads the sealed transactions from the ledger tables (ChunkQuery: a join per
	// position) instead of from the leaf data stored at sealing (LeavesQuery), and checks that
	// the stored leaf data hashes to its leaf hash: Export fails with a *journal.RowError at
	// the first transaction whose stored leaf data does not. Verify uses it, so that a change
	// to the ledger tables after sealing, or to the stored leaf data, is found.
	FromTables bool
}

// Export defaults.
const (
	DefaultExportChunk   = 2048
	DefaultExportReaders = 2
	// accountCacheSize bounds the accounts an export remembers (it is cleared when full) and a
	// sealer's (least recently used out), so memory stays flat however many accounts the
	// journal names.
	accountCacheSize = 1 << 16
)

// Export calls fn for every posting of every transaction created in [since, until) (zero times
// are open ends), as of one moment: first the sealed transactions in journal order with their
// chain fields, one row per posting in posting order, the checkpoint of a block on its last row;
// then the transactions not sealed yet, by (created_at, id), without chain fields. fn must not
// keep the row: it is reused. Export stops at fn's first error and returns it.
//
// The export is consistent without holding a snapshot open (docs/design.md §3, export by
// watermark): it reads the journal's size S first; the leaves at positions below S, with the
// leaf data stored at sealing, and their checkpoints are append-only and never change, so they
// are read in chunks of positions, ahead, on several connections, and decoded and hashed there;
// the rest — every transaction without a position below S, including those sealed meanwhile —
// is read from the ledger tables by one statement, which is a snapshot on both engines.
// Together they are exactly the journal as of that statement. No connection is held while
// waiting for another, so concurrent exports cannot exhaust the pool into a deadlock.
//
// A sealed transaction's rows are its stored leaf data, what its leaf hash and the signed
// checkpoints cover, rather than the ledger tables' rows of it: they are the same unless the
// tables were changed after sealing, which Verify reports. A chunk with a leaf sealed before
// leaf data was stored (journal_leaf_data, migration 0404) is read from the ledger tables
// (ChunkQuery).
//
// Only an export without bounds can be verified as a whole (journal.Verifier): a bounded one
// leaves out positions the tree needs.
func (s *Store) Export(ctx context.Context, since, until time.Time, fn func(*journal.Row) error) error {
	return s.ExportWith(ctx, since, until, ExportOptions{}, fn)
}

// ExportWith is Export with options.
func (s *Store) ExportWith(ctx context.Context, since, until time.Time, o ExportOptions, fn func(*journal.Row) error) error {
	if o.Chunk <= 0 {
		o.Chunk = DefaultExportChunk
	}
	if o.Readers <= 0 {
		o.Readers = DefaultExportReaders
	}
	var from, to *time.Time
	if !since.IsZero() {
		from = &since
	}
	if !until.IsZero() {
		to = &until
	}
	var sealed int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(size), 0) FROM journal_checkpoints`).Scan(&sealed); err != nil {
		return fmt.Errorf("reading the journal size: %w", err)
	}
	e := &exporter{q: s.pool, fn: fn, accounts: map[uuid.UUID]accountInfo{}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := chunkReader{pool: s.pool, from: from, to: to, tables: o.FromTables, free: make(chan *chunk, o.Readers+2)}
	for c := range readAhead(ctx, r, sealed, int64(o.Chunk), o.Readers) {
		if c.err != nil {
			return c.err
		}
		if err := e.emit(ctx, c); err != nil {
			return err
		}
		r.recycle(c)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return e.unsealed(ctx, sealed, from, to)
}

// LeavesQuery reads the leaves at journal positions [$1, $2) with their stored leaf data (NULL
// for a leaf sealed before it was stored), in order: one row per transaction, from two ranges
// of primary keys merged (the range is repeated for journal_leaf_data so that both engines scan
// only that range of it).
const LeavesQuery = `
	SELECT l.idx, l.leaf_hash, d.leaf_data
	FROM journal_leaves AS l
	LEFT JOIN journal_leaf_data AS d ON d.idx = l.idx AND d.idx >= $1 AND d.idx < $2
	WHERE l.idx >= $1 AND l.idx < $2
	ORDER BY l.idx`

// ChunkQuery reads the postings of the sealed transactions at journal positions [$1, $2) created
// in [$3, $4) (NULL: open), in export order. The LATERAL subqueries make both engines read the
// transaction and its postings by primary key for each position, in order, rather than scanning
// whole tables for every chunk (OFFSET 0 keeps PostgreSQL from flattening the first into a hash
// join).
const ChunkQuery = `
	SELECT l.idx, l.leaf_hash, t.id, t.kind, t.principal_id, t.request_id, t.created_at, t.reverses,
	       p.account_id, p.currency, p.amount::TEXT
	FROM journal_leaves AS l
	CROSS JOIN LATERAL (SELECT id, kind, principal_id, request_id, created_at, reverses
	                    FROM ledger_transactions WHERE id = l.transaction_id OFFSET 0) AS t
	CROSS JOIN LATERAL (SELECT n, account_id, currency, amount
	                    FROM ledger_postings WHERE transaction_id = l.transaction_id ORDER BY n) AS p
	WHERE l.idx >= $1 AND l.idx < $2
	  AND ($3::TIMESTAMPTZ IS NULL OR t.created_at >= $3) AND ($4::TIMESTAMPTZ IS NULL OR t.created_at < $4)
	ORDER BY l.idx, p.n`

// UnsealedQuery reads the postings of the transactions created in [$2, $3) (NULL: open) that
// have no journal position below $1, oldest first.
const UnsealedQuery = `
	SELECT t.id, t.kind, t.principal_id, t.request_id, t.created_at, t.reverses,
	       a.address, a.type, p.currency, p.amount::TEXT
	FROM ledger_transactions AS t
	JOIN ledger_postings AS p ON p.transaction_id = t.id
	JOIN ledger_accounts AS a ON a.id = p.account_id
	WHERE NOT EXISTS (SELECT 1 FROM journal_leaves AS l WHERE l.transaction_id = t.id AND l.idx < $1)
	  AND ($2::TIMESTAMPTZ IS NULL OR t.created_at >= $2) AND ($3::TIMESTAMPTZ IS NULL OR t.created_at < $3)
	ORDER BY t.created_at, t.id, p.n`

// chunk is one range of positions, decoded: from LeavesQuery into txs and posts, ready to
// emit; from ChunkQuery (the ledger tables) into tableTxs and tablePosts, which emit turns
// into txs and posts once it has resolved their accounts. Chunks are recycled, so that their
// slices keep their capacity; the strings in them are never reused.
type chunk struct {
	lo, hi int64
	txs    []sealedTx
	posts  []sealedPosting

	leaves []leafRef // LeavesQuery's rows
	text   string    // their leaf data, one after the other
	guess  int       // the size of the last text, to allocate the next at once
	view   journal.LeafView
	hasher journal.PostingHasher

	tableTxs   []chunkTx
	tablePosts []chunkPosting
	// badLeaf is, when read from the tables, the first position whose stored leaf data does
	// not hash to its leaf hash, or -1.
	badLeaf int64

	err error
}

// leafRef is a leaf of LeavesQuery, its leaf data ending at end in the chunk's text.
type leafRef struct {
	idx  int64
	leaf journal.Hash
	end  int
}

// sealedTx is a sealed transaction ready to emit.
type sealedTx struct {
	idx                     int64
	leaf                    journal.Hash
	id, kind, key, reverses string
	createdAt               time.Time
	end                     int // posts[previous end:end] are this transaction's postings
}

// sealedPosting is a posting ready to emit, with its posting hash.
type sealedPosting struct {
	account, accountType, currency, amount string
	hash                                   journal.Hash
}

// chunkTx is a transaction as ChunkQuery reads it.
type chunkTx struct {
	idx                   int64
	leaf                  journal.Hash
	id, principal, revers uuid.UUID
	hasReverses           bool
	kind, request         string
	createdAt             time.Time
	end                   int // posts[previous end:end] are this transaction's postings
}

type chunkPosting struct {
	account  uuid.UUID
	currency string
	amount   string // canonical
}

// readAhead reads the chunks of positions [0, size) with up to readers queries at once and
// delivers them in order. The channel is closed after the last chunk or the first error.
func readAhead(ctx context.Context, r chunkReader, size, per int64, readers int) <-chan *chunk {
	out := make(chan *chunk)
	queue := make(chan chan *chunk, readers)
	go func() { // start reads in order, at most readers ahead of the consumer
		defer close(queue)
		for lo := int64(0); lo < size; lo += per {
			ch := make(chan *chunk, 1)
			select {
			case queue <- ch:
			case <-ctx.Done():
				return
			}
			go func(lo int64) { ch <- r.read(ctx, r.chunk(lo, min(lo+per, size))) }(lo)
		}
	}()
	go func() {
		defer close(out)
		for ch := range queue {
			c := <-ch
			failed := c.err != nil // c is the consumer's once sent, and recycled
			select {
			case out <- c:
			case <-ctx.Done():
				return
			}
			if failed {
				return
			}
		}
	}()
	return out
}

// interned returns a shared copy of small repeated strings (kinds, currencies).
type interner struct {
	mu sync.Mutex
	m  map[string]string
}

var interned = &interner{m: map[string]string{}}

func (in *interner) get(b []byte) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in.m) < 1024 {
		in.m[s] = s
	}
	return s
}

// chunkReader reads chunks of sealed positions. It is safe for concurrent use.
type chunkReader struct {
	pool     *pgxpool.Pool
	from, to *time.Time
	tables   bool        // ExportOptions.FromTables
	free     chan *chunk // emitted chunks, to be reused
}

// chunk returns an empty chunk for positions [lo, hi), a recycled one if there is one.
func (r chunkReader) chunk(lo, hi int64) *chunk {
	var c *chunk
	select {
	case c = <-r.free:
	default:
		c = &chunk{}
	}
	c.lo, c.hi, c.badLeaf, c.err, c.text = lo, hi, -1, nil, ""
	c.txs, c.posts, c.leaves, c.tableTxs, c.tablePosts = c.txs[:0], c.posts[:0], c.leaves[:0], c.tableTxs[:0], c.tablePosts[:0]
	return c
}

// recycle hands an emitted chunk back for reuse.
func (r chunkReader) recycle(c *chunk) {
	select {
	case r.free <- c:
	default:
	}
}

// read reads c's positions: from their stored leaf data, or from the ledger tables when asked
// to or when a leaf has none.
func (r chunkReader) read(ctx context.Context, c *chunk) *chunk {
	if !r.tables {
		if complete := r.readLeaves(ctx, c); complete || c.err != nil {
			return c
		}
		c.txs, c.posts = c.txs[:0], c.posts[:0]
	} else if c.err = r.checkLeaves(ctx, c); c.err != nil {
		return c
	}
	r.readTables(ctx, c)
	return c
}

// readLeaves decodes LeavesQuery's rows of c's positions into transactions and postings with
// their posting hashes, ready to emit. complete is false when a leaf has no stored leaf data.
func (r chunkReader) readLeaves(ctx context.Context, c *chunk) (complete bool) {
	if !r.queryLeaves(ctx, c) || c.err != nil {
		return false
	}
	text, start := c.text, 0
	v, h := &c.view, &c.hasher
	for _, l := range c.leaves {
		data := text[start:l.end]
		start = l.end
		if err := v.Parse(data); err != nil {
			c.err = fmt.Errorf("reading the journal: the leaf data of position %d: %w", l.idx, err)
			return false
		}
		if (r.from != nil && v.CreatedAt.Before(*r.from)) || (r.to != nil && !v.CreatedAt.Before(*r.to)) {
			continue
		}
		h.ResetString(v.Header)
		for k, p := range v.Postings {
			c.posts = append(c.posts, sealedPosting{account: p.Account, accountType: p.AccountType,
				currency: p.Currency, amount: p.Amount, hash: h.SumLine(k, p.Line)})
		}
		c.txs = append(c.txs, sealedTx{idx: l.idx, leaf: l.leaf, id: v.TransactionID, kind: v.Kind, key: v.IdempotencyKey,
			reverses: v.Reverses, createdAt: v.CreatedAt, end: len(c.posts)})
	}
	return true
}

// queryLeaves runs LeavesQuery for c's positions into c.leaves and c.text: one string for the
// chunk's leaf data rather than one per transaction, which the rows' strings point into (a
// strings.Builder hands over its buffer without copying it). It returns false
// at the first leaf without stored leaf data, or on an error (in c.err).
func (r chunkReader) queryLeaves(ctx context.Context, c *chunk) bool {
	rows, err := r.pool.Query(ctx, LeavesQuery, pgx.QueryResultFormats{pgx.BinaryFormatCode}, c.lo, c.hi)
	if err != nil {
		c.err = fmt.Errorf("reading the journal: %w", err)
		return false
	}
	defer rows.Close()
	var text strings.Builder
	text.Grow(c.guess)
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 3 {
			c.err = fmt.Errorf("reading the journal: %d columns", len(v))
			return false
		}
		idx, err := int8Value(v[0])
		if err != nil {
			c.err = err
			return false
		}
		if len(v[1]) != journal.HashSize {
			c.err = fmt.Errorf("reading the journal: malformed leaf hash at position %d", idx)
			return false
		}
		if v[2] == nil {
			return false
		}
		text.Write(v[2])
		c.leaves = append(c.leaves, leafRef{idx: idx, leaf: journal.Hash(v[1]), end: text.Len()})
	}
	if err := rows.Err(); err != nil {
		c.err = fmt.Errorf("reading the journal: %w", err)
		return false
	}
	c.text = text.String()
	c.guess = len(c.text) + len(c.text)/16
	return true
}

// checkLeaves sets c.badLeaf to the first of c's positions whose stored leaf data does not hash
// to its leaf hash.
func (r chunkReader) checkLeaves(ctx context.Context, c *chunk) error {
	rows, err := r.pool.Query(ctx, LeavesQuery, pgx.QueryResultFormats{pgx.BinaryFormatCode}, c.lo, c.hi)
	if err != nil {
		return fmt.Errorf("reading the journal: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 3 {
			return fmt.Errorf("reading the journal: %d columns", len(v))
		}
		idx, err := int8Value(v[0])
		if err != nil {
			return err
		}
		// A malformed leaf hash is left to the verifier, which rebuilds the leaf from the tables.
		if v[2] != nil && len(v[1]) == journal.HashSize && journal.LeafHash(v[2]) != journal.Hash(v[1]) {
			c.badLeaf = idx
			break
		}
	}
	return rows.Err()
}

// readTables runs ChunkQuery for c's positions and decodes the binary results without
// reflection.
func (r chunkReader) readTables(ctx context.Context, c *chunk) {
	rows, err := r.pool.Query(ctx, ChunkQuery, pgx.QueryResultFormats{pgx.BinaryFormatCode}, c.lo, c.hi, r.from, r.to)
	if err != nil {
		c.err = fmt.Errorf("reading the journal: %w", err)
		return
	}
	defer rows.Close()
	var cur *chunkTx
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 11 {
			c.err = fmt.Errorf("reading the journal: %d columns", len(v))
			return
		}
		idx, err := int8Value(v[0])
		if err != nil {
			c.err = err
			return
		}
		if cur == nil || cur.idx != idx {
			if cur != nil {
				cur.end = len(c.tablePosts)
			}
			c.tableTxs = append(c.tableTxs, chunkTx{idx: idx})
			cur = &c.tableTxs[len(c.tableTxs)-1]
			if err := decodeTx(cur, v); err != nil {
				c.err = err
				return
			}
		}
		var p chunkPosting
		if len(v[8]) != 16 || v[9] == nil || v[10] == nil {
			c.err = fmt.Errorf("reading the journal: malformed posting at position %d", idx)
			return
		}
		copy(p.account[:], v[8])
		p.currency = interned.get(v[9])
		if p.amount, err = journal.NormalizeAmount(string(v[10])); err != nil {
			c.err = fmt.Errorf("position %d: %w", idx, err)
			return
		}
		c.tablePosts = append(c.tablePosts, p)
	}
	if err := rows.Err(); err != nil {
		c.err = fmt.Errorf("reading the journal: %w", err)
		return
	}
	if cur != nil {
		cur.end = len(c.tablePosts)
	}
}

// pgEpoch is where PostgreSQL's binary timestamps count microseconds from.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func decodeTx(t *chunkTx, v [][]byte) error {
	if len(v[1]) != journal.HashSize || len(v[2]) != 16 || len(v[4]) != 16 || len(v[6]) != 8 || v[3] == nil || v[5] == nil {
		return fmt.Errorf("reading the journal: malformed transaction at position %d", t.idx)
	}
	copy(t.leaf[:], v[1])
	copy(t.id[:], v[2])
	t.kind = interned.get(v[3])
	copy(t.principal[:], v[4])
	t.request = string(v[5])
	t.createdAt = pgEpoch.Add(time.Duration(int64(binary.BigEndian.Uint64(v[6]))) * time.Microsecond)
	if v[7] != nil {
		if len(v[7]) != 16 {
			return fmt.Errorf("reading the journal: malformed reverses at position %d", t.idx)
		}
		copy(t.revers[:], v[7])
		t.hasReverses = true
	}
	return nil
}

func int8Value(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("reading the journal: malformed position")
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

type accountInfo struct{ address, typ string }

// exporter turns chunks into rows.
type exporter struct {
	q        querier
	fn       func(*journal.Row) error
	accounts map[uuid.UUID]accountInfo
	row      journal.Row
	cps      map[int64]journal.Checkpoint
	hasher   journal.PostingHasher
	header   []byte
	missing  []uuid.UUID
	rows     uint64 // sealed rows emitted
}

// emit calls fn for the rows of a chunk, the checkpoints that end in it on their rows.
func (e *exporter) emit(ctx context.Context, c *chunk) error {
	if len(c.tableTxs) > 0 {
		if err := e.fromTables(ctx, c); err != nil {
			return err
		}
	}
	if err := e.checkpoints(ctx, c.lo, c.hi); err != nil {
		return err
	}
	start := 0
	for i := range c.txs {
		t := &c.txs[i]
		if c.badLeaf >= 0 && t.idx >= c.badLeaf {
			return e.badLeaf(c.badLeaf)
		}
		r := &e.row
		*r = journal.Row{
			TransactionID: t.id, CreatedAt: t.createdAt, Kind: t.kind, IdempotencyKey: t.key, Reverses: t.reverses,
			Sealed: true, JournalIndex: uint64(t.idx), LeafHash: t.leaf,
		}
		for k := start; k < t.end; k++ {
			p := &c.posts[k]
			r.Account, r.AccountType, r.Currency, r.Amount, r.PostingHash = p.account, p.accountType, p.currency, p.amount, p.hash
			r.Checkpoint = nil
			if k == t.end-1 {
				if cp, ok := e.cps[t.idx+1]; ok {
					r.Checkpoint = &cp
				}
			}
			e.rows++
			if err := e.fn(r); err != nil {
				return err
			}
		}
		start = t.end
	}
	if c.badLeaf >= 0 {
		return e.badLeaf(c.badLeaf)
	}
	return nil
}

// badLeaf reports stored leaf data that does not hash to its leaf hash, at the next row.
func (e *exporter) badLeaf(idx int64) error {
	return &journal.RowError{Row: e.rows + 1, Msg: fmt.Sprintf("the leaf data stored for journal index %d does not hash to its leaf_hash: "+
		"exports show that data, not the transaction as sealed; it was changed after sealing", idx)}
}

// fromTables turns the transactions of a chunk read from the ledger tables into rows to emit:
// account addresses from the cache, the transaction fields formatted, posting hashes computed.
func (e *exporter) fromTables(ctx context.Context, c *chunk) error {
	if err := e.resolveAccounts(ctx, c); err != nil {
		return err
	}
	start := 0
	for i := range c.tableTxs {
		t := &c.tableTxs[i]
		s := sealedTx{
			idx: t.idx, leaf: t.leaf, id: t.id.String(), kind: t.kind, createdAt: t.createdAt,
			key: journal.IdempotencyKey(t.principal.String(), t.request),
		}
		if t.hasReverses {
			s.reverses = t.revers.String()
		}
		var err error
		entry := journal.Entry{TransactionID: s.id, CreatedAt: s.createdAt, Kind: s.kind, IdempotencyKey: s.key, Reverses: s.reverses}
		if e.header, err = journal.AppendHeader(e.header[:0], &entry); err != nil {
			return err
		}
		e.hasher.Reset(e.header)
		for k, p := range c.tablePosts[start:t.end] {
			a := e.accounts[p.account]
			c.posts = append(c.posts, sealedPosting{account: a.address, accountType: a.typ, currency: p.currency, amount: p.amount,
				hash: e.hasher.Sum(k, a.address, a.typ, p.currency, p.amount)})
		}
		start = t.end
		s.end = len(c.posts)
		c.txs = append(c.txs, s)
	}
	return nil
}

// resolveAccounts loads the addresses of the chunk's accounts that the cache does not hold.
// Accounts never change once created, so a cached address stays right.
func (e *exporter) resolveAccounts(ctx context.Context, c *chunk) error {
	e.missing = e.missing[:0]
	seen := map[uuid.UUID]bool{}
	for _, p := range c.tablePosts {
		if _, ok := e.accounts[p.account]; !ok && !seen[p.account] {
			seen[p.account] = true
			e.missing = append(e.missing, p.account)
		}
	}
	if len(e.missing) == 0 {
		return nil
	}
	if len(e.accounts)+len(e.missing) > accountCacheSize {
		clear(e.accounts)
		return e.resolveAccounts(ctx, c)
	}
	rows, err := e.q.Query(ctx, `SELECT id, address, type FROM ledger_accounts WHERE id = ANY($1::UUID[])`, e.missing)
	if err != nil {
		return fmt.Errorf("reading accounts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var a accountInfo
		if err := rows.Scan(&id, &a.address, &a.typ); err != nil {
			return fmt.Errorf("reading accounts: %w", err)
		}
		e.accounts[id] = a
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading accounts: %w", err)
	}
	// A posting whose account row is missing keeps an empty address: the export shows it and
	// verification fails on it, rather than the export hiding it.
	for _, id := range e.missing {
		if _, ok := e.accounts[id]; !ok {
			e.accounts[id] = accountInfo{}
		}
	}
	return nil
}

// checkpoints loads the checkpoints that end in positions [lo, hi).
func (e *exporter) checkpoints(ctx context.Context, lo, hi int64) error {
	if e.cps == nil {
		e.cps = map[int64]journal.Checkpoint{}
	}
	clear(e.cps)
	rows, err := e.q.Query(ctx, `SELECT `+checkpointColumns+` FROM journal_checkpoints WHERE size > $1 AND size <= $2`, lo, hi)
	if err != nil {
		return fmt.Errorf("reading checkpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		cp, err := scanCheckpoint(rows)
		if err != nil {
			return fmt.Errorf("reading checkpoints: %w", err)
		}
		e.cps[int64(cp.Size)] = cp
	}
	return rows.Err()
}

// unsealed emits the transactions without a position below sealed, read by one statement.
func (e *exporter) unsealed(ctx context.Context, sealed int64, from, to *time.Time) error {
	rows, err := e.q.Query(ctx, UnsealedQuery, sealed, from, to)
	if err != nil {
		return fmt.Errorf("reading unsealed transactions: %w", err)
	}
	defer rows.Close()
	var (
		id, kind, principal, request, address, typ, currency, amount string
		reverses                                                     *string
		createdAt                                                    time.Time
	)
	for rows.Next() {
		if err := rows.Scan(&id, &kind, &principal, &request, &createdAt, &reverses, &address, &typ, &currency, &amount); err != nil {
			return fmt.Errorf("reading unsealed transactions: %w", err)
		}
		canon, err := journal.NormalizeAmount(amount)
		if err != nil {
			return fmt.Errorf("transaction %s: %w", id, err)
		}
		e.row = journal.Row{
			TransactionID: id, CreatedAt: createdAt.UTC(), Kind: kind, Account: address, AccountType: typ,
			Currency: currency, Amount: canon, IdempotencyKey: journal.IdempotencyKey(principal, request),
		}
		if reverses != nil {
			e.row.Reverses = *reverses
		}
		if err := e.fn(&e.row); err != nil {
			return err
		}
	}
	return rows.Err()
}
