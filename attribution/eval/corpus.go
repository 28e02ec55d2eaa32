// Package eval measures attribution against labelled data. It generates a corpus of posts with a
// word model trained on real Stack Exchange text, injects reposts, quotations and boilerplate
// into it, and generates responses whose every word carries the author who should be credited
// for it (the ground truth). Metrics compares attribution results with that truth.
//
// Everything is seeded: the same configuration gives the same corpus and responses.
package eval

import (
	"fmt"
	"html"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/openroyalty/royalty/attribution/memindex"
	"github.com/openroyalty/royalty/attribution/text"
)

// Kind says where a word of a post or response comes from.
type Kind uint8

// Kinds of words.
const (
	Filler      Kind = iota // written for the response; nobody is owed anything
	Copied                  // copied from a post: the label's Author is owed it
	Boilerplate             // shared by many authors: nobody is owed anything
)

// Label is the ground truth of one word.
type Label struct {
	Author string // who should be credited; "" for nobody (filler, boilerplate, deleted authors)
	Kind   Kind
	// Reposted: the word was copied in the corpus, by a repost or a quotation, so more than one
	// post holds it and attribution must find the original.
	Reposted bool
	// Edited: the word lies in a response span copied with edits.
	Edited bool
	// Span is the length in words of the run of consecutive response words, copied in one piece,
	// with the same author and kind as this word.
	Span int
}

// LabelRun is N consecutive words with the same label: posts keep their labels as runs, which
// keeps a corpus of a million posts in memory.
type LabelRun struct {
	N     int
	Label Label
}

// Post is a generated post and the truth about its words.
type Post struct {
	memindex.Post
	Labels      []LabelRun // cover the words of Text in order
	QuoteLabels []LabelRun // cover the words of Quoted[0], for quotations
	// Origin is the post a repost or quotation copies, and [CopyStart, CopyEnd) the words of
	// the origin's Text that it copies.
	Origin             string
	CopyStart, CopyEnd int
}

// CorpusConfig says what corpus to generate. Zero fields take the defaults of DefaultCorpus,
// except Authors, whose default is Posts/5.
type CorpusConfig struct {
	Seed    uint64
	Posts   int // indexed posts, reposts and quotations included
	HeldOut int // posts generated the same way but kept out of the index: filler for responses
	Authors int
	// DeletedAuthors is the fraction of authors whose accounts are deleted (AuthorKey "").
	DeletedAuthors float64
	// Reposts and Quotations are the fractions of indexed posts that copy an earlier post
	// verbatim (all of it, or half of it followed by the reposter's own words) or quote a
	// passage of it in a <blockquote> before their own words.
	Reposts, Quotations float64
	// BoilerplatePhrases are each appended to posts of BoilerplateAuthors distinct authors;
	// those posts come first, so that every prefix of the corpus holds all of them.
	BoilerplatePhrases, BoilerplateAuthors int
	// MinWords and MaxWords bound the length of a post's own text.
	MinWords, MaxWords int
}

// DefaultCorpus is a corpus for a test that runs in seconds.
var DefaultCorpus = CorpusConfig{
	Seed: 1, Posts: 20_000, HeldOut: 2_000, DeletedAuthors: 0.03,
	Reposts: 0.03, Quotations: 0.03, BoilerplatePhrases: 20, BoilerplateAuthors: 30,
	MinWords: 30, MaxWords: 300,
}

func (c CorpusConfig) withDefaults() CorpusConfig {
	d := DefaultCorpus
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setF := func(v *float64, def float64) {
		if *v == 0 {
			*v = def
		}
	}
	if c.Seed == 0 {
		c.Seed = d.Seed
	}
	setInt(&c.Posts, d.Posts)
	setInt(&c.HeldOut, d.HeldOut)
	setInt(&c.Authors, max(c.Posts/5, 1))
	setF(&c.DeletedAuthors, d.DeletedAuthors)
	setF(&c.Reposts, d.Reposts)
	setF(&c.Quotations, d.Quotations)
	setInt(&c.BoilerplatePhrases, d.BoilerplatePhrases)
	setInt(&c.BoilerplateAuthors, d.BoilerplateAuthors)
	setInt(&c.MinWords, d.MinWords)
	setInt(&c.MaxWords, d.MaxWords)
	return c
}

// Corpus is a generated corpus. Its posts are generated so that every prefix of Posts is a
// corpus too (a repost or quotation only copies an earlier post), which lets one benchmark
// measure a growing index.
type Corpus struct {
	Config      CorpusConfig
	Model       *WordModel
	Posts       []*Post // to index, in generation order (not in order of CreatedAt)
	HeldOut     []*Post // never indexed
	Boilerplate []string
	originals   []int // indexes into Posts
	copies      []int
	byID        map[string]*Post
	reposted    map[string][]bool // post ID → words of Text that some repost or quotation copied
}

