// Package indexer turns crawled posts into what royalties are paid for: posts with the identity
// that wrote them, stored in the posts and identities tables and in a search index whose
// fingerprint field attribution retrieves candidates from (docs/design.md §4–5).
//
// Parsers for the crawl formats live in subpackages (stackexchange, pushshift, hn, jsonl) and
// yield Records through a Reader; the Pipeline prepares every post (markup to plain text with
// quotations kept apart, content hash, winnowed fingerprints of the author's own words, all with
// package attribution/text, the code attribution applies to responses) and writes batches to a
// Store (indexer/postgres) and an Index (indexer/bleveindex).
//
// # Ids
//
// Post ids and identity keys are stable and unique across platforms. Both have the form
// `platform:site/local`, where site is empty on platforms whose ids are global:
//
//	stackexchange:bicycles.meta/post/42     a question or answer (Stack Exchange post ids are per site)
//	stackexchange:bicycles.meta/comment/7   a comment
//	stackexchange:bicycles.meta/123         identity: user 123 of that site (user ids are per site)
//	reddit:/t1_abc  reddit:/t3_xyz          a comment, a submission (Reddit fullnames)
//	reddit:/spez                            identity: a Reddit user name
//	hn:/8863                                an item
//	hn:/pg                                  identity: a user name
//	<platform>:<site>/<id>                  generic JSON lines; identity <platform>:<site>/<author_id>
//
// Platform names are lower-case letters, digits, '.', '_' and '-'; sites contain neither '/' nor
// spaces; local ids contain no spaces.
//
// # Deleted authors
//
// A post whose author is deleted (Reddit's "[deleted]", a Stack Exchange row without an owner, the
// Stack Exchange "Community" bot, user -1) has a nil Author: it is indexed and searchable but earns
// for nobody.
package indexer

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

// Limits on what a post may hold; larger records are rejected, not truncated.
const (
	MaxTextBytes = 1 << 20 // the text as read, markup included
	MaxFieldLen  = 4096    // ids, titles, URLs, names
)

// Kind is what a post is on its platform.
type Kind string

// Kinds of posts, as in royalty.v1.PostKind.
const (
	KindQuestion   Kind = "question"
	KindAnswer     Kind = "answer"
	KindComment    Kind = "comment"
	KindSubmission Kind = "submission"
	KindArticle    Kind = "article"
)

// Valid reports whether k is one of the kinds above.
func (k Kind) Valid() bool {
	switch k {
	case KindQuestion, KindAnswer, KindComment, KindSubmission, KindArticle:
		return true
	}
	return false
}

// Format is the markup a post's text arrives in.
type Format string

// Formats of post text. The zero value means plain text.
const (
	FormatText     Format = "text"
	FormatHTML     Format = "html"
	FormatMarkdown Format = "markdown"
)

// Identity is an author on a platform.
type Identity struct {
	Platform    string
	Site        string // empty on platforms with global user names (reddit, hn)
	AuthorID    string // user id or user name
	DisplayName string // at crawl time; may be empty when unknown
	ProfileURL  string
}

// Key returns the identity key `platform:site/author_id`.
func (i Identity) Key() string { return IdentityKey(i.Platform, i.Site, i.AuthorID) }

// IdentityKey builds an identity key from its parts.
func IdentityKey(platform, site, authorID string) string {
	return platform + ":" + site + "/" + authorID
}

// PostID builds a post id from its parts; local may contain '/' (`post/42`).
func PostID(platform, site, local string) string {
	return platform + ":" + site + "/" + local
}

// ParseKey splits a post id or identity key into platform, site and the local part.
func ParseKey(key string) (platform, site, local string, err error) {
	colon := strings.IndexByte(key, ':')
	if colon <= 0 {
		return "", "", "", fmt.Errorf("%q: want platform:site/id", key)
	}
	rest := key[colon+1:]
	slash := strings.IndexByte(rest, '/')
	if slash < 0 || slash == len(rest)-1 {
		return "", "", "", fmt.Errorf("%q: want platform:site/id", key)
	}
	platform, site, local = key[:colon], rest[:slash], rest[slash+1:]
	if err := checkPlatform(platform); err != nil {
		return "", "", "", fmt.Errorf("%q: %w", key, err)
	}
	return platform, site, local, nil
}

