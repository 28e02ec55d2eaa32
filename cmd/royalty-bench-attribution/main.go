// Command royalty-bench-attribution benchmarks attribution against a real Bleve index (indexer/bleveindex) of a
// generated, labelled corpus (attribution/eval): it indexes the corpus in stages, and at every
// checkpoint attributes the same number of responses of about 300 words, measuring latency and
// correctness:
//
//   - verbatim: responses that copy spans verbatim (with reposts, quotations, boilerplate),
//     attributed one at a time (a provider's report is one call), and again by 8 concurrent
//     callers (-callers) sharing the index;
//   - light edits: the same kind of responses with 5 % of the copied words edited (substituted,
//     inserted after or deleted, eval.ResponseConfig.EditRate);
//   - heavy edits: 25 % of the copied words edited and the sentences of every copied span shuffled
//     (eval.ResponseConfig.Reorder).
//
// Every response set is generated from -seed, so runs are repeatable. Recall is eval's: the credit
// reaching the right author on copied spans of at least 8 words (eval.Summary.Recall for verbatim
// spans, EditedRecall for edited ones). The baseline, measured in the same run on the same
// responses, is retrieval alone (Index.Candidates for the response's fingerprints): the part of
// the work that any fingerprint-based attribution must do, one caller at a time and with the same
// number of concurrent callers.
//
// The last line is, for the largest index,
//
//	RESULT attribution posts=<n> responses=<n> p50_ms=<n> p99_ms=<n> recall=<n> precision=<n>
//	  light_recall=<n> light_precision=<n> heavy_recall=<n> heavy_precision=<n>
//	  c8_p50_ms=<n> c8_p99_ms=<n> c8_per_s=<n> retr_p50_ms=<n> c8_retr_p50_ms=<n> ratio=<n> c8_ratio=<n>
//
// (one line), where ratio is attribution's p50 over retrieval's p50 with one caller and c8_ratio
// the same with 8 callers (the prefix c8 names the -callers figures).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/eval"
	"github.com/openroyalty/royalty/attribution/text"
	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/indexer/bleveindex"
	"github.com/openroyalty/royalty/internal/benchattr"
	"github.com/openroyalty/royalty/internal/version"
)

type options struct {
	posts       int
	checkpoints []int
	responses   int
	words       int
	seed        uint64
	batch       int
	dir         string
	keep        bool
	reuse       bool
	cpuprofile  string
	data        string
	callers     int
}

