package stackexchange

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/openroyalty/royalty/internal/repo"
)

// checkFastRow fails when fastRow accepts line and encoding/xml reads it otherwise.
func checkFastRow(t *testing.T, line []byte) (fast bool) {
	t.Helper()
	line = bytes.TrimSpace(line)
	if !bytes.HasPrefix(line, []byte("<row")) {
		return false
	}
	got, ok := fastRow(line)
	if !ok {
		return false
	}
	want, _, err := decodeRow(line)
	if err != nil {
		t.Fatalf("fastRow accepts %q, which encoding/xml rejects: %v", line, err)
	}
	if len(got) == 0 && len(want) == 0 {
		return true
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("row %q:\nfastRow      %q\nencoding/xml %q", line, got, want)
	}
	return true
}

func TestFastRow(t *testing.T) {
	for _, tt := range []struct {
		line string
		fast bool
	}{
		{`<row Id="1" Body="&lt;p&gt;a &amp;amp; b&lt;/p&gt;&#xA;&#10;" />`, true},
		{`<row Id="1" Text="caf&#xE9; ça &quot;x&quot; &apos;y&apos; 😀"/>`, true},
		{`<row />`, true},
		{`<row/>`, true},
		{`<row Id='1' />`, false},        // single quotes
		{`<row Id = "1" />`, false},      // spaces around =
		{`<row a:Id="1" />`, false},      // a namespace
		{`<row Id="1&nbsp;" />`, false},  // an entity XML does not define
		{`<row Id="&#x1;" />`, false},    // a character XML does not allow
		{`<row Id="&#xD800;" />`, false}, // a surrogate
		{`<row Id="&#X41;" />`, false},   // encoding/xml wants a lower-case x
		{"<row Id=\"a\tb\" />", false},   // a control character
		{"<row Id=\"\xff\" />", false},   // invalid UTF-8
		{`<row Id="1" /> <row Id="2" />`, false},
		{`<row Id="1"`, false},
		{`<rowId="1" />`, false},
	} {
		if got := checkFastRow(t, []byte(tt.line)); got != tt.fast {
			t.Errorf("fastRow(%q) taken = %v, want %v", tt.line, got, tt.fast)
		}
	}
}

// TestFastRowRealDumps holds fastRow to encoding/xml on every row of the real dumps, and checks
// that it reads nearly all of them (the rest fall back, which is correct but slow).
func TestFastRowRealDumps(t *testing.T) {
	root := repo.RequireSharedData(t, "stackexchange")
	files, err := filepath.Glob(filepath.Join(root, "*", "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dump files in %s (%v)", root, err)
	}
	rows, fast := 0, 0
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			if bytes.HasPrefix(bytes.TrimSpace(sc.Bytes()), []byte("<row")) {
				rows++
				if checkFastRow(t, sc.Bytes()) {
					fast++
				}
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d of %d rows read by fastRow", fast, rows)
	if fast < rows*99/100 {
		t.Errorf("fastRow read %d of %d rows, want at least 99 %%", fast, rows)
	}
}

func FuzzFastRow(f *testing.F) {
	f.Add([]byte(`<row Id="1" PostTypeId="1" CreationDate="2010-08-25T19:50:51.187" Body="&lt;p&gt;hi&lt;/p&gt;&#xA;" OwnerUserId="5" Title="T" />`))
	f.Add([]byte(`<row Id="10" Text="caf&#233; &amp; &quot;x&quot;" />`))
	f.Add([]byte(`<row Id="5" DisplayName="Ana" />`))
	f.Add([]byte(`<row Id="5" Body="x`))
	f.Fuzz(func(t *testing.T, line []byte) { checkFastRow(t, line) })
}

// BenchmarkRow reads the well-formed rows of the tiny test dump with row and with encoding/xml alone.
func BenchmarkRow(b *testing.B) {
	files, err := filepath.Glob(filepath.Join("testdata", "tiny.stackexchange.com", "*.xml"))
	if err != nil {
		b.Fatal(err)
	}
	var lines [][]byte
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range bytes.Split(data, []byte("\n")) {
			if l = bytes.TrimSpace(l); bytes.HasPrefix(l, []byte("<row")) {
				if _, _, err := decodeRow(l); err == nil { // the dump has malformed rows on purpose
					lines = append(lines, l)
				}
			}
		}
	}
	for _, bb := range []struct {
		name string
		read func([]byte) ([]xml.Attr, bool, error)
	}{{"row", row}, {"encoding-xml", decodeRow}} {
		b.Run(bb.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				for _, l := range lines {
					if _, _, err := bb.read(l); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
