// Command royalty-eval-attribution measures attribution on a generated, labelled corpus (package eval)
// indexed in memory, and prints the metrics of each scenario.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/eval"
	"github.com/openroyalty/royalty/attribution/memindex"
	"github.com/openroyalty/royalty/internal/version"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "royalty-eval-attribution:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := eval.DefaultCorpus
	var data string
	var responses int
	var acfg attribution.Config
	flag.StringVar(&data, "data", "", "Stack Exchange dumps to train the word model (default ../shared/data/stackexchange from the repository root)")
	flag.IntVar(&cfg.Posts, "posts", cfg.Posts, "indexed posts")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed")
	flag.IntVar(&responses, "responses", 500, "responses per scenario")
	flag.IntVar(&acfg.MaxAuthors, "max-authors", 0, "boilerplate threshold D (0: default)")
	flag.IntVar(&acfg.MaxGapWords, "max-gap", 0, "longest bridged gap (0: default, -1: off)")
	flag.IntVar(&acfg.MinContentWords, "min-content", 0, "content words per span (0: default, -1: off)")
	flag.IntVar(&acfg.Candidates, "candidates", 0, "candidates per chunk (0: default)")
	real := flag.Bool("real", false, "also attribute every real Stack Exchange post against the others and show what the filters remove")
	version.Flag("royalty-eval-attribution")
	flag.Parse()
	if data == "" {
		var err error
		if data, err = eval.FindData(); err != nil {
			return err
		}
	}
	if *real {
		posts, err := eval.RealPosts(data)
		if err != nil {
			return err
		}
		rep, err := eval.CrossAttribute(context.Background(), posts, acfg)
		if err != nil {
			return err
		}
		fmt.Printf("== real dumps (%s)\n%s\n", data, rep)
	}
	texts, err := eval.LoadStackExchangeText(data)
	if err != nil {
		return err
	}
	start := time.Now()
	corpus := eval.NewCorpus(eval.NewWordModel(texts), cfg)
	idx := memindex.New()
	if err := corpus.Index(idx); err != nil {
		return err
	}
	a := attribution.New(idx, acfg)
	fmt.Printf("corpus: %d posts indexed, %d held out, built in %s\nalgorithm: %s\n\n",
		idx.Len(), len(corpus.HeldOut), time.Since(start).Round(time.Millisecond), a.Config().Algorithm())
	for _, sc := range eval.Scenarios(cfg.Seed, responses) {
		start := time.Now()
		m, err := eval.Evaluate(context.Background(), a, corpus.Responses(sc.Responses))
		if err != nil {
			return err
		}
		s := m.Summary()
		fmt.Printf("== %s (%s)\n%s", sc.Name, time.Since(start).Round(time.Millisecond), s)
		if failed := sc.Check(s); len(failed) > 0 {
			fmt.Printf("thresholds missed:\n  %s\n\n", strings.Join(failed, "\n  "))
		} else {
			fmt.Printf("thresholds: all hold\n\n")
		}
	}
	return nil
}
