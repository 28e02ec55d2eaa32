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

// Post is a generated post and the truth about its words.
type Post struct {
	memindex.Post
	Labels      []Label   // one per word of Text
	QuoteLabels [][]Label // one per word of each Quoted entry
	Origin      string    // for reposts and quotations: the post copied
}

// CorpusConfig says what corpus to generate. Zero fields take the defaults of DefaultCorpus.
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
	// BoilerplatePhrases are each appended to posts of BoilerplateAuthors distinct authors.
	BoilerplatePhrases, BoilerplateAuthors int
	// MinWords and MaxWords bound the length of a post's own text.
	MinWords, MaxWords int
}

// DefaultCorpus is a corpus for a test that runs in seconds.
var DefaultCorpus = CorpusConfig{
	Seed: 1, Posts: 20_000, HeldOut: 2_000, Authors: 4_000, DeletedAuthors: 0.03,
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
	setInt(&c.Authors, d.Authors)
	setF(&c.DeletedAuthors, d.DeletedAuthors)
	setF(&c.Reposts, d.Reposts)
	setF(&c.Quotations, d.Quotations)
	setInt(&c.BoilerplatePhrases, d.BoilerplatePhrases)
	setInt(&c.BoilerplateAuthors, d.BoilerplateAuthors)
	setInt(&c.MinWords, d.MinWords)
	setInt(&c.MaxWords, d.MaxWords)
	return c
}

// Corpus is a generated corpus.
type Corpus struct {
	Config      CorpusConfig
	Model       *WordModel
	Posts       []*Post // to index, in creation order of the generator (not of CreatedAt)
	HeldOut     []*Post // never indexed
	Boilerplate []string
	reposted    map[string][]bool // post ID → words of Text that some repost or quotation copied
	byID        map[string]*Post
}

var epoch = time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)

