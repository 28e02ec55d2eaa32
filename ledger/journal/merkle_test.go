package journal_test

import (
	"encoding/hex"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/openroyalty/royalty/ledger/journal"
)

// memTree is a tree kept in memory the way the sealer stores it: leaf hashes and the perfect
// subtrees Frontier.Append reports.
type memTree struct {
	f     journal.Frontier
	nodes map[journal.NodeID]journal.Hash
}

func newMemTree() *memTree { return &memTree{nodes: map[journal.NodeID]journal.Hash{}} }

func (m *memTree) add(leaf journal.Hash) {
	m.nodes[journal.NodeID{Level: 0, Index: m.f.Size()}] = leaf
	m.f.Append(leaf, func(n journal.Node) { m.nodes[n.NodeID] = n.Hash })
}

func (m *memTree) get(id journal.NodeID) (journal.Hash, error) {
	h, ok := m.nodes[id]
	if !ok {
		return h, fmt.Errorf("no node %v", id)
	}
	return h, nil
}

// The RFC 6962 test vectors (certificate-transparency's reference tests): the roots of the
// trees over the first n of eight leaves.
func TestRFC6962Vectors(t *testing.T) {
	leaves := []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}
	roots := []string{
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	}
	var f journal.Frontier
	if got, want := f.Root().String(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; got != want {
		t.Errorf("empty root = %s, want %s", got, want)
	}
	for i, l := range leaves {
		data, _ := hex.DecodeString(l)
		f.Append(journal.LeafHash(data), nil)
		if got := f.Root().String(); got != roots[i] {
			t.Errorf("root of %d leaves = %s, want %s", i+1, got, roots[i])
		}
	}
}

// TestAgainstTlog compares roots, stored subtrees and inclusion proofs with
// golang.org/x/mod/sumdb/tlog, an independent RFC 6962 implementation.
func TestAgainstTlog(t *testing.T) {
	const n = 300
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	m := newMemTree()
	for i := int64(0); i < n; i++ {
		data := []byte(fmt.Sprintf("record %d", i))
		hs, err := tlog.StoredHashes(i, data, reader)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
		m.add(journal.LeafHash(data))
		want, err := tlog.TreeHash(i+1, reader)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.f.Root(); got != journal.Hash(want) {
			t.Fatalf("root of %d leaves = %s, tlog says %s", i+1, got, want)
		}
	}
	// Every subtree the frontier reported is tlog's stored hash at the same place.
	for id, h := range m.nodes {
		if want := stored[tlog.StoredHashIndex(int(id.Level), int64(id.Index))]; h != journal.Hash(want) {
			t.Fatalf("node %v = %s, tlog says %s", id, h, want)
		}
	}
	for size := uint64(1); size <= 70; size++ {
		root, _ := tlog.TreeHash(int64(size), reader)
		for i := uint64(0); i < size; i++ {
			path, err := journal.InclusionPath(i, size, m.get)
			if err != nil {
				t.Fatal(err)
			}
			leaf := m.nodes[journal.NodeID{Index: i}]
			if err := journal.VerifyInclusion(i, size, leaf, path, journal.Hash(root)); err != nil {
				t.Fatalf("proof of %d in %d: %v", i, size, err)
			}
			want, err := tlog.ProveRecord(int64(size), int64(i), reader)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) != len(path) {
				t.Fatalf("proof of %d in %d has %d hashes, tlog's %d", i, size, len(path), len(want))
			}
			for k := range want {
				if path[k] != journal.Hash(want[k]) {
					t.Fatalf("proof of %d in %d differs from tlog's at %d", i, size, k)
				}
			}
			// tlog accepts ours.
			tp := make(tlog.RecordProof, len(path))
			for k := range path {
				tp[k] = tlog.Hash(path[k])
			}
			if err := tlog.CheckRecord(tp, int64(size), root, int64(i), tlog.Hash(leaf)); err != nil {
				t.Fatalf("tlog rejects our proof of %d in %d: %v", i, size, err)
			}
		}
	}
}

func TestVerifyInclusionRejects(t *testing.T) {
	m := newMemTree()
	for i := 0; i < 11; i++ {
		m.add(journal.LeafHash([]byte{byte(i)}))
	}
	root := m.f.Root()
	path, err := journal.InclusionPath(6, 11, m.get)
	if err != nil {
		t.Fatal(err)
	}
	leaf := m.nodes[journal.NodeID{Index: 6}]
	other := m.nodes[journal.NodeID{Index: 7}]
	flipped := append([]journal.Hash(nil), path...)
	// A path proves inclusion under a root; the size only shapes the walk (a signed checkpoint
	// binds size and root together), so "wrong size" is a size that shapes it differently.
	flipped[1][0] ^= 1
	tests := []struct {
		name        string
		index, size uint64
		leaf        journal.Hash
		path        []journal.Hash
		root        journal.Hash
	}{
		{"wrong leaf", 6, 11, other, path, root},
		{"wrong index", 7, 11, leaf, path, root},
		{"wrong size", 6, 7, leaf, path, root},
		{"index beyond size", 11, 11, leaf, path, root},
		{"changed path hash", 6, 11, leaf, flipped, root},
		{"short path", 6, 11, leaf, path[:len(path)-1], root},
		{"long path", 6, 11, leaf, append(path, root), root},
		{"wrong root", 6, 11, leaf, path, journal.EmptyRoot()},
	}
	for _, tt := range tests {
		if err := journal.VerifyInclusion(tt.index, tt.size, tt.leaf, tt.path, tt.root); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	if err := journal.VerifyInclusion(6, 11, leaf, path, root); err != nil {
		t.Fatalf("the untouched proof: %v", err)
	}
}

func TestFrontierRoundTrip(t *testing.T) {
	m := newMemTree()
	for i := 0; i < 45; i++ {
		m.add(journal.LeafHash([]byte{byte(i)}))
		ids := journal.FrontierIDs(m.f.Size())
		hs := make([]journal.Hash, len(ids))
		for k, id := range ids {
			var err error
			if hs[k], err = m.get(id); err != nil {
				t.Fatal(err)
			}
		}
		f, err := journal.NewFrontier(m.f.Size(), hs)
		if err != nil {
			t.Fatal(err)
		}
		if f.Root() != m.f.Root() {
			t.Fatalf("size %d: frontier rebuilt from stored nodes has another root", m.f.Size())
		}
	}
	if _, err := journal.NewFrontier(5, make([]journal.Hash, 1)); err == nil {
		t.Fatal("a frontier of 5 leaves with 1 node was accepted")
	}
}
