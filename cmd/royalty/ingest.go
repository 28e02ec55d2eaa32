package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/indexer"
	"github.com/openroyalty/royalty/indexer/bleveindex"
	"github.com/openroyalty/royalty/indexer/hn"
	"github.com/openroyalty/royalty/indexer/jsonl"
	"github.com/openroyalty/royalty/indexer/lines"
	"github.com/openroyalty/royalty/indexer/postgres"
	"github.com/openroyalty/royalty/indexer/pushshift"
	"github.com/openroyalty/royalty/indexer/stackexchange"
	"github.com/openroyalty/royalty/internal/termtext"
)

type ingestOptions struct {
	format    string
	site      string
	batchSize int
	server    string
	client    clientOptions
	progress  string
	logEvery  time.Duration
	restart   bool
	reconcile bool
	compact   bool
}

func ingestCommand(cfg *config, stdout, stderr io.Writer) *cobra.Command {
	o := &ingestOptions{}
	cmd := &cobra.Command{
		Use:   "ingest --format stackexchange|pushshift|hn|jsonl PATH...",
		Short: "Ingest crawled posts with their authors into the index and the posts table",
		Long: `Ingest crawled posts with their authors into the search index (<data-dir>/index) and the
posts and identities tables.

Formats (docs/design.md §5): stackexchange (dump folders holding Users.xml, Posts.xml and
Comments.xml; the site is the folder name unless --site is given), pushshift (Reddit comments and
submissions as JSON lines, plain or .zst), hn (Hacker News items as JSON lines) and jsonl (the
generic format). A malformed record is reported with its position and skipped.

Ingest is resumable: progress is recorded after every batch that is durable in both the index and
the database, and running the same command again after a crash or an interrupt continues from
there. Ingesting a post id again updates the post.

The index belongs to one process. With --server the posts are sent to a running server's
IndexService.IngestPosts instead of opening the index here.

With --reconcile and no PATH, the index is made to hold exactly the posts of the database (the
system of record): missing posts are indexed again, documents without a post are deleted. That
rebuilds a lost index from the database.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(cfg, stderr)
			if err != nil {
				return err
			}
			if o.reconcile {
				if len(args) > 0 || o.server != "" {
					return errors.New("--reconcile takes no PATH and works on the local index only")
				}
				return reconcile(cmd.Context(), cfg, log, stdout)
			}
			if len(args) == 0 {
				return errors.New("give the crawl files or folders to ingest")
			}
			if err := checkFormat(o.format, args); err != nil {
				return err
			}
			srcs, err := sourcesFor(o.format, o.site, args)
			if err != nil {
				return err
			}
			if o.batchSize <= 0 || o.batchSize > 100000 {
				return fmt.Errorf("--batch-size: want 1 to 100000, got %d", o.batchSize)
			}
			job := indexer.JobID(o.format, args, "site="+o.site, "server="+o.server)
			if o.server != "" {
				return ingestRemote(cmd.Context(), cfg, o, job, srcs, log, stdout, stderr)
			}
			return ingestLocal(cmd.Context(), cfg, o, job, srcs, log, stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "", "crawl format: stackexchange, pushshift, hn or jsonl (required)")
	f.StringVar(&o.site, "site", "", "site name for --format stackexchange (default: from the folder name)")
	f.IntVar(&o.batchSize, "batch-size", indexer.DefaultBatchSize, "records per batch; memory grows with it (two batches are built into the index at once)")
	f.StringVar(&o.server, "server", "", "send the posts to the running server at this gRPC address instead of opening the index")
	addClientFlags(f, &o.client)
	f.StringVar(&o.progress, "progress", "auto", "progress display: auto (a bar on a terminal, log lines otherwise), bar, log or none")
	f.DurationVar(&o.logEvery, "log-every", 10*time.Second, "interval of progress log lines")
	f.BoolVar(&o.restart, "restart", false, "ignore recorded progress and read the input from the start")
	f.BoolVar(&o.compact, "compact", true, "merge the index into one segment after an ingest that added or changed at least a tenth of its posts: attribution looks every fingerprint up in every segment (local index only)")
	f.BoolVar(&o.reconcile, "reconcile", false, "make the index hold exactly the posts of the database, then exit (with --index=sql, also write the fingerprints of every post to the database)")
	addIndexFlag(f, &cfg.Index)
	return cmd
}

// Formats lists the crawl formats `royalty ingest` reads.
var Formats = []string{"stackexchange", "pushshift", "hn", "jsonl"}

func sourcesFor(format, site string, paths []string) ([]indexer.Source, error) {
	if site != "" && format != "stackexchange" {
		return nil, errors.New("--site applies to --format stackexchange only")
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
	}
	switch format {
	case "stackexchange":
		return stackexchange.Sources(paths, stackexchange.Options{Site: site})
	case "pushshift":
		return pushshift.Sources(paths)
	case "hn":
		return hn.Sources(paths)
	case "jsonl":
		return jsonl.Sources(paths)
	case "":
		return nil, fmt.Errorf("--format is required: one of %s", strings.Join(Formats, ", "))
	}
	return nil, fmt.Errorf("--format: want one of %s, got %q", strings.Join(Formats, ", "), format)
}

// reconcile runs indexer.Reconcile on the local index and the database.
func reconcile(ctx context.Context, cfg *config, log *slog.Logger, stdout io.Writer) error {
	pool, err := wire.OpenDatabase(ctx, cfg.DatabaseURL, true)
	if err != nil {
		return err
	}
	defer pool.Close()
	x, err := wire.OpenIndex(indexDir(cfg.DataDir), log)
	if err != nil {
		return err
	}
	res, rerr := indexer.Reconcile(ctx, postgres.New(pool), x, log)
	if err := x.Close(); rerr == nil {
		rerr = err
	}
	if rerr != nil {
		return rerr
	}
	fmt.Fprintf(stdout, "reconciled: %d posts in the database, %d indexed again, %d documents without a post deleted\n", res.Checked, res.Reindexed, res.Deleted)
	if cfg.Index == wire.IndexSQL {
		n, err := postgres.New(pool).BackfillFingerprints(ctx, 0)
		if err != nil {
			return fmt.Errorf("writing the fingerprints of stored posts: %w", err)
		}
		fmt.Fprintf(stdout, "fingerprints of %d posts written to the database\n", n)
	}
	return nil
}

// indexDir is where the search index of a data directory lives.
func indexDir(dataDir string) string { return filepath.Join(dataDir, "index") }

func ingestLocal(ctx context.Context, cfg *config, o *ingestOptions, job string, srcs []indexer.Source, log *slog.Logger, stdout, stderr io.Writer) error {
	pool, err := wire.OpenDatabase(ctx, cfg.DatabaseURL, true)
	if errors.Is(err, wire.ErrNoDatabase) {
		return fmt.Errorf("%w (or use --server)", err)
	} else if err != nil {
		return err
	}
	defer pool.Close()
	ps, err := openParts(ctx, pool, cfg, o.batchSize, log)
	if err != nil {
		return err
	}
	defer ps.Close()
	pipe := ps.Indexer.Pipeline
	cps := indexer.Checkpoints{Dir: filepath.Join(indexDir(cfg.DataDir), "checkpoints")}
	run := func(ctx context.Context, from indexer.Position, ro indexer.RunOptions) (indexer.Summary, error) {
		return pipe.Run(ctx, indexer.Chain(srcs, from), ro)
	}
	var changed int
	counted := func(ctx context.Context, from indexer.Position, ro indexer.RunOptions) (indexer.Summary, error) {
		sum, err := run(ctx, from, ro)
		changed = sum.Inserted + sum.Updated - ro.Start.Inserted - ro.Start.Updated
		return sum, err
	}
	if err := ingestJob(ctx, o, job, srcs, cps, counted, log, stdout, stderr); err != nil {
		return err
	}
	if !o.compact {
		return nil
	}
	return compactIndex(ctx, ps.Index, changed, stdout)
}

// compactIndex merges the index into one segment (bleveindex.Index.Compact) when it has more
// and this run added or changed at least a tenth of its posts: compacting rewrites the whole
// index, which a small ingest into a big index should not pay for every time.
func compactIndex(ctx context.Context, x *bleveindex.Index, changed int, stdout io.Writer) error {
	n, err := x.Segments()
	if err != nil || n <= 1 {
		return err
	}
	docs, err := x.DocCount()
	if err != nil || !worthCompacting(n, docs, changed) {
		return err
	}
	began := time.Now()
	if err := x.Compact(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "compacted the index from %d segments into one in %s\n", n, time.Since(began).Round(100*time.Millisecond))
	return nil
}

// worthCompacting reports whether an index of segments segments and docs posts is compacted
// after a run that added or changed changed posts: when it has more than one segment and the
// run touched at least a tenth of its posts.
func worthCompacting(segments int, docs uint64, changed int) bool {
	return segments > 1 && changed > 0 && uint64(changed)*10 >= docs
}

// runFunc runs an ingest from a position, locally or through a server.
type runFunc func(ctx context.Context, from indexer.Position, ro indexer.RunOptions) (indexer.Summary, error)

// ingestJob resumes the job from its checkpoint, runs it with progress display and
// checkpointing, and prints the summary.
func ingestJob(ctx context.Context, o *ingestOptions, job string, srcs []indexer.Source, cps indexer.Checkpoints, run runFunc, log *slog.Logger, stdout, stderr io.Writer) error {
	stamps, err := indexer.Stamps(srcs)
	if err != nil {
		return err
	}
	var from indexer.Position
	var start indexer.Summary
	if cp, ok, err := cps.Load(job); err != nil {
		return err
	} else if ok && !o.restart {
		if sameFiles(cp.Files, stamps) {
			from, start = cp.Resume, cp.Totals
			log.Info("resuming", "at", cp.Resume.String(), "records_done", cp.Totals.Records, "checkpoint", cp.Updated)
		} else {
			log.Warn("the input changed since the recorded progress; reading it from the start")
		}
	}
	began := time.Now()
	prog := newProgress(o, srcs, stamps, start, log, stderr)
	sum, err := run(ctx, from, indexer.RunOptions{
		Start: start,
		Durable: func(resume indexer.Position, totals indexer.Summary) error {
			return cps.Save(indexer.Checkpoint{Job: job, Files: stamps, Resume: resume, Totals: totals, Updated: time.Now().UTC()})
		},
		Progress: prog.update,
	})
	prog.finish()
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "interrupted: %d records are in; run the same command again to continue\n", sum.Records)
		}
		return err
	}
	if err := cps.Remove(job); err != nil {
		return err
	}
	printSummary(stdout, sum, sum.Received-start.Received, time.Since(began))
	if sum.Records > 0 && sum.Rejected == sum.Records {
		// Nothing was ingested: most likely the wrong --format, which must not look like success.
		msg := fmt.Sprintf("all %d records were rejected", sum.Records)
		if len(srcs) > 0 {
			if f, _ := sniffFormat(srcs[0].Name()); f != "" && f != o.format {
				return fmt.Errorf("%s: %s looks like %s: use --format %s", msg, srcs[0].Name(), f, f)
			}
		}
		return fmt.Errorf("%s: is --format %s right?", msg, o.format)
	}
	return nil
}

// sniffLines is how many non-blank lines of a file sniffFormat tries.
const sniffLines = 20

// lineFormats are the parsers of the formats whose files are JSON lines.
var lineFormats = []struct {
	name  string
	parse lines.ParseFunc
}{{"jsonl", jsonl.Parse}, {"pushshift", pushshift.Parse}, {"hn", hn.Parse}}

// sniffFormat guesses the crawl format of path: stackexchange for a folder holding Posts.xml,
// else the JSON lines format that parses the most of the file's first non-blank lines, with how
// many of them each JSON lines format parsed. It returns "" when it cannot tell.
func sniffFormat(path string) (format string, parsed map[string]int) {
	st, err := os.Stat(path)
	if err != nil {
		return "", nil
	}
	if st.IsDir() {
		for _, name := range []string{"Posts.xml", "Posts.xml.zst", "Posts.xml.gz"} {
			if _, err := os.Stat(filepath.Join(path, name)); err == nil {
				return "stackexchange", nil
			}
		}
		return "", nil
	}
	f, err := lines.Open(path, 0)
	if err != nil {
		return "", nil
	}
	defer f.Close()
	parsed = map[string]int{}
	r := lines.NewReader(io.LimitReader(f, 64<<20), 0, 1, 0)
	for tried := 0; tried < sniffLines; {
		l, err := r.Next()
		if errors.Is(err, lines.ErrTooLong) {
			continue
		}
		if err != nil {
			break
		}
		if len(strings.TrimSpace(string(l.Bytes))) == 0 {
			continue
		}
		tried++
		for _, lf := range lineFormats {
			if rec, err := lf.parse(l.Bytes); err == nil && (rec.Post != nil || rec.Identity != nil || rec.Skip != "") {
				parsed[lf.name]++
			}
		}
	}
	best := 0
	for _, lf := range lineFormats {
		if parsed[lf.name] > best {
			format, best = lf.name, parsed[lf.name]
		}
	}
	return format, parsed
}

// checkFormat refuses, before anything is read, a --format that the first input is plainly not
// in and says which format it looks like.
func checkFormat(format string, paths []string) error {
	if len(paths) == 0 || format != "" && !slices.Contains(Formats, format) {
		return nil // sourcesFor reports an unknown format
	}
	guess, parsed := sniffFormat(paths[0])
	switch {
	case guess == "" || guess == format:
		return nil
	case format == "":
		return fmt.Errorf("--format is required: %s looks like %s: use --format %s", paths[0], guess, guess)
	case guess == "stackexchange":
		return fmt.Errorf("%s looks like a Stack Exchange dump folder: use --format stackexchange", paths[0])
	case format == "stackexchange" || parsed[format] == 0:
		// None of the first records is in the given format, and some are in another one.
		return fmt.Errorf("%s looks like %s, not %s: use --format %s", paths[0], guess, format, guess)
	}
	return nil
}

func sameFiles(a, b []indexer.FileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Path != b[i].Path || a[i].Size != b[i].Size || !a[i].ModTime.Equal(b[i].ModTime) {
			return false
		}
	}
	return true
}

func printSummary(w io.Writer, s indexer.Summary, postsThisRun int, took time.Duration) {
	rate := float64(postsThisRun) / took.Seconds()
	fmt.Fprintf(w, "ingested %d records in %s (%.0f posts/s)\n", s.Records, took.Round(time.Millisecond), rate)
	fmt.Fprintf(w, "  posts:      %d read, %d new, %d updated, %d unchanged\n", s.Received, s.Inserted, s.Updated, s.Unchanged)
	fmt.Fprintf(w, "  identities: %d read\n", s.Identities)
	fmt.Fprintf(w, "  skipped:    %d\n", s.Skipped)
	reasons := make([]string, 0, len(s.SkipReasons))
	for r := range s.SkipReasons {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "    %6d  %s\n", s.SkipReasons[r], termtext.Clean(r))
	}
	fmt.Fprintf(w, "  rejected:   %d\n", s.Rejected)
	for _, e := range s.Errors {
		// The ids, messages and file names come from the input (or a server): no escape
		// sequences reach the terminal, and one error stays on one line.
		msg := e.Message
		if e.PostID != "" {
			msg = e.PostID + ": " + msg
		}
		fmt.Fprintf(w, "    %s\n", oneLine(termtext.Clean(e.Pos.String()+": "+msg)))
	}
	if s.Rejected > len(s.Errors) {
		fmt.Fprintf(w, "    … and %d more\n", s.Rejected-len(s.Errors))
	}
}

// oneLine replaces the line breaks and tabs of s with spaces.
func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\t", " ").Replace(s) }

// progress shows how far an ingest is: a bar with posts/s and an ETA on a terminal, periodic
// log lines otherwise. It measures bytes of the files on disk: of a plain file the offset
// reached, of a compressed one (.zst, .gz) the compressed bytes read (Position.CompressedRead),
// so that a Pushshift dump has an ETA too.
type progress struct {
	bar        *progressbar.ProgressBar
	log        *slog.Logger
	every      time.Duration
	sizes      []int64 // of the sources' files
	compressed []bool  // of the sources: progress is measured in compressed bytes
	total      int64
	start      time.Time
	base       int // posts read before this run
	lastLog    time.Time
	lastDone   int64     // bytes done at lastAt, the baseline of the byte rate
	lastAt     time.Time // zero until the first batch
}

func newProgress(o *ingestOptions, srcs []indexer.Source, stamps []indexer.FileStamp, start indexer.Summary, log *slog.Logger, stderr io.Writer) *progress {
	p := &progress{log: log, every: o.logEvery, start: time.Now(), base: start.Received}
	p.lastLog = p.start
	for i, st := range stamps {
		p.sizes = append(p.sizes, st.Size)
		p.compressed = append(p.compressed, lines.Compressed(srcs[i].Name()))
		p.total += st.Size
	}
	mode := o.progress
	if mode == "auto" {
		mode = "log"
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	switch mode {
	case "bar":
		p.bar = progressbar.NewOptions64(p.total,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("ingesting"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }),
			progressbar.OptionFullWidth(),
		)
	case "none":
		p.every = 0
	}
	return p
}

// done is how many bytes of the input files lie before pos.
func (p *progress) done(pos indexer.Position) int64 {
	var n int64
	for i := 0; i < pos.Source && i < len(p.sizes); i++ {
		n += p.sizes[i]
	}
	if pos.Source < len(p.sizes) {
		if p.compressed[pos.Source] {
			n += pos.CompressedRead
		} else {
			n += pos.Offset
		}
	}
	return min(n, p.total) // a file that grew since it was stamped
}

func (p *progress) update(reached indexer.Position, totals indexer.Summary) {
	now := time.Now()
	posts := totals.Received - p.base
	rate := float64(posts) / now.Sub(p.start).Seconds()
	done := p.done(reached)
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("%d posts, %.0f posts/s", totals.Received, rate))
		_ = p.bar.Set64(done)
		return
	}
	if p.lastAt.IsZero() {
		// The first batch is the baseline of the byte rate: a resumed run reaches it after
		// skipping what earlier runs read, which is not this run's speed.
		p.lastAt, p.lastDone = now, done
	}
	if p.every <= 0 || now.Sub(p.lastLog) < p.every {
		return
	}
	attrs := []any{"posts", totals.Received, "posts_per_s", int(rate), "rejected", totals.Rejected}
	if p.total > 0 && done > 0 {
		bytesPerSec := float64(done-p.lastDone) / now.Sub(p.lastAt).Seconds()
		attrs = append(attrs, "done_pct", fmt.Sprintf("%.1f", 100*float64(done)/float64(p.total)))
		if bytesPerSec > 0 {
			attrs = append(attrs, "eta", time.Duration(float64(p.total-done)/bytesPerSec*float64(time.Second)).Round(time.Second))
		}
	}
	p.log.Info("ingest progress", attrs...)
	p.lastLog, p.lastAt, p.lastDone = now, now, done
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
