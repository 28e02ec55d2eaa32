// Package stackexchange reads Stack Exchange data dump folders (Users.xml, Posts.xml,
// Comments.xml; docs/design.md §5) as indexer records: users become identities, questions and
// answers become posts with HTML text, comments become posts with Markdown text.
//
// The dumps hold one <row …/> per line, so rows are parsed line by line: memory stays constant
// on a multi-gigabyte file, a malformed row is reported with its line and skipped without
// losing the rest, and a run can resume at a byte offset.
//
// Ids are per site: posts are `stackexchange:<site>/post/<Id>`, comments
// `stackexchange:<site>/comment/<Id>`, identities `stackexchange:<site>/<UserId>`. The site is
// the folder name without ".stackexchange.com" (bicycles.meta.stackexchange.com and
// bicycles.meta both give "bicycles.meta") unless Options.Site overrides it. Rows without an
// owner, and rows owned by the Community bot (user -1), have no author.
//
// Anyone can suggest an edit to a question or answer, so a post's LastEditorKey is what the row
// says (LastEditorUserId; the owner when the row shows no edit at all) and empty when the editor
// is unknown (an edit by an anonymous or deleted user). Comments can be edited only by their
// author and by moderators, and Comments.xml has no editor columns: a comment's last editor is
// its author.
package stackexchange

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/lines"
)

// Platform is the platform name of Stack Exchange posts and identities.
const Platform = "stackexchange"

// Options configure the reader.
type Options struct {
	// Site overrides the site name taken from the folder name.
	Site string
}

// Sources returns the files of the dump folders in paths, in the order they must be read: for
// each folder Users.xml (identities first, so that posts find their display names), Posts.xml
// and Comments.xml. Each file may also be compressed (.zst, .gz). Posts.xml is required.
func Sources(paths []string, opts Options) ([]indexer.Source, error) {
	var out []indexer.Source
	for _, dir := range paths {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("%s: want a Stack Exchange dump folder (holding Posts.xml)", dir)
		}
		site := opts.Site
		if site == "" {
			site = SiteFromFolder(dir)
		}
		if site == "" || strings.ContainsAny(site, "/ \t") {
			return nil, fmt.Errorf("%s: cannot take a site name from the folder; pass one with --site", dir)
		}
		p := &parser{site: site, host: Host(site)}
		files := []struct {
			name     string
			parse    lines.ParseFunc
			required bool
		}{
			{"Users.xml", p.user, false},
			{"Posts.xml", p.post, true},
			{"Comments.xml", p.comment, false},
		}
		for _, f := range files {
			path := find(dir, f.name)
			if path == "" {
				if f.required {
					return nil, fmt.Errorf("%s: no %s", dir, f.name)
				}
				continue
			}
			out = append(out, &lines.Source{Path: path, Parse: f.parse})
		}
	}
	return out, nil
}