// Validate checks the identity's parts; field names are prefixed with prefix ("author.").
func (i Identity) Validate(prefix string) error {
	if err := checkPlatform(i.Platform); err != nil {
		return royalty.FieldErrorf(royalty.EINVALID, prefix+"platform", "%v", err)
	}
	if err := checkSite(i.Site); err != nil {
		return royalty.FieldErrorf(royalty.EINVALID, prefix+"site", "%v", err)
	}
	if err := checkLocal(i.AuthorID); err != nil {
		return royalty.FieldErrorf(royalty.EINVALID, prefix+"author_id", "%v", err)
	}
	if err := checkLine(i.DisplayName); err != nil {
		return royalty.FieldErrorf(royalty.EINVALID, prefix+"display_name", "%v", err)
	}
	if err := checkLine(i.ProfileURL); err != nil {
		return royalty.FieldErrorf(royalty.EINVALID, prefix+"profile_url", "%v", err)
	}
	// The ledger pays an identity through an escrow account named by its key: a key the ledger
	// refuses would make every usage report that reuses the author's words fail to book.
	if err := checkPrintable(i.Site); err != nil {
		return royalty.FieldErrorf(royalty.EINVALID, prefix+"site", "%v", err)
	}
	if err := checkPrintable(i.AuthorID); err != nil {
		return royalty.FieldErrorf(royalty.EINVALID, prefix+"author_id", "%v", err)
	}
	if n := len(i.Key()); n > ledger.MaxIdentityKeyBytes {
		return royalty.FieldErrorf(royalty.EINVALID, prefix+"author_id", "the identity key would be %d bytes, more than the limit of %d", n, ledger.MaxIdentityKeyBytes)
	}
	return nil
}

// Post is one crawled piece of writing with its author.
type Post struct {
	ID       string // see the package doc
	Platform string
	Site     string
	Kind     Kind
	Author   *Identity // nil when the author is deleted: the post earns for nobody
	// LastEditorKey is the identity key of whoever wrote this version of the text: the author's
	// own key when nobody else has changed it, another identity's when someone else edited it
	// (Stack Exchange lets anyone suggest an edit), and empty when the source does not say.
	// Claims accept a challenge only from a version the author's identity wrote itself
	// (claims.PostProof); each parser documents its rule.
	LastEditorKey string
	CreatedAt     time.Time
	URL           string
	Title         string
	License       string // e.g. "CC BY-SA 4.0"; empty when the source states none
	ParentID      string // the question of an answer, the post of a comment; may be empty

	// Text is the post's text in Format as read; after Prepare it is the author's own words as
	// plain text (evidence offsets point into it) and Format is FormatText.
	Text   string
	Format Format
	// Quoted holds what the author quoted (<blockquote>, `>` lines): searchable, never credited.
	Quoted []string
	// ContentHash is set by Prepare: text.ContentHash of Text. Identical words under different ids
	// share it, which is how a repost is recognised.
	ContentHash string
}

// AuthorKey returns the author's identity key, or "" when the author is deleted.
func (p *Post) AuthorKey() string {
	if p.Author == nil {
		return ""
	}
	return p.Author.Key()
}