var epoch = time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)

// NewCorpus generates a corpus with the word model m.
func NewCorpus(m *WordModel, cfg CorpusConfig) *Corpus {
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x636f72707573))
	c := &Corpus{Config: cfg, Model: m, byID: map[string]*Post{}}

	authors := make([]string, cfg.Authors)
	var alive []string
	for i := range authors {
		if rng.Float64() >= cfg.DeletedAuthors {
			authors[i] = fmt.Sprintf("synthetic:forum/%d", i)
			alive = append(alive, authors[i])
		}
	}
	// A few authors write most posts, as on real sites: author index u² · n.
	author := func() string {
		u := rng.Float64()
		return authors[int(u*u*float64(len(authors)))]
	}
	for range cfg.BoilerplatePhrases {
		c.Boilerplate = append(c.Boilerplate, m.Sentence(rng, 10+rng.IntN(11)))
	}
	created := func() time.Time {
		return epoch.Add(time.Duration(rng.Int64N(int64(10 * 365 * 24 * time.Hour))))
	}
	id := func() string { return fmt.Sprintf("synthetic:forum/post/%d", len(c.Posts)) }

	// First the carriers of boilerplate: each phrase in posts of distinct, non-deleted authors.
	for p := range c.Boilerplate {
		perm := rng.Perm(len(alive))
		for k := range min(cfg.BoilerplateAuthors, len(alive)) {
			if len(c.Posts) < cfg.Posts {
				c.add(c.original(rng, id(), alive[perm[k]], created(), p), false)
			}
		}
	}
	for len(c.Posts) < cfg.Posts {
		u := rng.Float64()
		if len(c.originals) == 0 || u >= cfg.Reposts+cfg.Quotations {
			c.add(c.original(rng, id(), author(), created(), -1), false)
			continue
		}
		origin := c.Posts[c.originals[rng.IntN(len(c.originals))]]
		by := author()
		for by == origin.AuthorKey {
			by = author()
		}
		at := origin.CreatedAt.Add(time.Hour + time.Duration(rng.Int64N(int64(3*365*24*time.Hour))))
		if u < cfg.Reposts {
			c.add(c.repost(rng, id(), by, at, origin), true)
		} else {
			c.add(c.quotation(rng, id(), by, at, origin), true)
		}
	}
	for i := range cfg.HeldOut {
		p := c.original(rng, fmt.Sprintf("synthetic:forum/heldout/%d", i), author(), epoch, -1)
		c.HeldOut = append(c.HeldOut, p)
	}
	c.markReposted()
	return c
}

func (c *Corpus) add(p *Post, copied bool) {
	if copied {
		c.copies = append(c.copies, len(c.Posts))
	} else {
		c.originals = append(c.originals, len(c.Posts))
	}
	c.Posts = append(c.Posts, p)
	c.byID[p.ID] = p
}

// markReposted records which words of which posts the corpus's reposts and quotations copied.
func (c *Corpus) markReposted() {
	c.reposted = map[string][]bool{}
	for _, n := range c.copies {
		p := c.Posts[n]
		origin := c.byID[p.Origin]
		mark := c.reposted[origin.ID]
		if mark == nil {
			mark = make([]bool, wordCount(origin.Labels))
			c.reposted[origin.ID] = mark
		}
		for i := p.CopyStart; i < p.CopyEnd; i++ {
			mark[i] = true
		}
	}
}

// Prefix returns the corpus of the first n posts: what an index holds after n posts.
func (c *Corpus) Prefix(n int) *Corpus {
	n = min(n, len(c.Posts))
	p := &Corpus{Config: c.Config, Model: c.Model, Posts: c.Posts[:n], HeldOut: c.HeldOut,
		Boilerplate: c.Boilerplate, byID: map[string]*Post{}}
	p.Config.Posts = n
	for _, i := range c.originals {
		if i < n {
			p.originals = append(p.originals, i)
		}
	}
	for _, i := range c.copies {
		if i < n {
			p.copies = append(p.copies, i)
		}
	}
	for _, post := range p.Posts {
		p.byID[post.ID] = post
	}
	p.markReposted()
	return p
}

// Post returns the indexed post with the given ID.
func (c *Corpus) Post(id string) *Post { return c.byID[id] }

// Index adds the corpus's posts to idx.
func (c *Corpus) Index(idx *memindex.Index) error {
	for _, p := range c.Posts {
		if err := idx.Add(p.Post); err != nil {
			return err
		}
	}
	return nil
}

// piece is text with the labels of its words.
type piece struct {
	text   string
	labels []LabelRun
}

func wordCount(runs []LabelRun) int {
	n := 0
	for _, r := range runs {
		n += r.N
	}
	return n
}

