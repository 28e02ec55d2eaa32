package text

import (
	"bytes"
	"encoding/xml"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openroyalty/royalty/internal/repo"
)

// randomTexts calls fn with trials strings of up to maxParts pieces of alphabet, drawn with seed.
func randomTexts(seed int64, alphabet []string, trials, maxParts int, fn func(string)) {
	rng := rand.New(rand.NewSource(seed))
	for trial := 0; trial < trials; trial++ {
		var b strings.Builder
		for range rng.Intn(maxParts) {
			b.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		fn(b.String())
	}
}

// eachDumpAttr calls fn with the value of every attribute named in attrs of every row of the
// real dumps' files named file (Posts.xml, Comments.xml, …), and fails when it finds none.
func eachDumpAttr(t *testing.T, file string, attrs []string, fn func(attr, value string)) {
	t.Helper()
	dir := repo.RequireSharedData(t, "stackexchange")
	files, _ := filepath.Glob(filepath.Join(dir, "*", file))
	found := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(bytes.NewReader(raw))
		for {
			tok, err := d.Token()
			if err != nil {
				break
			}
			se, ok := tok.(xml.StartElement)
			if !ok || se.Name.Local != "row" {
				continue
			}
			for _, a := range se.Attr {
				for _, name := range attrs {
					if a.Name.Local == name {
						found++
						fn(name, a.Value)
					}
				}
			}
		}
	}
	if found == 0 {
		t.Fatalf("no %v attributes in %s/*/%s", attrs, dir, file)
	}
}
