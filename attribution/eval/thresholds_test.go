package eval_test

import (
	"math"
	"strings"
	"testing"

	"github.com/openroyalty/royalty/attribution/eval"
)

// TestCheck: a summary exactly at the bounds passes every scenario, and a summary that
// misses one bound, lacks data or rests on too few words fails with a message naming it. Needs no
// shared data.
func TestCheck(t *testing.T) {
	atBounds := eval.Summary{
		Recall: 0.98, EditedRecall: 0.85, Precision: 0.99, ShareTVMedian: 0.02, ShareTVP95: 0.05,
		FalseCredit: 0.005, BoilerplateLeak: 0.01, RepostOriginal: 0.99,
		VerbatimWords: 500, EditedWords: 500, NovelWords: 500, BoilerplateWords: 500, RepostWords: 500,
	}
	scenarios := eval.Scenarios(1, 10)
	if len(scenarios) != 3 {
		t.Fatalf("%d scenarios, want verbatim, edited and novel", len(scenarios))
	}
	for _, sc := range scenarios {
		if len(sc.Thresholds()) == 0 {
			t.Errorf("scenario %q has no thresholds", sc.Name)
		}
		if f := sc.Check(atBounds); len(f) != 0 {
			t.Errorf("%s: a summary at the bounds fails: %q", sc.Name, f)
		}
		for _, th := range sc.Thresholds() {
			above, below := th.Bound+1e-9, th.Bound-1e-9
			if th.Holds(math.NaN()) || th.Holds(above) != th.AtLeast || th.Holds(below) == th.AtLeast {
				t.Errorf("%s: %s: holds for NaN %v, above %v, below %v", sc.Name, th,
					th.Holds(math.NaN()), th.Holds(above), th.Holds(below))
			}
		}
	}
	verbatim := scenarios[0]
	for _, tc := range []struct {
		change func(*eval.Summary)
		want   string
	}{
		{func(s *eval.Summary) { s.Recall = 0.97 }, "recall = 0.9700, want >= 0.98"},
		{func(s *eval.Summary) { s.Precision = math.NaN() }, "precision = NaN, want >= 0.99"},
		{func(s *eval.Summary) { s.ShareTVP95 = 0.06 }, "share error p95 = 0.0600, want <= 0.05"},
		{func(s *eval.Summary) { s.BoilerplateLeak = 0.02 }, "boilerplate leakage"},
		{func(s *eval.Summary) { s.RepostWords = 499 }, "too few words"},
	} {
		s := atBounds
		tc.change(&s)
		f := verbatim.Check(s)
		if len(f) != 1 || !strings.Contains(f[0], tc.want) {
			t.Errorf("Check = %q, want one failure containing %q", f, tc.want)
		}
	}
	if f := (eval.Scenario{Name: "other"}).Check(atBounds); len(f) != 1 {
		t.Errorf("a scenario without thresholds: Check = %q, want a failure", f)
	}
}
