package journal_test

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/journal"
)

var at = time.Date(2026, 3, 4, 5, 6, 7, 890123000, time.UTC)

func sampleEntry() journal.Entry {
	return journal.Entry{
		TransactionID:  "7a3c5e0e-1b2d-4c5f-9a8b-0123456789ab",
		CreatedAt:      at,
		Kind:           "usage",
		IdempotencyKey: "5b0c8a52-0000-4000-8000-000000000001:req\t1\\x",
		Postings: []journal.Posting{
			{Account: "provider:5b0c8a52-0000-4000-8000-000000000001", AccountType: "provider", Currency: "USD", Amount: decimal.RequireFromString("0.000600000000")},
			{Account: "escrow:hn:/pg", AccountType: "identity_escrow", Currency: "USD", Amount: decimal.RequireFromString("-0.0005")},
			{Account: "unattributed", AccountType: "unattributed", Currency: "USD", Amount: decimal.RequireFromString("-0.0001")},
		},
	}
}

// TestLeafDataGolden pins the canonical encoding: a change here breaks every verifier and every
// sealed journal, and needs a new format tag.
func TestLeafDataGolden(t *testing.T) {
	e := sampleEntry()
	data, leaf, err := journal.EntryLeaf(&e)
	if err != nil {
		t.Fatal(err)
	}
	want := "royalty-journal-v1\n" +
		"7a3c5e0e-1b2d-4c5f-9a8b-0123456789ab\t2026-03-04T05:06:07.890123Z\tusage\t5b0c8a52-0000-4000-8000-000000000001:req\\t1\\\\x\t\n" +
		"provider:5b0c8a52-0000-4000-8000-000000000001\tprovider\tUSD\t0.0006\n" +
		"escrow:hn:/pg\tidentity_escrow\tUSD\t-0.0005\n" +
		"unattributed\tunattributed\tUSD\t-0.0001\n"
	if string(data) != want {
		t.Fatalf("leaf data:\n%q\nwant\n%q", data, want)
	}
	// SHA-256(0x00 || data), computed independently: printf '\x00…' | sha256sum.
	if got, want := leaf.String(), "a9f74de5a1d1fa0548e762e3abd25586654b57c24f768b53d4f71c586ead4319"; got != want {
		t.Fatalf("leaf hash = %s, want %s", got, want)
	}
	back, err := journal.ParseLeafData(data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := journal.LeafData(&back)
	if string(again) != string(data) {
		t.Fatalf("parse and encode again changed the data:\n%q", again)
	}
}

func TestFromTransaction(t *testing.T) {
	tx := ledger.Transaction{
		ID: "7a3c5e0e-1b2d-4c5f-9a8b-0123456789ab", Kind: ledger.KindReversal, CreatedAt: at,
		PrincipalID: "p", RequestID: "r", Reverses: "x",
		Postings: []ledger.Posting{{Account: "a", Type: ledger.AccountPlatform, Currency: "EUR", Amount: decimal.New(-15, -1)}},
	}
	e := journal.FromTransaction(tx)
	if e.IdempotencyKey != "p:r" || e.Kind != "reversal" || e.Reverses != "x" || e.Postings[0].AccountType != "platform" || e.Postings[0].Amount.String() != "-1.5" {
		t.Fatalf("FromTransaction = %+v", e)
	}
}

func TestCanonicalAmount(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0.000600000000", "0.0006"}, {"-0.000600000000", "-0.0006"}, {"12.000000000000", "12"},
		{"0012.50", "12.5"}, {"0", "0"}, {"-0.000", "0"}, {"100", "100"}, {"-100.010", "-100.01"},
	}
	for _, tt := range tests {
		got, err := journal.CanonicalAmount(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("CanonicalAmount(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if d := decimal.RequireFromString(tt.in); journal.FormatAmount(d) != tt.want {
			t.Errorf("FormatAmount(%s) = %q, want %q", tt.in, journal.FormatAmount(d), tt.want)
		}
	}
	for _, bad := range []string{"", "-", ".5", "1.", "1e3", "+1", "1,5", "--1", "1.2.3", " 1"} {
		if got, err := journal.CanonicalAmount(bad); err == nil {
			t.Errorf("CanonicalAmount(%q) = %q, want an error", bad, got)
		}
	}
}

func TestFormatTime(t *testing.T) {
	if s, err := journal.FormatTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))); err != nil || s != "2026-01-02T02:04:05.000000Z" {
		t.Fatalf("FormatTime = %q, %v", s, err)
	}
	if _, err := journal.FormatTime(at.Add(1)); err == nil {
		t.Fatal("a time with nanoseconds was formatted")
	}
}

func TestLeafDataRefusesEmpty(t *testing.T) {
	e := sampleEntry()
	e.Postings = nil
	if _, err := journal.LeafData(&e); err == nil {
		t.Fatal("an entry without postings was encoded")
	}
}

