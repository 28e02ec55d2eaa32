package claims_test

import (
	"strings"
	"testing"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/ledger"
)

// FuzzValidateIdentityKey checks that a key a contributor may claim is one the ledger can
// release an escrow for: otherwise an approved claim would be marked verified and then fail
// its release on every retry. Run longer with `go test -fuzz FuzzValidateIdentityKey ./claims/`.
func FuzzValidateIdentityKey(f *testing.F) {
	for _, s := range []string{"stackexchange:bicycles.meta/123", "hn:/pg", "HN:/pg", "=HYPERLINK(\"http://x\"):a/b",
		"'; DROP TABLE ledger_postings; --", "hn:/\u200bpg", "hn:/\xff", "hn:/", "a:b/c/d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := claims.ValidateIdentityKey("identity_key", key)
		if err != nil {
			if royalty.ErrorCode(err) != royalty.EINVALID || !strings.HasPrefix(royalty.ErrorMessage(err), "identity_key: ") {
				t.Fatalf("%q: %v, want EINVALID naming identity_key", key, err)
			}
			return
		}
		if err := ledger.CheckIdentityKey("identity_key", key); err != nil {
			t.Fatalf("claims accepts %q, the ledger refuses it: %v", key, err)
		}
	})
}
