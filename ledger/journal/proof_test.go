package journal_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/openroyalty/royalty/ledger/journal"
)

// provedTree puts n entries in a tree, signs its root with s, and returns the entries, the
// checkpoint and a function making the inclusion proof of entry i under it.
func provedTree(tb testing.TB, s *journal.Signer, n int) ([]journal.Entry, journal.Checkpoint, func(i uint64) journal.InclusionProof) {
	tb.Helper()
	es := entries(n)
	m := newMemTree()
	datas := make([][]byte, len(es))
	for i := range es {
		data, leaf, err := journal.EntryLeaf(&es[i])
		if err != nil {
			tb.Fatal(err)
		}
		datas[i] = data
		m.add(leaf)
	}
	cp, err := s.Sign(m.f.Size(), m.f.Root(), at)
	if err != nil {
		tb.Fatal(err)
	}
	return es, cp, func(i uint64) journal.InclusionProof {
		path, err := journal.InclusionPath(i, cp.Size, m.get)
		if err != nil {
			tb.Fatal(err)
		}
		return journal.InclusionProof{TransactionID: es[i].TransactionID, Index: i, LeafData: datas[i],
			LeafHash: journal.LeafHash(datas[i]), Path: path, Checkpoint: cp}
	}
}

func TestInclusionProof(t *testing.T) {
	priv, _ := journal.GenerateKey(nil)
	s := journal.NewSigner(priv)
	keys := journal.NewKeys(s.PublicKey())
	es, cp, proofOf := provedTree(t, s, 13)
	for i := range es {
		p := proofOf(uint64(i))
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back journal.InclusionProof
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		e, err := back.Verify(keys)
		if err != nil {
			t.Fatalf("proof of %d: %v\n%s", i, err, b)
		}
		if e.TransactionID != es[i].TransactionID || len(e.Postings) != len(es[i].Postings) || !e.Postings[0].Amount.Equal(es[i].Postings[0].Amount) {
			t.Fatalf("proof of %d proves %+v", i, e)
		}
	}

	other, _ := journal.GenerateKey(nil)
	tests := map[string]func(p *journal.InclusionProof){
		"changed amount in leaf data": func(p *journal.InclusionProof) {
			p.LeafData = []byte(strings.Replace(string(p.LeafData), "-0.000501", "-0.000502", 1))
		},
		"changed amount and leaf hash": func(p *journal.InclusionProof) {
			p.LeafData = []byte(strings.Replace(string(p.LeafData), "-0.000501", "-0.000502", 1))
			p.LeafHash = journal.LeafHash(p.LeafData)
		},
		"other transaction id": func(p *journal.InclusionProof) { p.TransactionID = es[4].TransactionID },
		"other index":          func(p *journal.InclusionProof) { p.Index = 4 },
		"changed path":         func(p *journal.InclusionProof) { p.Path[2][0] ^= 1 },
		"dropped path hash":    func(p *journal.InclusionProof) { p.Path = p.Path[1:] },
		"bad signature":        func(p *journal.InclusionProof) { p.Checkpoint.Signature[0] ^= 1 },
		"signed by another key": func(p *journal.InclusionProof) {
			p.Checkpoint, _ = journal.NewSigner(other).Sign(cp.Size, cp.Root, cp.Time)
		},
		"other root": func(p *journal.InclusionProof) { p.Checkpoint, _ = s.Sign(cp.Size, journal.EmptyRoot(), cp.Time) },
	}
	for name, tamper := range tests {
		p := proofOf(5)
		p.Path = append([]journal.Hash(nil), p.Path...)
		p.Checkpoint.Signature = append([]byte(nil), p.Checkpoint.Signature...)
		tamper(&p)
		if _, err := p.Verify(keys); err == nil {
			t.Errorf("%s: the proof verifies", name)
		}
	}
	var p journal.InclusionProof
	if err := json.Unmarshal([]byte(`{"format":"something else"}`), &p); err == nil {
		t.Fatal("a file of another format was read as a proof")
	}
}

// FuzzLeafData checks that any entry encodes to leaf data that parses back to the same entry and
// that the encoding is injective on the fields that carry free text.
func FuzzLeafData(f *testing.F) {
	f.Add("usage", "p:req", "", "escrow:hn:/pg", "-0.0005")
	f.Add("a\tb", "x\\ny", "\r", "acc\n", "12.5")
	f.Fuzz(func(t *testing.T, kind, key, reverses, account, amount string) {
		e := sampleEntry()
		e.Kind, e.IdempotencyKey, e.Reverses, e.Postings[1].Account = kind, key, reverses, account
		data, err := journal.LeafData(&e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := journal.ParseLeafData(data)
		if err != nil {
			t.Fatalf("leaf data does not parse back: %v\n%q", err, data)
		}
		if back.Kind != kind || back.IdempotencyKey != key || back.Reverses != reverses || back.Postings[1].Account != account {
			t.Fatalf("round trip changed the entry: %+v", back)
		}
		if c, err := journal.CanonicalAmount(amount); err == nil {
			if c2, err := journal.CanonicalAmount(c); err != nil || c2 != c {
				t.Fatalf("CanonicalAmount is not idempotent on %q: %q, %q", amount, c, c2)
			}
		}
	})
}
