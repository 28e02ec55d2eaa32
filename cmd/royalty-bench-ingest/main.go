// Command royalty-bench-ingest measures the ingest pipeline against plain Bleve (`make bench-ingest`).
//
// It builds a synthetic Stack Exchange dump of -n posts whose kinds and lengths (own words and
// quoted words) are sampled from the real dumps in ../shared/data/stackexchange, with text drawn
// from a word model (the dumps' word frequencies plus a Zipf tail of made-up words; no sentence
// of the dumps is copied). Then, in the same run and with the same batch size, it indexes:
//
//  1. the baseline: the posts' plain text, already extracted and in memory, into a Bleve index
//     with only a text field, configured like the pipeline's text field (standard analyzer,
//     stored, term vectors), with unsafe_batch and waiting for the last batch to persist, and
//     otherwise scorch's defaults. A run with the pipeline's scorch settings
//     (bleveindex.Config) and garbage collector target (indexer.GCPercent, which Pipeline.Run
//     applies) is logged for reference;
//  2. the full pipeline: parse the dump, normalise HTML and Markdown, fingerprint, write Bleve
//     (text, title, quotations, fingerprints, filters, stored fields) and the posts and
//     identities tables of a throwaway PostgreSQL with fsync on. The pipeline's index gets the
//     standard analyzer's tokens from a faster tokenizer of its own (indexer/bleveindex
//     tokenizer.go); the baseline keeps Bleve's.
//
// Other processes share the machine, and single runs of either side vary by a third, so the
// two alternate: baseline, pipeline, baseline, … for -rounds pipeline runs (3 by default, each
// into a new index and a new database). Each round is compared with the mean of the baselines
// on either side of it, and logged; the RESULT line is the round of the median ratio (the
// lower of the two middle ones for an even number).
//
// It ends with
//
//	RESULT ingest posts_per_s=<n> baseline_posts_per_s=<n> ratio=<pipeline/baseline> index_bytes_per_post=<n> peak_rss_mb=<n>
//
// where peak_rss_mb is the highest peak resident set of the pipeline rounds (VmHWM, reset before
// each; PostgreSQL's memory is not in it) and index_bytes_per_post is that of the round reported.
// The log also shows the CPU time of each phase and the latency of Candidates and AuthorCounts
// over the last round's index. With -breakdown it also indexes the corpus in steps from the
// baseline towards the pipeline (steps.go), each logged with its time and CPU time, to show
// where the pipeline's time goes.
package main

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"

	"github.com/openroyalty/royalty/attribution/text"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/bleveindex"
	"github.com/openroyalty/royalty/indexer/postgres"
	"github.com/openroyalty/royalty/indexer/stackexchange"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtmp"
	"github.com/openroyalty/royalty/internal/repo"
	"github.com/openroyalty/royalty/internal/version"
)

func main() {
	n := flag.Int("n", 100000, "posts to generate")
	batch := flag.Int("batch", indexer.DefaultBatchSize, "batch size of both runs")
	data := flag.String("data", "", "real Stack Exchange dumps to sample lengths and words from (default ../shared/data/stackexchange)")
	seed := flag.Int64("seed", 1, "random seed of the synthetic corpus")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the first pipeline round to this file")
	flag.IntVar(&rounds, "rounds", 3, "pipeline runs, each between two baseline runs; RESULT is the round of the median ratio")
	flag.BoolVar(&breakdown, "breakdown", false, "also index in steps towards the pipeline, each logged with its CPU time: "+
		"the text field, text and fingerprints, every field (posts prepared in memory), the pipeline without the database")
	version.Flag("royalty-bench-ingest")
	flag.Parse()
	profile = *cpuProfile
	rounds = max(1, rounds)
	level := slog.LevelInfo
	if os.Getenv("BENCH_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(context.Background(), *n, *batch, *data, *seed, log); err != nil {
		fmt.Fprintln(os.Stderr, "royalty-bench-ingest:", err)
		os.Exit(1)
	}
}

// profile is the -cpuprofile file.
var profile string

// rounds is the -rounds flag.
var rounds int

// breakdown is the -breakdown flag.
var breakdown bool

