package text

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func words(ts []Token) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Text
	}
	return out
}

func TestWords(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", []string{}},
		{"punctuation only", " -- !? ", []string{}},
		{"case and punctuation", "Hello, World! It's 3.14.", []string{"hello", "world", "it's", "3.14"}},
		{"curly apostrophe folds", "It\u2019s DON\u2019T", []string{"it's", "don't"}},
		{"nfkc ligature and fullwidth", "\ufb01ne \uff21\uff22\uff23", []string{"fine", "abc"}},
		{"markdown punctuation drops out", "**bold** _it_ `code` # Title", []string{"bold", "it", "code", "title"}},
		{"accents kept, no stemming", "Café running runs", []string{"café", "running", "runs"}},
		{"ideographs are words", "自行车", []string{"自", "行", "车"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := words(Words(tt.in))
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Words(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestWordsOffsetsPointIntoInput(t *testing.T) {
	in := "Ride the “Big” loop—twice, then rest."
	for _, tok := range Words(in) {
		if got := Normalize(in[tok.Start:tok.End]); got != tok.Text {
			t.Errorf("token %q at [%d,%d) is %q in the input", tok.Text, tok.Start, tok.End, in[tok.Start:tok.End])
		}
	}
}

func TestWinnowGuarantee(t *testing.T) {
	// Every shared run of at least w+k-1 words must share a selected fingerprint.
	rng := rand.New(rand.NewSource(1))
	vocab := strings.Fields("a b c d e f g h i j k l m n o p q r s t u v w x y z alpha beta gamma delta")
	randomText := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = vocab[rng.Intn(len(vocab))]
		}
		return out
	}
	for trial := 0; trial < 2000; trial++ {
		run := randomText(DefaultW + DefaultK - 1 + rng.Intn(5))
		a := append(append(randomText(rng.Intn(30)), run...), randomText(rng.Intn(30))...)
		b := append(append(randomText(rng.Intn(30)), run...), randomText(rng.Intn(30))...)
		fa := Fingerprints(strings.Join(a, " "))
		fb := Fingerprints(strings.Join(b, " "))
		runHashes := map[uint64]bool{}
		for _, h := range KGramHashes(Words(strings.Join(run, " ")), DefaultK) {
			runHashes[h] = true
		}
		inA := map[uint64]bool{}
		for _, f := range fa {
			if runHashes[f.Hash] {
				inA[f.Hash] = true
			}
		}
		shared := false
		for _, f := range fb {
			if inA[f.Hash] {
				shared = true
			}
		}
		if !shared {
			t.Fatalf("trial %d: shared run %q has no shared fingerprint", trial, run)
		}
	}
}

func TestWinnowSelectsMinimaOnce(t *testing.T) {
	tests := []struct {
		name   string
		hashes []uint64
		w      int
		want   []Fingerprint
	}{
		{"empty", nil, 4, nil},
		{"shorter than window", []uint64{5, 3, 9}, 4, []Fingerprint{{3, 1}}},
		{"rightmost on ties", []uint64{2, 2, 2, 2, 2}, 4, []Fingerprint{{2, 3}, {2, 4}}},
		{"classic", []uint64{77, 74, 42, 17, 98, 50, 17, 98, 8, 88, 67, 39, 77, 74, 42, 17, 98}, 4,
			[]Fingerprint{{17, 3}, {17, 6}, {8, 8}, {39, 11}, {17, 15}}},
		{"w=1 keeps all", []uint64{3, 1}, 1, []Fingerprint{{3, 0}, {1, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Winnow(tt.hashes, tt.w); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Winnow = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWinnowDensity(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	hashes := make([]uint64, 100000)
	for i := range hashes {
		hashes[i] = rng.Uint64()
	}
	got := float64(len(Winnow(hashes, DefaultW))) / float64(len(hashes))
	want := 2.0 / float64(DefaultW+1)
	if got < want*0.9 || got > want*1.1 {
		t.Fatalf("density %.3f, want about %.3f", got, want)
	}
}

func TestTermRoundTrip(t *testing.T) {
	for _, h := range []uint64{0, 1, 0xabc, 1<<63 + 5, ^uint64(0)} {
		term := Term(h)
		if len(term) != 16 {
			t.Fatalf("Term(%x) = %q, want 16 digits", h, term)
		}
		back, err := ParseTerm(term)
		if err != nil || back != h {
			t.Fatalf("ParseTerm(Term(%x)) = %x, %v", h, back, err)
		}
	}
}

func TestContentHashIgnoresFormatting(t *testing.T) {
	a := ContentHash("Hello,   World!\nIt\u2019s me.")
	b := ContentHash("hello world it's ME")
	c := ContentHash("hello world it is me")
	if a != b {
		t.Fatalf("formatting changed the hash")
	}
	if a == c {
		t.Fatalf("different words share a hash")
	}
}

func TestFromHTML(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantOwn    string
		wantQuoted []string
	}{
		{"paragraphs and entities", "<p>Fish &amp; chips</p><p>are &quot;good&quot;</p>", "Fish & chips\n\nare \"good\"", nil},
		{"blockquote kept apart", "<blockquote><p>Someone else said this.</p></blockquote><p>My own reply.</p>",
			"My own reply.", []string{"Someone else said this."}},
		{"nested blockquote is one quote", "<blockquote>outer <blockquote>inner</blockquote> tail</blockquote>mine",
			"mine", []string{"outer\ninner\ntail"}},
		{"script and style dropped", "<script>alert(1)</script><style>p{}</style><p>text</p>", "text", nil},
		{"inline markup joins", "<p>un<b>break</b>able <a href='x'>link text</a></p>", "unbreakable link text", nil},
		{"image alt", `<p>see <img src="a.png" alt="a red bike"> here</p>`, "see a red bike here", nil},
		{"code kept", "<pre><code>x := 1\n</code></pre>", "x := 1", nil},
		{"unterminated blockquote", "<p>mine</p><blockquote>theirs", "mine", []string{"theirs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromHTML(tt.in)
			if got.Own != tt.wantOwn || !reflect.DeepEqual(got.Quoted, tt.wantQuoted) {
				t.Fatalf("FromHTML(%q) = %q %q, want %q %q", tt.in, got.Own, got.Quoted, tt.wantOwn, tt.wantQuoted)
			}
		})
	}
}

func TestFromMarkdown(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantOwn    string
		wantQuoted []string
	}{
		{"quote lines apart", "> the original claim\n> continues\n\nMy answer is **no**.", "My answer is no.", []string{"the original claim\ncontinues"}},
		{"links keep text", "See [the docs](https://example.com) and https://x.org.", "See the docs and https://x.org.", nil},
		{"lists and headings", "# Title\n\n- one\n- two", "Title\n\none\n\ntwo", nil},
		{"raw html stripped", "a <b>bold</b> move", "a bold move", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromMarkdown(tt.in)
			if got.Own != tt.wantOwn || !reflect.DeepEqual(got.Quoted, tt.wantQuoted) {
				t.Fatalf("FromMarkdown(%q) = %q %q, want %q %q", tt.in, got.Own, got.Quoted, tt.wantOwn, tt.wantQuoted)
			}
		})
	}
}

func FuzzWords(f *testing.F) {
	for _, s := range []string{"", "Hello, World", "It\u2019s ﬁne", "\xff\xfe bad utf8", "自行车 bikes"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		prevEnd := 0
		for _, tok := range Words(s) {
			if tok.Start < prevEnd || tok.End <= tok.Start || tok.End > len(s) {
				t.Fatalf("bad range [%d,%d) after %d in %q", tok.Start, tok.End, prevEnd, s)
			}
			if tok.Text == "" {
				t.Fatalf("empty token in %q", s)
			}
			prevEnd = tok.End
		}
		fps := Fingerprints(s)
		for i := 1; i < len(fps); i++ {
			if fps[i].Pos <= fps[i-1].Pos {
				t.Fatalf("fingerprints out of order: %v", fps)
			}
		}
	})
}

func FuzzFromHTML(f *testing.F) {
	for _, s := range []string{"<p>a</p>", "<blockquote>q</blockquote>x", "<script>", "&amp;&#xA;", "<a <b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := FromHTML(s)
		if utf8.ValidString(s) && !utf8.ValidString(d.Own) {
			t.Fatalf("valid input produced invalid UTF-8: %q", d.Own)
		}
		for _, q := range d.Quoted {
			if q == "" {
				t.Fatalf("empty quotation from %q", s)
			}
		}
	})
}

func FuzzFromMarkdown(f *testing.F) {
	for _, s := range []string{"> q\n\na", "**b**", "[x](y)", "<b>raw</b>", "```\ncode\n```"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := FromMarkdown(s)
		for _, q := range d.Quoted {
			if q == "" {
				t.Fatalf("empty quotation from %q", s)
			}
		}
	})
}

func BenchmarkFingerprints(b *testing.B) {
	rng := rand.New(rand.NewSource(3))
	vocab := strings.Fields("the bike chain needs oil every month when you ride through rain and mud so clean it first")
	var sb strings.Builder
	for i := 0; i < 300; i++ {
		sb.WriteString(vocab[rng.Intn(len(vocab))])
		sb.WriteByte(' ')
	}
	s := sb.String()
	b.SetBytes(int64(len(s)))
	for i := 0; i < b.N; i++ {
		Fingerprints(s)
	}
}