// Validate checks what a parser or a client gave; it does not look at ContentHash.
func (p *Post) Validate() error {
	if p.ID == "" {
		return royalty.FieldErrorf(royalty.EINVALID, "id", "must not be empty")
	}
	platform, site, _, err := ParseKey(p.ID)
	if err != nil {
		return royalty.FieldErrorf(royalty.EINVALID, "id", "%v", err)
	}
	if err := checkLine(p.ID); err != nil {
		return royalty.FieldErrorf(royalty.EINVALID, "id", "%v", err)
	}
	// Evidence cites the post by id and URL; both must be what the ledger stores.
	if err := ledger.CheckPostRef("id", p.ID); err != nil {
		return err
	}
	if err := ledger.CheckPostRef("url", p.URL); err != nil {
		return err
	}
	if p.Platform != platform {
		return royalty.FieldErrorf(royalty.EINVALID, "platform", "%q does not match the id's platform %q", p.Platform, platform)
	}
	if err := checkSite(p.Site); err != nil {
		return royalty.FieldErrorf(royalty.EINVALID, "site", "%v", err)
	}
	if site != "" && p.Site != site {
		return royalty.FieldErrorf(royalty.EINVALID, "site", "%q does not match the id's site %q", p.Site, site)
	}
	if !p.Kind.Valid() {
		return royalty.FieldErrorf(royalty.EINVALID, "kind", "unknown kind %q", p.Kind)
	}
	if p.Author != nil {
		if err := p.Author.Validate("author."); err != nil {
			return err
		}
	}
	if p.LastEditorKey != "" {
		if err := ledger.CheckIdentityKey("last_editor", p.LastEditorKey); err != nil {
			return err
		}
		if editorPlatform, _, _, err := ParseKey(p.LastEditorKey); err != nil || editorPlatform != p.Platform {
			return royalty.FieldErrorf(royalty.EINVALID, "last_editor", "%q is not an identity on platform %q", p.LastEditorKey, p.Platform)
		}
	}
	if p.CreatedAt.IsZero() {
		return royalty.FieldErrorf(royalty.EINVALID, "created_at", "must be set")
	}
	if y := p.CreatedAt.Year(); y < 1970 || y > 9999 {
		return royalty.FieldErrorf(royalty.EINVALID, "created_at", "year %d is out of range", y)
	}
	for _, f := range []struct{ name, v string }{{"url", p.URL}, {"title", p.Title}, {"license", p.License}, {"parent_id", p.ParentID}} {
		if err := checkLine(f.v); err != nil {
			return royalty.FieldErrorf(royalty.EINVALID, f.name, "%v", err)
		}
	}
	switch p.Format {
	case "", FormatText, FormatHTML, FormatMarkdown:
	default:
		return royalty.FieldErrorf(royalty.EINVALID, "text_format", "want text, html or markdown, got %q", p.Format)
	}
	if len(p.Text) > MaxTextBytes {
		return royalty.FieldErrorf(royalty.EINVALID, "text", "%d bytes is more than the limit of %d", len(p.Text), MaxTextBytes)
	}
	if err := checkText(p.Text); err != nil {
		return royalty.FieldErrorf(royalty.EINVALID, "text", "%v", err)
	}
	n := 0
	for _, q := range p.Quoted {
		n += len(q)
		if err := checkText(q); err != nil {
			return royalty.FieldErrorf(royalty.EINVALID, "quoted_text", "%v", err)
		}
	}
	if n > MaxTextBytes {
		return royalty.FieldErrorf(royalty.EINVALID, "quoted_text", "%d bytes is more than the limit of %d", n, MaxTextBytes)
	}
	return nil
}

func checkPlatform(s string) error {
	if s == "" {
		return fmt.Errorf("platform must not be empty")
	}
	if len(s) > 64 {
		return fmt.Errorf("platform is longer than 64 bytes")
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("platform %q: only a-z, 0-9, '.', '_' and '-' are allowed", s)
		}
	}
	return nil
}

func checkSite(s string) error {
	if strings.ContainsRune(s, '/') {
		return fmt.Errorf("site %q must not contain '/'", s)
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return fmt.Errorf("site %q must not contain spaces", s)
	}
	return checkLine(s)
}

func checkLocal(s string) error {
	if s == "" {
		return fmt.Errorf("must not be empty")
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return fmt.Errorf("%q must not contain spaces", s)
	}
	return checkLine(s)
}

// checkText accepts the text of a post: valid UTF-8 without NUL characters, which neither a
// PostgreSQL TEXT column nor JSONB can hold (a post that validates but cannot be stored would
// stop the ingest run at its batch, and every resumed run at the same place).
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("contains a NUL character")
	}
	return nil
}

// checkPrintable accepts printable characters (unicode.IsPrint) without spaces, as identity
// keys must be.
func checkPrintable(s string) error {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0 {
		return fmt.Errorf("%q must be printable characters without spaces", s)
	}
	return nil
}

// checkLine accepts short single-line valid UTF-8 without control characters.
func checkLine(s string) error {
	if len(s) > MaxFieldLen {
		return fmt.Errorf("%d bytes is more than the limit of %d", len(s), MaxFieldLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("is not valid UTF-8")
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return fmt.Errorf("must not contain control characters")
	}
	return nil
}
