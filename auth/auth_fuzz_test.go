package auth_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/auth"
)

// FuzzValidateName checks principal and contributor names: an accepted name is valid UTF-8 (it
// goes to a TEXT column and to clients), 1 to MaxNameLen characters without control characters;
// a refused one is EINVALID naming the field.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"Ana", " ", "", "a\nb", "\xff", "=HYPERLINK(\"http://x\",\"y\")", "'; DROP TABLE principals; --", strings.Repeat("é", 201)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := auth.ValidateName("display_name", name)
		if err != nil {
			if royalty.ErrorCode(err) != royalty.EINVALID || !strings.HasPrefix(royalty.ErrorMessage(err), "display_name: ") {
				t.Fatalf("%q: %v, want EINVALID naming display_name", name, err)
			}
			return
		}
		if !utf8.ValidString(name) {
			t.Fatalf("%q accepted: not valid UTF-8", name)
		}
		if n := utf8.RuneCountInString(strings.TrimSpace(name)); n == 0 || n > auth.MaxNameLen {
			t.Fatalf("%q accepted with %d characters", name, n)
		}
		if strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			t.Fatalf("%q accepted with a control character", name)
		}
	})
}

// FuzzKeys checks the API key format: every key NewKey makes is well formed and hashes to 32
// bytes, and whatever WellFormedKey accepts has the prefix and the length of a real key.
func FuzzKeys(f *testing.F) {
	secret, _, _ := auth.NewKey()
	for _, s := range []string{secret, secret[:len(secret)-1], "rty_", "Bearer " + secret, "rty_" + strings.Repeat("=", 43), ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if auth.WellFormedKey(s) && (!strings.HasPrefix(s, auth.KeyPrefix) || len(s) != len(secret)) {
			t.Fatalf("%q accepted as a key", s)
		}
		if len(auth.HashKey(s)) != 32 {
			t.Fatal("hash is not 32 bytes")
		}
		if r, err := auth.ParseRole("role", s); err == nil && string(r) != s {
			t.Fatalf("ParseRole(%q) = %q", s, r)
		}
	})
}