func main() {
	var o options
	var cps string
	flag.IntVar(&o.posts, "posts", 200_000, "posts in the largest index")
	flag.StringVar(&cps, "checkpoints", "50000", "comma-separated smaller index sizes to measure on the way")
	flag.IntVar(&o.responses, "responses", 1000, "responses attributed at each checkpoint")
	flag.IntVar(&o.words, "words", 300, "words per response")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the corpus and the responses")
	flag.IntVar(&o.batch, "batch", 500, "posts per index batch")
	flag.StringVar(&o.dir, "dir", "", "index directory (default: a temporary one, removed afterwards)")
	flag.BoolVar(&o.keep, "keep", false, "keep the index directory")
	flag.BoolVar(&o.reuse, "reuse", false, "with -dir: reuse an index of exactly -posts posts built by an earlier run with the same seed (measures only the largest size)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the attribution at the largest checkpoint")
	flag.StringVar(&o.data, "data", "", "Stack Exchange dumps for the word model (default ../shared/data/stackexchange)")
	flag.IntVar(&o.callers, "callers", 8, "concurrent callers of the concurrent measurement")
	version.Flag("royalty-bench-attribution")
	flag.Parse()
	for _, s := range strings.Split(cps, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench: bad checkpoint %q\n", s)
			os.Exit(2)
		}
		if n < o.posts {
			o.checkpoints = append(o.checkpoints, n)
		}
	}
	o.checkpoints = append(o.checkpoints, o.posts)
	slices.Sort(o.checkpoints)
	o.checkpoints = slices.Compact(o.checkpoints)
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if o.data == "" {
		var err error
		if o.data, err = eval.FindData(); err != nil {
			return err
		}
	}
	texts, err := eval.LoadStackExchangeText(o.data)
	if err != nil {
		return err
	}
	start := time.Now()
	corpus := eval.NewCorpus(eval.NewWordModel(texts), eval.CorpusConfig{Seed: o.seed, Posts: o.posts, HeldOut: 5_000})
	words := 0
	for _, p := range corpus.Posts {
		words += len(text.Words(p.Text))
	}
	fmt.Printf("corpus: %d posts (%d words, %.0f per post) generated in %s from a word model of %d Stack Exchange texts\n",
		len(corpus.Posts), words, float64(words)/float64(len(corpus.Posts)), time.Since(start).Round(time.Millisecond), len(texts))
	// The responses of every checkpoint are generated now, and the corpus is let go post by
	// post as it is indexed: the garbage collector of the measured process should scan the
	// index's memory, not the benchmark's data.
	responses := map[int]responseSets{}
	for _, cp := range o.checkpoints {
		prefix := corpus.Prefix(cp)
		gen := func(seed uint64, editRate float64, reorder bool) []eval.Response {
			return prefix.Responses(eval.ResponseConfig{Seed: seed, Count: o.responses, Words: o.words,
				FromCopies: 0.2, Boilerplate: 0.3, EditRate: editRate, Reorder: reorder})
		}
		responses[cp] = responseSets{verbatim: gen(o.seed+100, 0, false), light: gen(o.seed+200, lightEdits, false),
			heavy: gen(o.seed+300, heavyEdits, true)}
	}
	posts := corpus.Posts
	corpus, texts = nil, nil

	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-attribution-"); err != nil {
			return err
		}
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	idx, err := wire.OpenIndex(dir, log)
	if err != nil {
		return err
	}
	defer idx.Close()

	acfg := attribution.DefaultConfig()
	fmt.Printf("algorithm: %s\nindex: Bleve v2.6.1 (indexer/bleveindex) in %s; GOMAXPROCS=%d\n\n", acfg.Algorithm(), dir, runtime.GOMAXPROCS(0))
	fmt.Printf("%8s %10s %9s | %14s %14s | %14s %14s %9s | %7s %9s %7s %7s %7s\n",
		"posts", "index/s", "heap_MB", "retr_p50_ms", "retr_p99_ms", "attr_p50_ms", "attr_p99_ms", "mean_ms",
		"recall", "precision", "TVp95", "boiler", "repost")
	var last row
	indexed := 0
	if o.reuse {
		n, err := idx.DocCount()
		if err != nil {
			return err
		}
		if int(n) != o.posts {
			return fmt.Errorf("-reuse: the index in %s holds %d posts, not %d", dir, n, o.posts)
		}
		indexed, o.checkpoints = o.posts, []int{o.posts}
	}
	for i, cp := range o.checkpoints {
		t0 := time.Now()
		if err := benchattr.WriteBleve(ctx, idx, posts[indexed:cp], o.batch); err != nil {
			return err
		}
		clear(posts[indexed:cp])
		rate := float64(cp-indexed) / time.Since(t0).Seconds()
		indexed = cp
		settled := waitQuiet(10 * time.Minute)
		profile := ""
		if i == len(o.checkpoints)-1 {
			profile = o.cpuprofile
		}
		runtime.GC()
		r, err := measure(ctx, idx, responses[cp], acfg, profile, o.callers)
		if err != nil {
			return err
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		r.posts, r.rate = cp, rate
		fmt.Fprintf(os.Stderr, "checkpoint %d: indexed at %.0f posts/s, background merging settled after %s\n", cp, rate, settled.Round(time.Second))
		fmt.Printf("%8d %10.0f %9.0f | %14.2f %14.2f | %14.2f %14.2f %9.2f | %7.4f %9.4f %7.4f %7.4f %7.4f\n",
			cp, rate, float64(ms.HeapAlloc)/(1<<20), r.retrP50, r.retrP99, r.p50, r.p99, r.mean,
			r.sum.Recall, r.sum.Precision, r.sum.ShareTVP95, r.sum.BoilerplateLeak, r.sum.RepostOriginal)
		fmt.Printf("%8s   edits: light (%.0f %%) recall %.4f precision %.4f | heavy (%.0f %%, sentences shuffled) recall %.4f precision %.4f\n",
			"", 100*lightEdits, r.light.EditedRecall, r.light.Precision, 100*heavyEdits, r.heavy.EditedRecall, r.heavy.Precision)
		fmt.Printf("%8s   %d callers: retrieval p50 %.2f ms p99 %.2f ms | attribution p50 %.2f ms p99 %.2f ms, %.0f responses/s\n",
			"", o.callers, r.cRetrP50, r.cRetrP99, r.cP50, r.cP99, r.cRate)
		last = r
	}
	fmt.Printf("\nmetrics at %d posts, verbatim:\n%s\nlight edits:\n%s\nheavy edits:\n%s\n", last.posts, last.sum, last.light, last.heavy)
	c := fmt.Sprintf("c%d", o.callers)
	fmt.Printf("RESULT attribution posts=%d responses=%d p50_ms=%.2f p99_ms=%.2f recall=%.4f precision=%.4f"+
		" light_recall=%.4f light_precision=%.4f heavy_recall=%.4f heavy_precision=%.4f"+
		" %s_p50_ms=%.2f %s_p99_ms=%.2f %s_per_s=%.0f retr_p50_ms=%.2f %s_retr_p50_ms=%.2f ratio=%.2f %s_ratio=%.2f\n",
		last.posts, last.sum.Responses, last.p50, last.p99, last.sum.Recall, last.sum.Precision,
		last.light.EditedRecall, last.light.Precision, last.heavy.EditedRecall, last.heavy.Precision,
		c, last.cP50, c, last.cP99, c, last.cRate, last.retrP50, c, last.cRetrP50, last.p50/last.retrP50, c, last.cP50/last.cRetrP50)
	return nil
}

