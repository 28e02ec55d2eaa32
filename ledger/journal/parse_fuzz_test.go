package journal_test

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"

	"github.com/openroyalty/royalty/ledger/journal"
)

// FuzzParseHash holds ParseHash to its contract: it accepts exactly 64 hex digits, and a parsed
// hash prints as the lower case of its input and parses back to itself.
func FuzzParseHash(f *testing.F) {
	f.Add(journal.EmptyRoot().String())
	f.Add(strings.ToUpper(journal.EmptyRoot().String()))
	f.Add(strings.Repeat("g", 64))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := journal.ParseHash(s)
		if err != nil {
			return
		}
		if h.String() != strings.ToLower(s) {
			t.Fatalf("ParseHash(%q) prints as %s", s, h)
		}
		if back, err := journal.ParseHash(h.String()); err != nil || back != h {
			t.Fatalf("%s does not parse back: %v", h, err)
		}
	})
}

// FuzzParsePublicKey feeds ParsePublicKey anything a user may pass as --pubkey: it never panics,
// and a key it accepts is 32 bytes and is read again from its own encoding.
func FuzzParsePublicKey(f *testing.F) {
	pub := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	f.Add([]byte(journal.EncodePublicKey(pub)))
	f.Add([]byte(" " + journal.EncodePublicKey(pub) + "\n"))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("AAAA"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := journal.ParsePublicKey(data)
		if err != nil {
			return
		}
		if len(key) != ed25519.PublicKeySize {
			t.Fatalf("accepted a key of %d bytes", len(key))
		}
		back, err := journal.ParsePublicKey([]byte(journal.EncodePublicKey(key)))
		if err != nil || !back.Equal(key) {
			t.Fatalf("the key does not read back from its encoding: %v", err)
		}
	})
}

// FuzzInclusionProof feeds `royalty verify proof` arbitrary proof files, starting from a valid
// one: reading and verifying never panic, and a proof that verifies proves the transaction it
// names, verifies again after a round trip through its JSON, and carries a checkpoint signed
// by the key it was checked against.
func FuzzInclusionProof(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	s := journal.NewSigner(priv)
	keys := journal.NewKeys(s.PublicKey())
	_, _, proofOf := provedTree(f, s, 5)
	for _, i := range []uint64{0, 3, 4} {
		b, err := json.Marshal(proofOf(i))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format":"something else"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p journal.InclusionProof
		if err := json.Unmarshal(data, &p); err != nil {
			return
		}
		e, err := p.Verify(keys)
		if err != nil {
			return
		}
		if e.TransactionID != p.TransactionID {
			t.Fatalf("a proof of %s verified as transaction %s", p.TransactionID, e.TransactionID)
		}
		if err := p.Checkpoint.Verify(keys); err != nil {
			t.Fatalf("a proof verified under a checkpoint that does not: %v", err)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back journal.InclusionProof
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("a verified proof does not read back: %v\n%s", err, b)
		}
		if _, err := back.Verify(keys); err != nil {
			t.Fatalf("a verified proof fails after a round trip: %v\n%s", err, b)
		}
	})
}
