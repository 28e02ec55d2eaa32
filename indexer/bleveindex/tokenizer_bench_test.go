package bleveindex

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/mapping"

	"github.com/openroyalty/royalty/attribution/text"
	"github.com/openroyalty/royalty/internal/repo"
)

func dumpTexts(b *testing.B) [][]byte {
	dir := repo.SharedData("stackexchange")
	if dir == "" {
		b.Skip("no real dumps")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "Posts.xml"))
	var out [][]byte
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(raw), "\n") {
			if i := strings.Index(line, `Body="`); i >= 0 {
				out = append(out, []byte(text.FromHTML(line[i+6:]).Own))
			}
		}
	}
	return out
}

// BenchmarkTextAnalyzer analyzes the own words of the real dumps' posts.
func BenchmarkTextAnalyzer(b *testing.B) {
	std := mapping.NewIndexMapping().AnalyzerNamed(standard.Name)
	texts := dumpTexts(b)
	b.Run("standard", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, t := range texts {
				std.Analyze(append([]byte(nil), t...))
			}
		}
	})
	fast := textAnalyzer(std)
	b.Run("fast", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, t := range texts {
				fast.Analyze(append([]byte(nil), t...))
			}
		}
	})
}
