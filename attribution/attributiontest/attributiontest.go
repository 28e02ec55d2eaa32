// Package attributiontest checks attribution results in tests of any package: the invariants every
// result must satisfy, and the correctness thresholds, whatever the index.
package attributiontest

import (
	"context"
	"math/big"
	"testing"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/eval"
	"github.com/openroyalty/royalty/attribution/text"
)

// CheckResult checks what must hold for every result of attributing response; source looks up
// the posts of the index by ID. It checks that shares and the remainder sum to
// exactly one, shares are ordered, and every span is evidence a person can check — its response
// bytes are its text, and it begins and ends on the same words as the source range it cites.
func CheckResult(t testing.TB, response string, source func(postID string) (attribution.Source, bool), res *attribution.Result) {
	t.Helper()
	toks := text.Words(response)
	if res.ResponseWords != len(toks) {
		t.Fatalf("ResponseWords = %d, want %d", res.ResponseWords, len(toks))
	}
	sum := new(big.Rat).Set(res.Unattributed)
	if res.Unattributed.Sign() < 0 {
		t.Errorf("unattributed %s < 0", res.Unattributed.RatString())
	}
	n := big.NewRat(int64(res.ResponseWords), 1)
	authors := map[string]bool{}
	for i, s := range res.Shares {
		if s.Share.Sign() <= 0 || s.AuthorKey == "" {
			t.Errorf("share %d: %q %s", i, s.AuthorKey, s.Share.RatString())
		}
		if want := new(big.Rat).Quo(s.Words, n); want.Cmp(s.Share) != 0 {
			t.Errorf("share %s = %s, want words/n = %s", s.AuthorKey, s.Share.RatString(), want.RatString())
		}
		if i > 0 {
			prev := res.Shares[i-1]
			if c := prev.Share.Cmp(s.Share); c < 0 || c == 0 && prev.AuthorKey >= s.AuthorKey {
				t.Errorf("shares out of order at %d", i)
			}
		}
		authors[s.AuthorKey] = true
		sum.Add(sum, s.Share)
	}
	if sum.Cmp(big.NewRat(1, 1)) != 0 {
		t.Errorf("shares + unattributed = %s, want 1", sum.RatString())
	}
	for _, e := range res.Evidence {
		if !authors[e.AuthorKey] {
			t.Errorf("evidence for %q, who has no share", e.AuthorKey)
		}
		if e.Text != response[e.ResponseStart:e.ResponseEnd] {
			t.Errorf("evidence text %q is not the response bytes [%d,%d)", e.Text, e.ResponseStart, e.ResponseEnd)
		}
		if e.ResponseStart != toks[e.ResponseWordStart].Start || e.ResponseEnd != toks[e.ResponseWordEnd-1].End {
			t.Errorf("evidence byte range [%d,%d) does not match words [%d,%d)", e.ResponseStart, e.ResponseEnd, e.ResponseWordStart, e.ResponseWordEnd)
		}
		p, ok := source(e.PostID)
		if !ok || p.AuthorKey != e.AuthorKey || p.URL != e.PostURL {
			t.Errorf("evidence cites post %q by %q, index has %v %+v", e.PostID, e.AuthorKey, ok, p)
			continue
		}
		rw := text.Words(e.Text)
		sw := text.Words(p.Text[e.SourceStart:e.SourceEnd])
		if len(rw) == 0 || len(sw) == 0 || rw[0].Text != sw[0].Text || rw[len(rw)-1].Text != sw[len(sw)-1].Text {
			t.Errorf("evidence %q does not begin and end like its source %q", e.Text, p.Text[e.SourceStart:e.SourceEnd])
		}
	}
	for a := range authors {
		found := false
		for _, e := range res.Evidence {
			found = found || e.AuthorKey == a
		}
		if !found {
			t.Errorf("share for %q without evidence", a)
		}
	}
}

// CheckThresholds attributes the responses of every scenario of eval.Scenarios(1, 400), made
// from c, with a, and fails t for each of the thresholds a scenario misses
// (eval.Scenario.Check); the first 50 results of each scenario are held to CheckResult against
// source. on names the index in the log ("in memory", "on Bleve").
func CheckThresholds(t *testing.T, on string, c *eval.Corpus, a *attribution.Attributor, source func(postID string) (attribution.Source, bool)) {
	t.Helper()
	ctx := context.Background()
	for _, sc := range eval.Scenarios(1, 400) {
		t.Run(sc.Name, func(t *testing.T) {
			responses := c.Responses(sc.Responses)
			m, err := eval.Evaluate(ctx, a, responses)
			if err != nil {
				t.Fatal(err)
			}
			s := m.Summary()
			t.Logf("%s %s\n%s", sc.Name, on, s)
			for _, f := range sc.Check(s) {
				t.Error(f)
			}
			// Every result, whatever its score, must be well-formed evidence.
			for _, r := range responses[:50] {
				res, err := a.Attribute(ctx, r.Text)
				if err != nil {
					t.Fatal(err)
				}
				CheckResult(t, r.Text, source, res)
			}
		})
	}
}