func run(ctx context.Context, n, batchSize int, data string, seed int64, log *slog.Logger) error {
	if data == "" {
		if data = repo.SharedData("stackexchange"); data == "" {
			return errors.New("no real dumps to sample from: pass -data or put them in ../shared/data/stackexchange")
		}
	}
	work, err := os.MkdirTemp("", "royalty-bench-ingest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	m, err := learn(data)
	if err != nil {
		return err
	}
	log.Info("model from the real dumps", "posts", len(m.shapes), "vocabulary", len(m.words), "mean_words", fmt.Sprintf("%.0f", m.meanWords()))
	dump := filepath.Join(work, "synthetic.stackexchange.com")
	start := time.Now()
	if err := m.writeDump(dump, n, rand.New(rand.NewSource(seed))); err != nil {
		return err
	}
	log.Info("synthetic dump written", "posts", n, "took", time.Since(start).Round(time.Millisecond))

	// The baseline indexes texts already in memory, so that it measures Bleve alone. It runs
	// before, between and after the rounds of the pipeline, and each round is compared with the
	// baselines on either side of it, so that a change in the machine's load during the run
	// (other processes share it, and single runs of either side were seen to vary by a third)
	// weighs on both sides alike.
	texts, err := plainTexts(dump)
	if err != nil {
		return err
	}
	runBaseline := func(name string, cfg map[string]interface{}) (float64, error) {
		if texts == nil {
			if texts, err = plainTexts(dump); err != nil {
				return 0, err
			}
		}
		cpu0 := cpuTime()
		d, err := baseline(filepath.Join(work, name), texts, batchSize, cfg)
		if err != nil {
			return 0, err
		}
		rate := float64(len(texts)) / d.Seconds()
		log.Info(name, "posts", len(texts), "took", d.Round(time.Millisecond), "cpu", (cpuTime() - cpu0).Round(time.Millisecond), "posts_per_s", int(rate))
		return rate, os.RemoveAll(filepath.Join(work, name))
	}
	plain := map[string]interface{}{"unsafe_batch": true}
	first, err := runBaseline("baseline-1", plain)
	if err != nil {
		return err
	}
	baseRates := []float64{first}
	// For reference only: the same text-only index with the settings the pipeline runs with,
	// scorch's (bleveindex.Config) and the garbage collector's (indexer.GCPercent).
	gc := debug.SetGCPercent(-1)
	debug.SetGCPercent(gc)
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(max(gc, indexer.GCPercent))
	}
	_, err = runBaseline("baseline-with-pipeline-settings", bleveindex.Config())
	debug.SetGCPercent(gc)
	if err != nil {
		return err
	}

	pg, err := pgtmp.Start(ctx, pgtmp.Options{Durable: true})
	if err != nil {
		return err
	}
	defer pg.Stop()
	var (
		results   []pipelineResult
		peak      float64
		indexPath string
	)
	for round := 1; round <= rounds; round++ {
		texts = nil // read again for the next baseline, so that the pipeline's peak RSS is its own
		indexPath = filepath.Join(work, fmt.Sprintf("index-%d", round))
		r, err := pipeline(ctx, pg, round, dump, indexPath, n, batchSize, log)
		if err != nil {
			return err
		}
		peak = max(peak, r.peakMB)
		rate, err := runBaseline(fmt.Sprintf("baseline-%d", round+1), plain)
		if err != nil {
			return err
		}
		r.baseline = (baseRates[len(baseRates)-1] + rate) / 2
		log.Info("round", "round", round, "posts_per_s", int(r.rate), "baseline_posts_per_s", int(r.baseline), "ratio", fmt.Sprintf("%.2f", r.rate/r.baseline))
		baseRates = append(baseRates, rate)
		results = append(results, r)
		if round < rounds {
			if err := os.RemoveAll(indexPath); err != nil {
				return err
			}
		}
	}
	texts = nil
	if err := retrieval(ctx, indexPath, dump, log); err != nil {
		return err
	}
	if breakdown {
		if err := steps(ctx, work, dump, batchSize, log); err != nil {
			return err
		}
	}
	// The round of the median ratio, against the mean of the baselines on either side of it.
	sort.Slice(results, func(i, j int) bool { return results[i].rate/results[i].baseline < results[j].rate/results[j].baseline })
	mid := results[(len(results)-1)/2]
	fmt.Printf("RESULT ingest posts_per_s=%.0f baseline_posts_per_s=%.0f ratio=%.2f index_bytes_per_post=%.0f peak_rss_mb=%.0f\n",
		mid.rate, mid.baseline, mid.rate/mid.baseline, float64(mid.size)/float64(mid.posts), peak)
	return nil
}

// pipelineResult is what one round of the pipeline measured.
type pipelineResult struct {
	rate     float64 // posts per second
	baseline float64 // the mean rate of the baselines before and after the round
	peakMB   float64 // peak resident set
	size     int64   // bytes of the index
	posts    int
}

