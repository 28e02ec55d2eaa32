package services

import (
	"bytes"
	"testing"

	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

func TestChunkWriter(t *testing.T) {
	var got [][]byte
	w := newChunkWriter(func(m *v1.ExportJournalResponse) error {
		got = append(got, m.GetChunk())
		return nil
	})
	var want bytes.Buffer
	for i := range 5000 {
		line := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i%97)
		want.Write(line)
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil || len(got) == 0 {
		t.Fatalf("second flush: %v", err)
	}
	var joined []byte
	for i, c := range got {
		if len(c) > exportChunkBytes || (i < len(got)-1 && len(c) != exportChunkBytes) {
			t.Fatalf("chunk %d has %d bytes", i, len(c))
		}
		joined = append(joined, c...)
	}
	if !bytes.Equal(joined, want.Bytes()) {
		t.Fatal("the chunks do not concatenate to what was written")
	}
}
