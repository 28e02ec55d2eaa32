package journal

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"
)

// The Merkle tree is RFC 6962's (and RFC 9162's): leaves are LeafHash(data) = SHA-256(0x00 ||
// data), interior nodes NodeHash(l, r) = SHA-256(0x01 || l || r), and the tree over n leaves
// splits at the largest power of two below n, so that a tree only ever grows to the right and
// every tree is a prefix of the later ones.

// NodeHash is the hash of an interior node: SHA-256(0x01 || left || right).
func NodeHash(left, right Hash) Hash {
	var b [1 + 2*HashSize]byte
	b[0] = nodePrefix
	copy(b[1:], left[:])
	copy(b[1+HashSize:], right[:])
	return sha256.Sum256(b[:])
}

// EmptyRoot is the root of the tree without leaves: SHA-256 of nothing.
func EmptyRoot() Hash { return sha256.Sum256(nil) }

// NodeID names a perfect subtree: the one at height Level (leaves are level 0) covering the
// leaves [Index·2^Level, (Index+1)·2^Level).
type NodeID struct {
	Level uint8
	Index uint64
}

func (id NodeID) String() string { return fmt.Sprintf("(level %d, index %d)", id.Level, id.Index) }

// Node is a perfect subtree and its hash.
type Node struct {
	NodeID
	Hash Hash
}

// Frontier is the compact range of a tree: the roots of the perfect subtrees that make up its
// leaves [0, size), one per set bit of size, largest (leftmost) first. It is all that is needed
// to append leaves and compute the root, so a tree of any size is extended in O(log size)
// memory. The zero value is the empty tree.
type Frontier struct {
	size  uint64
	nodes []Hash
}

// NewFrontier returns the frontier of a tree of size leaves from the hashes of its subtrees,
// largest first (FrontierIDs lists them).
func NewFrontier(size uint64, nodes []Hash) (*Frontier, error) {
	if len(nodes) != bits.OnesCount64(size) {
		return nil, fmt.Errorf("a tree of %d leaves has %d frontier nodes, got %d", size, bits.OnesCount64(size), len(nodes))
	}
	return &Frontier{size: size, nodes: append([]Hash(nil), nodes...)}, nil
}

// FrontierIDs lists the perfect subtrees that make up a tree of size leaves, largest first.
func FrontierIDs(size uint64) []NodeID {
	ids := make([]NodeID, 0, bits.OnesCount64(size))
	var start uint64
	for level := 63; level >= 0; level-- {
		if size&(1<<level) != 0 {
			ids = append(ids, NodeID{Level: uint8(level), Index: start >> level})
			start += 1 << level
		}
	}
	return ids
}

// Size is the number of leaves.
func (f *Frontier) Size() uint64 { return f.size }

// Nodes returns the frontier's subtree hashes, largest first.
func (f *Frontier) Nodes() []Hash { return append([]Hash(nil), f.nodes...) }

// Append adds a leaf hash. For every perfect subtree of two or more leaves that the leaf
// completes, emit (if not nil) is called with the subtree's id and hash, lowest first; a store
// that keeps them can serve inclusion proofs without reading every leaf.
func (f *Frontier) Append(leaf Hash, emit func(Node)) {
	index := f.size // the new leaf's index
	f.nodes = append(f.nodes, leaf)
	f.size++
	// Each trailing one bit of the old size is a subtree of the same height as the one being
	// carried: merge them, as in a binary counter.
	for level := uint8(0); index&1 == 1; level++ {
		n := len(f.nodes)
		h := NodeHash(f.nodes[n-2], f.nodes[n-1])
		f.nodes = append(f.nodes[:n-2], h)
		index >>= 1
		if emit != nil {
			emit(Node{NodeID: NodeID{Level: level + 1, Index: index}, Hash: h})
		}
	}
}

// Root returns the tree's root hash.
func (f *Frontier) Root() Hash {
	if len(f.nodes) == 0 {
		return EmptyRoot()
	}
	r := f.nodes[len(f.nodes)-1]
	for i := len(f.nodes) - 2; i >= 0; i-- {
		r = NodeHash(f.nodes[i], r)
	}
	return r
}

