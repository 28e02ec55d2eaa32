package services_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/indexer"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/services"
)

// FuzzPostFromProto feeds IngestPosts' translation with fuzzed posts: a refused post is EINVALID
// naming a field, and an accepted one prepares for the index (markup converted, content hash
// set) or is refused the same way, never half-made.
func FuzzPostFromProto(f *testing.F) {
	f.Add("forum:spokeandcrumb/1", "forum", "spokeandcrumb", int32(2), "ana", "<p>Lower the <b>saddle</b></p>", "html", "https://x/1", int64(1700000000), int32(0))
	f.Add("forum:spokeandcrumb/2", "forum", "spokeandcrumb", int32(1), "", "> quoted\n\nown words", "markdown", "", int64(0), int32(0))
	f.Add("hn:/1", "hn", "", int32(9), "=HYPERLINK(\"x\")", "'; DROP TABLE posts; --", "rtf", "", int64(-62135596801), int32(-1))
	f.Add("x", "", "", int32(0), "\u200b", "\x00", "", "", int64(253402300800), int32(1e9))
	f.Fuzz(func(t *testing.T, id, platform, site string, kind int32, author, text, format, url string, secs int64, nanos int32) {
		pb := &v1.Post{Id: id, Platform: platform, Site: site, Kind: v1.PostKind(kind), Text: text, TextFormat: format,
			Url: url, CreatedAt: &timestamppb.Timestamp{Seconds: secs, Nanos: nanos}}
		if author != "" {
			pb.Author = &v1.Identity{Platform: platform, Site: site, AuthorId: author}
		}
		p, err := services.PostFromProto(pb)
		if err != nil {
			if royalty.ErrorCode(err) != royalty.EINVALID || !strings.Contains(royalty.ErrorMessage(err), ": ") {
				t.Fatalf("%v, want EINVALID naming a field", err)
			}
			return
		}
		prep, err := indexer.Prepare(p)
		if err != nil {
			if royalty.ErrorCode(err) != royalty.EINVALID {
				t.Fatalf("Prepare of an accepted post: %v, want EINVALID", err)
			}
			return
		}
		if prep.Post.ContentHash == "" || prep.Post.Format != indexer.FormatText {
			t.Fatalf("prepared post %+v has no content hash or is not plain text", prep.Post)
		}
	})
}
