package termtext

import (
	"testing"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text, naïve café — ok", "plain text, naïve café — ok"},
		{"two\nlines\tand a tab", "two\nlines\tand a tab"},
		{"nul\x00byte", "nulbyte"},
		{"bell\a and backspace\b and CR\r", "bell and backspace and CR"},
		{"\x1b[31mred\x1b[0m", "red"},
		{"\x1b[2J\x1b[1;1Hcleared", "cleared"},
		{"\x1b]0;evil title\x07after", "after"},
		{"\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"\x1bPdevice control\x1b\\x", "x"},
		{"\x1b(Bcharset", "charset"},
		{"\x1b7saved\x1b8", "saved"},
		{"trailing escape\x1b", "trailing escape"},
		{"unterminated \x1b]0;title", "unterminated "},
		{"c1 csi \u009b31mred", "c1 csi red"},
		{"c1 osc \u009d0;t\u009cafter", "c1 osc after"},
		{"c1 \u0085next line", "c1 next line"},
		{"del\x7f", "del"},
		{"bidi \u202eevil\u202c and \u2067isolate\u2069", "bidi evil and isolate"},
		{"bad utf-8 \xff\xfe", "bad utf-8 \ufffd\ufffd"},
		{"emoji 👍 and CJK 漢字", "emoji 👍 and CJK 漢字"},
	}
	for _, tt := range tests {
		if got := Clean(tt.in); got != tt.want {
			t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzClean checks that Clean's output holds no control character but newline and tab, no bidi
// control, is valid UTF-8, and that Clean is idempotent.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[31mred\x1b[0m", "\x1b]0;t\x07", "\u009b1m", "\u202e", "\xff", "a\x00b\r\n\t", "\x1b\x1b[", "\x1bP\x1b\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Clean(s)
		if !utf8.ValidString(c) {
			t.Fatalf("Clean(%q) = %q is not valid UTF-8", s, c)
		}
		for _, r := range c {
			if r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r <= 0x9f || bidi(r) {
				t.Fatalf("Clean(%q) = %q holds %U", s, c, r)
			}
		}
		if cc := Clean(c); cc != c {
			t.Fatalf("Clean is not idempotent: %q -> %q -> %q", s, c, cc)
		}
	})
}
