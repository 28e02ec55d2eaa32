package text

import (
	"strings"
	"testing"
)

// FuzzParseTerm checks the fingerprint term encoding the index stores: every hash round-trips
// through Term and ParseTerm, and a term is always 16 lower-case hex digits.
func FuzzParseTerm(f *testing.F) {
	for _, h := range []uint64{0, 1, 0xdeadbeef, 1<<64 - 1} {
		f.Add(h, Term(h))
	}
	f.Add(uint64(7), "xyz")
	f.Add(uint64(7), "10000000000000000")
	f.Fuzz(func(t *testing.T, h uint64, s string) {
		term := Term(h)
		if len(term) != 16 {
			t.Fatalf("Term(%d) = %q", h, term)
		}
		for _, c := range term {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				t.Fatalf("Term(%d) = %q", h, term)
			}
		}
		if back, err := ParseTerm(term); err != nil || back != h {
			t.Fatalf("ParseTerm(Term(%d)) = %d, %v", h, back, err)
		}
		if v, err := ParseTerm(s); err == nil && len(s) == 16 && Term(v) != s && s == strings.ToLower(s) {
			t.Fatalf("ParseTerm(%q) = %d, which is the term %q", s, v, Term(v))
		}
	})
}
