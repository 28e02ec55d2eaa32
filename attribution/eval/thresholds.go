package eval

import (
	"fmt"
	"math"
)

// Threshold is one of the correctness thresholds: a metric of a Summary and the bound
// it must reach.
type Threshold struct {
	Metric  string
	Value   func(Summary) float64
	AtLeast bool // the metric must be >= Bound; otherwise <= Bound
	Bound   float64
}

// Holds reports whether v meets the threshold; NaN (a ratio without data) never does.
func (t Threshold) Holds(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	if t.AtLeast {
		return v >= t.Bound
	}
	return v <= t.Bound
}

// Want is the bound as in the issue: ">= 0.98".
func (t Threshold) Want() string {
	if t.AtLeast {
		return fmt.Sprintf(">= %g", t.Bound)
	}
	return fmt.Sprintf("<= %g", t.Bound)
}

func (t Threshold) String() string { return t.Metric + " " + t.Want() }

// MinMeasured is the fewest words a ratio of a scenario's thresholds may rest on for the
// threshold to mean anything.
const MinMeasured = 500

func atLeast(metric string, bound float64, v func(Summary) float64) Threshold {
	return Threshold{Metric: metric, Value: v, AtLeast: true, Bound: bound}
}

func atMost(metric string, bound float64, v func(Summary) float64) Threshold {
	return Threshold{Metric: metric, Value: v, Bound: bound}
}

var (
	recall         = atLeast("recall", 0.98, func(s Summary) float64 { return s.Recall })
	editedRecall   = atLeast("recall with edits", 0.85, func(s Summary) float64 { return s.EditedRecall })
	precision      = atLeast("precision", 0.99, func(s Summary) float64 { return s.Precision })
	shareMedian    = atMost("share error median", 0.02, func(s Summary) float64 { return s.ShareTVMedian })
	shareP95       = atMost("share error p95", 0.05, func(s Summary) float64 { return s.ShareTVP95 })
	repostOriginal = atLeast("reposted words to original", 0.99, func(s Summary) float64 { return s.RepostOriginal })
	boilerplate    = atMost("boilerplate leakage", 0.01, func(s Summary) float64 { return s.BoilerplateLeak })
	falseCredit    = atMost("false credit", 0.005, func(s Summary) float64 { return s.FalseCredit })
)

// thresholds are the thresholds per scenario, and the word counts behind their ratios.
var thresholds = map[string]struct {
	checks []Threshold
	counts func(Summary) []int
}{
	"verbatim": {
		[]Threshold{recall, precision, shareMedian, shareP95, repostOriginal, boilerplate},
		func(s Summary) []int { return []int{s.VerbatimWords, s.RepostWords, s.BoilerplateWords} },
	},
	"edited": {
		[]Threshold{editedRecall, precision, boilerplate},
		func(s Summary) []int { return []int{s.EditedWords, s.BoilerplateWords} },
	},
	"novel": {
		[]Threshold{falseCredit},
		func(s Summary) []int { return []int{s.NovelWords} },
	},
}

// Thresholds returns the correctness thresholds for the scenario (one of Scenarios).
func (sc Scenario) Thresholds() []Threshold {
	return thresholds[sc.Name].checks
}

// Check compares s, the summary of an evaluation of the scenario, with the scenario's
// thresholds and returns one message per failure, none when every threshold holds. A scenario
// without thresholds fails, and so does one whose ratios rest on fewer than MinMeasured words.
func (sc Scenario) Check(s Summary) []string {
	th, ok := thresholds[sc.Name]
	if !ok {
		return []string{fmt.Sprintf("no thresholds for scenario %q", sc.Name)}
	}
	var failed []string
	for _, n := range th.counts(s) {
		if n < MinMeasured {
			failed = append(failed, fmt.Sprintf("too few words measured (%v, want >= %d each) for the thresholds to mean anything", th.counts(s), MinMeasured))
			break
		}
	}
	for _, t := range th.checks {
		if v := t.Value(s); !t.Holds(v) {
			failed = append(failed, fmt.Sprintf("%s = %.4f, want %s", t.Metric, v, t.Want()))
		}
	}
	return failed
}
