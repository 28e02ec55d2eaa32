package claims_test

import (
	"strings"
	"testing"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/claims"
)

func TestNormalizeIdentityKey(t *testing.T) {
	for in, want := range map[string]string{
		"https://stackoverflow.com/users/123/name":              "stackexchange:stackoverflow/123",
		"https://stackoverflow.com/users/123":                   "stackexchange:stackoverflow/123",
		"stackoverflow.com/users/123/name?tab=profile":          "stackexchange:stackoverflow/123",
		"https://bicycles.stackexchange.com/users/42/ana-wheel": "stackexchange:bicycles/42",
		"https://bicycles.meta.stackexchange.com/u/42":          "stackexchange:bicycles.meta/42",
		"https://meta.stackoverflow.com/users/7/x":              "stackexchange:meta.stackoverflow/7",
		"https://mathoverflow.net/users/7/x":                    "stackexchange:mathoverflow/7",
		"HTTPS://WWW.StackOverflow.com/users/5":                 "stackexchange:stackoverflow/5",
		"https://news.ycombinator.com/user?id=pg":               "hn:/pg",
		"https://www.reddit.com/user/spez":                      "reddit:/spez",
		"https://old.reddit.com/u/spez/comments/":               "reddit:/spez",
		"stackexchange:bicycles/42":                             "stackexchange:bicycles/42",
		"stackexchange:bicycles.stackexchange.com/42":           "stackexchange:bicycles/42",
		"stackexchange:stackoverflow.com/9":                     "stackexchange:stackoverflow/9",
		"hn:news.ycombinator.com/pg":                            "hn:/pg",
		"reddit:/u/spez":                                        "reddit:/spez",
		" hn:/pg ":                                              "hn:/pg",
		"forum:s/ana":                                           "forum:s/ana",
	} {
		got, err := claims.NormalizeIdentityKey("identity_key", in)
		if err != nil || got != want {
			t.Errorf("NormalizeIdentityKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"https://stackoverflow.com/questions/1/x", "https://stackoverflow.com/users/ana", "https://stackexchange.com/users/1/x",
		"https://example.com/users/1", "https://news.ycombinator.com/item?id=1", "https://www.reddit.com/r/golang",
		"stackexchange:bicycles/ana", "stackexchange:/42", "hn:/a b", "reddit:r/golang/spez", "http://", "stackexchange:Evil.Com#/1",
	} {
		_, err := claims.NormalizeIdentityKey("identity_key", in)
		if royalty.ErrorCode(err) != royalty.EINVALID || !strings.Contains(err.Error(), "identity_key") {
			t.Errorf("NormalizeIdentityKey(%q) = %v, want EINVALID naming identity_key", in, err)
		}
	}
}

// FuzzNormalizeIdentityKey: whatever a claimant types, the result is a key the ledger accepts,
// normalising it again changes nothing, and refusals are EINVALID naming the field. Run longer
// with `go test -fuzz FuzzNormalizeIdentityKey ./claims/`.
func FuzzNormalizeIdentityKey(f *testing.F) {
	for _, s := range []string{"https://stackoverflow.com/users/123/name", "https://bicycles.stackexchange.com/users/42",
		"https://news.ycombinator.com/user?id=pg", "https://www.reddit.com/u/spez", "stackexchange:bicycles.stackexchange.com/42",
		"reddit:/u/spez", "hn:/pg", "forum:s/ana", "stackoverflow.com/users/1", "http://[::1]/users/1", "https://a.stackexchange.com/users/0",
		"stackexchange:META.stackoverflow/1", "https://x.reddit.com/user/%2e%2e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		key, err := claims.NormalizeIdentityKey("identity_key", in)
		if err != nil {
			if royalty.ErrorCode(err) != royalty.EINVALID || !strings.HasPrefix(royalty.ErrorMessage(err), "identity_key: ") {
				t.Fatalf("%q: %v, want EINVALID naming identity_key", in, err)
			}
			return
		}
		if err := claims.ValidateIdentityKey("identity_key", key); err != nil {
			t.Fatalf("%q normalised to %q, which does not validate: %v", in, key, err)
		}
		again, err := claims.NormalizeIdentityKey("identity_key", key)
		if err != nil || again != key {
			t.Fatalf("%q → %q → %q, %v: not idempotent", in, key, again, err)
		}
	})
}
