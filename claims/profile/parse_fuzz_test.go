package profile_test

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/openroyalty/royalty/claims/profile"
)

func seedPages(f *testing.F, name string, extra ...string) {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(strings.ReplaceAll(string(b), "{{about}}", "royalty-claim-abc")))
	for _, e := range extra {
		f.Add([]byte(e))
	}
}

// The profile parsers read pages from the internet: they must not panic or hang on anything,
// and what they return is whitespace-normalised text. Run longer with
// `go test -fuzz FuzzParseStackExchangeProfile ./claims/profile/` (and the others).

func FuzzParseStackExchangeProfile(f *testing.F) {
	seedPages(f, "stackexchange_user.html", "", "<div class=js-about-me-content>", "<div class='x js-about-me-content y'><p>a</p><p>b</p></div>",
		"<a class=\"title js-about-me-content\">x", "<div class=\"js-about-me-contents\">no</div>")
	f.Fuzz(func(t *testing.T, page []byte) {
		text, err := profile.ParseStackExchangeProfile(page)
		checkText(t, text, err)
		if err == nil && !strings.Contains(string(page), "js-about-me-content") {
			t.Fatalf("found an about me in a page without its class: %q", text)
		}
	})
}

func FuzzParseHackerNewsProfile(f *testing.F) {
	seedPages(f, "hackernews_user.html", "No such user.", "<td>user:</td><td>about:</td>", "<table><tr><td>user:</td><td>x</td></tr><tr><td>about:</td></tr></table>")
	f.Fuzz(func(t *testing.T, page []byte) {
		text, err := profile.ParseHackerNewsProfile(page)
		checkText(t, text, err)
	})
}

func FuzzParseRedditProfile(f *testing.F) {
	seedPages(f, "reddit_about.json", `{"kind":"t2","data":{}}`, `{"kind":"t5","data":{"subreddit":{"public_description":"x"}}}`, `null`, `{"kind":"t2","data":{"subreddit":null}}`)
	f.Fuzz(func(t *testing.T, page []byte) {
		text, err := profile.ParseRedditProfile(page)
		if err != nil && text != "" {
			t.Fatalf("text %q with error %v", text, err)
		}
	})
}

func checkText(t *testing.T, text string, err error) {
	t.Helper()
	if err != nil && text != "" {
		t.Fatalf("text %q with error %v", text, err)
	}
	if text != strings.Join(strings.Fields(text), " ") {
		t.Fatalf("text %q is not whitespace-normalised", text)
	}
	_ = utf8.ValidString(text)
}
