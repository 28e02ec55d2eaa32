package eval

import (
	"context"
	"runtime"
	"sync"

	"github.com/openroyalty/royalty/attribution"
)

// Scenario is a named set of responses.
type Scenario struct {
	Name      string
	Responses ResponseConfig
}

// Scenarios are the response sets the thresholds are stated for (Scenario.Check):
// verbatim copies mixed with reposts, quotations and boilerplate; the same with 10 % of copied
// words edited; and responses that copy nothing.
func Scenarios(seed uint64, count int) []Scenario {
	return []Scenario{
		{"verbatim", ResponseConfig{Seed: seed, Count: count, FromCopies: 0.2, Boilerplate: 0.3}},
		{"edited", ResponseConfig{Seed: seed + 1, Count: count, EditRate: 0.1, FromCopies: 0.2, Boilerplate: 0.3}},
		{"novel", ResponseConfig{Seed: seed + 2, Count: count / 2, Novel: true}},
	}
}

// Evaluate attributes every response with a, on all CPUs, and compares the results with the
// truth.
func Evaluate(ctx context.Context, a *attribution.Attributor, responses []Response) (*Metrics, error) {
	results := make([]*attribution.Result, len(responses))
	errs := make([]error, len(responses))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], errs[i] = a.Attribute(ctx, responses[i].Text)
			}
		}()
	}
	for i := range responses {
		next <- i
	}
	close(next)
	wg.Wait()
	m := &Metrics{}
	for i, r := range responses {
		if errs[i] != nil {
			return nil, errs[i]
		}
		m.Add(r, results[i])
	}
	return m, nil
}
