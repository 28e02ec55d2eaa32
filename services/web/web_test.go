package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestMarked(t *testing.T) {
	for _, c := range []struct {
		text  string
		spans []span
		want  string
	}{
		{"a <b> c", []span{{2, 5}}, "a <mark>&lt;b&gt;</mark> c"},
		{"abcdef", []span{{3, 5}, {1, 4}}, "a<mark>bcd</mark><mark>e</mark>f"},
		{"héllo", []span{{2, 3}, {0, 99}}, "<mark>héllo</mark>"},
		{"x", []span{{5, 6}}, "x"},
	} {
		if got := string(marked(c.text, c.spans)); got != c.want {
			t.Errorf("marked(%q, %v) = %q, want %q", c.text, c.spans, got, c.want)
		}
	}
}

func TestValidDestination(t *testing.T) {
	for s, ok := range map[string]bool{
		"ana@example.org": true, "GB82 WEST 1234 5698 7654 32": true, "DE89370400440532013000": true,
		"GB82 WEST 1234 5698 7654 33": false, "Ana <ana@example.org>": false, "nope": false, "": false,
	} {
		if _, err := validDestination(s); (err == nil) != ok {
			t.Errorf("validDestination(%q) = %v, want ok=%t", s, err, ok)
		}
	}
}

// TestHeaders checks the CSP on every response and that a cross-origin POST is refused before
// any handler runs.
func TestHeaders(t *testing.T) {
	h := New(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	r := httptest.NewRequest(http.MethodPost, "/logout", nil)
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Errorf("cross-origin POST: %d, want 403", w.Code)
	}
	if got := w.Header().Get("Content-Security-Policy"); got != CSP {
		t.Errorf("CSP = %q", got)
	}
	r = httptest.NewRequest(http.MethodGet, "/static/style.css", nil)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("stylesheet: %d %v", w.Code, w.Header())
	}
}
