package eval

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/openroyalty/royalty/attribution/text"
	"github.com/openroyalty/royalty/internal/repo"
)

// LoadStackExchangeText returns the plain text of every post body (own words and quotations)
// and every comment in the Stack Exchange dumps found in the site folders under dir (each with
// Posts.xml and Comments.xml). It is a minimal reader for training a word model; the indexer
// has the full parser that keeps authors, links and licences.
func LoadStackExchangeText(dir string) ([]string, error) {
	sites, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, site := range sites {
		if !site.IsDir() {
			continue
		}
		for _, f := range []struct {
			name, attr string
			strip      func(string) text.Doc
		}{
			{"Posts.xml", "Body", text.FromHTML},
			{"Comments.xml", "Text", text.FromMarkdown},
		} {
			path := filepath.Join(dir, site.Name(), f.name)
			err := eachRowAttr(path, f.attr, func(v string) {
				d := f.strip(v)
				if d.Own != "" {
					out = append(out, d.Own)
				}
				out = append(out, d.Quoted...)
			})
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no Stack Exchange text under %s", dir)
	}
	return out, nil
}

// eachRowAttr calls fn with the value of attribute attr of every <row> element of an XML file.
func eachRowAttr(path, attr string, fn func(string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "row" {
			continue
		}
		for _, a := range se.Attr {
			if a.Name.Local == attr {
				fn(a.Value)
			}
		}
	}
}

// FindData returns the directory of the shared Stack Exchange dumps,
// ../shared/data/stackexchange beside the repository root.
func FindData() (string, error) {
	dir := repo.SharedData("stackexchange")
	if dir == "" {
		return "", errors.New("no ../shared/data/stackexchange beside the repository root")
	}
	return dir, nil
}
