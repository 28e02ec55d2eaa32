package journal

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// InclusionProof proves that a transaction is the leaf at Index of the tree that a signed
// checkpoint covers. Everything needed to check it offline is in it, except the trusted key.
type InclusionProof struct {
	TransactionID string
	Index         uint64
	// LeafData is the transaction's canonical encoding (LeafData), so that the holder sees what
	// was proven; LeafHash is its leaf hash.
	LeafData   []byte
	LeafHash   Hash
	Path       []Hash
	Checkpoint Checkpoint
}

// Verify checks the proof: the leaf data hashes to the leaf hash and names the transaction, the
// path leads from the leaf to the checkpoint's root, and the checkpoint is signed by one of keys.
// It returns the proven transaction.
func (p *InclusionProof) Verify(keys Keys) (Entry, error) {
	if LeafHash(p.LeafData) != p.LeafHash {
		return Entry{}, fmt.Errorf("%w: the leaf data does not hash to the leaf hash %s", ErrProof, p.LeafHash)
	}
	e, err := ParseLeafData(p.LeafData)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrProof, err)
	}
	if e.TransactionID != p.TransactionID {
		return Entry{}, fmt.Errorf("%w: the leaf data is transaction %s, not %s", ErrProof, e.TransactionID, p.TransactionID)
	}
	if err := VerifyInclusion(p.Index, p.Checkpoint.Size, p.LeafHash, p.Path, p.Checkpoint.Root); err != nil {
		return Entry{}, err
	}
	if err := p.Checkpoint.Verify(keys); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// ParseLeafData parses a transaction's canonical encoding back into an Entry. It accepts
// exactly what LeafData produces.
func ParseLeafData(data []byte) (Entry, error) {
	text := string(data)
	if !strings.HasSuffix(text, "\n") {
		return Entry{}, fmt.Errorf("leaf data does not end with a line feed")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 || lines[0] != Format {
		return Entry{}, fmt.Errorf("leaf data does not start with %q and a transaction line and postings", Format)
	}
	head, err := splitFields(lines[1], 5)
	if err != nil {
		return Entry{}, fmt.Errorf("transaction line: %w", err)
	}
	at, err := time.Parse(TimeLayout, head[1])
	if err != nil {
		return Entry{}, fmt.Errorf("transaction line: created_at: %w", err)
	}
	e := Entry{TransactionID: head[0], CreatedAt: at, Kind: head[2], IdempotencyKey: head[3], Reverses: head[4]}
	for i, line := range lines[2:] {
		f, err := splitFields(line, 4)
		if err != nil {
			return Entry{}, fmt.Errorf("posting %d: %w", i, err)
		}
		amount, err := decimal.NewFromString(f[3])
		if err != nil || FormatAmount(amount) != f[3] {
			return Entry{}, fmt.Errorf("posting %d: amount %q is not a canonical decimal", i, f[3])
		}
		e.Postings = append(e.Postings, Posting{Account: f[0], AccountType: f[1], Currency: f[2], Amount: amount})
	}
	again, err := LeafData(&e)
	if err != nil {
		return Entry{}, err
	}
	if string(again) != text {
		return Entry{}, fmt.Errorf("leaf data is not in canonical form")
	}
	return e, nil
}

// splitFields splits a line into n tab-separated fields and undoes the escapes.
func splitFields(line string, n int) ([]string, error) {
	parts := strings.Split(line, "\t")
	if len(parts) != n {
		return nil, fmt.Errorf("want %d tab-separated fields, got %d", n, len(parts))
	}
	for i, p := range parts {
		if !strings.Contains(p, `\`) {
			continue
		}
		var b strings.Builder
		for j := 0; j < len(p); j++ {
			if p[j] != '\\' {
				b.WriteByte(p[j])
				continue
			}
			j++
			if j == len(p) {
				return nil, fmt.Errorf("field %d ends with a lone backslash", i)
			}
			switch p[j] {
			case '\\':
				b.WriteByte('\\')
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			default:
				return nil, fmt.Errorf("field %d has an unknown escape \\%c", i, p[j])
			}
		}
		parts[i] = b.String()
	}
	return parts, nil
}

// proofJSON is the file format of an inclusion proof (docs/journal-format.md).
type proofJSON struct {
	Format        string         `json:"format"`
	TransactionID string         `json:"transaction_id"`
	Index         uint64         `json:"index"`
	LeafHash      string         `json:"leaf_hash"`
	LeafData      string         `json:"leaf_data"`
	Path          []string       `json:"path"`
	Checkpoint    checkpointJSON `json:"checkpoint"`
}

type checkpointJSON struct {
	Size      uint64 `json:"size"`
	RootHash  string `json:"root_hash"`
	Time      string `json:"time"`
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"`
}

// proofFormat tags proof files.
const proofFormat = Format + " inclusion proof"

// MarshalJSON writes the proof file format: hashes in hex, the leaf data as text, the signature
// in base64 and the time in the canonical format.
func (p InclusionProof) MarshalJSON() ([]byte, error) {
	at, err := FormatTime(p.Checkpoint.Time)
	if err != nil {
		return nil, err
	}
	out := proofJSON{
		Format: proofFormat, TransactionID: p.TransactionID, Index: p.Index, LeafHash: p.LeafHash.String(),
		LeafData: string(p.LeafData), Path: make([]string, len(p.Path)),
		Checkpoint: checkpointJSON{Size: p.Checkpoint.Size, RootHash: p.Checkpoint.Root.String(), Time: at,
			KeyID: p.Checkpoint.KeyID, Signature: p.Checkpoint.SignatureString()},
	}
	for i, h := range p.Path {
		out.Path[i] = h.String()
	}
	return json.MarshalIndent(out, "", "  ")
}

// UnmarshalJSON reads the proof file format.
func (p *InclusionProof) UnmarshalJSON(b []byte) error {
	var in proofJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	if in.Format != proofFormat {
		return fmt.Errorf("not an inclusion proof: format is %q, want %q", in.Format, proofFormat)
	}
	var q InclusionProof
	var err error
	q.TransactionID, q.Index, q.LeafData = in.TransactionID, in.Index, []byte(in.LeafData)
	if q.LeafHash, err = ParseHash(in.LeafHash); err != nil {
		return fmt.Errorf("leaf_hash: %w", err)
	}
	for i, s := range in.Path {
		h, err := ParseHash(s)
		if err != nil {
			return fmt.Errorf("path[%d]: %w", i, err)
		}
		q.Path = append(q.Path, h)
	}
	if q.Checkpoint, err = checkpointFromJSON(in.Checkpoint); err != nil {
		return err
	}
	*p = q
	return nil
}

func checkpointFromJSON(in checkpointJSON) (Checkpoint, error) {
	c := Checkpoint{Size: in.Size, KeyID: in.KeyID}
	var err error
	if c.Root, err = ParseHash(in.RootHash); err != nil {
		return c, fmt.Errorf("checkpoint.root_hash: %w", err)
	}
	if c.Time, err = time.Parse(time.RFC3339Nano, in.Time); err != nil {
		return c, fmt.Errorf("checkpoint.time: %w", err)
	}
	if c.Signature, err = base64.StdEncoding.DecodeString(in.Signature); err != nil {
		return c, fmt.Errorf("checkpoint.signature: %w", err)
	}
	return c, nil
}
