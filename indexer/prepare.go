package indexer

import (
	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/attribution/text"
)

// FingerprintK and FingerprintW are the words per shingle and the winnowing window of the
// fingerprints Prepare computes, so of every index built from Prepared posts. They are not
// configurable: an index with other parameters would need a rebuild, and the attributor must
// use the same (attribution.Config.CheckIndex).
const (
	FingerprintK = text.DefaultK
	FingerprintW = text.DefaultW
)

// Prepared is a post ready to be written: its text is plain, its content hash set, and its
// fingerprints computed.
type Prepared struct {
	Post *Post
	// Fingerprints are the distinct winnowed k-gram hashes of the post's own text (text.Fingerprints),
	// in order of first occurrence. Quoted text is never fingerprinted: it is not the author's.
	Fingerprints []uint64
}

// Prepare validates p, converts its text to plain text (quotations moved to Quoted), sets its
// content hash and computes its fingerprints. It modifies p. It returns an EINVALID error
// naming the field when p is malformed, and then p must not be written.
func Prepare(p *Post) (*Prepared, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	switch p.Format {
	case FormatHTML:
		d := text.FromHTML(p.Text)
		p.Text, p.Quoted = d.Own, append(p.Quoted, d.Quoted...)
	case FormatMarkdown:
		d := text.FromMarkdown(p.Text)
		p.Text, p.Quoted = d.Own, append(p.Quoted, d.Quoted...)
	}
	p.Format = FormatText
	if p.Text == "" && p.Title == "" && len(p.Quoted) == 0 {
		return nil, royalty.FieldErrorf(royalty.EINVALID, "text", "the post has neither text nor title")
	}
	// One tokenisation for both; the same as text.ContentHash and text.Fingerprints.
	words := text.Words(p.Text)
	p.ContentHash = text.ContentHashWords(words)
	return &Prepared{Post: p, Fingerprints: fingerprints(words)}, nil
}

// Fingerprints returns the fingerprints Prepare computes for a post whose own words, as plain
// text, are plain: the distinct winnowed k-gram hashes in order of first occurrence. A store
// that keeps fingerprints (indexer/postgres) computes those of a stored post with it.
func Fingerprints(plain string) []uint64 { return fingerprints(text.Words(plain)) }

func fingerprints(words []text.Token) []uint64 {
	fps := text.Winnow(text.KGramHashes(words, FingerprintK), FingerprintW)
	seen := make(map[uint64]struct{}, len(fps))
	hashes := make([]uint64, 0, len(fps))
	for _, f := range fps {
		if _, dup := seen[f.Hash]; !dup {
			seen[f.Hash] = struct{}{}
			hashes = append(hashes, f.Hash)
		}
	}
	return hashes
}