// pipeline runs the full pipeline over the dump into a new index at indexPath and a new
// database of pg.
func pipeline(ctx context.Context, pg *pgtmp.Server, round int, dump, indexPath string, n, batchSize int, log *slog.Logger) (pipelineResult, error) {
	dsn, err := pg.CreateMigrated(ctx, fmt.Sprintf("bench%d", round))
	if err != nil {
		return pipelineResult{}, err
	}
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		return pipelineResult{}, err
	}
	defer pool.Close()

	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	if profile != "" && round == 1 {
		f, err := os.Create(profile)
		if err != nil {
			return pipelineResult{}, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return pipelineResult{}, err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	cpu0 := cpuTime()
	x, err := bleveindex.Open(indexPath, bleveindex.Options{Logger: log})
	if err != nil {
		return pipelineResult{}, err
	}
	srcs, err := stackexchange.Sources([]string{dump}, stackexchange.Options{})
	if err != nil {
		x.Close()
		return pipelineResult{}, err
	}
	pipe := indexer.NewPipeline(postgres.New(pool), x, indexer.Options{BatchSize: batchSize, Logger: log})
	sum, err := pipe.Run(ctx, indexer.Chain(srcs, indexer.Position{}), indexer.RunOptions{})
	if err != nil {
		x.Close()
		return pipelineResult{}, err
	}
	if err := x.Close(); err != nil { // waits for the last batch to persist
		return pipelineResult{}, err
	}
	dur := time.Since(start)
	pipeCPU := cpuTime() - cpu0
	if profile != "" && round == 1 {
		pprof.StopCPUProfile()
	}
	res := pipelineResult{rate: float64(sum.Received) / dur.Seconds(), peakMB: peakRSSMB(), posts: sum.Received}
	if sum.Received != n || sum.Inserted != n || sum.Rejected != 0 {
		return res, fmt.Errorf("pipeline summary %+v, want %d posts inserted", sum, n)
	}
	if res.size, err = dirSize(indexPath); err != nil {
		return res, err
	}
	log.Info(fmt.Sprintf("pipeline-%d", round), "posts", sum.Received, "identities", sum.Identities, "took", dur.Round(time.Millisecond),
		"cpu", pipeCPU.Round(time.Millisecond), "posts_per_s", int(res.rate))
	return res, nil
}

// shape is what the synthetic corpus copies from a real post: its kind and how many words it
// has of its own and quoted.
type shape struct {
	kind          indexer.Kind
	own, quoted   int
	titleWords    int
	paragraphsPer int // own words per paragraph
}

type model struct {
	shapes []shape
	words  []string
	cum    []float64 // cumulative frequencies of words
}

func (m *model) meanWords() float64 {
	t := 0
	for _, s := range m.shapes {
		t += s.own
	}
	return float64(t) / float64(len(m.shapes))
}

// learn reads the real dumps with the real parser: post shapes, and word frequencies.
func learn(dir string) (*model, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var folders []string
	for _, e := range entries {
		if e.IsDir() {
			folders = append(folders, filepath.Join(dir, e.Name()))
		}
	}
	srcs, err := stackexchange.Sources(folders, stackexchange.Options{})
	if err != nil {
		return nil, err
	}
	recs, _, err := indexer.ReadAll(indexer.Chain(srcs, indexer.Position{}))
	if err != nil {
		return nil, err
	}
	m := &model{}
	freq := map[string]int{}
	for _, r := range recs {
		if r.Post == nil {
			continue
		}
		p, err := indexer.Prepare(r.Post)
		if err != nil {
			continue
		}
		own := text.Words(p.Post.Text)
		s := shape{kind: p.Post.Kind, own: len(own), titleWords: len(text.Words(p.Post.Title))}
		for _, q := range p.Post.Quoted {
			s.quoted += len(text.Words(q))
		}
		paras := strings.Count(p.Post.Text, "\n") + 1
		s.paragraphsPer = max(1, s.own/paras)
		m.shapes = append(m.shapes, s)
		for _, w := range own {
			freq[w.Text]++
		}
	}
	if len(m.shapes) == 0 {
		return nil, fmt.Errorf("no posts in %s", dir)
	}
	for w := range freq {
		m.words = append(m.words, w)
	}
	// Ties are broken by the word: in map order the corpus would differ from run to run, and
	// some orders make a comment of one word like "10." (an ordered-list marker, no text left),
	// which the pipeline rightly rejects and the run then fails.
	sort.Slice(m.words, func(i, j int) bool {
		if fi, fj := freq[m.words[i]], freq[m.words[j]]; fi != fj {
			return fi > fj
		}
		return m.words[i] < m.words[j]
	})
	total := 0.0
	for _, w := range m.words {
		total += float64(freq[w])
		m.cum = append(m.cum, total)
	}
	return m, nil
}

// tailWords is the size of the made-up vocabulary that gives the synthetic corpus the long tail
// of a large crawl (names, numbers, rare words) that two small dumps lack.
const tailWords = 1 << 20

func (m *model) word(rng *rand.Rand, zipf *rand.Zipf) string {
	if rng.Intn(10) == 0 {
		return "w" + strconv.FormatUint(zipf.Uint64(), 36)
	}
	x := rng.Float64() * m.cum[len(m.cum)-1]
	return m.words[sort.SearchFloat64s(m.cum, x)]
}

func (m *model) sentence(b *strings.Builder, rng *rand.Rand, zipf *rand.Zipf, n int) {
	for i := 0; i < n; i++ {
		if i > 0 {
			if rng.Intn(14) == 0 {
				b.WriteString(". ")
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(m.word(rng, zipf))
	}
	b.WriteByte('.')
}

// writeDump writes a Stack Exchange dump folder of n posts: questions and answers in Posts.xml
// (HTML, with <blockquote> quotations), comments in Comments.xml (Markdown), 5,000 users.
func (m *model) writeDump(dir string, n int, rng *rand.Rand) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	zipf := rand.NewZipf(rng, 1.1, 1, tailWords-1)
	const users = 5000
	owner := rand.NewZipf(rng, 1.2, 1, users-1)
	files := map[string]*bufio.Writer{}
	var closers []*os.File
	for _, name := range []string{"Users.xml", "Posts.xml", "Comments.xml"} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		closers = append(closers, f)
		w := bufio.NewWriterSize(f, 1<<20)
		root := strings.ToLower(strings.TrimSuffix(name, ".xml"))
		fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<%s>\n", root)
		files[name] = w
	}
	uw := files["Users.xml"]
	for u := 1; u <= users; u++ {
		fmt.Fprintf(uw, "  <row Id=\"%d\" DisplayName=\"%s\" AccountId=\"%d\" />\n", u, attr("User "+strconv.Itoa(u)), 1000+u)
	}
	created := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	var b strings.Builder
	lastQuestion := 0
	for i := 1; i <= n; i++ {
		s := m.shapes[rng.Intn(len(m.shapes))]
		created = created.Add(time.Duration(rng.Intn(600)) * time.Second)
		date := created.Format("2006-01-02T15:04:05.000")
		user := owner.Uint64() + 1
		b.Reset()
		if s.kind == indexer.KindComment {
			if s.quoted > 0 {
				b.WriteString("> ")
				m.sentence(&b, rng, zipf, s.quoted)
				b.WriteString("\n\n")
			}
			m.sentence(&b, rng, zipf, max(1, s.own))
			fmt.Fprintf(files["Comments.xml"], "  <row Id=\"%d\" PostId=\"%d\" Score=\"0\" Text=\"%s\" CreationDate=\"%s\" UserId=\"%d\" ContentLicense=\"CC BY-SA 4.0\" />\n",
				i, max(1, lastQuestion), attr(b.String()), date, user)
			continue
		}
		if s.quoted > 0 {
			b.WriteString("<blockquote><p>")
			m.sentence(&b, rng, zipf, s.quoted)
			b.WriteString("</p></blockquote>\n")
		}
		for left := max(1, s.own); left > 0; left -= s.paragraphsPer {
			b.WriteString("<p>")
			m.sentence(&b, rng, zipf, min(left, s.paragraphsPer))
			b.WriteString("</p>\n")
		}
		pw := files["Posts.xml"]
		if s.kind == indexer.KindQuestion || lastQuestion == 0 {
			var title strings.Builder
			m.sentence(&title, rng, zipf, max(3, s.titleWords))
			fmt.Fprintf(pw, "  <row Id=\"%d\" PostTypeId=\"1\" CreationDate=\"%s\" Score=\"1\" Body=\"%s\" OwnerUserId=\"%d\" Title=\"%s\" ContentLicense=\"CC BY-SA 4.0\" />\n",
				i, date, attr(b.String()), user, attr(title.String()))
			lastQuestion = i
		} else {
			fmt.Fprintf(pw, "  <row Id=\"%d\" PostTypeId=\"2\" ParentId=\"%d\" CreationDate=\"%s\" Score=\"1\" Body=\"%s\" OwnerUserId=\"%d\" ContentLicense=\"CC BY-SA 4.0\" />\n",
				i, lastQuestion, date, attr(b.String()), user)
		}
	}
	for name, w := range files {
		fmt.Fprintf(w, "</%s>\n", strings.ToLower(strings.TrimSuffix(name, ".xml")))
		if err := w.Flush(); err != nil {
			return err
		}
	}
	for _, f := range closers {
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// attr escapes s for an XML attribute on one line, as the dumps do.
func attr(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // newlines become &#xA;
	return b.String()
}

// plainTexts returns the own words of every post of the dump.
func plainTexts(dump string) ([]string, error) {
	var out []string
	err := eachPrepared(dump, func(p *indexer.Prepared) { out = append(out, p.Post.Text) })
	return out, err
}

// eachPrepared reads every post of the dump, prepares it and hands it to fn.
func eachPrepared(dump string, fn func(*indexer.Prepared)) error {
	srcs, err := stackexchange.Sources([]string{dump}, stackexchange.Options{})
	if err != nil {
		return err
	}
	r := indexer.Chain(srcs, indexer.Position{})
	defer r.Close()
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if rec.Post == nil {
			continue
		}
		p, err := indexer.Prepare(rec.Post)
		if err != nil {
			return err
		}
		fn(p)
	}
}

// baseline indexes texts into a plain Bleve index with only a text field, configured like the
// pipeline's, in batches of batchSize, and waits for the last batch to persist.
func baseline(path string, texts []string, batchSize int, cfg map[string]interface{}) (time.Duration, error) {
	f := mapping.NewTextFieldMapping()
	f.Analyzer = standard.Name
	f.Store, f.IncludeTermVectors, f.IncludeInAll, f.DocValues = true, true, false, false
	doc := mapping.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt("text", f)
	im := bleve.NewIndexMapping()
	im.DefaultMapping = doc
	im.IndexDynamic, im.StoreDynamic, im.DocValuesDynamic = false, false, false
	created, err := bleve.NewUsing(path, im, scorch.Name, scorch.Name, nil)
	if err != nil {
		return 0, err
	}
	if err := created.Close(); err != nil {
		return 0, err
	}
	start := time.Now()
	idx, err := bleve.OpenUsing(path, cfg)
	if err != nil {
		return 0, err
	}
	persisted := make(chan error, len(texts)/batchSize+2)
	batches := 0
	b := idx.NewBatch()
	flush := func() error {
		b.SetPersistedCallback(func(err error) { persisted <- err })
		batches++
		if err := idx.Batch(b); err != nil {
			return err
		}
		b = idx.NewBatch()
		return nil
	}
	for i, t := range texts {
		if err := b.Index("p"+strconv.Itoa(i), map[string]interface{}{"text": t}); err != nil {
			return 0, err
		}
		if b.Size() >= batchSize {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if b.Size() > 0 {
		if err := flush(); err != nil {
			return 0, err
		}
	}
	for i := 0; i < batches; i++ {
		if err := <-persisted; err != nil {
			return 0, err
		}
	}
	if err := idx.Close(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// retrieval times Candidates and AuthorCounts for 200 random synthetic posts' fingerprints.
func retrieval(ctx context.Context, indexPath, dump string, log *slog.Logger) error {
	x, err := bleveindex.Open(indexPath, bleveindex.Options{})
	if err != nil {
		return err
	}
	defer x.Close()
	texts, err := plainTexts(dump)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewSource(2))
	var cand, counts []time.Duration
	for i := 0; i < 200; i++ {
		var fps []uint64
		for _, f := range text.Fingerprints(texts[rng.Intn(len(texts))]) {
			fps = append(fps, f.Hash)
		}
		if len(fps) > 100 {
			fps = fps[:100]
		}
		t0 := time.Now()
		if _, err := x.Candidates(ctx, fps, 100); err != nil {
			return err
		}
		t1 := time.Now()
		if _, err := x.AuthorCounts(ctx, fps, 5); err != nil {
			return err
		}
		cand, counts = append(cand, t1.Sub(t0)), append(counts, time.Since(t1))
	}
	log.Info("retrieval over the pipeline's index", "candidates_p50", pct(cand, 50), "candidates_p99", pct(cand, 99),
		"author_counts_p50", pct(counts, 50), "author_counts_p99", pct(counts, 99))
	return nil
}

func pct(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(math.Min(float64(len(s)-1), float64(len(s)*p/100)))].Round(10 * time.Microsecond)
}

// resetPeakRSS resets VmHWM (Linux: writing 5 to clear_refs), so the next reading covers only
// what follows.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSMB reads VmHWM from /proc/self/status.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return -1
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// cpuTime is the CPU time (user and system) this process has used; PostgreSQL's is not in it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