func TestParseLeafDataRejects(t *testing.T) {
	e := sampleEntry()
	data, _ := journal.LeafData(&e)
	good := string(data)
	tests := map[string]string{
		"no final newline":    strings.TrimSuffix(good, "\n"),
		"other format":        strings.Replace(good, "royalty-journal-v1", "royalty-journal-v2", 1),
		"non-canonical":       strings.Replace(good, "0.0006", "0.00060", 1),
		"bad escape":          strings.Replace(good, `\t1`, `\q1`, 1),
		"missing field":       strings.Replace(good, "\tprovider\t", "\t", 1),
		"no postings":         strings.SplitAfterN(good, "\n", 3)[0] + strings.SplitAfterN(good, "\n", 3)[1],
		"time not canonical":  strings.Replace(good, "07.890123Z", "07.89Z", 1),
		"amount not a number": strings.Replace(good, "-0.0005", "x", 1),
	}
	for name, in := range tests {
		if _, err := journal.ParseLeafData([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPostingHashCoversEveryField(t *testing.T) {
	e := sampleEntry()
	header, err := journal.AppendHeader(nil, &e)
	if err != nil {
		t.Fatal(err)
	}
	var h journal.PostingHasher
	h.Reset(header)
	base := h.Sum(1, "escrow:hn:/pg", "identity_escrow", "USD", "-0.0005")
	variants := []journal.Hash{
		h.Sum(2, "escrow:hn:/pg", "identity_escrow", "USD", "-0.0005"),
		h.Sum(1, "escrow:hn:/pG", "identity_escrow", "USD", "-0.0005"),
		h.Sum(1, "escrow:hn:/pg", "contributor", "USD", "-0.0005"),
		h.Sum(1, "escrow:hn:/pg", "identity_escrow", "EUR", "-0.0005"),
		h.Sum(1, "escrow:hn:/pg", "identity_escrow", "USD", "-0.0006"),
	}
	e.Kind = "payout"
	header2, _ := journal.AppendHeader(nil, &e)
	h.Reset(header2)
	variants = append(variants, h.Sum(1, "escrow:hn:/pg", "identity_escrow", "USD", "-0.0005"))
	for i, v := range variants {
		if v == base {
			t.Errorf("variant %d hashes like the original", i)
		}
	}
	h.Reset(header)
	if h.Sum(1, "escrow:hn:/pg", "identity_escrow", "USD", "-0.0005") != base {
		t.Fatal("posting hash is not deterministic")
	}
}

func TestKeys(t *testing.T) {
	priv, err := journal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := journal.MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	back, err := journal.ParsePrivateKey(pemKey)
	if err != nil || !back.Equal(priv) {
		t.Fatalf("PEM round trip: %v", err)
	}
	seed := []byte(b64(priv.Seed()))
	if back, err := journal.ParsePrivateKey(seed); err != nil || !back.Equal(priv) {
		t.Fatalf("base64 seed: %v", err)
	}
	if back, err := journal.ParsePrivateKey([]byte(b64(priv))); err != nil || !back.Equal(priv) {
		t.Fatalf("base64 key: %v", err)
	}
	bad := append(ed25519.PrivateKey(nil), priv...)
	bad[40] ^= 1
	for name, in := range map[string][]byte{
		"corrupt public half": []byte(b64(bad)),
		"wrong size":          []byte(b64([]byte("short"))),
		"not base64":          []byte("!!"),
		"other PEM":           []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
	} {
		if _, err := journal.ParsePrivateKey(in); err == nil {
			t.Errorf("ParsePrivateKey(%s): accepted", name)
		}
	}
	pub := priv.Public().(ed25519.PublicKey)
	if got, err := journal.ParsePublicKey([]byte(journal.EncodePublicKey(pub) + "\n")); err != nil || !got.Equal(pub) {
		t.Fatalf("public key round trip: %v", err)
	}
	if _, err := journal.ParsePublicKey([]byte(b64(priv))); err == nil {
		t.Fatal("a 64-byte value was accepted as a public key")
	}
	if id := journal.KeyID(pub); len(id) != 16 {
		t.Fatalf("key id %q is not 16 hex digits", id)
	}
}

func TestCheckpointSignature(t *testing.T) {
	priv, _ := journal.GenerateKey(nil)
	s := journal.NewSigner(priv)
	var root journal.Hash
	root[0] = 7
	cp, err := s.Sign(42, root, at.Add(999)) // truncated to the microsecond
	if err != nil {
		t.Fatal(err)
	}
	text, _ := cp.Text()
	want := "royalty-journal-v1 checkpoint\nsize 42\nroot 07" + strings.Repeat("0", 62) + "\ntime 2026-03-04T05:06:07.890123Z\n"
	if string(text) != want {
		t.Fatalf("checkpoint text:\n%q\nwant\n%q", text, want)
	}
	keys := journal.NewKeys(s.PublicKey())
	if err := cp.Verify(keys); err != nil {
		t.Fatal(err)
	}
	other, _ := journal.GenerateKey(nil)
	tampered := []func(c *journal.Checkpoint){
		func(c *journal.Checkpoint) { c.Size++ },
		func(c *journal.Checkpoint) { c.Root[31] ^= 1 },
		func(c *journal.Checkpoint) { c.Time = c.Time.Add(time.Microsecond) },
		func(c *journal.Checkpoint) { c.Signature = append([]byte(nil), c.Signature...); c.Signature[0] ^= 1 },
		func(c *journal.Checkpoint) { c.KeyID = journal.KeyID(other.Public().(ed25519.PublicKey)) },
	}
	for i, f := range tampered {
		c := cp
		f(&c)
		if err := c.Verify(keys); err == nil {
			t.Errorf("tampered checkpoint %d verifies", i)
		}
	}
}
