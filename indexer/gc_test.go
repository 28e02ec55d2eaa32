package indexer

import (
	"os"
	"runtime/debug"
	"sync"
	"testing"
)

func TestRaiseGC(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set: runs leave the collector alone")
	}
	gcPercent := func() int {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)

	end1 := raiseGC()
	if got := gcPercent(); got != GCPercent {
		t.Fatalf("during a run: %d, want %d", got, GCPercent)
	}
	var wg sync.WaitGroup
	for range 8 { // overlapping runs
		wg.Add(1)
		go func() {
			defer wg.Done()
			raiseGC()()
		}()
	}
	wg.Wait()
	if got := gcPercent(); got != GCPercent {
		t.Fatalf("after overlapping runs ended, one still under way: %d, want %d", got, GCPercent)
	}
	end1()
	if got := gcPercent(); got != 100 {
		t.Fatalf("after the last run: %d, want 100 restored", got)
	}

	debug.SetGCPercent(400) // a process that asked for more keeps it
	raiseGC()()
	if got := gcPercent(); got != 400 {
		t.Fatalf("got %d, want 400 kept", got)
	}
}
