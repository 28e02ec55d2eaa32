package eval

import (
	"fmt"

	"github.com/openroyalty/royalty/indexer"
)

// IndexerPost returns p as the ingest pipeline receives a crawled post: plain text (the corpus
// generator already stripped the markup and put the quotation apart, as text.FromHTML does), its
// author an identity parsed from AuthorKey, none for a deleted author. indexer.Prepare then
// prepares it for the index as it prepares every post.
func (p *Post) IndexerPost() (*indexer.Post, error) {
	platform, site, _, err := indexer.ParseKey(p.ID)
	if err != nil {
		return nil, fmt.Errorf("post id: %w", err)
	}
	ip := &indexer.Post{ID: p.ID, Platform: platform, Site: site, Kind: indexer.KindAnswer,
		CreatedAt: p.CreatedAt, URL: p.URL, Text: p.Text, Format: indexer.FormatText,
		Quoted: p.Quoted, License: "CC0-1.0"}
	if p.AuthorKey != "" {
		pl, s, id, err := indexer.ParseKey(p.AuthorKey)
		if err != nil {
			return nil, fmt.Errorf("post %s: author: %w", p.ID, err)
		}
		ip.Author = &indexer.Identity{Platform: pl, Site: s, AuthorID: id}
	}
	return ip, nil
}