// Clone returns an independent copy.
func (f *Frontier) Clone() *Frontier {
	return &Frontier{size: f.size, nodes: append([]Hash(nil), f.nodes...)}
}

// subtreeIDs decomposes the leaves [lo, hi) into perfect subtrees, left to right. lo must be a
// multiple of the largest power of two not above hi-lo, which holds for every range of an
// inclusion proof.
func subtreeIDs(lo, hi uint64) []NodeID {
	var ids []NodeID
	for lo < hi {
		level := 63 - bits.LeadingZeros64(hi-lo) // largest 2^level <= hi-lo
		for lo%(1<<level) != 0 {
			level--
		}
		ids = append(ids, NodeID{Level: uint8(level), Index: lo >> level})
		lo += 1 << level
	}
	return ids
}

// largestPowerBelow returns the largest power of two strictly smaller than n (n >= 2).
func largestPowerBelow(n uint64) uint64 { return 1 << (63 - bits.LeadingZeros64(n-1)) }

// InclusionIDs returns, for each hash of the inclusion proof of leaf index in a tree of size
// leaves (RFC 9162 §2.1.3.1, from the leaf up), the perfect subtrees whose fold gives it.
func InclusionIDs(index, size uint64) ([][]NodeID, error) {
	if index >= size {
		return nil, fmt.Errorf("leaf %d is not in a tree of %d leaves", index, size)
	}
	var path [][]NodeID
	lo, hi := uint64(0), size
	for hi-lo > 1 {
		k := largestPowerBelow(hi - lo)
		if index < lo+k {
			path = append(path, subtreeIDs(lo+k, hi))
			hi = lo + k
		} else {
			path = append(path, subtreeIDs(lo, lo+k))
			lo += k
		}
	}
	// Built from the root down; a proof lists hashes from the leaf up.
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	return path, nil
}

// FoldSubtrees returns the root of adjacent perfect subtrees given left to right, as RFC 6962
// combines them: the rightmost two first.
func FoldSubtrees(hashes []Hash) Hash {
	r := hashes[len(hashes)-1]
	for i := len(hashes) - 2; i >= 0; i-- {
		r = NodeHash(hashes[i], r)
	}
	return r
}

// InclusionPath builds the inclusion proof of leaf index in a tree of size leaves from stored
// subtree hashes; get returns the hash of a perfect subtree (level 0: a leaf hash).
func InclusionPath(index, size uint64, get func(NodeID) (Hash, error)) ([]Hash, error) {
	ids, err := InclusionIDs(index, size)
	if err != nil {
		return nil, err
	}
	path := make([]Hash, len(ids))
	for i, group := range ids {
		hs := make([]Hash, len(group))
		for j, id := range group {
			if hs[j], err = get(id); err != nil {
				return nil, err
			}
		}
		path[i] = FoldSubtrees(hs)
	}
	return path, nil
}

// ErrProof is returned (wrapped) by VerifyInclusion for a proof that does not prove inclusion.
var ErrProof = errors.New("invalid inclusion proof")

// VerifyInclusion checks that leaf is the leaf hash at index in the tree of size leaves whose
// root is root, with the algorithm of RFC 9162 §2.1.3.2.
func VerifyInclusion(index, size uint64, leaf Hash, path []Hash, root Hash) error {
	if index >= size {
		return fmt.Errorf("%w: leaf index %d is not below the tree size %d", ErrProof, index, size)
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range path {
		if sn == 0 {
			return fmt.Errorf("%w: the path has more hashes than a tree of %d leaves needs", ErrProof, size)
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fmt.Errorf("%w: the path has fewer hashes than a tree of %d leaves needs", ErrProof, size)
	}
	if r != root {
		return fmt.Errorf("%w: the path leads to root %s, not %s", ErrProof, r, root)
	}
	return nil
}