// NewCorpus generates a corpus with the word model m.
func NewCorpus(m *WordModel, cfg CorpusConfig) *Corpus {
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x636f72707573))
	c := &Corpus{Config: cfg, Model: m, reposted: map[string][]bool{}, byID: map[string]*Post{}}

	authors := make([]string, cfg.Authors)
	for i := range authors {
		if rng.Float64() >= cfg.DeletedAuthors {
			authors[i] = fmt.Sprintf("synthetic:forum/%d", i)
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

	// Which originals carry which boilerplate phrase, and by whom: every phrase goes to posts of
	// BoilerplateAuthors distinct, non-deleted authors.
	nCopies := int(float64(cfg.Posts) * (cfg.Reposts + cfg.Quotations))
	nOriginals := cfg.Posts - nCopies
	var alive []string
	for _, a := range authors {
		if a != "" {
			alive = append(alive, a)
		}
	}
	type carry struct {
		phrase int
		author string
	}
	carrier := map[int]carry{}
	for p := range c.Boilerplate {
		perm := rng.Perm(len(alive))
		for k := 0; k < min(cfg.BoilerplateAuthors, len(alive)); k++ {
			n := rng.IntN(nOriginals)
			if _, taken := carrier[n]; taken {
				continue // rare; the phrase then has one author fewer
			}
			carrier[n] = carry{p, alive[perm[k]]}
		}
	}

	for i := 0; i < nOriginals; i++ {
		created := epoch.Add(time.Duration(rng.Int64N(int64(10 * 365 * 24 * time.Hour))))
		by, phrase := author(), -1
		if cr, ok := carrier[i]; ok {
			by, phrase = cr.author, cr.phrase
		}
		c.add(c.original(rng, fmt.Sprintf("synthetic:forum/post/%d", i), by, created, phrase))
	}

	for i := 0; i < nCopies; i++ {
		origin := c.Posts[rng.IntN(nOriginals)]
		by := author()
		for by == origin.AuthorKey {
			by = author()
		}
		created := origin.CreatedAt.Add(time.Hour + time.Duration(rng.Int64N(int64(3*365*24*time.Hour))))
		id := fmt.Sprintf("synthetic:forum/post/%d", nOriginals+i)
		if float64(i) < float64(cfg.Posts)*cfg.Reposts {
			c.add(c.repost(rng, id, by, created, origin))
		} else {
			c.add(c.quotation(rng, id, by, created, origin))
		}
	}
	for i := 0; i < cfg.HeldOut; i++ {
		p := c.original(rng, fmt.Sprintf("synthetic:forum/heldout/%d", i), author(), epoch, -1)
		c.HeldOut = append(c.HeldOut, p)
	}
	return c
}

func (c *Corpus) add(p *Post) {
	c.Posts = append(c.Posts, p)
	c.byID[p.ID] = p
}

// Post returns the indexed post with the given ID.
func (c *Corpus) Post(id string) *Post { return c.byID[id] }

// piece is text with the labels of its words.
type piece struct {
	text   string
	labels []Label
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
	return piece{s, repeatLabel(Label{Author: author, Kind: Copied}, len(text.Words(s)))}
}

func repeatLabel(l Label, n int) []Label {
	out := make([]Label, n)
	for i := range out {
		out[i] = l
	}
	return out
}

func (c *Corpus) original(rng *rand.Rand, id, author string, created time.Time, phrase int) *Post {
	cfg := c.Config
	words := cfg.MinWords + rng.IntN(cfg.MaxWords-cfg.MinWords+1)
	body := []piece{c.sentences(rng, words, author)}
	if phrase >= 0 {
		s := c.Boilerplate[phrase]
		body = append(body, piece{s, repeatLabel(Label{Kind: Boilerplate}, len(text.Words(s)))})
	}
	return c.build(id, author, created, "", nil, body)
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
	return c.build(id, author, created, origin.ID, nil, body)
}

// quotation quotes a passage of origin in a blockquote, then adds the quoter's own words.
func (c *Corpus) quotation(rng *rand.Rand, id, author string, created time.Time, origin *Post) *Post {
	toks := text.Words(origin.Text)
	n := min(len(toks), 15+rng.IntN(40))
	start := rng.IntN(len(toks) - n + 1)
	quoted := c.copyOf(origin, toks, start, start+n)
	own := c.sentences(rng, 20+rng.IntN(80), author)
	return c.build(id, author, created, origin.ID, &quoted, []piece{own})
}

// copyOf returns origin's words [s, e) verbatim, labelled as reposted, and records that they
// were copied.
func (c *Corpus) copyOf(origin *Post, toks []text.Token, s, e int) piece {
	labels := make([]Label, e-s)
	mark := c.reposted[origin.ID]
	if mark == nil {
		mark = make([]bool, len(toks))
		c.reposted[origin.ID] = mark
	}
	for i := s; i < e; i++ {
		labels[i-s] = origin.Labels[i]
		labels[i-s].Reposted = true
		mark[i] = true
	}
	return piece{origin.Text[toks[s].Start:toks[e-1].End], labels}
}

// build renders the post as HTML, strips it as the indexer does (text.FromHTML), and checks that
// the labels still line up with the words.
func (c *Corpus) build(id, author string, created time.Time, origin string, quote *piece, body []piece) *Post {
	var h strings.Builder
	if quote != nil {
		fmt.Fprintf(&h, "<blockquote><p>%s</p></blockquote>\n", html.EscapeString(quote.text))
	}
	var labels []Label
	for _, p := range body {
		fmt.Fprintf(&h, "<p>%s</p>\n", html.EscapeString(p.text))
		labels = append(labels, p.labels...)
	}
	doc := text.FromHTML(h.String())
	p := &Post{
		Post: memindex.Post{ID: id, AuthorKey: author, CreatedAt: created,
			URL: "https://example.com/" + id, Text: doc.Own, Quoted: doc.Quoted},
		Labels: labels,
		Origin: origin,
	}
	if n := len(text.Words(doc.Own)); n != len(labels) {
		panic(fmt.Sprintf("eval: post %s has %d words and %d labels", id, n, len(labels)))
	}
	if quote != nil {
		if len(doc.Quoted) != 1 || len(text.Words(doc.Quoted[0])) != len(quote.labels) {
			panic(fmt.Sprintf("eval: quotation %s lost its quote", id))
		}
		p.QuoteLabels = [][]Label{quote.labels}
	}
	return p
}
