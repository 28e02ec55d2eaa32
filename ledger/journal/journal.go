// Package journal makes the ledger's journal verifiable without trusting the operator: every
// committed transaction gets a position (its journal index) in an RFC 6962 Merkle tree over a
// canonical encoding of the transaction and its postings, and signed checkpoints (Ed25519) state
// the tree's size and root hash at a time. Anyone holding an export, the public key and this
// package (or an independent implementation of docs/journal-format.md) can recompute every hash,
// check every signature, name the first row that does not match, and check an inclusion proof
// for one transaction against a checkpoint.
//
// The package is pure: canonical encoding (encoding.go), the Merkle tree with its compact range
// and proofs (merkle.go), checkpoints, keys and signatures (checkpoint.go), the streaming
// verifier of exported rows (verify.go) and inclusion proofs (proof.go). Assigning positions in
// a database (the sealer) lives in ledger/journal/postgres. It imports nothing beyond the
// standard library, decimal and the ledger's domain types.
package journal

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Format is the version tag that starts every hashed or signed text of this format. A change to
// any encoding rule gets a new tag.
const Format = "royalty-journal-v1"

// HashSize is the size of a SHA-256 hash.
const HashSize = sha256.Size

// Hash is a SHA-256 hash: a leaf hash, an interior node or a root.
type Hash [HashSize]byte

// String returns the hash in lower-case hex, the form used in exports, checkpoints and the API.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash parses a hash in hex (64 hex digits, either case).
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*HashSize {
		return h, fmt.Errorf("want %d hex digits, got %d characters", 2*HashSize, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("not hex: %w", err)
	}
	return h, nil
}