// expand returns the labels of words [s, e) of runs.
func expand(runs []LabelRun, s, e int) []Label {
	out := make([]Label, 0, e-s)
	pos := 0
	for _, r := range runs {
		for i := max(s, pos); i < min(e, pos+r.N); i++ {
			out = append(out, r.Label)
		}
		pos += r.N
	}
	return out
}

// compress turns labels into runs.
func compress(labels []Label) []LabelRun {
	var out []LabelRun
	for _, l := range labels {
		if n := len(out); n > 0 && out[n-1].Label == l {
			out[n-1].N++
		} else {
			out = append(out, LabelRun{1, l})
		}
	}
	return out
}

func (c *Corpus) sentences(rng *rand.Rand, words int, author string) piece {
	var parts []string
	n := 0
	for n < words {
		k := min(4+rng.IntN(20), words-n)
		if k < 3 && n > 0 {
			break
		}
		parts = append(parts, c.Model.Sentence(rng, k))
		n += k
	}
	s := strings.Join(parts, " ")
	return piece{s, []LabelRun{{len(text.Words(s)), Label{Author: author, Kind: Copied}}}}
}

func (c *Corpus) original(rng *rand.Rand, id, author string, created time.Time, phrase int) *Post {
	cfg := c.Config
	words := cfg.MinWords + rng.IntN(cfg.MaxWords-cfg.MinWords+1)
	body := []piece{c.sentences(rng, words, author)}
	if phrase >= 0 {
		s := c.Boilerplate[phrase]
		body = append(body, piece{s, []LabelRun{{len(text.Words(s)), Label{Kind: Boilerplate}}}})
	}
	return c.build(id, author, created, nil, body)
}

// repost copies all of origin, or its second half followed by the reposter's own words.
func (c *Corpus) repost(rng *rand.Rand, id, author string, created time.Time, origin *Post) *Post {
	toks := text.Words(origin.Text)
	start := 0
	if rng.IntN(2) == 0 {
		start = len(toks) / 2
	}
	copied := c.copyOf(origin, toks, start, len(toks))
	body := []piece{copied}
	if start > 0 {
		body = append(body, c.sentences(rng, 20+rng.IntN(60), author))
	}
	p := c.build(id, author, created, nil, body)
	p.Origin, p.CopyStart, p.CopyEnd = origin.ID, start, len(toks)
	return p
}

// quotation quotes a passage of origin in a blockquote, then adds the quoter's own words.
func (c *Corpus) quotation(rng *rand.Rand, id, author string, created time.Time, origin *Post) *Post {
	toks := text.Words(origin.Text)
	n := min(len(toks), 15+rng.IntN(40))
	start := rng.IntN(len(toks) - n + 1)
	quoted := c.copyOf(origin, toks, start, start+n)
	own := c.sentences(rng, 20+rng.IntN(80), author)
	p := c.build(id, author, created, &quoted, []piece{own})
	p.Origin, p.CopyStart, p.CopyEnd = origin.ID, start, start+n
	return p
}

// copyOf returns origin's words [s, e) verbatim with their labels, marked as reposted.
func (c *Corpus) copyOf(origin *Post, toks []text.Token, s, e int) piece {
	labels := expand(origin.Labels, s, e)
	for i := range labels {
		labels[i].Reposted = true
	}
	return piece{origin.Text[toks[s].Start:toks[e-1].End], compress(labels)}
}

// build renders the post as HTML, strips it as the indexer does (text.FromHTML), and checks that
// the labels still line up with the words.
func (c *Corpus) build(id, author string, created time.Time, quote *piece, body []piece) *Post {
	var h strings.Builder
	if quote != nil {
		fmt.Fprintf(&h, "<blockquote><p>%s</p></blockquote>\n", html.EscapeString(quote.text))
	}
	var labels []LabelRun
	for _, p := range body {
		fmt.Fprintf(&h, "<p>%s</p>\n", html.EscapeString(p.text))
		labels = append(labels, p.labels...)
	}
	doc := text.FromHTML(h.String())
	p := &Post{
		Post: memindex.Post{ID: id, AuthorKey: author, CreatedAt: created,
			URL: "https://example.com/" + id, Text: doc.Own, Quoted: doc.Quoted},
		Labels: labels,
	}
	if n, want := len(text.Words(doc.Own)), wordCount(labels); n != want {
		panic(fmt.Sprintf("eval: post %s has %d words and %d labels", id, n, want))
	}
	if quote != nil {
		if len(doc.Quoted) != 1 || len(text.Words(doc.Quoted[0])) != wordCount(quote.labels) {
			panic(fmt.Sprintf("eval: quotation %s lost its quote", id))
		}
		p.QuoteLabels = quote.labels
	}
	return p
}
