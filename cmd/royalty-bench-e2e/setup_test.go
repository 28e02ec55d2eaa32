package main

import (
	"strings"
	"testing"
)

func TestSourcePostWords(t *testing.T) {
	words := strings.Fields("The quick brown fox, it said, jumps over the lazy dog.")
	p := newSourcePost(words)
	for i := range words {
		for j := i + 1; j <= len(words); j++ {
			if got, want := p.words(i, j), strings.Join(words[i:j], " "); got != want {
				t.Errorf("words(%d, %d) = %q, want %q", i, j, got, want)
			}
		}
	}
}
