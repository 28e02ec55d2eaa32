package postgres

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/klauspost/compress/s2"
)

func TestEvidenceEncoding(t *testing.T) {
	ev := []evidenceMeta{
		{IdentityKey: "stackexchange:bicycles.meta/21", PostID: "stackexchange:bicycles.meta/post/43", PostURL: "https://bicycles.meta.stackexchange.com/a/43",
			ResponseStart: 12, ResponseEnd: 300, ResponseWordStart: 4, ResponseWordEnd: 54, SourceStart: 0, SourceEnd: 288, Text: "I would recommend … «ünïcode»"},
		{IdentityKey: "hn:/pg", ResponseStart: 1 << 20, ResponseEnd: 1<<20 + 1},
	}
	got, err := decodeEvidence(encodeEvidence(ev))
	if err != nil || !reflect.DeepEqual(got, ev) {
		t.Fatalf("round trip: %v, %#v", err, got)
	}
	if encodeEvidence(nil) != nil {
		t.Fatal("no evidence should encode as NULL")
	}
	if got, err := decodeEvidence(nil); err != nil || got != nil {
		t.Fatalf("NULL: %v, %v", got, err)
	}

	// Rows written before format 3 hold S2-compressed JSON; they must still read.
	js, _ := json.Marshal(ev)
	old := append([]byte{evidenceS2JSON}, s2.Encode(nil, js)...)
	if got, err := decodeEvidence(old); err != nil || !reflect.DeepEqual(got, ev) {
		t.Fatalf("format 2: %v, %#v", err, got)
	}

	// Damaged data is an error, never a panic or a silent partial read.
	enc := encodeEvidence(ev)
	raw, _ := s2.Decode(nil, enc[1:])
	for cut := 0; cut < len(raw); cut++ {
		damaged := append([]byte{evidenceS2Binary}, s2.Encode(nil, raw[:cut])...)
		if _, err := decodeEvidence(damaged); err == nil {
			t.Fatalf("evidence cut at %d of %d bytes decoded without error", cut, len(raw))
		}
	}
	trailing := append([]byte{evidenceS2Binary}, s2.Encode(nil, append(raw, 0))...)
	if _, err := decodeEvidence(trailing); err == nil {
		t.Fatal("trailing bytes decoded without error")
	}
	if _, err := decodeEvidence([]byte{9, 1, 2}); err == nil {
		t.Fatal("unknown format decoded without error")
	}
}