// The edit rates of the light and heavy edit sets (eval.ResponseConfig.EditRate).
const (
	lightEdits = 0.05
	heavyEdits = 0.25
)

// responseSets are the responses of one checkpoint.
type responseSets struct {
	verbatim, light, heavy []eval.Response
}

type row struct {
	posts            int
	rate             float64
	retrP50, retrP99 float64
	p50, p99, mean   float64
	sum              eval.Summary
	light, heavy     eval.Summary
	// With concurrent callers: retrieval alone, attribution, and attribution's responses/s.
	cRetrP50, cRetrP99, cP50, cP99, cRate float64
}

// measure attributes the verbatim responses one at a time (a provider's report is one call),
// then with callers concurrent callers, and the edited ones one at a time, and compares the
// results with the truth.
func measure(ctx context.Context, idx *bleveindex.Index, sets responseSets, cfg attribution.Config, profile string, callers int) (row, error) {
	responses := sets.verbatim
	if len(responses) == 0 {
		return row{}, errors.New("no responses")
	}
	a := attribution.New(idx, cfg)
	// Warm up: the first calls fault in the index files.
	for _, r := range responses[:min(50, len(responses))] {
		if _, err := a.Attribute(ctx, r.Text); err != nil {
			return row{}, err
		}
	}

	// Baseline: retrieval alone, with the same fingerprints and limit as the scorer's.
	queries := make([][]uint64, len(responses))
	for i, r := range responses {
		fps := text.Winnow(text.KGramHashes(text.Words(r.Text), cfg.K), cfg.W)
		queries[i] = make([]uint64, len(fps))
		for j, f := range fps {
			queries[i][j] = f.Hash
		}
	}
	retrieve := func(i int) error {
		_, err := idx.Candidates(ctx, queries[i], cfg.Candidates)
		return err
	}
	retr, _, err := concurrently(len(responses), 1, retrieve)
	if err != nil {
		return row{}, err
	}

	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return row{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return row{}, err
		}
		defer pprof.StopCPUProfile()
	}
	m := &eval.Metrics{}
	lat := make([]float64, 0, len(responses))
	timed := &timedIndex{Index: idx}
	a = attribution.New(timed, cfg)
	for _, r := range responses {
		t0 := time.Now()
		res, err := a.Attribute(ctx, r.Text)
		lat = append(lat, ms(time.Since(t0)))
		if err != nil {
			return row{}, err
		}
		m.Add(r, res)
	}
	if profile != "" {
		pprof.StopCPUProfile()
	}
	mean := 0.0
	for _, l := range lat {
		mean += l
	}
	n := float64(len(lat))
	fmt.Fprintf(os.Stderr, "per response: Candidates %.2f ms in %.1f calls with %.0f fingerprints (%.0f %% of calls at the limit); AuthorCounts %.2f ms in %.1f calls with %.0f fingerprints; the rest %.2f ms\n",
		timed.candMS/n, float64(timed.candCalls)/n, float64(timed.candFPs)/n, 100*float64(timed.candFull)/float64(max(timed.candCalls, 1)), timed.countMS/n, float64(timed.countCalls)/n, float64(timed.countFPs)/n,
		mean/n-(timed.candMS+timed.countMS)/n)
	out := row{
		retrP50: quantile(retr, 0.5), retrP99: quantile(retr, 0.99),
		p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), mean: mean / float64(len(lat)),
		sum: m.Summary(),
	}

	// The same responses, and retrieval alone, with concurrent callers sharing the index.
	cRetr, _, err := concurrently(len(responses), callers, retrieve)
	if err != nil {
		return row{}, err
	}
	a = attribution.New(idx, cfg)
	results := make([]*attribution.Result, len(responses))
	cLat, elapsed, err := concurrently(len(responses), callers, func(i int) error {
		var err error
		results[i], err = a.Attribute(ctx, responses[i].Text)
		return err
	})
	if err != nil {
		return row{}, err
	}
	cm := &eval.Metrics{}
	for i, r := range responses {
		cm.Add(r, results[i])
	}
	if cs := cm.Summary(); cs.Recall != out.sum.Recall || cs.Precision != out.sum.Precision {
		fmt.Fprintf(os.Stderr, "warning: %d callers gave recall %.4f precision %.4f, one caller %.4f and %.4f\n",
			callers, cs.Recall, cs.Precision, out.sum.Recall, out.sum.Precision)
	}
	out.cRetrP50, out.cRetrP99 = quantile(cRetr, 0.5), quantile(cRetr, 0.99)
	out.cP50, out.cP99 = quantile(cLat, 0.5), quantile(cLat, 0.99)
	out.cRate = float64(len(responses)) / elapsed.Seconds()

	// Edited copies, one caller at a time.
	for _, e := range []struct {
		responses []eval.Response
		sum       *eval.Summary
	}{{sets.light, &out.light}, {sets.heavy, &out.heavy}} {
		em := &eval.Metrics{}
		for _, r := range e.responses {
			res, err := a.Attribute(ctx, r.Text)
			if err != nil {
				return row{}, err
			}
			em.Add(r, res)
		}
		*e.sum = em.Summary()
	}
	return out, nil
}

