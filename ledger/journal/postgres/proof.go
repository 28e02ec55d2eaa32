package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/ledger/journal"
)

// InclusionProof proves that a transaction is included under the checkpoint of size (0: the
// newest). The leaf data is encoded from the transaction as stored now: if it was changed after
// sealing, the proof does not verify, which is the point.
// It can return:
//   - EINVALID: the transaction id is not a UUID
//   - ENOTFOUND: the transaction is not sealed (yet), or no checkpoint has that size
//   - EPRECONDITION: the checkpoint is older than the transaction's position
func (s *Store) InclusionProof(ctx context.Context, transactionID string, size uint64) (journal.InclusionProof, error) {
	if err := checkTxID(transactionID); err != nil {
		return journal.InclusionProof{}, err
	}
	// One snapshot, so that the checkpoint, the nodes and the leaf agree: a read-only REPEATABLE
	// READ transaction, retried like every other when the database is briefly unreachable.
	var p journal.InclusionProof
	err := pgdb.Tx(ctx, s.pool, pgdb.TxOptions{Op: "building an inclusion proof", ReadOnly: true, Isolation: pgx.RepeatableRead},
		func(ctx context.Context, tx pgx.Tx) (err error) {
			p, err = inclusionProof(ctx, tx, transactionID, size)
			return err
		})
	return p, err
}

func inclusionProof(ctx context.Context, tx pgx.Tx, transactionID string, size uint64) (journal.InclusionProof, error) {
	p := journal.InclusionProof{TransactionID: transactionID}
	var idx int64
	var leaf []byte
	err := tx.QueryRow(ctx, `SELECT idx, leaf_hash FROM journal_leaves WHERE transaction_id = $1`, transactionID).Scan(&idx, &leaf)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, royalty.FieldErrorf(royalty.ENOTFOUND, "transaction_id", "transaction %s is not in the journal (it does not exist or is not sealed yet; sealing takes a few seconds)", transactionID)
	}
	if err != nil {
		return p, fmt.Errorf("reading the leaf of %s: %w", transactionID, err)
	}
	p.Index = uint64(idx)
	copy(p.LeafHash[:], leaf)
	if size == 0 {
		cp, ok, err := latest(ctx, tx)
		if err != nil {
			return p, err
		}
		if !ok {
			return p, royalty.Errorf(royalty.ENOTFOUND, "no checkpoint yet")
		}
		p.Checkpoint = cp
	} else {
		cp, err := scanCheckpoint(tx.QueryRow(ctx, `SELECT `+checkpointColumns+` FROM journal_checkpoints WHERE size = $1`, int64(size)))
		if errors.Is(err, pgx.ErrNoRows) {
			return p, royalty.FieldErrorf(royalty.ENOTFOUND, "checkpoint_size", "no checkpoint has size %d (ListCheckpoints lists them)", size)
		}
		if err != nil {
			return p, fmt.Errorf("reading checkpoint %d: %w", size, err)
		}
		p.Checkpoint = cp
	}
	if p.Index >= p.Checkpoint.Size {
		return p, royalty.FieldErrorf(royalty.EPRECONDITION, "checkpoint_size", "the checkpoint of size %d was signed before transaction %s (journal index %d); use a later one", p.Checkpoint.Size, transactionID, p.Index)
	}
	ids, err := journal.InclusionIDs(p.Index, p.Checkpoint.Size)
	if err != nil {
		return p, err
	}
	var all []journal.NodeID
	for _, g := range ids {
		all = append(all, g...)
	}
	nodes, err := readNodes(ctx, tx, all)
	if err != nil {
		return p, err
	}
	if p.Path, err = journal.InclusionPath(p.Index, p.Checkpoint.Size, func(id journal.NodeID) (journal.Hash, error) { return nodes[id], nil }); err != nil {
		return p, err
	}
	es, err := entries(ctx, tx, []string{transactionID}, nil)
	if err != nil {
		return p, err
	}
	if len(es) != 1 {
		return p, fmt.Errorf("sealed transaction %s has no postings", transactionID)
	}
	if p.LeafData, err = journal.LeafData(&es[0]); err != nil {
		return p, err
	}
	return p, nil
}

// Verify checks the journal as stored, exactly as `royalty verify` checks an export of it
// (journal.Verifier, transactions not sealed yet allowed at the end), but with every sealed
// transaction read from the ledger tables, so that a change to them after sealing is found;
// it also checks that the leaf data stored at sealing, which exports show, hashes to the same
// leaf hashes, and that the stored subtrees the sealer and inclusion proofs build on hash to the
// newest checkpoint's root. Inconsistencies are reported as a *journal.RowError naming the
// export row.
func (s *Store) Verify(ctx context.Context, keys journal.Keys) (journal.Summary, error) {
	v := journal.NewVerifier(keys, journal.VerifyOptions{AllowUnsealed: true})
	err := s.ExportWith(ctx, timeZero, timeZero, ExportOptions{FromTables: true}, v.Add)
	if re, ok := journal.IsRowError(err); ok {
		v.Fail(re) // the verifier's own, or the exporter's: stored leaf data that does not match
	} else if err != nil {
		return journal.Summary{}, err
	}
	sum, err := v.Close()
	if err != nil || sum.Newest == nil {
		return sum, err
	}
	f, ferr := frontier(ctx, s.pool, sum.Newest.Size)
	switch {
	case ferr != nil:
		return sum, &journal.RowError{Row: sum.Rows + 1, Msg: ferr.Error(), Err: ferr}
	case f.Root() != sum.Newest.Root:
		return sum, &journal.RowError{Row: sum.Rows + 1, Msg: fmt.Sprintf("the stored subtrees of the journal (used for inclusion proofs) hash to %s, not to the root %s of checkpoint %d", f.Root(), sum.Newest.Root, sum.Newest.Size)}
	}
	return sum, nil
}