func find(dir, name string) string {
	for _, suffix := range []string{"", ".zst", ".gz"} {
		p := filepath.Join(dir, name+suffix)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// SiteFromFolder derives the site name from a dump folder: its base name without
// ".stackexchange.com", ".com" or ".net" (stackoverflow.com gives "stackoverflow").
func SiteFromFolder(dir string) string {
	base := filepath.Base(filepath.Clean(dir))
	for _, suffix := range []string{".stackexchange.com", ".com", ".net"} {
		if s, ok := strings.CutSuffix(base, suffix); ok {
			return s
		}
	}
	return base
}

// Host returns the web host of a site: most sites live under stackexchange.com, a few under
// their own domain, and the localized Stack Overflows (ru., pt., es., ja.) under stackoverflow.com
// with their metas at ru.meta.stackoverflow.com and so on.
func Host(site string) string {
	main, _ := strings.CutPrefix(site, "meta.")
	if lang, rest, ok := strings.Cut(main, "."); ok && len(lang) == 2 {
		if rest, _ = strings.CutPrefix(rest, "meta."); rest == "stackoverflow" {
			return site + ".com"
		}
	}
	switch main {
	case "stackoverflow", "superuser", "serverfault", "askubuntu", "stackapps":
		return site + ".com"
	case "mathoverflow":
		return site + ".net"
	}
	return site + ".stackexchange.com"
}

// LicenseAt is the licence Stack Exchange applied to contributions made at t, for rows of older
// dumps that lack ContentLicense.
func LicenseAt(t time.Time) string {
	switch {
	case t.Before(time.Date(2011, 4, 8, 0, 0, 0, 0, time.UTC)):
		return "CC BY-SA 2.5"
	case t.Before(time.Date(2018, 5, 2, 0, 0, 0, 0, time.UTC)):
		return "CC BY-SA 3.0"
	}
	return "CC BY-SA 4.0"
}

type parser struct {
	site, host string
}

func attr(attrs []xml.Attr, name string) string {
	for _, a := range attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// dumpTime parses the dumps' CreationDate: UTC without a zone, e.g. 2010-08-25T19:50:51.187.
func dumpTime(field, s string) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
	if err != nil {
		return time.Time{}, royalty.FieldErrorf(royalty.EINVALID, field, "want a time like 2010-08-25T19:50:51.187, got %q", s)
	}
	return t, nil
}

func positiveID(field, s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != s {
		return royalty.FieldErrorf(royalty.EINVALID, field, "want a positive integer, got %q", s)
	}
	return nil
}

// author returns the identity of a row's owner, or nil when the owner is deleted or is the
// Community bot (-1), which is not a person.
func (p *parser) author(userID, displayName string) (*indexer.Identity, error) {
	if userID == "" || userID == "-1" {
		return nil, nil
	}
	if n, err := strconv.ParseInt(userID, 10, 64); err != nil || strconv.FormatInt(n, 10) != userID {
		return nil, fmt.Errorf("want an integer user id, got %q", userID)
	}
	return &indexer.Identity{
		Platform: Platform, Site: p.site, AuthorID: userID, DisplayName: displayName,
		ProfileURL: "https://" + p.host + "/users/" + userID,
	}, nil
}

func (p *parser) user(line []byte) (indexer.Record, error) {
	attrs, ok, err := row(line)
	if !ok || err != nil {
		return indexer.Record{}, err
	}
	id := attr(attrs, "Id")
	if id == "-1" {
		return indexer.Record{Skip: "the Community bot is not an author"}, nil
	}
	if err := positiveID("Id", id); err != nil {
		return indexer.Record{}, err
	}
	ident, err := p.author(id, attr(attrs, "DisplayName"))
	if err != nil {
		return indexer.Record{}, royalty.FieldErrorf(royalty.EINVALID, "Id", "%v", err)
	}
	return indexer.Record{Identity: ident}, nil
}

func (p *parser) post(line []byte) (indexer.Record, error) {
	attrs, ok, err := row(line)
	if !ok || err != nil {
		return indexer.Record{}, err
	}
	id := attr(attrs, "Id")
	if err := positiveID("Id", id); err != nil {
		return indexer.Record{}, err
	}
	post := &indexer.Post{ID: indexer.PostID(Platform, p.site, "post/"+id), Platform: Platform, Site: p.site}
	rec := indexer.Record{Post: post}
	switch typ := attr(attrs, "PostTypeId"); typ {
	case "1":
		post.Kind, post.URL = indexer.KindQuestion, "https://"+p.host+"/q/"+id
	case "2":
		post.Kind, post.URL = indexer.KindAnswer, "https://"+p.host+"/a/"+id
		parent := attr(attrs, "ParentId")
		if err := positiveID("ParentId", parent); err != nil {
			return rec, err
		}
		post.ParentID = indexer.PostID(Platform, p.site, "post/"+parent)
	case "":
		return rec, royalty.FieldErrorf(royalty.EINVALID, "PostTypeId", "missing")
	default:
		// Tag wikis, excerpts, moderator nominations…: not questions or answers.
		return indexer.Record{Skip: "post type " + typ + " is not a question or an answer"}, nil
	}
	if post.CreatedAt, err = dumpTime("CreationDate", attr(attrs, "CreationDate")); err != nil {
		return rec, err
	}
	if post.Author, err = p.author(attr(attrs, "OwnerUserId"), attr(attrs, "OwnerDisplayName")); err != nil {
		return rec, royalty.FieldErrorf(royalty.EINVALID, "OwnerUserId", "%v", err)
	}
	if post.LastEditorKey, err = p.lastEditor(attrs, post.Author); err != nil {
		return rec, err
	}
	post.Title = attr(attrs, "Title")
	post.License = attr(attrs, "ContentLicense")
	if post.License == "" {
		post.License = LicenseAt(post.CreatedAt)
	}
	post.Text, post.Format = attr(attrs, "Body"), indexer.FormatHTML
	return rec, nil
}

// lastEditor returns the identity key of who last edited a question or answer row: the
// LastEditorUserId when there is one (the Community bot's -1 included: it is not the owner), the
// owner when the row shows no edit, and "" when an edit is recorded without a user id.
func (p *parser) lastEditor(attrs []xml.Attr, owner *indexer.Identity) (string, error) {
	if owner == nil {
		return "", nil
	}
	editor := attr(attrs, "LastEditorUserId")
	if editor == "" {
		if attr(attrs, "LastEditDate") == "" && attr(attrs, "LastEditorDisplayName") == "" {
			return owner.Key(), nil
		}
		return "", nil
	}
	if n, err := strconv.ParseInt(editor, 10, 64); err != nil || strconv.FormatInt(n, 10) != editor {
		return "", royalty.FieldErrorf(royalty.EINVALID, "LastEditorUserId", "want an integer user id, got %q", editor)
	}
	return indexer.IdentityKey(Platform, p.site, editor), nil
}

func (p *parser) comment(line []byte) (indexer.Record, error) {
	attrs, ok, err := row(line)
	if !ok || err != nil {
		return indexer.Record{}, err
	}
	id := attr(attrs, "Id")
	if err := positiveID("Id", id); err != nil {
		return indexer.Record{}, err
	}
	post := &indexer.Post{
		ID: indexer.PostID(Platform, p.site, "comment/"+id), Platform: Platform, Site: p.site,
		Kind: indexer.KindComment, URL: "https://" + p.host + "/posts/comments/" + id,
	}
	rec := indexer.Record{Post: post}
	parent := attr(attrs, "PostId")
	if err := positiveID("PostId", parent); err != nil {
		return rec, err
	}
	post.ParentID = indexer.PostID(Platform, p.site, "post/"+parent)
	if post.CreatedAt, err = dumpTime("CreationDate", attr(attrs, "CreationDate")); err != nil {
		return rec, err
	}
	if post.Author, err = p.author(attr(attrs, "UserId"), attr(attrs, "UserDisplayName")); err != nil {
		return rec, royalty.FieldErrorf(royalty.EINVALID, "UserId", "%v", err)
	}
	if post.Author != nil {
		post.LastEditorKey = post.Author.Key()
	}
	post.License = attr(attrs, "ContentLicense")
	if post.License == "" {
		post.License = LicenseAt(post.CreatedAt)
	}
	// Comments are stored as their mini-Markdown source (_italics_, [links](…)).
	post.Text, post.Format = attr(attrs, "Text"), indexer.FormatMarkdown
	return rec, nil
}