// concurrently calls fn(i) for every i in [0, n) from callers goroutines taking the next i in
// turn, and returns the latency of every call in milliseconds (in the order of i) and the time
// it all took. It stops at the first error.
func concurrently(n, callers int, fn func(i int) error) ([]float64, time.Duration, error) {
	lat := make([]float64, n)
	var next atomic.Int64
	var failed atomic.Bool
	errs := make([]error, callers)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := fn(i); err != nil {
					errs[c] = err
					failed.Store(true)
					return
				}
				lat[i] = ms(time.Since(t0))
			}
		}()
	}
	wg.Wait()
	return lat, time.Since(start), errors.Join(errs...)
}

// waitQuiet waits until the process has used less than 5 % of one CPU for three seconds in a
// row: Bleve merges segments in the background after a batch is persisted, and latency measured
// during a merge measures the merge. It returns how long it waited.
func waitQuiet(limit time.Duration) time.Duration {
	start := time.Now()
	quiet := 0
	prev := cpuTime()
	for quiet < 3 && time.Since(start) < limit {
		time.Sleep(time.Second)
		now := cpuTime()
		if now-prev < 50*time.Millisecond {
			quiet++
		} else {
			quiet = 0
		}
		prev = now
	}
	return time.Since(start)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timedIndex measures where attribution spends its time in the index. It is used by one
// goroutine at a time.
type timedIndex struct {
	attribution.Index
	candMS, countMS                          float64
	candCalls, countCalls, candFPs, countFPs int
	candFull                                 int // calls that returned the limit
}

func (t *timedIndex) Candidates(ctx context.Context, fps []uint64, limit int) ([]attribution.Source, error) {
	t0 := time.Now()
	out, err := t.Index.Candidates(ctx, fps, limit)
	t.candMS += ms(time.Since(t0))
	t.candCalls++
	t.candFPs += len(fps)
	if len(out) == limit {
		t.candFull++
	}
	return out, err
}

func (t *timedIndex) AuthorCounts(ctx context.Context, fps []uint64, max int) ([]int, error) {
	t0 := time.Now()
	defer func() { t.countMS += ms(time.Since(t0)); t.countCalls++; t.countFPs += len(fps) }()
	return t.Index.AuthorCounts(ctx, fps, max)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(float64(len(s))*q+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}
