// Package pushshift reads Reddit dumps in the Pushshift JSON lines format (docs/design.md §5), plain
// or zstd-compressed (.zst, with the 2 GiB window Pushshift uses): comments (id, author, body,
// created_utc, subreddit, link_id, parent_id, permalink) and submissions (id, author, title,
// selftext, url, created_utc, permalink). A line with a "body" is a comment; one with a
// "title" is a submission.
//
// Post ids are Reddit fullnames, which are global: `reddit:/t1_<id>` for comments and
// `reddit:/t3_<id>` for submissions; the subreddit is the post's site. Identities are user
// names, `reddit:/<author>`. The authors "[deleted]" and "[removed]" own nothing; a comment
// whose body was deleted or removed is skipped, since nothing of it is left to credit.
package pushshift

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/lines"
)

// Platform is the platform name of Reddit posts and identities.
const Platform = "reddit"

// Sources returns one source per file.
func Sources(paths []string) ([]indexer.Source, error) {
	out := make([]indexer.Source, 0, len(paths))
	for _, p := range paths {
		out = append(out, &lines.Source{Path: p, Parse: Parse})
	}
	return out, nil
}

type item struct {
	ID         indexer.FlexString `json:"id"`
	Author     string             `json:"author"`
	Body       *string            `json:"body"`
	Title      *string            `json:"title"`
	Selftext   string             `json:"selftext"`
	CreatedUTC indexer.FlexString `json:"created_utc"`
	Subreddit  string             `json:"subreddit"`
	LinkID     string             `json:"link_id"`
	ParentID   string             `json:"parent_id"`
	Permalink  string             `json:"permalink"`
}

// Reddit escapes these three in bodies and self texts, and nothing else.
var unescape = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

func deleted(s string) bool { return s == "[deleted]" || s == "[removed]" }

// Parse reads one line; blank lines hold no record.
func Parse(line []byte) (indexer.Record, error) {
	if len(bytes.TrimSpace(line)) == 0 {
		return indexer.Record{}, nil
	}
	var it item
	if err := json.Unmarshal(line, &it); err != nil {
		return indexer.Record{}, royalty.Errorf(royalty.EINVALID, "malformed JSON: %v", err)
	}
	id := string(it.ID)
	id = strings.TrimPrefix(strings.TrimPrefix(id, "t1_"), "t3_")
	if id == "" {
		return indexer.Record{}, royalty.FieldErrorf(royalty.EINVALID, "id", "must not be empty")
	}
	p := &indexer.Post{Platform: Platform, Site: it.Subreddit, Format: indexer.FormatMarkdown}
	rec := indexer.Record{Post: p}
	switch {
	case it.Body != nil:
		p.ID, p.Kind = indexer.PostID(Platform, "", "t1_"+id), indexer.KindComment
		if deleted(strings.TrimSpace(*it.Body)) {
			return indexer.Record{Skip: "comment body deleted or removed"}, nil
		}
		p.Text = unescape.Replace(*it.Body)
		if it.ParentID != "" {
			p.ParentID = indexer.PostID(Platform, "", it.ParentID)
		}
	case it.Title != nil:
		p.ID, p.Kind = indexer.PostID(Platform, "", "t3_"+id), indexer.KindSubmission
		p.Title = unescape.Replace(*it.Title)
		if !deleted(strings.TrimSpace(it.Selftext)) {
			p.Text = unescape.Replace(it.Selftext)
		}
	default:
		return rec, royalty.FieldErrorf(royalty.EINVALID, "body", "neither a comment (body) nor a submission (title)")
	}
	switch {
	case strings.HasPrefix(it.Permalink, "/"):
		p.URL = "https://www.reddit.com" + it.Permalink
	case strings.HasPrefix(it.Permalink, "https://"):
		p.URL = it.Permalink
	case p.Kind == indexer.KindSubmission && it.Subreddit != "":
		p.URL = "https://www.reddit.com/r/" + it.Subreddit + "/comments/" + id + "/"
	case it.Subreddit != "" && strings.HasPrefix(it.LinkID, "t3_"):
		p.URL = "https://www.reddit.com/r/" + it.Subreddit + "/comments/" + it.LinkID[3:] + "/_/" + id + "/"
	}
	if a := strings.TrimSpace(it.Author); a != "" && !deleted(a) {
		p.Author = &indexer.Identity{Platform: Platform, AuthorID: a, DisplayName: a,
			ProfileURL: "https://www.reddit.com/user/" + a}
		// Reddit lets only the author edit a comment or a self post's text; moderators can remove
		// it but not change it: the version read is the author's own.
		p.LastEditorKey = p.Author.Key()
	}
	t, err := indexer.ParseTime(string(it.CreatedUTC))
	if err != nil {
		return rec, royalty.FieldErrorf(royalty.EINVALID, "created_utc", "%v", err)
	}
	p.CreatedAt = t
	return rec, nil
}
