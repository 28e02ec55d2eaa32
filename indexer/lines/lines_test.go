package lines

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

func TestReader(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     []string // "num@offset=text" or "num@offset!" for a line too long
	}{
		{"empty", "", 0, nil},
		{"no final newline", "a\nbc", 0, []string{"1@0=a", "2@2=bc"}},
		{"crlf and blank", "a\r\n\r\nb\n", 0, []string{"1@0=a", "2@3=", "3@5=b"}},
		{"too long", "short\n" + strings.Repeat("x", 40) + "\nok\n", 10, []string{"1@0=short", "2@6!", "3@47=ok"}},
		{"too long at the end", "ok\n" + strings.Repeat("x", 40), 10, []string{"1@0=ok", "2@3!"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in), 0, 1, tt.max)
			var got []string
			for {
				l, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				s := itoa(l.Num) + "@" + itoa(l.Offset)
				switch {
				case errors.Is(err, ErrTooLong):
					s += "!"
				case err != nil:
					t.Fatal(err)
				default:
					s += "=" + string(l.Bytes)
				}
				got = append(got, s)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if r.Offset() != int64(len(tt.in)) {
				t.Errorf("final offset %d, want %d", r.Offset(), len(tt.in))
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// FuzzReader checks that lines and offsets always reassemble the input.
func FuzzReader(f *testing.F) {
	f.Add([]byte("a\nb\r\n\nccc"), 2)
	f.Add([]byte(strings.Repeat("x", 70000)+"\ny"), 100)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max <= 0 || max > 1<<20 {
			max = 1 << 20
		}
		r := NewReader(bytes.NewReader(in), 0, 1, max)
		var next int64
		for {
			l, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if l.Offset != next {
				t.Fatalf("line %d at %d, want %d", l.Num, l.Offset, next)
			}
			next = r.Offset()
			if err == nil && !bytes.HasPrefix(in[l.Offset:], l.Bytes) {
				t.Fatalf("line %d %q is not at offset %d", l.Num, l.Bytes, l.Offset)
			}
		}
		if r.Offset() != int64(len(in)) {
			t.Fatalf("consumed %d of %d bytes", r.Offset(), len(in))
		}
	})
}
