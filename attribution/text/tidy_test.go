package text

import (
	"strings"
	"testing"
)

// tidyLines is tidy as it was written first, line by line: the reference tidy must equal.
func tidyLines(s string) string {
	var b strings.Builder
	blank := true
	for _, line := range strings.Split(s, "\n") {
		line = strings.Join(strings.Fields(line), " ")
		if line == "" {
			if !blank {
				b.WriteByte('\n')
				blank = true
			}
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
		blank = false
	}
	return strings.TrimSpace(b.String())
}

var tidyCases = []string{
	"", "\n", "  \n\t\n", "a", " a ", "a\nb", "a\n\nb", "a\n\n\n\nb", "\n\na  b\t c \n\n",
	"a\r\nb\r\n", "x\u00a0y\u2028z\u0085w", "\xff \xfe\n\n\xc3", "  lead\n  trail  \n", "é  ü\n\n\n日本  語",
}

func TestTidy(t *testing.T) {
	for _, s := range tidyCases {
		if got, want := tidy(s), tidyLines(s); got != want {
			t.Errorf("tidy(%q) = %q, want %q", s, got, want)
		}
	}
}

func FuzzTidy(f *testing.F) {
	for _, s := range tidyCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := tidy(s), tidyLines(s); got != want {
			t.Fatalf("tidy(%q) = %q, want %q", s, got, want)
		}
	})
}

// BenchmarkTidy tidies a paragraph of prose.
func BenchmarkTidy(b *testing.B) {
	s := strings.Repeat("Shift to the smallest cog,  then wipe the chain\nwith a rag while you pedal backwards.\n\n", 20)
	for i := 0; i < b.N; i++ {
		tidy(s)
	}
}
