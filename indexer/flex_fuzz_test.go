package indexer_test

import (
	"testing"
	"time"

	"github.com/openroyalty/royalty/indexer"
)

// FuzzParseTime feeds arbitrary creation times: an accepted one is in UTC and, when it was
// given as Unix seconds, between 1970 and the end of year 9999.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"1700000000", "1700000000.25", "\"1700000000\"", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123+02:00",
		"-1", "253402300800", "NaN", "Inf", "1e308", "0x10", " 17 ", "", "0000-01-01T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := indexer.ParseTime(s)
		if err != nil {
			return
		}
		if tm.Location() != time.UTC {
			t.Fatalf("%q → %v, not UTC", s, tm)
		}
	})
}

// FuzzParseKey checks that an accepted post id or identity key splits into parts that build the
// same key again.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"stackexchange:bicycles.meta/post/42", "hn:/8863", "reddit:/t1_abc", "x", ":/", "a:/", "A:b/c", "a:b/c/d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		platform, site, local, err := indexer.ParseKey(key)
		if err != nil {
			return
		}
		if indexer.PostID(platform, site, local) != key || platform == "" || local == "" {
			t.Fatalf("%q → %q %q %q", key, platform, site, local)
		}
	})
}
