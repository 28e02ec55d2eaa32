package attribution_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/attributiontest"
	"github.com/openroyalty/royalty/attribution/memindex"
	"github.com/openroyalty/royalty/attribution/text"
)

var update = flag.Bool("update", false, "rewrite the want sections of testdata/cases")

// TestCases runs the data-driven cases in testdata/cases. Each file is a txtar-like archive:
//
//	comment lines saying what the case shows
//	-- config --            optional: key=value lines (max_authors=3, max_gap=-1, …)
//	-- post ID author=KEY created=2006-01-02 --
//	Markdown body; "> " lines are quotations (kept apart, never credited to the poster)
//	-- response --
//	the model response
//	-- want --
//	the expected result, rendered by render (go test -run TestCases -update rewrites it)
func TestCases(t *testing.T) {
	files, err := filepath.Glob("testdata/cases/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			c := parseCase(t, string(raw))
			idx := memindex.New()
			for _, p := range c.posts {
				if err := idx.Add(p); err != nil {
					t.Fatal(err)
				}
			}
			res, err := attribution.New(idx, c.cfg).Attribute(context.Background(), c.response)
			if err != nil {
				t.Fatal(err)
			}
			attributiontest.CheckResult(t, c.response, idx.Source, res)
			got := render(idx, res)
			if *update {
				out := c.head + "-- want --\n" + got
				if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != c.want {
				t.Errorf("result differs from the want section:\n--- got ---\n%s--- want ---\n%s", got, c.want)
			}
		})
	}
}

type testCase struct {
	head     string // the file up to the want section
	cfg      attribution.Config
	posts    []memindex.Post
	response string
	want     string
}

func parseCase(t *testing.T, raw string) testCase {
	t.Helper()
	var c testCase
	if i := strings.Index(raw, "-- want --\n"); i >= 0 {
		c.head, c.want = raw[:i], raw[i+len("-- want --\n"):]
	} else {
		c.head = raw
	}
	sections := strings.Split("\n"+c.head, "\n-- ")
	for _, sec := range sections[1:] {
		header, body, _ := strings.Cut(sec, " --\n")
		body = strings.TrimRight(body, "\n")
		fields := strings.Fields(header)
		switch fields[0] {
		case "config":
			for _, line := range strings.Fields(body) {
				k, v, _ := strings.Cut(line, "=")
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("config %q: %v", line, err)
				}
				switch k {
				case "max_authors":
					c.cfg.MaxAuthors = n
				case "max_gap":
					c.cfg.MaxGapWords = n
				case "min_span":
					c.cfg.MinSpanWords = n
				case "min_content":
					c.cfg.MinContentWords = n
				default:
					t.Fatalf("unknown config key %q", k)
				}
			}
		case "post":
			doc := text.FromMarkdown(body)
			p := memindex.Post{ID: fields[1], Text: doc.Own, Quoted: doc.Quoted, URL: "https://example.com/" + fields[1]}
			for _, f := range fields[2:] {
				k, v, _ := strings.Cut(f, "=")
				switch k {
				case "author":
					p.AuthorKey = v
				case "created":
					ts, err := time.Parse("2006-01-02", v)
					if err != nil {
						t.Fatal(err)
					}
					p.CreatedAt = ts
				default:
					t.Fatalf("unknown post attribute %q", k)
				}
			}
			c.posts = append(c.posts, p)
		case "response":
			c.response = body
		default:
			t.Fatalf("unknown section %q", header)
		}
	}
	return c
}

// render prints a result so that a reader can check it: shares as exact fractions and every
// span with the response text and the source text it points at.
func render(idx *memindex.Index, res *attribution.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "response_words %d\n", res.ResponseWords)
	for _, s := range res.Shares {
		fmt.Fprintf(&b, "share %s words=%s share=%s\n", s.AuthorKey, s.Words.RatString(), s.Share.RatString())
	}
	fmt.Fprintf(&b, "unattributed %s\n", res.Unattributed.RatString())
	for _, e := range res.Evidence {
		p, _ := idx.Get(e.PostID)
		fmt.Fprintf(&b, "span %s post=%s words=[%d,%d) bytes=[%d,%d) source=[%d,%d)\n", e.AuthorKey, e.PostID,
			e.ResponseWordStart, e.ResponseWordEnd, e.ResponseStart, e.ResponseEnd, e.SourceStart, e.SourceEnd)
		fmt.Fprintf(&b, "  response: %q\n", e.Text)
		fmt.Fprintf(&b, "  source:   %q\n", p.Text[e.SourceStart:e.SourceEnd])
	}
	return b.String()
}
