package pagetoken_test

import (
	"testing"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/internal/pagetoken"
)

// FuzzDecode feeds arbitrary page tokens: a malformed one is EINVALID about page_token, and a
// token that decodes names a cursor that encodes and decodes to itself.
func FuzzDecode(f *testing.F) {
	f.Add(pagetoken.Encode(pagetoken.Cursor{Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), ID: "00000000-0000-4000-8000-000000000001"}))
	for _, s := range []string{"", "x", "====", "fA", "MjAyNnwx", "'; DROP TABLE claims; --", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, ok, err := pagetoken.Decode(token)
		if err != nil {
			if royalty.ErrorCode(err) != royalty.EINVALID || royalty.ErrorMessage(err) != "page_token: malformed" {
				t.Fatalf("%q: %v, want EINVALID page_token", token, err)
			}
			return
		}
		if ok != (token != "") {
			t.Fatalf("%q: ok = %v", token, ok)
		}
		if !ok {
			return
		}
		again, ok2, err := pagetoken.Decode(pagetoken.Encode(c))
		if err != nil || !ok2 || !again.Time.Equal(c.Time) || again.ID != c.ID {
			t.Fatalf("%q → %+v does not round-trip: %+v, %v", token, c, again, err)
		}
	})
}
