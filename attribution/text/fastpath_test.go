package text

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/openroyalty/royalty/internal/repo"
)

// TestWordsFastPathMatchesSegmenter compares Words with the segmenter alone on random text made
// of the characters UAX #29 treats specially, and on every byte of the shared real dumps.
func TestWordsFastPathMatchesSegmenter(t *testing.T) {
	alphabet := []string{"a", "B", "z", "0", "7", ".", ",", ":", ";", "'", "\"", "_", "-", "!", "?", " ", "\t", "\n",
		"\r", "\v", "\f", "(", ")", "/", "@", "#", "\x00", "\x7f", "é", "\u0301", "\u00a0", "\u2019", "\u200d", "日",
		"\U0001F600", "\u05d0", "\u30a2"}
	randomTexts(5, alphabet, 200_000, 16, func(s string) {
		if got, want := Words(s), wordsBySegmenter(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("Words(%q) = %v, the segmenter says %v", s, got, want)
		}
	})
	dir := repo.RequireSharedData(t, "stackexchange")
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.xml"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := string(raw)
		if got, want := Words(s), wordsBySegmenter(s); !reflect.DeepEqual(got, want) {
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Fatalf("%s: token %d: %+v, the segmenter says %+v", f, i, got[i], want[i])
				}
			}
			t.Fatalf("%s: %d tokens, the segmenter says %d", f, len(got), len(want))
		}
	}
}

func FuzzWordsFastPath(f *testing.F) {
	for _, s := range []string{"e.g. 3.14, a:b c'd", "_x_ 1,000.5 a.b.", " \u0301a", "a \u0301b", "x\u00a0y z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Words(s), wordsBySegmenter(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("Words(%q) = %v, the segmenter says %v", s, got, want)
		}
	})
}

func BenchmarkWords(b *testing.B) {
	dir := repo.SharedData("stackexchange")
	if dir == "" {
		b.Skip("no shared data")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "bicycles.meta", "Comments.xml"))
	if err != nil {
		b.Fatal(err)
	}
	s := strings.ToValidUTF8(string(raw[:200_000]), " ")
	for _, impl := range []struct {
		name string
		fn   func(string) []Token
	}{{"fast", Words}, {"segmenter", wordsBySegmenter}} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for i := 0; i < b.N; i++ {
				impl.fn(s)
			}
		})
	}
}
