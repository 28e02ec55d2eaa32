package main

import "testing"

func TestWorthCompacting(t *testing.T) {
	for _, c := range []struct {
		segments int
		docs     uint64
		changed  int
		want     bool
	}{
		{segments: 30, docs: 200_000, changed: 200_000, want: true}, // a bulk load
		{segments: 30, docs: 200_000, changed: 20_000, want: true},  // a tenth
		{segments: 30, docs: 200_000, changed: 19_999, want: false}, // less than a tenth
		{segments: 30, docs: 200_000, changed: 0, want: false},      // a run that changed nothing
		{segments: 1, docs: 200_000, changed: 200_000, want: false}, // one segment already
		{segments: 2, docs: 5, changed: 1, want: true},
	} {
		if got := worthCompacting(c.segments, c.docs, c.changed); got != c.want {
			t.Errorf("worthCompacting(%d segments, %d posts, %d changed) = %v, want %v", c.segments, c.docs, c.changed, got, c.want)
		}
	}
}
