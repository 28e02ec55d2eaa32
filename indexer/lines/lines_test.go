package lines

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/openroyalty/royalty/indexer"
)

func TestReader(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     []string // "num@offset=text" or "num@offset!" for a line too long
	}{
		{"empty", "", 0, nil},
		{"no final newline", "a\nbc", 0, []string{"1@0=a", "2@2=bc"}},
		{"crlf and blank", "a\r\n\r\nb\n", 0, []string{"1@0=a", "2@3=", "3@5=b"}},
		{"too long", "short\n" + strings.Repeat("x", 40) + "\nok\n", 10, []string{"1@0=short", "2@6!", "3@47=ok"}},
		{"too long at the end", "ok\n" + strings.Repeat("x", 40), 10, []string{"1@0=ok", "2@3!"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in), 0, 1, tt.max)
			var got []string
			for {
				l, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				s := itoa(l.Num) + "@" + itoa(l.Offset)
				switch {
				case errors.Is(err, ErrTooLong):
					s += "!"
				case err != nil:
					t.Fatal(err)
				default:
					s += "=" + string(l.Bytes)
				}
				got = append(got, s)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if r.Offset() != int64(len(tt.in)) {
				t.Errorf("final offset %d, want %d", r.Offset(), len(tt.in))
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// FuzzReader checks that lines and offsets always reassemble the input.
func FuzzReader(f *testing.F) {
	f.Add([]byte("a\nb\r\n\nccc"), 2)
	f.Add([]byte(strings.Repeat("x", 70000)+"\ny"), 100)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max <= 0 || max > 1<<20 {
			max = 1 << 20
		}
		r := NewReader(bytes.NewReader(in), 0, 1, max)
		var next int64
		for {
			l, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if l.Offset != next {
				t.Fatalf("line %d at %d, want %d", l.Num, l.Offset, next)
			}
			next = r.Offset()
			if err == nil && !bytes.HasPrefix(in[l.Offset:], l.Bytes) {
				t.Fatalf("line %d %q is not at offset %d", l.Num, l.Bytes, l.Offset)
			}
		}
		if r.Offset() != int64(len(in)) {
			t.Fatalf("consumed %d of %d bytes", r.Offset(), len(in))
		}
	})
}

// TestCompressedRead checks that positions in a compressed file carry the compressed bytes read
// so far: growing from well below the file's size to about all of it, and 0 in a plain file.
func TestCompressedRead(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	var plain bytes.Buffer
	for i := 0; plain.Len() < 2<<20; i++ {
		fmt.Fprintf(&plain, "%d", i)
		for j := 0; j < 50; j++ {
			fmt.Fprintf(&plain, " %x", rng.Uint32())
		}
		plain.WriteByte('\n')
	}
	write := func(name string, wrap func(io.Writer) io.WriteCloser) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := wrap(f)
		if _, err := w.Write(plain.Bytes()); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	nop := func(w io.Writer) io.WriteCloser { return nopCloser{w} }
	paths := []string{
		write("posts.jsonl", nop),
		write("posts.jsonl.zst", func(w io.Writer) io.WriteCloser { e, _ := zstd.NewWriter(w); return e }),
		write("posts.jsonl.gz", func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) }),
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			src := &Source{Path: path, Parse: func([]byte) (indexer.Record, error) { return indexer.Record{Skip: "x"}, nil }}
			recs, _, err := indexer.ReadAll(indexer.Chain([]indexer.Source{src}, indexer.Position{}))
			if err != nil {
				t.Fatal(err)
			}
			first, last := recs[0].Next.CompressedRead, recs[len(recs)-1].Next.CompressedRead
			if !Compressed(path) {
				if first != 0 || last != 0 {
					t.Fatalf("plain file: CompressedRead %d…%d, want 0", first, last)
				}
				return
			}
			t.Logf("CompressedRead from %d to %d of %d bytes", first, last, st.Size())
			var prev int64
			for _, r := range recs {
				if r.Next.CompressedRead < prev || r.Pos.CompressedRead > r.Next.CompressedRead {
					t.Fatalf("%v: CompressedRead went back from %d to %d", r.Pos, prev, r.Next.CompressedRead)
				}
				prev = r.Next.CompressedRead
			}
			if first <= 0 || first > st.Size()/4 || last < st.Size()*3/4 || last > st.Size() {
				t.Errorf("CompressedRead from %d to %d of %d bytes", first, last, st.Size())
			}
			// Resuming counts the skipped bytes too, and the positions are those of a full read.
			mid := recs[len(recs)/2]
			rest, _, err := indexer.ReadAll(indexer.Chain([]indexer.Source{src}, mid.Next))
			if err != nil {
				t.Fatal(err)
			}
			if got := rest[0].Pos; got.Offset != mid.Next.Offset || got.Line != mid.Next.Line || got.CompressedRead < st.Size()/4 {
				t.Errorf("resumed at %+v, want offset %d line %d and the skipped bytes counted", got, mid.Next.Offset, mid.Next.Line)
			}
		})
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
